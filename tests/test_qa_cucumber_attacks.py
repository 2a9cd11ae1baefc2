"""Attacks on the QA runner's Cucumber features by a hostile repository (step files, hooks, `qa.tags`) and
by a forged result from the QA child: each must end in a clear message on the run, never a crash of the
run, a stack trace, or markup in the reports.

The run tests load real step files with `allow_repo_steps`, so they run in the QA child process with real
Chromium against the sample app, and every result crosses the process boundary as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.domain.hooks import Hook
from app.domain.qa_reports import html_report, write_reports
from app.domain.qa_results import HookResult, RunResult, ScenarioResult, StepResult
from app.domain.steps import StepDefinitionError
from app.domain.tag_filter import MAX_TAG_OPERATORS, matches, tag_expression_problem
from app.qa.attachments import (
    LOG_MEDIA_TYPE,
    MAX_RUN_ATTACHMENTS,
    AttachmentBudget,
    AttachmentError,
    attachment,
)
from app.qa.child import read_result
from app.qa.options import RunOptions
from app.qa.runner import run
from app.render.qa_check import render_qa_result
from app.repo_config import ConfigError, parse_repo_config
from tests.sample_app import SampleApp

DEEP_NOT = "not " * 3000 + "@a"  # a tree 3000 deep: evaluating it recursed past Python's limit

ATTACK_STEPS = '''
import asyncio

from app.domain.hooks import after
from app.domain.steps import Pending, step


class Unreadable(Exception):
    def __str__(self):
        raise Unreadable()  # and that one's message does not read either


class UnreadablePending(Pending):
    def __str__(self):
        raise Unreadable()


@step("a step raises SystemExit")
def exits():
    raise SystemExit(0)


@step("a step raises KeyboardInterrupt")
def interrupts():
    raise KeyboardInterrupt


@step("a step raises GeneratorExit")
def generator_exit():
    raise GeneratorExit


@step("a step raises CancelledError")
async def cancelled():
    raise asyncio.CancelledError


@step("a step raises an exception whose message does not read")
def unreadable():
    raise Unreadable()


@step("a step is pending with a message that does not read")
def unreadable_pending():
    raise UnreadablePending()


@step("a step attaches nothing many times")
def many_empty(ctx):
    for _ in range(MANY):
        ctx.log("")


@step("a step passes")
def passes():
    pass


@after(tags="@interrupting-after", name="interrupting teardown")
def interrupting_teardown():
    raise KeyboardInterrupt
'''.replace("MANY", str(MAX_RUN_ATTACHMENTS + 1))

ATTACK_FEATURE = '''Feature: Hostile steps
  Scenario: SystemExit
    When a step raises SystemExit

  Scenario: KeyboardInterrupt
    When a step raises KeyboardInterrupt

  Scenario: GeneratorExit
    When a step raises GeneratorExit

  Scenario: CancelledError
    When a step raises CancelledError

  Scenario: Unreadable exception
    When a step raises an exception whose message does not read

  Scenario: Unreadable pending
    When a step is pending with a message that does not read

  Scenario: Many empty attachments
    When a step attaches nothing many times

  @interrupting-after
  Scenario: An After hook that interrupts
    When a step passes

  Scenario: A step still passes
    When a step passes
'''


def _project(tmp_path: Path, steps: str, feature: str) -> Path:
    features = tmp_path / "features"
    (features / "steps").mkdir(parents=True)
    (features / "steps" / "attack_steps.py").write_text(steps)
    (features / "attack.feature").write_text(feature)
    return features


def _options(features: Path) -> RunOptions:
    return RunOptions(contexts=2, timeout_ms=8000, screenshots="failures", trace=False,
                      steps_dir=str(features / "steps"), allow_repo_steps=True)


@pytest.fixture(scope="module")
def attack_run(sample_app: SampleApp, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    features = _project(tmp_path_factory.mktemp("attacks"), ATTACK_STEPS, ATTACK_FEATURE)
    return run([features / "attack.feature"], sample_app.url, _options(features), root=features)


def _scenario(run_result: RunResult, name: str) -> ScenarioResult:
    found = [s for s in run_result.scenarios if s.name == name]
    assert found, f"no result for {name!r}; the run ended with {[e.message[:300] for e in run_result.errors]}"
    return found[0]


# ------------------------------------------------------------------------------------------------
# Step and hook code raising what `except Exception` does not catch, or exceptions that do not print
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["SystemExit", "KeyboardInterrupt", "GeneratorExit", "CancelledError"])
def test_a_step_raising_a_base_exception_fails_that_step_not_the_whole_run(attack_run: RunResult, name: str) -> None:
    step = _scenario(attack_run, name).steps[0]
    assert step.status == "failed" and step.error == f"the step raised {name}"
    assert _scenario(attack_run, "A step still passes").status == "passed"
    assert not attack_run.errors


def test_an_after_hook_raising_keyboard_interrupt_fails_its_scenario_only(attack_run: RunResult) -> None:
    scenario = _scenario(attack_run, "An After hook that interrupts")
    [hook] = scenario.after_hooks
    assert scenario.steps[0].status == "passed" and scenario.status == "failed"
    assert hook.status == "failed" and hook.error == "the hook raised KeyboardInterrupt"


def test_an_exception_whose_message_does_not_read_fails_the_step_saying_so(attack_run: RunResult) -> None:
    for name in ("Unreadable exception", "Unreadable pending"):
        step = _scenario(attack_run, name).steps[0]
        assert step.status == "failed"
        assert step.error == "the step raised an exception whose message does not read"


# ------------------------------------------------------------------------------------------------
# Attachments: many empty ones cost no bytes but still meet a limit
# ------------------------------------------------------------------------------------------------


def test_many_empty_attachments_meet_the_runs_attachment_count_limit(attack_run: RunResult) -> None:
    step = _scenario(attack_run, "Many empty attachments").steps[0]
    assert step.status == "failed" and f"at most {MAX_RUN_ATTACHMENTS} attachments" in (step.error or "")


def test_the_attachment_budget_counts_attachments_as_well_as_bytes() -> None:
    budget = AttachmentBudget(max_count=3)
    for _ in range(3):
        attachment("", LOG_MEDIA_TYPE, budget=budget)
    with pytest.raises(AttachmentError, match="at most 3 attachments"):
        attachment("", LOG_MEDIA_TYPE, budget=budget)


# ------------------------------------------------------------------------------------------------
# Tag expressions nested thousands deep (`qa.tags`, `--tags`, a hook's tags)
# ------------------------------------------------------------------------------------------------


def test_a_tag_expression_nested_thousands_deep_is_refused_before_it_is_evaluated() -> None:
    problem = tag_expression_problem(DEEP_NOT)
    assert problem is not None and f"more than {MAX_TAG_OPERATORS} operators" in problem
    assert tag_expression_problem(" and ".join(["@a"] * 20_000)) is not None
    assert tag_expression_problem("@smoke and not (@wip or @slow)") is None
    assert matches("not " * 51 + "@a", ["@b"])  # an expression under the limit still evaluates


def test_qa_tags_nested_too_deep_is_a_short_config_error() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_repo_config(f'qa:\n  tags: "{DEEP_NOT}"\n')
    message = str(raised.value)
    assert "qa.tags" in message and "operators" in message and len(message) < 1000


def test_a_hook_whose_tags_are_nested_too_deep_fails_the_load_naming_the_hook() -> None:
    with pytest.raises(StepDefinitionError, match=r'Before hook \(steps.py:3\): .* operators'):
        Hook("before", lambda: None, "steps.py:3", tags=DEEP_NOT)


def test_a_run_with_a_tag_expression_nested_too_deep_reports_an_error_not_a_crash(
    sample_app: SampleApp, tmp_path: Path,
) -> None:
    features = _project(tmp_path, "from app.domain.steps import step\n", "Feature: F\n  Scenario: S\n"
                        '    Given I am on "/"\n')
    options = RunOptions(steps_dir=str(features / "steps"), allow_repo_steps=True, tags=DEEP_NOT)
    result = run([features / "attack.feature"], sample_app.url, options, root=features)
    assert not result.scenarios and "operators" in result.errors[0].message
    assert "Traceback" not in result.errors[0].message


# ------------------------------------------------------------------------------------------------
# A forged result from the QA child (step code can overwrite the result file as the child exits)
# ------------------------------------------------------------------------------------------------


def _run_json(**scenario: Any) -> dict[str, Any]:
    step = _step_json()
    return {"base_url": "http://app.test", "scenarios": [{
        "id": "s1", "name": "S", "uri": "f.feature", "line": 2, "feature": "F", "steps": [step], **scenario}]}


def _step_json(**fields: Any) -> dict[str, Any]:
    return {"keyword": "Given ", "text": "a step", "line": 3, "status": "passed", **fields}


@pytest.mark.parametrize("forged", [
    {"status": "passed' onmouseover='alert(1)"},  # into a class attribute of the HTML report
    {"status": "exploded"},  # STATUS_ICON[...] raised KeyError while rendering the check run
    {"steps": [_step_json(status="<script>alert(1)</script>")]},
    {"duration": "forever"},  # `{duration:.2f}` raised ValueError while rendering
    {"before_hooks": [{"hook": "h.py:1", "kind": "before", "name": None, "status": "x'><b>"}]},
])
def test_a_forged_result_with_a_status_or_duration_the_reports_cannot_take_is_refused(forged: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="status|duration"):
        read_result(json.dumps(_run_json(**forged)))
    data = _run_json(**forged)  # and built straight from JSON (`RunResult.from_json`), the dataclasses refuse it
    with pytest.raises(ValueError, match="malformed"):
        RunResult.from_json(data)


def test_a_forged_result_nested_past_the_recursion_limit_reads_as_an_error() -> None:
    with pytest.raises(ValueError):
        read_result("[" * 100_000 + "]" * 100_000)
    fields = '"id": "s1", "name": "S", "uri": "f.feature", "line": 2, "feature": "F"'
    # 2000 retries deep: earlier attempts inside earlier attempts (ScenarioResult.from_json recurses through them)
    attempts = f'{{{fields}, "previous_attempts": [' * 2000 + f"{{{fields}}}" + "]}" * 2000
    with pytest.raises(ValueError):
        read_result(f'{{"base_url": "http://app.test", "scenarios": [{attempts}]}}')
    with pytest.raises(ValueError):
        read_result("[1, 2]")  # not an object at all


FORGING_STEPS = '''
import atexit
import sys

from app.domain.steps import step


def forge():
    with open(sys.argv[2], "w") as out:
        out.write(FORGED)


@step("a step forges the result")
def forges():
    atexit.register(forge)
'''


@pytest.mark.parametrize("forged", [
    "[" * 100_000 + "]" * 100_000,
    json.dumps(_run_json(status="passed' onmouseover='alert(1)")),
])
def test_a_result_forged_by_step_code_as_the_child_exits_is_an_error_on_the_run(
    sample_app: SampleApp, tmp_path: Path, forged: str,
) -> None:
    features = _project(tmp_path, FORGING_STEPS.replace("FORGED", repr(forged)),
                        "Feature: F\n  Scenario: S\n    When a step forges the result\n")
    result = run([features / "attack.feature"], sample_app.url, _options(features), root=features)
    assert not result.scenarios and not result.passed
    assert "the QA child process left a result that does not read" in result.errors[0].message
    assert "onmouseover='" not in html_report(result)  # named in the error, escaped, never as markup


# ------------------------------------------------------------------------------------------------
# Markdown from repository code in the check run
# ------------------------------------------------------------------------------------------------


def test_hook_names_and_errors_and_tag_expressions_add_no_markdown_to_the_check_run() -> None:
    name = "![beacon](https://evil.example/p.png) [log in again](https://evil.example) <img src=x>"
    hook = HookResult(hook="steps.py:1", kind="before_all", name=name, status="failed",
                      error="[click](https://evil.example)\n# heading")
    scenario_hook = HookResult(hook="steps.py:9", kind="before", name=name, status="failed", error="boom")
    scenario = ScenarioResult(id="s1", name="S", uri="f.feature", line=2, feature="F", status="failed",
                              steps=[StepResult(keyword="Given ", text="a step", line=3, status="skipped")],
                              before_hooks=[scenario_hook])
    result = RunResult(base_url="http://app.test", scenarios=[scenario], run_hooks=[hook],
                       tags="@a`<img src=x>`")
    check = render_qa_result(result, sha="a" * 40)
    for text in (check.summary, check.text):
        assert "](https://evil.example" not in text.replace("\\]", "")  # every `]` of theirs is escaped
        assert "<img" not in text.replace("\\<img", "").replace("`` @a`<img src=x>` ``", "")
        assert "\n# heading" not in text
    assert "`` @a`<img src=x>` ``" in check.summary  # the expression stays one code span


def test_a_real_runs_result_reads_back_whole_and_renders(attack_run: RunResult, tmp_path: Path) -> None:
    again = read_result(json.dumps(attack_run.to_json()))
    assert again == attack_run
    assert set(write_reports(again, tmp_path)) == {"junit", "ndjson", "html"}


def _set(data: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


# Each of these, handed back by the child, made writing the reports (in the worker) raise.
@pytest.mark.parametrize(("path", "junk"), [
    (("started_at",), -1e308),  # time.gmtime: OverflowError
    (("scenarios", 0, "started_at"), float("nan")),  # the messages' timestamp: ValueError
    (("scenarios", 0, "name"), None),
    (("scenarios", 0, "screenshots"), {"a": 1}),
    (("scenarios", 0, "steps", 0, "screenshot"), 5),
    (("scenarios", 0, "steps", 0, "exception"), 5),
    (("scenarios", 0, "steps", 0, "definitions"), None),
    (("scenarios", 0, "steps", 0, "match_arguments"), [[{"group": {"children": 5}}]]),
    (("scenarios", 0, "before_hooks"), [{"hook": [], "kind": "before", "name": None, "status": "passed"}]),
    (("pickles",), [{}]),
    (("pickles", 0, "steps"), {"a": 1}),
    (("documents",), [None]),
    (("documents", 0), {"gherkinDocument": None}),
    (("step_definitions",), [{}]),
    (("hook_definitions",), [{"key": 1}]),
    (("parameter_types",), [{"name": "x", "regularExpressions": None}]),
    (("undefined_parameter_types",), ["x"]),
])
def test_a_forged_result_the_reports_cannot_render_does_not_read(
    attack_run: RunResult, path: tuple[Any, ...], junk: Any,
) -> None:
    data = attack_run.to_json()
    _set(data, path, junk)
    with pytest.raises(ValueError):
        read_result(json.dumps(data))


def test_attachments_from_step_code_render_as_inert_text_in_the_html_report() -> None:
    hostile = [
        attachment("<script>alert(1)</script>", "text/html"),
        attachment("javascript:alert(1)\nhttps://example.com/ok", "text/uri-list"),
        attachment(b"\x89PNG", "image/png' onerror='alert(1)", "x' onclick='alert(1).png"),
        attachment(b"'><script>alert(1)</script>", "image/png"),
    ]
    step = StepResult(keyword="When ", text="a step", line=3, status="passed", attachments=hostile)
    result = RunResult(base_url="http://app.test", scenarios=[ScenarioResult(
        id="s1", name="S", uri="f.feature", line=2, feature="F", steps=[step])])
    page = html_report(result)
    assert "<script>" not in page and "onerror='" not in page and "onclick='" not in page
    assert "href='javascript:" not in page and "<a href='https://example.com/ok'>" in page


HANGING_STEPS = '''
import time

from app.domain.steps import step


@step("a step blocks the event loop")
def blocks():
    time.sleep(3600)  # sync: the step timeout (asyncio) cannot interrupt it
'''


def test_a_scenario_that_blocks_on_every_retry_still_ends_at_the_run_wall(sample_app: SampleApp, tmp_path: Path) -> None:
    features = _project(tmp_path, HANGING_STEPS, "Feature: F\n  Scenario: S\n    When a step blocks the event loop\n")
    options = RunOptions(steps_dir=str(features / "steps"), allow_repo_steps=True, retry=2, run_timeout_s=15)
    result = run([features / "attack.feature"], sample_app.url, options, root=features)
    assert not result.passed and not result.scenarios
    assert "ran past the run's limit of 15 s" in result.errors[0].message
