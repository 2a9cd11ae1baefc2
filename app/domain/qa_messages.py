"""A QA run as Cucumber Messages: one `testRunStarted`..`testRunFinished` stream, built with the models of
the `cucumber-messages` package (the protocol every Cucumber formatter, the HTML reporter and CI plugins
read), so the envelopes are the protocol's own and its version is the package's.

    envelopes = run_messages(result)           # list of cucumber_messages.Envelope
    text = messages_ndjson(result)             # one JSON envelope per line

The order is the one Cucumber implementations emit (the Compatibility Kit's samples, tests/test_cck.py):
`meta`; per feature its `source`, `gherkinDocument` and `pickle`s; the glue (`parameterType`,
`undefinedParameterType`, `stepDefinition`, `hook`) in the order it is defined, the built-in web steps
first; `testRunStarted`; the `BeforeAll` hooks; every `testCase`; per scenario and attempt its
`testCaseStarted`, per test step (Before hooks, the steps, After hooks) `testStepStarted`, a
`suggestion` for an undefined step, its `attachment`s (what the step attached, its screenshot), and
`testStepFinished`, then `testCaseFinished`; the `AfterAll` hooks; `testRunFinished`.

The run is built after the fact from a `RunResult` (a child process hands it back as JSON), so ids are
this function's own counter and a step's timestamps follow from its scenario's start and the durations.
"""

from __future__ import annotations

import base64
import importlib.metadata
import itertools
import json
import platform
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cucumber_messages as cm
from cucumber_messages import message_converter

from app.domain.qa_results import HookResult, RunResult, ScenarioResult, StepResult

PROTOCOL_VERSION = importlib.metadata.version("cucumber-messages")
SNIPPET_LANGUAGE = "python"
TRACE_EMBED_LIMIT = 10 * 1024 * 1024  # a larger trace is referenced (`externalAttachment`), not embedded

_STATUS = {
    "passed": cm.TestStepResultStatus.passed, "failed": cm.TestStepResultStatus.failed,
    "skipped": cm.TestStepResultStatus.skipped, "pending": cm.TestStepResultStatus.pending,
    "undefined": cm.TestStepResultStatus.undefined, "ambiguous": cm.TestStepResultStatus.ambiguous,
}
_HOOK_TYPE = {
    "before": cm.HookType.before_test_case, "after": cm.HookType.after_test_case,
    "before_all": cm.HookType.before_test_run, "after_all": cm.HookType.after_test_run,
}
_PATTERN_TYPE = {
    "CUCUMBER_EXPRESSION": cm.StepDefinitionPatternType.cucumber_expression,
    "REGULAR_EXPRESSION": cm.StepDefinitionPatternType.regular_expression,
}


def _specloop_version() -> str:
    try:
        return importlib.metadata.version("specloop")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


def _timestamp(seconds: float) -> cm.Timestamp:
    whole = int(seconds)
    return cm.Timestamp(seconds=whole, nanos=round((seconds - whole) * 1e9) % 1_000_000_000)


def _duration(seconds: float) -> cm.Duration:
    seconds = max(0.0, seconds)
    whole = int(seconds)
    return cm.Duration(seconds=whole, nanos=round((seconds - whole) * 1e9) % 1_000_000_000)


def definition_name(pattern: str, source: str) -> str:
    """How a step result names the definition it ran (`StepDefinition.name`)."""
    return f'"{pattern}" ({source})'


def _source_reference(source: str, uri: str | None = None, line: int | None = None) -> cm.SourceReference:
    """Where a definition is written: its file (relative to the steps folder) and line; a built-in step has
    the action's name as its uri (`builtin:visit`)."""
    if uri is None:
        uri, _, rest = source.partition(":")
        if not source.startswith("builtin:") and rest.isdigit():
            line = int(rest)
        else:
            uri = source
    return cm.SourceReference(uri=uri, location=cm.Location(line=line) if line else None)


def _meta() -> cm.Meta:
    return cm.Meta(
        protocol_version=PROTOCOL_VERSION,
        implementation=cm.Product(name="specloop", version=_specloop_version()),
        runtime=cm.Product(name=sys.implementation.name, version=platform.python_version()),
        os=cm.Product(name=platform.system().lower() or "unknown", version=platform.release() or None),
        cpu=cm.Product(name=platform.machine() or "unknown"),
    )


def _result(status: str, duration: float, error: str | None, exception: dict[str, Any] | None) -> cm.TestStepResult:
    exc = None
    if exception or (error and status == "failed"):
        exc = cm.Exception(type=str((exception or {}).get("type") or "Error"),
                           message=(exception or {}).get("message") or error)
    return cm.TestStepResult(duration=_duration(duration), status=_STATUS.get(status, cm.TestStepResultStatus.unknown),
                             message=error or None, exception=exc)


def _attachment(raw: dict[str, Any], when: float, *, case_started: str | None = None, step: str | None = None,
                hook_started: str | None = None) -> cm.Envelope:
    encoding = (cm.AttachmentContentEncoding.base64 if raw.get("contentEncoding") == "BASE64"
                else cm.AttachmentContentEncoding.identity)
    return cm.Envelope(attachment=cm.Attachment(
        body=str(raw.get("body", "")), content_encoding=encoding, media_type=str(raw.get("mediaType", "text/plain")),
        file_name=raw.get("fileName") or None, test_case_started_id=case_started, test_step_id=step,
        test_run_hook_started_id=hook_started, timestamp=_timestamp(raw.get("timestamp") or when),
    ))


def _file_attachment(path: str, media_type: str, when: float, case_started: str, step: str) -> cm.Envelope | None:
    """A screenshot or trace the run wrote, embedded (base64); a trace over the limit is referenced instead."""
    file = Path(path)
    if not file.is_file():
        return None
    if file.stat().st_size > TRACE_EMBED_LIMIT:
        return cm.Envelope(external_attachment=cm.ExternalAttachment(
            media_type=media_type, url=file.resolve().as_uri(), test_case_started_id=case_started,
            test_step_id=step, timestamp=_timestamp(when)))
    return _attachment({"body": base64.b64encode(file.read_bytes()).decode(), "contentEncoding": "BASE64",
                        "mediaType": media_type, "fileName": file.name}, when, case_started=case_started, step=step)


class _Ids:
    """Message ids: a counter, as the reference implementations use in their samples, starting after the
    ids the Gherkin parser gave the documents and pickles (its own counter), so none is used twice."""

    def __init__(self, result: RunResult) -> None:
        taken = [int(value) for value in _ids_in([result.documents, result.pickles]) if value.isdigit()]
        self._next: Iterator[int] = itertools.count(max(taken, default=-1) + 1)

    def __call__(self) -> str:
        return str(next(self._next))


def _ids_in(node: Any, key: str = "") -> Iterator[str]:
    """Every id (`id`, `astNodeIds`, ...) in the parser's documents and pickles."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _ids_in(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from _ids_in(item, key)
    elif isinstance(node, str) and (key == "id" or key == "astNodeIds"):
        yield node


def _success(result: RunResult) -> bool:
    """The protocol's verdict: every test step and hook passed or skipped, and nothing else went wrong.

    Specloop's own verdict (`RunResult.passed`, the check run) is stricter: a run without scenarios, or
    with a scenario that has no steps, proves nothing and does not pass there.
    """
    fine = ("passed", "skipped")
    if result.errors or any(h.status not in fine for h in result.run_hooks):
        return False
    for scenario in result.scenarios:
        runs: list[HookResult | StepResult] = [*scenario.before_hooks, *scenario.steps, *scenario.after_hooks]
        if scenario.error or any(run.status not in fine for run in runs):
            return False
    return True


def _glue(result: RunResult, ids: _Ids) -> tuple[list[cm.Envelope], dict[str, str], dict[str, str]]:
    """The parameter types, step definitions and hooks, in the order they are defined: built-in steps first,
    then the project's by file and line. Returns the envelopes and the ids by definition name / hook key."""
    entries: list[tuple[tuple[int, str, int], cm.Envelope]] = []
    step_ids: dict[str, str] = {}
    hook_ids: dict[str, str] = {}

    def order(source: str, builtin: bool) -> tuple[int, str, int]:
        file, _, line = source.rpartition(":")
        return (0, "", len(entries)) if builtin else (1, file, int(line) if line.isdigit() else 0)

    for raw in result.parameter_types:
        source = str(raw.get("source", ""))
        entries.append((order(source, False), cm.Envelope(parameter_type=cm.ParameterType(
            id=ids(), name=raw["name"], regular_expressions=list(raw.get("regularExpressions", [])),
            prefer_for_regular_expression_match=bool(raw.get("preferForRegularExpressionMatch", False)),
            use_for_snippets=bool(raw.get("useForSnippets", True)),
            source_reference=_source_reference(source) if source else None))))
    for raw in result.undefined_parameter_types:
        entries.append(((1, "", 0), cm.Envelope(undefined_parameter_type=cm.UndefinedParameterType(
            expression=raw["expression"], name=raw["name"]))))
    for raw in result.step_definitions:
        source = str(raw["source"])
        builtin = source.startswith("builtin:")
        def_id = ids()
        step_ids[definition_name(raw["pattern"], source)] = def_id
        pattern_type = _PATTERN_TYPE.get(str(raw.get("expression_type")), cm.StepDefinitionPatternType.cucumber_expression)
        entries.append((order(source, builtin), cm.Envelope(step_definition=cm.StepDefinition(
            id=def_id, pattern=cm.StepDefinitionPattern(source=raw["pattern"], type=pattern_type),
            source_reference=_source_reference(source, raw.get("uri"), raw.get("line"))))))
    for raw in result.hook_definitions:
        source = str(raw["source"])
        hook_id = ids()
        hook_ids[str(raw["key"])] = hook_id
        entries.append((order(source, False), cm.Envelope(hook=cm.Hook(
            id=hook_id, source_reference=_source_reference(source), name=raw.get("name") or None,
            tag_expression=raw.get("tags") or None, type=_HOOK_TYPE.get(str(raw.get("kind")))))))
    entries.sort(key=lambda entry: entry[0])  # stable: ties keep their order of definition
    return [envelope for _, envelope in entries], step_ids, hook_ids


def _arguments(raw: list[dict[str, Any]]) -> cm.StepMatchArgumentsList:
    return cm.StepMatchArgumentsList(step_match_arguments=[
        message_converter.from_dict(argument, cm.StepMatchArgument) for argument in raw])


def _test_case(scenario: ScenarioResult, pickle: dict[str, Any], run_id: str, ids: _Ids,
               step_ids: dict[str, str], hook_ids: dict[str, str]) -> cm.TestCase:
    """The test case of a scenario: its applicable Before hooks, its steps, its After hooks."""
    test_steps: list[cm.TestStep] = []
    for hook in scenario.before_hooks:
        test_steps.append(cm.TestStep(id=ids(), hook_id=hook_ids.get(hook.hook, "")))
    pickle_steps = pickle.get("steps", [])
    steps = scenario.steps or [StepResult(keyword=s.get("type", ""), text=s["text"], line=0, status="skipped")
                               for s in pickle_steps]
    for index, step in enumerate(steps):
        definitions = [step_ids[name] for name in step.definitions if name in step_ids]
        test_steps.append(cm.TestStep(
            id=ids(), pickle_step_id=pickle_steps[index]["id"] if index < len(pickle_steps) else "",
            step_definition_ids=definitions,
            step_match_arguments_lists=[_arguments(args) for args in step.match_arguments][:len(definitions)]
            if definitions else []))
    for hook in scenario.after_hooks:
        test_steps.append(cm.TestStep(id=ids(), hook_id=hook_ids.get(hook.hook, "")))
    return cm.TestCase(id=ids(), pickle_id=scenario.id, test_steps=test_steps, test_run_started_id=run_id)


def _runs(scenario: ScenarioResult, count: int) -> list[HookResult | StepResult]:
    """What ran for each of a test case's `count` test steps. An attempt that stopped before its steps (the
    browser context could not open) reports its first step failed with that error and the rest skipped."""
    runs: list[HookResult | StepResult] = [*scenario.before_hooks, *scenario.steps, *scenario.after_hooks]
    for index in range(len(runs), count):
        runs.append(StepResult(keyword="", text="", line=0, status="skipped" if index else "failed",
                               error=None if index else (scenario.error or f"scenario {scenario.status}")))
    return runs[:count]


def _attempt(scenario: ScenarioResult, case: cm.TestCase, attempt: int, retried: bool, ids: _Ids) -> list[cm.Envelope]:
    """One attempt of a test case: started, each test step with what it attached, finished."""
    started = ids()
    clock = scenario.started_at
    out = [cm.Envelope(test_case_started=cm.TestCaseStarted(
        attempt=attempt, id=started, test_case_id=case.id, timestamp=_timestamp(clock)))]
    runs = _runs(scenario, len(case.test_steps))
    pickle_steps = {s.id: s for s in case.test_steps}
    for run, test_step in zip(runs, case.test_steps, strict=True):
        out.append(cm.Envelope(test_step_started=cm.TestStepStarted(
            test_case_started_id=started, test_step_id=test_step.id, timestamp=_timestamp(clock))))
        codes: list[str] = []
        if isinstance(run, StepResult) and run.status == "undefined":
            codes = run.snippets or ([run.snippet] if run.snippet else [])
        if codes:
            out.append(cm.Envelope(suggestion=cm.Suggestion(
                id=ids(), pickle_step_id=pickle_steps[test_step.id].pickle_step_id or "",
                snippets=[cm.Snippet(code=code, language=SNIPPET_LANGUAGE) for code in codes])))
        for raw in run.attachments:
            out.append(_attachment(raw, clock, case_started=started, step=test_step.id))
        if isinstance(run, StepResult) and run.screenshot:
            shot = _file_attachment(run.screenshot, "image/png", clock, started, test_step.id)
            if shot is not None:
                out.append(shot)
        clock += run.duration
        out.append(cm.Envelope(test_step_finished=cm.TestStepFinished(
            test_case_started_id=started, test_step_id=test_step.id, timestamp=_timestamp(clock),
            test_step_result=_result(run.status, run.duration, run.error, run.exception))))
    if scenario.trace and case.test_steps:
        trace = _file_attachment(scenario.trace, "application/zip", clock, started, case.test_steps[-1].id)
        if trace is not None:
            out.insert(len(out) - 1, trace)  # with the last test step, before it finishes
    finished = max(clock, scenario.started_at + scenario.duration)
    out.append(cm.Envelope(test_case_finished=cm.TestCaseFinished(
        test_case_started_id=started, timestamp=_timestamp(finished), will_be_retried=retried)))
    return out


def _run_hook(hook: HookResult, run_id: str, hook_ids: dict[str, str], ids: _Ids) -> list[cm.Envelope]:
    started = ids()
    out = [cm.Envelope(test_run_hook_started=cm.TestRunHookStarted(
        hook_id=hook_ids.get(hook.hook, ""), id=started, test_run_started_id=run_id,
        timestamp=_timestamp(hook.started_at)))]
    out += [_attachment(raw, hook.started_at, hook_started=started) for raw in hook.attachments]
    out.append(cm.Envelope(test_run_hook_finished=cm.TestRunHookFinished(
        result=_result(hook.status, hook.duration, hook.error, hook.exception), test_run_hook_started_id=started,
        timestamp=_timestamp(hook.started_at + hook.duration))))
    return out


def run_messages(result: RunResult) -> list[cm.Envelope]:
    """The run as Cucumber Messages envelopes, in the order Cucumber emits them."""
    ids = _Ids(result)
    out = [cm.Envelope(meta=_meta())]
    pickles_by_uri: dict[str, list[dict[str, Any]]] = {}
    for pickle in result.pickles:
        pickles_by_uri.setdefault(pickle["uri"], []).append(pickle)
    for document in result.documents:
        out.append(message_converter.from_dict(document, cm.Envelope))
        if "gherkinDocument" in document:
            for pickle in pickles_by_uri.get(document["gherkinDocument"].get("uri", ""), []):
                out.append(cm.Envelope(pickle=message_converter.from_dict(pickle, cm.Pickle)))
    feature_errors = [e for e in result.errors if e.uri]
    for error in feature_errors:
        out.append(cm.Envelope(parse_error=cm.ParseError(message=error.message, source=cm.SourceReference(
            uri=error.uri, location=cm.Location(line=error.line, column=error.column) if error.line else None))))
    glue, step_ids, hook_ids = _glue(result, ids)
    out += glue
    run_id = ids()
    out.append(cm.Envelope(test_run_started=cm.TestRunStarted(timestamp=_timestamp(result.started_at), id=run_id)))
    for hook in (h for h in result.run_hooks if h.kind == "before_all"):
        out += _run_hook(hook, run_id, hook_ids, ids)
    pickles = {p["id"]: p for p in result.pickles}
    cases = []
    for scenario in result.scenarios:
        cases.append(_test_case(scenario, pickles.get(scenario.id, {}), run_id, ids, step_ids, hook_ids))
        out.append(cm.Envelope(test_case=cases[-1]))
    for scenario, case in zip(result.scenarios, cases, strict=True):
        attempts = [*scenario.previous_attempts, scenario]
        for number, attempt in enumerate(attempts):
            out += _attempt(attempt, case, number, number < len(attempts) - 1, ids)
    for hook in (h for h in result.run_hooks if h.kind == "after_all"):
        out += _run_hook(hook, run_id, hook_ids, ids)
    run_errors = [e.message for e in result.errors if not e.uri]
    out.append(cm.Envelope(test_run_finished=cm.TestRunFinished(
        success=_success(result), timestamp=_timestamp(result.started_at + result.duration),
        message="\n".join(run_errors) or None, test_run_started_id=run_id,
        exception=cm.Exception(type="SpecloopError", message="\n".join(run_errors)) if run_errors else None)))
    return out


def envelope_json(envelope: cm.Envelope) -> dict[str, Any]:
    """One envelope as the protocol's JSON (camelCase, absent fields left out)."""
    data: dict[str, Any] = message_converter.to_dict(envelope)
    return data


def messages_ndjson(result: RunResult) -> str:
    """The run's Cucumber Messages as newline-delimited JSON."""
    return "".join(json.dumps(envelope_json(e), separators=(",", ":"), ensure_ascii=False) + "\n"
                   for e in run_messages(result))
