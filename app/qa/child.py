"""A QA run in one child process, for runs that load repository code.

The parent writes a request file and starts `python -m app.qa.child REQUEST.json RESULT.json`; the
child runs in-process (browser included), prints progress as JSON lines and writes the result. The
worker starts it inside the repository-code sandbox, beside the app (`app/qa/sandboxed.py`); the
`specloop qa` command starts it here (`run_in_child`) with only `CHILD_ENV_ALLOW` of its environment.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TypeVar

import cucumber_messages as cm
from cucumber_messages import message_converter
from pydantic import TypeAdapter

from app.domain.qa_results import Progress, RunResult, ScenarioResult
from app.domain.scenario_plan import FeatureError
from app.qa.in_process import run_async
from app.qa.options import RunOptions

T = TypeVar("T")

# Only these variables reach a child process that runs repository code: enough to find Python,
# the browser and a temp dir, and nothing that could carry a service secret.
CHILD_ENV_ALLOW = (
    "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV",
    "PLAYWRIGHT_BROWSERS_PATH", "CHROMIUM_PATH", "DISPLAY", "XDG_RUNTIME_DIR", "SYSTEMROOT",
)


def scrubbed_env() -> dict[str, str]:
    """The environment for a child that runs repository code: an allow-list, never the secrets."""
    return {k: v for k, v in os.environ.items() if k in CHILD_ENV_ALLOW or k.startswith("LC_")}


def _report_progress(line: str, progress: Progress | None) -> None:
    """Hand one progress line of the child's stdout to `progress` (other output is ignored)."""
    if progress is None or not line.startswith("{"):
        return
    try:
        event = json.loads(line)
        progress(_checked(ScenarioResult).validate_python(event["scenario"]), int(event["done"]), int(event["total"]))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        pass  # step code printed something that is no progress line (or forged one): not ours to show


@functools.cache
def _checked(kind: type[T]) -> TypeAdapter[T]:
    """`kind` (a result dataclass) checked field by field against its annotations: the reports and the check
    run format every field, so a string where a list belongs must not reach them. Built when the parent
    first reads a result (the child, which only writes one, never pays for it)."""
    return TypeAdapter(kind)


def _message_parts(result: RunResult) -> None:
    """TypeError/KeyError unless the run's Cucumber Messages parts (documents, pickles, glue, step match
    arguments) have the shape the message stream (`app.domain.qa_messages`) reads them in."""
    for document in result.documents:
        message_converter.from_dict(document, cm.Envelope)
        gherkin = document.get("gherkinDocument", {})
        if not isinstance(gherkin, dict) or not isinstance(gherkin.get("uri", ""), str):
            raise TypeError("a gherkinDocument is not an object with a string uri")
    for pickle in result.pickles:
        parsed = message_converter.from_dict(pickle, cm.Pickle)
        if not all(isinstance(v, str) for v in (parsed.id, parsed.uri, *(s.id for s in parsed.steps))):
            raise TypeError("a pickle's ids are not strings")
    glue = ((result.parameter_types, ("name",)), (result.undefined_parameter_types, ("expression", "name")),
            (result.step_definitions, ("pattern", "source", "name")), (result.hook_definitions, ("key", "source")))
    for items, keys in glue:
        if not all(isinstance(item[key], str) for item in items for key in keys):
            raise TypeError(f"a definition's {'/'.join(keys)} is not a string")
    for raw in result.parameter_types:
        if not isinstance(raw.get("regularExpressions", []), list):
            raise TypeError("a parameter type's regularExpressions is not a list")
    for scenario in (a for s in result.scenarios for a in (*s.previous_attempts, s)):
        for step in scenario.steps:
            for arguments in step.match_arguments:
                for argument in arguments:
                    message_converter.from_dict(argument, cm.StepMatchArgument)


def read_result(raw: bytes | str) -> RunResult:
    """The run a QA child handed back, or a ValueError saying why it does not read. Repository code can
    write the file: whatever it holds (JSON nested past the recursion limit, wrong types, a status that is
    markup) is a ValueError, never a crash of the worker that renders the reports."""
    try:
        result: RunResult = _checked(RunResult).validate_python(json.loads(raw))
        _message_parts(result)
        return result
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise ValueError(f"{type(error).__name__}: {str(error)[:300]}") from None


def run_in_child(
    features: Sequence[str | Path], base_url: str, options: RunOptions, *,
    root: str | Path | None = None, progress: Progress | None = None,
) -> RunResult:
    """Run in one child process with a scrubbed environment; progress arrives as JSON lines on stdout."""
    with tempfile.TemporaryDirectory(prefix="specloop-qa-child-") as tmp:
        if options.out_dir is None:
            options = RunOptions(**{**asdict(options), "out_dir": tempfile.mkdtemp(prefix="specloop-qa-")})
        request = Path(tmp) / "request.json"
        response = Path(tmp) / "result.json"
        request.write_text(json.dumps({
            "features": [str(Path(f).resolve()) for f in features], "base_url": base_url,
            "root": str(Path(root).resolve()) if root is not None else None, "options": asdict(options),
        }))
        cwd = str(Path(root).resolve()) if root is not None else None
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.qa.child", str(request), str(response)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=scrubbed_env(), cwd=cwd,
        )
        deadline = time.monotonic() + options.run_timeout_s
        # The wall holds even when the child prints nothing (a step or hook blocking in sync code, on every
        # retry): reading its stdout waits for a line, so a timer kills it at the deadline.
        watchdog = threading.Timer(options.run_timeout_s, proc.kill)
        watchdog.daemon = True
        watchdog.start()
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                _report_progress(line, progress)
                if time.monotonic() > deadline:
                    proc.kill()
                    break
            try:
                _, stderr = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                _, stderr = proc.communicate()
        finally:
            watchdog.cancel()
        if proc.returncode != 0 or not response.exists():
            tail = "\n".join((stderr or "").strip().splitlines()[-15:])
            why = f"; it ran past the run's limit of {options.run_timeout_s:g} s" \
                if time.monotonic() >= deadline else ""
            result = RunResult(base_url=base_url, started_at=time.time())
            result.errors.append(FeatureError(
                options.steps_dir or "", None, None,
                f"the QA child process failed (exit {proc.returncode}{why}):\n{tail}"))
            return result
        try:
            return read_result(response.read_bytes())
        except ValueError as error:  # step code can write the file: read it as untrusted
            result = RunResult(base_url=base_url, started_at=time.time())
            result.errors.append(FeatureError(
                options.steps_dir or "", None, None, f"the QA child process left a result that does not read: {error}"))
            return result


def main(argv: list[str]) -> int:
    """Entry point of the child process: read the request, run in-process, write the result."""
    request = json.loads(Path(argv[0]).read_text())
    for folder in (request.get("root"), request["options"].get("code_root")):
        if folder and folder not in sys.path:
            # Step files may import the project's own modules; after Specloop's, never before them (the
            # sandboxed child runs with -P, so the checkout is not first on the path).
            sys.path.append(folder)
    raw_options = request["options"]
    raw_options["viewport"] = tuple(raw_options.get("viewport") or (1280, 800))
    raw_options["allowed_origins"] = tuple(raw_options.get("allowed_origins") or ())
    options = RunOptions(**raw_options)

    def report(result: ScenarioResult, done: int, total: int) -> None:
        print(json.dumps({"scenario": asdict(result), "done": done, "total": total}), flush=True)

    result = asyncio.run(run_async(request["features"], request["base_url"], options,
                                   root=request.get("root"), progress=report))
    Path(argv[1]).write_text(json.dumps(result.to_json()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
