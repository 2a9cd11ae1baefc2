"""The QA runner: compilation, failures at the right lines, undefined steps, evidence, project steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.qa_results import RunResult
from app.domain.scenario_plan import compile_features
from app.qa.browser import SharedBrowser
from app.qa.options import RunOptions
from app.qa.runner import run
from tests.sample_app import SampleApp

FEATURES = Path(__file__).parent / "sample_app" / "features"
SHOP = FEATURES / "shop.feature"
# Generous enough that a busy CI box never fails a step that should pass.
FAST = RunOptions(contexts=4, timeout_ms=5000, screenshots="final", trace=True)


def _line_of(path: Path, text: str) -> int:
    """The 1-based line of the first line containing `text` (so tests never hard-code line numbers)."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if text in line)


def test_compiling_expands_background_outline_examples_tables_and_doc_strings() -> None:
    compiled = compile_features([SHOP], root=FEATURES)
    assert compiled.errors == []
    names = [s.name for s in compiled.scenarios]
    assert names.count("Every plan can be chosen") == 2
    classic = compiled.scenarios[0]
    assert classic.steps[0].text == 'I am on "/signup"'  # the rule's Background comes first
    assert classic.steps[0].line == _line_of(SHOP, 'Given I am on "/signup"')
    assert classic.rule == "Visitors can sign up"
    table = compiled.scenarios[1]
    assert table.steps[1].data_table == [["Name", "Bob"], ["Email", "bob@example.com"], ["Your city", "Lyon"]]
    assert table.steps[2].doc_string == "I like green tea.\nAnd black tea."
    outline = [s for s in compiled.scenarios if s.name == "Every plan can be chosen"]
    assert outline[1].steps[2].text == 'I select "Team" from "Plan"'
    assert outline[1].line == _line_of(SHOP, "| Di   | Team |")  # an example's line is its row
    assert classic.uri == "shop.feature" and classic.tags == ["@issue-1"]


def test_a_feature_that_does_not_parse_is_an_error_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.feature"
    bad.write_text("Feature: x\n  Scenario: y\n    Given a\n    | a | b |\n    | c |\n")
    compiled = compile_features([bad], root=tmp_path)
    assert compiled.scenarios == []
    assert compiled.errors and compiled.errors[0].uri == "bad.feature" and compiled.errors[0].line == 5


@pytest.fixture(scope="module")
def broken_run(browser: SharedBrowser, broken_sample_app: SampleApp) -> RunResult:
    return run([SHOP], broken_sample_app.url, FAST, root=FEATURES, shared_browser=browser)


def test_the_broken_app_fails_the_right_scenarios_at_the_right_lines(broken_run: RunResult) -> None:
    failing = {(s.name, s.failing_step().line) for s in broken_run.scenarios if s.failed}  # type: ignore[union-attr]
    assert failing == {
        ("Signing up with the classic web steps", _line_of(SHOP, 'Then I should see "Welcome, Ann!"')),
        ("Browsing products from the home page", _line_of(SHOP, 'And the "Products" table should contain:')),
        ("Searching with the keyboard", _line_of(SHOP, 'Then I should see "Results for green tea"')),
    }
    assert not broken_run.passed


def test_a_failed_scenario_keeps_a_trace_and_a_screenshot_of_the_failing_step(broken_run: RunResult) -> None:
    scenario = next(s for s in broken_run.scenarios if s.name == "Searching with the keyboard")
    assert scenario.trace and Path(scenario.trace).read_bytes()[:2] == b"PK"  # a zip
    step = scenario.failing_step()
    assert step is not None and step.screenshot and Path(step.screenshot).read_bytes()[:4] == b"\x89PNG"
    assert [s.status for s in scenario.steps][-1] == "skipped"
    passed = next(s for s in broken_run.scenarios if s.name == "Clicking buttons and waiting for slow text")
    assert passed.trace is None  # traces are kept for failures only


def test_console_errors_and_failed_requests_are_collected(
    browser: SharedBrowser, sample_app: SampleApp, tmp_path: Path
) -> None:
    feature = tmp_path / "noisy.feature"
    feature.write_text('Feature: n\n  Scenario: noisy\n    Given I am on "/noisy"\n    Then I should see "Noisy page"\n')
    result = run([feature], sample_app.url, FAST, root=tmp_path, shared_browser=browser)
    scenario = result.scenarios[0]
    assert scenario.status == "passed"
    assert any("boom from the page" in e for e in scenario.console_errors)
    assert any("/missing.json" in r and "404" in r for r in scenario.failed_requests)


def test_an_undefined_step_fails_the_scenario_with_a_snippet(
    browser: SharedBrowser, sample_app: SampleApp, tmp_path: Path
) -> None:
    feature = tmp_path / "undefined.feature"
    feature.write_text(
        "Feature: u\n  Scenario: teleport\n    Given I am on \"/\"\n"
        "    When I teleport to \"Mars\"\n    Then I should see \"Welcome\"\n    And I moonwalk 3 times\n"
    )
    progress: list[tuple[str, int, int]] = []
    result = run([feature], sample_app.url, FAST, root=tmp_path, shared_browser=browser,
                 progress=lambda s, done, total: progress.append((s.status, done, total)))
    scenario = result.scenarios[0]
    assert scenario.status == "undefined" and not result.passed
    assert [s.status for s in scenario.steps] == ["passed", "undefined", "skipped", "undefined"]
    assert "@step('I teleport to {string}')\nasync def i_teleport_to(page, text):" in (scenario.steps[1].snippet or "")
    assert "@step('I moonwalk {int} times')" in (scenario.steps[3].snippet or "")
    assert progress == [("undefined", 1, 1)]


def test_an_app_that_is_down_fails_every_scenario_with_the_reason(browser: SharedBrowser, tmp_path: Path) -> None:
    feature = tmp_path / "down.feature"
    feature.write_text("Feature: d\n  Scenario: home\n    Given I am on the home page\n")
    result = run([feature], "http://127.0.0.1:9", FAST, root=tmp_path, shared_browser=browser)
    assert result.scenarios[0].status == "failed"
    assert "Could not open" in (result.scenarios[0].steps[0].error or "")


def test_no_scenarios_is_not_a_pass(tmp_path: Path) -> None:
    empty = tmp_path / "empty.feature"
    empty.write_text("Feature: nothing yet\n")
    result = run([empty], "http://127.0.0.1:9", FAST, root=tmp_path)
    assert not result.passed and "no scenarios" in result.errors[0].message


PROJECT_STEPS = '''
import os

from playwright.async_api import expect

from app.domain.steps import step


@step("I sign up as {string} on the {word} plan")
async def sign_up(page, name, plan):
    await page.goto("/signup")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Plan").select_option(label=plan)
    await page.get_by_role("button", name="Create account").click()


@step("no service secret reaches the step code")
def no_secrets():
    leaked = [k for k in ("SPECLOOP_TEST_SECRET", "WEBHOOK_SECRET") if k in os.environ]
    assert not leaked, f"leaked: {leaked}"


@step("I go to {string}")
async def clashes_with_the_built_in(page, where):
    await page.goto(where)
'''

PROJECT_FEATURE = '''Feature: Project steps
  Scenario: A project step signs up
    When I sign up as "Flo" on the Team plan
    Then I should see "Welcome, Flo!"
    And no service secret reaches the step code

  Scenario: A clash with a built-in step is ambiguous
    Given I go to "/"
    Then I should see "Welcome"
'''


def _project(tmp_path: Path) -> Path:
    features = tmp_path / "features"
    (features / "steps").mkdir(parents=True)
    (features / "steps" / "signup_steps.py").write_text(PROJECT_STEPS)
    (features / "project.feature").write_text(PROJECT_FEATURE)
    return features


def test_project_steps_run_in_a_child_process_without_service_secrets(
    sample_app: SampleApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPECLOOP_TEST_SECRET", "s3cr3t")
    monkeypatch.setenv("WEBHOOK_SECRET", "s3cr3t")
    features = _project(tmp_path)
    options = RunOptions(contexts=2, timeout_ms=8000, screenshots="failures", trace=False,
                         steps_dir=str(features / "steps"), allow_repo_steps=True)
    seen: list[str] = []
    result = run([features / "project.feature"], sample_app.url, options, root=features,
                 progress=lambda s, done, total: seen.append(s.name))
    by_name = {s.name: s for s in result.scenarios}
    signup = by_name["A project step signs up"]
    assert signup.status == "passed", [st.error for st in signup.steps]
    assert signup.steps[0].definition and "signup_steps.py" in signup.steps[0].definition
    clash = by_name["A clash with a built-in step is ambiguous"]
    assert clash.status == "ambiguous"
    assert "builtin:visit" in (clash.steps[0].error or "") and "signup_steps.py" in (clash.steps[0].error or "")
    assert sorted(seen) == sorted(by_name)  # progress crossed the process boundary


def test_project_steps_are_not_loaded_unless_allowed(
    browser: SharedBrowser, sample_app: SampleApp, tmp_path: Path
) -> None:
    features = _project(tmp_path)
    options = RunOptions(contexts=2, timeout_ms=1500, screenshots="failures", trace=False,
                         steps_dir=str(features / "steps"), allow_repo_steps=False)
    result = run([features / "project.feature"], sample_app.url, options, root=features, shared_browser=browser)
    signup = next(s for s in result.scenarios if s.name == "A project step signs up")
    assert signup.status == "undefined"


def test_retry_runs_a_failed_scenario_again_in_this_process_with_its_own_evidence(
    browser: SharedBrowser, sample_app: SampleApp, tmp_path: Path
) -> None:
    feature = tmp_path / "missing.feature"
    feature.write_text('Feature: m\n  Scenario: missing text\n    Given I am on "/"\n'
                       '    Then I should see "Free shipping"\n')
    options = RunOptions(contexts=1, timeout_ms=1500, screenshots="failures", trace=False, retry=1,
                         out_dir=str(tmp_path / "evidence"))
    result = run([feature], sample_app.url, options, root=tmp_path, shared_browser=browser)
    (scenario,) = result.scenarios
    assert (scenario.status, scenario.attempt, scenario.flaky, result.retry) == ("failed", 1, False, 1)
    (first,) = scenario.previous_attempts
    shots = [first.failing_step().screenshot, scenario.failing_step().screenshot]  # type: ignore[union-attr]
    assert shots[0] != shots[1] and all(s and Path(s).is_file() for s in shots)
    assert "/retry-1/" in str(shots[1])


FORGING_STEPS = '''import atexit
import sys

from app.domain.steps import step


@step("the step code forges the run's result")
def forge():
    # After the child writes its result, overwrite it with something that is not a run.
    atexit.register(lambda: open(sys.argv[-1], "w").write('{"scenarios": [{"no": "fields"}]}'))
'''


def test_a_result_the_step_code_forged_is_an_error_not_a_crash(sample_app: SampleApp, tmp_path: Path) -> None:
    features = tmp_path / "features"
    (features / "steps").mkdir(parents=True)
    (features / "steps" / "forge.py").write_text(FORGING_STEPS)
    (features / "forge.feature").write_text("Feature: F\n  Scenario: S\n    Given the step code forges the run's result\n")
    options = RunOptions(contexts=1, screenshots="off", trace=False, steps_dir=str(features / "steps"),
                         allow_repo_steps=True)
    result = run([features / "forge.feature"], sample_app.url, options, root=features)
    assert not result.passed
    assert any("left a result that does not read" in e.message for e in result.errors), result.errors
