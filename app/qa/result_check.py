"""Reading what a QA child hands back as untrusted: its result file and its progress lines.

The child runs the project's step files (and, in the sandbox, beside the app), so either can write what it
prints and the result it leaves. The worker (`app/qa/sandboxed.py`) and `specloop qa` (`app/qa/child.py`)
read both through here; the child itself never imports this module (nor pydantic and cucumber_messages,
which only these checks need), so its start-up stays short.
"""

from __future__ import annotations

import functools
import json
from typing import TypeVar

import cucumber_messages as cm
from cucumber_messages import message_converter
from pydantic import TypeAdapter

from app.domain.qa_results import Progress, RunResult, ScenarioResult

T = TypeVar("T")


@functools.cache
def _checked(kind: type[T]) -> TypeAdapter[T]:
    """`kind` (a result dataclass) checked field by field against its annotations: the reports and the check
    run format every field, so a string where a list belongs must not reach them. Built when the parent
    first reads a result or a progress line."""
    return TypeAdapter(kind)


def report_progress(line: str, progress: Progress | None) -> None:
    """Hand one progress line of the child's stdout to `progress` (other output is ignored)."""
    if progress is None or not line.startswith("{"):
        return
    try:
        event = json.loads(line)
        progress(_checked(ScenarioResult).validate_python(event["scenario"]), int(event["done"]), int(event["total"]))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        pass  # step code printed something that is no progress line (or forged one): not ours to show


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
