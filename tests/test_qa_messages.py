"""The QA run's Cucumber Messages stream (app/domain/qa_messages.py): what the Compatibility Kit does not
check (tests/test_cck.py does the rest): the protocol version, built-in steps, screenshots and traces,
run-level errors, and that every envelope is valid for the `cucumber-messages` models."""

from __future__ import annotations

import base64
import importlib.metadata
import json
from pathlib import Path
from typing import Any

import cucumber_messages as cm
import pytest
from cucumber_messages import message_converter

from app.domain import qa_messages
from app.domain.qa_messages import messages_ndjson, run_messages
from app.domain.qa_results import RunResult, ScenarioResult, StepResult
from app.domain.scenario_plan import FeatureError, PlannedStep, compile_features
from app.domain.steps import BUILTIN, match_step
from app.qa.scenario import MAX_SNIPPETS, _unmatched

FEATURE = """Feature: Sign-up
  Scenario: Ann signs up
    Given I am on "/signup"
    When I teleport to "Mars"
"""


def _run(tmp_path: Path, *, screenshot: bool = False, trace_bytes: int = 0) -> RunResult:
    """A run of FEATURE as the runner records it: the first step passed (with a screenshot), the second
    undefined (with its snippet), the scenario failed (with a trace)."""
    path = tmp_path / "features" / "signup.feature"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(FEATURE, encoding="utf-8")
    compiled = compile_features([path], tmp_path)
    visit = match_step('I am on "/signup"')
    assert visit.definition is not None
    shot = tmp_path / "shot.png"
    shot.write_bytes(b"\x89PNG fake")
    trace = tmp_path / "trace.zip"
    trace.write_bytes(b"z" * trace_bytes)
    steps = [
        StepResult(keyword="Given ", text='I am on "/signup"', line=3, status="passed", duration=0.25,
                   definition=visit.definition.name, definitions=[visit.definition.name],
                   match_arguments=visit.argument_lists, screenshot=str(shot) if screenshot else None),
        StepResult(keyword="When ", text='I teleport to "Mars"', line=4, status="undefined",
                   error='Undefined step "I teleport to "Mars""', snippet="@step('I teleport to {string}')\n"),
    ]
    scenario = ScenarioResult(id=compiled.pickles[0]["id"], name="Ann signs up", uri="features/signup.feature",
                              line=2, feature="Sign-up", status="undefined", started_at=1000.0, duration=1.5,
                              steps=steps, trace=str(trace) if trace_bytes else None)
    return RunResult(base_url="http://app.test", scenarios=[scenario], started_at=999.0, duration=3.0,
                     documents=compiled.documents, pickles=compiled.pickles,
                     step_definitions=[{"pattern": d.pattern, "source": d.source,
                                        "expression_type": d.expression_type} for d in BUILTIN])


def _envelopes(result: RunResult) -> list[dict[str, Any]]:
    return [json.loads(line) for line in messages_ndjson(result).splitlines()]


def _of(envelopes: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e[kind] for e in envelopes if kind in e]


def test_every_envelope_is_a_valid_message_and_the_stream_is_one_run(tmp_path: Path) -> None:
    envelopes = _envelopes(_run(tmp_path, screenshot=True, trace_bytes=10))
    for envelope in envelopes:
        model = message_converter.from_dict(envelope, cm.Envelope)
        assert message_converter.to_dict(model) == envelope
    kinds = [next(iter(e)) for e in envelopes]
    assert kinds[0] == "meta" and kinds[-1] == "testRunFinished"
    assert kinds.count("testRunStarted") == 1 and kinds.count("testRunFinished") == 1
    ids = [e[k]["id"] for e in envelopes for k in e if isinstance(e[k], dict) and "id" in e[k]]
    assert len(ids) == len(set(ids)), "an id is used twice"


def test_the_protocol_version_is_the_packages(tmp_path: Path) -> None:
    meta = _of(_envelopes(_run(tmp_path)), "meta")[0]
    assert meta["protocolVersion"] == importlib.metadata.version("cucumber-messages")
    assert meta["implementation"]["name"] == "specloop"


def test_built_in_steps_are_cucumber_expressions_and_the_step_points_at_its_definition(tmp_path: Path) -> None:
    envelopes = _envelopes(_run(tmp_path))
    definitions = _of(envelopes, "stepDefinition")
    assert len(definitions) == len(BUILTIN)
    visit = next(d for d in definitions if d["pattern"]["source"] == "I am on {string}")
    assert visit["pattern"]["type"] == "CUCUMBER_EXPRESSION"
    assert visit["sourceReference"]["uri"] == "builtin:visit"
    first_step = _of(envelopes, "testCase")[0]["testSteps"][0]
    assert first_step["stepDefinitionIds"] == [visit["id"]]
    argument = first_step["stepMatchArgumentsLists"][0]["stepMatchArguments"][0]
    assert argument["parameterTypeName"] == "string" and argument["group"]["value"] == '"/signup"'


def test_an_undefined_step_gets_a_suggestion_between_its_start_and_finish(tmp_path: Path) -> None:
    envelopes = _envelopes(_run(tmp_path))
    kinds = [next(iter(e)) for e in envelopes]
    at = kinds.index("suggestion")
    assert kinds[at - 1] == "testStepStarted" and kinds[at + 1] == "testStepFinished"
    suggestion = envelopes[at]["suggestion"]
    pickle_step = _of(envelopes, "pickle")[0]["steps"][1]
    assert suggestion["pickleStepId"] == pickle_step["id"]
    assert suggestion["snippets"][0]["language"] == "python"
    assert "I teleport to {string}" in suggestion["snippets"][0]["code"]
    assert envelopes[at + 1]["testStepFinished"]["testStepResult"]["status"] == "UNDEFINED"


def test_screenshots_and_traces_are_attachments_of_their_step(tmp_path: Path) -> None:
    envelopes = _envelopes(_run(tmp_path, screenshot=True, trace_bytes=64))
    attachments = _of(envelopes, "attachment")
    test_steps = _of(envelopes, "testCase")[0]["testSteps"]
    shot = next(a for a in attachments if a["mediaType"] == "image/png")
    assert shot["testStepId"] == test_steps[0]["id"] and shot["contentEncoding"] == "BASE64"
    assert base64.b64decode(shot["body"]) == b"\x89PNG fake"
    trace = next(a for a in attachments if a["mediaType"] == "application/zip")
    assert trace["testStepId"] == test_steps[-1]["id"] and trace["fileName"] == "trace.zip"
    assert base64.b64decode(trace["body"]) == b"z" * 64


def test_a_trace_over_the_limit_is_referenced_not_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qa_messages, "TRACE_EMBED_LIMIT", 32)
    envelopes = _envelopes(_run(tmp_path, trace_bytes=64))
    assert not [a for a in _of(envelopes, "attachment") if a["mediaType"] == "application/zip"]
    external = _of(envelopes, "externalAttachment")
    assert len(external) == 1 and external[0]["url"].endswith("/trace.zip")


def test_a_run_level_error_ends_the_stream_unsuccessful_with_its_message(tmp_path: Path) -> None:
    result = _run(tmp_path)
    result.errors.append(FeatureError("", None, None, "error loading step file steps/x.py: SyntaxError"))
    result.errors.append(FeatureError("features/bad.feature", 3, 1, "(3:1): expected: #EOF, got 'Oops'"))
    envelopes = _envelopes(result)
    finished = _of(envelopes, "testRunFinished")[0]
    assert finished["success"] is False
    assert "SyntaxError" in finished["message"] and "SyntaxError" in finished["exception"]["message"]
    parse_error = _of(envelopes, "parseError")[0]
    assert parse_error["source"] == {"uri": "features/bad.feature", "location": {"line": 3, "column": 1}}


def test_a_passing_run_is_a_successful_stream(tmp_path: Path) -> None:
    result = _run(tmp_path)
    scenario = result.scenarios[0]
    scenario.steps = scenario.steps[:1]
    scenario.status = "passed"
    assert _of(_envelopes(result), "testRunFinished")[0]["success"] is True
    assert len(run_messages(result)) == len(_envelopes(result))


def test_an_undefined_step_full_of_numbers_keeps_a_few_suggestions_not_hundreds() -> None:
    """Cucumber's generator proposes {int}/{float} for every number (up to 256 expressions): the run keeps a
    handful, so a spec of such steps cannot swell the result the QA child hands back."""
    text = "I pay " + " and ".join(str(n) for n in range(1, 12))
    step = StepResult(keyword="When ", text=text, line=3, status="skipped")
    _unmatched(step, PlannedStep("When ", text, 3, "p1", None, None), "undefined", "Undefined", None)
    assert step.status == "undefined"
    assert len(step.snippets) == MAX_SNIPPETS
    assert "{int}" in step.snippets[0] and step.snippet is not None and "{int}" in step.snippet


def test_an_undefined_step_too_long_to_be_real_gets_no_suggestion() -> None:
    """Generating suggestions for a 100,000-character step of numbers takes seconds of the run: it gets none."""
    text = "I pay " + " ".join(str(n) for n in range(20000))
    step = StepResult(keyword="When ", text=text, line=3, status="skipped")
    _unmatched(step, PlannedStep("When ", text, 3, "p1", None, None), "undefined", "Undefined step", None)
    assert step.status == "undefined" and step.error == "Undefined step"
    assert step.snippet is None and step.snippets == []
