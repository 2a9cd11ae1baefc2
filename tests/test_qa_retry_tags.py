"""Tag expressions and retry in the QA runner, with Cucumber's semantics: `RunOptions.tags` selects the
scenarios (inherited tags included), `RunOptions.retry` runs a FAILED scenario again in a fresh browser
context (never an undefined or ambiguous one), and a scenario that passes on a retry is flaky."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from app.domain.qa_reports import html_report, junit_xml
from app.domain.qa_results import RunResult, ScenarioResult, StepResult
from app.domain.scenario_plan import compile_features, select_by_tags
from app.domain.tag_filter import matches, tag_expression_problem
from app.qa.browser import SharedBrowser
from app.qa.in_process import run_with_retries
from app.qa.options import RunOptions
from app.qa.runner import run
from app.render.qa_check import render_qa_result
from tests.sample_app import SampleApp

TAGGED = """@shop
Feature: Tagged shop
  @smoke
  Scenario: The shop opens
    Given I am on the home page
    Then I should see "Welcome to the shop"

  @smoke @wip
  Scenario: Work in progress
    Given I am on "/products"
    Then I should see "Not built yet"

  Scenario: Untagged products
    Given I am on "/products"
    Then I should see "Cocoa"

  @slow
  Rule: Checkout
    Scenario Outline: Plans
      Given I am on "/signup"
      Then I should see "<text>"

      @smoke
      Examples: Quick
        | text                |
        | Create your account |

      Examples: Long
        | text |
        | Plan |
"""

FAST = RunOptions(contexts=4, timeout_ms=5000, screenshots="failures", trace=False)


@pytest.fixture
def tagged(tmp_path: Path) -> Path:
    feature = tmp_path / "tagged.feature"
    feature.write_text(TAGGED)
    return feature


def test_tags_include_the_features_rules_and_examples_tags(tagged: Path) -> None:
    compiled = compile_features([tagged], root=tagged.parent)
    tags = {s.name + (f" [{s.steps[1].text}]" if s.rule else ""): s.tags for s in compiled.scenarios}
    assert tags['Plans [I should see "Create your account"]'] == ["@shop", "@slow", "@smoke"]
    assert tags['Plans [I should see "Plan"]'] == ["@shop", "@slow"]
    selected = select_by_tags(compiled, "@smoke and not @wip")
    assert [s.name for s in selected.scenarios] == ["The shop opens", "Plans"]
    # Cucumber filters pickles before running them: only the selected ones are left to report
    assert [p["name"] for p in selected.pickles] == ["The shop opens", "Plans"]
    assert [s.name for s in select_by_tags(compiled, "@shop and not (@smoke or @slow)").scenarios] == \
        ["Untagged products"]
    assert select_by_tags(compiled, None) is compiled


def test_the_tag_expression_parser_names_what_is_wrong() -> None:
    assert tag_expression_problem("@smoke and not @wip") is None
    assert tag_expression_problem("@smoke and") == "and: Too few operands (expressions=[Literal('@smoke')])"
    assert "Expected operator after @a" in (tag_expression_problem("@a @b") or "")
    assert matches(None, []) and matches("  ", ["@x"]) and not matches("@a", ["@b"])


def test_a_run_runs_only_the_selected_scenarios_and_records_the_expression(
    browser: SharedBrowser, sample_app: SampleApp, tagged: Path
) -> None:
    options = RunOptions(contexts=4, timeout_ms=5000, screenshots="final", trace=False, tags=" @smoke and not @wip ")
    result = run([tagged], sample_app.url, options, root=tagged.parent, shared_browser=browser)
    assert sorted(s.name for s in result.scenarios) == ["Plans", "The shop opens"]
    assert result.passed and result.tags == "@smoke and not @wip", [(s.name, s.error, [st.error for st in s.steps]) for s in result.scenarios]
    assert {p["id"] for p in result.pickles} == {s.id for s in result.scenarios}
    assert "Scenarios selected by the tag expression `@smoke and not @wip`" in \
        render_qa_result(result, sha="abc").summary
    assert "<code>@smoke and not @wip</code>" in html_report(result)


def test_a_tag_expression_that_selects_nothing_fails_the_run_saying_so(tagged: Path) -> None:
    result = run([tagged], "http://127.0.0.1:9", RunOptions(tags="@nothing-has-this"), root=tagged.parent)
    assert not result.passed and result.scenarios == []
    assert result.errors[0].message == ("no scenario matches the tag expression `@nothing-has-this` "
                                        "(5 scenarios in the feature files, none selected)")
    check = render_qa_result(result, sha="abc")
    assert check.conclusion == "failure" and "no scenario matches the tag expression" in check.summary


def test_a_bad_tag_expression_is_an_error_not_a_crash(tagged: Path) -> None:
    result = run([tagged], "http://127.0.0.1:9", RunOptions(tags="@smoke and"), root=tagged.parent)
    assert not result.passed and result.scenarios == []
    assert result.errors[0].message.startswith("`@smoke and` is not a valid tag expression: and: Too few operands")


# A project step that fails the first time and passes after (its state in a file: every attempt has a
# fresh browser context, and the steps run in a child process), one that always fails, and a count of
# every attempt of each. No parameters in the patterns: they read the same as parse patterns and as
# Cucumber Expressions.
RETRY_STEPS = '''
from pathlib import Path

from app.domain.steps import Pending, step

STATE = Path({state!r})


def _count(name):
    path = STATE / name
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    return count


@step("a step that fails once")
def fails_once():
    assert _count("flaky") > 1, "failed on the first attempt, as a flaky step does"


@step("a step that always fails")
def always_fails():
    _count("broken")
    raise AssertionError("this step never passes")


@step("a step that counts its runs")
def counts():
    _count("undefined")


@step("a step that is not written yet")
def pending():
    _count("pending")
    raise Pending("to do")
'''

RETRY_FEATURE = """Feature: Retries
  Scenario: Flaky
    Given I am on the home page
    Then a step that fails once

  Scenario: Broken
    Given I am on the home page
    Then a step that always fails

  Scenario: Undefined
    Given a step that counts its runs
    Then a step nobody defined

  Scenario: Pending
    Given a step that is not written yet

  Scenario: Steady
    Given I am on the home page
    Then I should see "Welcome to the shop"
"""


@pytest.fixture(scope="module")
def retried(sample_app: SampleApp, tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, Path]:
    root = tmp_path_factory.mktemp("retry")
    state = root / "state"
    state.mkdir()
    features = root / "features"
    (features / "steps").mkdir(parents=True)
    (features / "steps" / "retry_steps.py").write_text(RETRY_STEPS.format(state=str(state)))
    (features / "retry.feature").write_text(RETRY_FEATURE)
    options = RunOptions(contexts=2, timeout_ms=8000, screenshots="failures", trace=True, retry=2,
                         steps_dir=str(features / "steps"), allow_repo_steps=True, out_dir=str(root / "evidence"))
    result = run([features / "retry.feature"], sample_app.url, options, root=features)
    return result, state


def _by_name(result: RunResult) -> dict[str, ScenarioResult]:
    return {s.name: s for s in result.scenarios}


def test_a_scenario_that_passes_on_a_retry_is_flaky_and_passes_the_run_as_in_cucumber(
    retried: tuple[RunResult, Path]
) -> None:
    result, state = retried
    flaky = _by_name(result)["Flaky"]
    assert (flaky.status, flaky.attempt, flaky.flaky) == ("passed", 1, True), [s.error for s in flaky.steps]
    assert [(p.attempt, p.status) for p in flaky.previous_attempts] == [(0, "failed")]
    assert "failed on the first attempt" in (flaky.previous_attempts[0].failing_step().error or "")  # type: ignore[union-attr]
    assert (state / "flaky").read_text() == "2"
    assert result.retry == 2 and result.counts() == {"passed": 2, "failed": 1, "undefined": 1, "pending": 1}
    steady = _by_name(result)["Steady"]
    assert (steady.attempt, steady.previous_attempts, steady.flaky) == (0, [], False)


def test_a_scenario_that_always_fails_runs_exactly_retry_plus_one_times(retried: tuple[RunResult, Path]) -> None:
    result, state = retried
    broken = _by_name(result)["Broken"]
    assert (state / "broken").read_text() == "3"  # retry: 2
    assert (broken.status, broken.attempt, broken.flaky) == ("failed", 2, False)
    assert [(p.attempt, p.status) for p in broken.previous_attempts] == [(0, "failed"), (1, "failed")]
    assert not result.passed
    # every attempt had its own browser context and kept its own evidence
    traces = [broken.trace, *(p.trace for p in broken.previous_attempts)]
    assert len(set(traces)) == 3 and all(t and Path(t).is_file() for t in traces)


def test_undefined_and_pending_scenarios_are_not_retried(retried: tuple[RunResult, Path]) -> None:
    result, state = retried
    for name, status in (("Undefined", "undefined"), ("Pending", "pending")):
        scenario = _by_name(result)[name]
        assert (scenario.status, scenario.attempt, scenario.previous_attempts) == (status, 0, [])
        assert (state / status).read_text() == "1"


def test_the_reports_and_check_run_show_the_flaky_scenario(retried: tuple[RunResult, Path]) -> None:
    result, _ = retried
    check = render_qa_result(result, sha="abc")
    assert "2 passed (**1 flaky**: passed only on a retry)" in check.summary
    assert "| Flaky (`retry.feature:2`) | ⚠️ flaky (passed on attempt 2) |" in check.summary
    assert "| Broken (`retry.feature:6`) | ❌ failed (attempt 3) |" in check.summary
    assert "### ⚠️ flaky: Flaky" in check.text and "failed on the first attempt" in check.text
    warning = next(a for a in check.annotations if a["annotation_level"] == "warning")
    assert (warning["path"], warning["start_line"]) == ("retry.feature", 4)
    cases = {c.get("name"): c for c in ET.fromstring(junit_xml(result)).iter("testcase")}
    flaky_case, broken_case = cases["Flaky"], cases["Broken"]
    assert flaky_case.find("failure") is None and len(flaky_case.findall("flakyFailure")) == 1
    assert "failed on the first attempt" in (flaky_case.find("flakyFailure/stackTrace").text or "")  # type: ignore[union-attr]
    assert broken_case.find("failure") is not None and len(broken_case.findall("rerunFailure")) == 2
    assert cases["Steady"].find("flakyFailure") is None
    page = html_report(result)
    assert "⚠️ flaky (passed on attempt 2)" in page and "Attempt 1: failed" in page


def test_the_retry_loop_stops_at_the_first_attempt_that_does_not_fail() -> None:
    import asyncio

    statuses = iter(["failed", "ambiguous", "passed"])
    seen: list[int] = []

    async def attempt(number: int) -> ScenarioResult:
        seen.append(number)
        return ScenarioResult(id="1", name="s", uri="a.feature", line=1, feature="f", status=next(statuses))

    result = asyncio.run(run_with_retries(attempt, 5))
    assert seen == [0, 1] and (result.status, result.attempt, len(result.previous_attempts)) == ("ambiguous", 1, 1)


def test_tags_retry_and_attempts_round_trip_through_json() -> None:
    earlier = ScenarioResult(id="p1", name="Flaky", uri="a.feature", line=2, feature="F", status="failed",
                             steps=[StepResult("Then", "a step", 4, "failed", error="boom")])
    last = ScenarioResult(id="p1", name="Flaky", uri="a.feature", line=2, feature="F", status="passed",
                          attempt=1, previous_attempts=[earlier],
                          steps=[StepResult("Then", "a step", 4, "passed")])
    run_result = RunResult(base_url="http://app", scenarios=[last], tags="@smoke", retry=2)
    again = RunResult.from_json(json.loads(json.dumps(run_result.to_json())))
    assert again == run_result
    assert again.scenarios[0].flaky and isinstance(again.scenarios[0].previous_attempts[0], ScenarioResult)
    assert again.scenarios[0].previous_attempts[0].steps[0].error == "boom"
