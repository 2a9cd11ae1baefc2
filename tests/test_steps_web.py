"""Every built-in step in a real Chromium: passes where it should, fails with a clear message where not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from app.domain.qa_results import RunResult, ScenarioResult
from app.domain.step_vocabulary import VOCABULARY
from app.domain.steps import BUILTIN
from app.qa.actions import ACTIONS, step_function
from app.qa.browser import SharedBrowser
from app.qa.options import RunOptions
from app.qa.runner import run
from tests.sample_app import SampleApp

FEATURES = Path(__file__).parent / "sample_app" / "features"
POSITIVE = [FEATURES / "shop.feature", FEATURES / "phrasings.feature"]
# Negative assertions wait this long before failing; small keeps the suite quick.
OPTIONS = RunOptions(contexts=4, timeout_ms=1500, screenshots="failures", trace=False)
# Steps that must pass get a generous timeout, so a busy machine never fails them.
PASSING = replace(OPTIONS, timeout_ms=8000)

# (start page, failing step (with its table / doc string lines), text the error must contain)
NEGATIVE: dict[str, tuple[str, str, str]] = {
    "visit": ("/", 'I am on "/nowhere"', 'Opening "/nowhere" returned HTTP 404'),
    "press_button": ("/signup", 'I press "Delete everything"', 'Could not click the button "Delete everything"'),
    "follow_link": ("/", 'I follow "Checkout"', 'Could not follow the link "Checkout"'),
    "click": ("/", 'I click "Nope"', 'Could not click "Nope"'),
    "fill": ("/signup", 'I fill in "Phone" with "1"', 'Could not fill in "Phone"'),
    "fill_doc_string": ("/signup", 'I fill in "About you" with:', "needs a doc string"),
    "fill_form": ("/signup", "I fill in the form with:", "needs a data table"),
    "select": ("/signup", 'I select "Gold" from "Plan"', 'Could not select "Gold" from "Plan"'),
    "check": ("/signup", 'I check "Subscribe"', 'Could not check "Subscribe"'),
    "uncheck": ("/signup", 'I uncheck "Subscribe"', 'Could not uncheck "Subscribe"'),
    "press_key": ("/search", 'I press "Enter" in "Phone"', 'Could not press "Enter" in "Phone"'),
    "see": ("/", 'I should see "Secret hidden text"', 'Expected to see "Secret hidden text" on the page'),
    "not_see": ("/", 'I should not see "Spring sale"', 'Expected not to see "Spring sale" on the page'),
    "wait_for_text": ("/", 'I wait for "Never there"', 'for "Never there", but it did not appear'),
    "url_is": ("/signup", 'I should be on "/products"', 'Expected to be on "/products"'),
    "url_contains": ("/signup", 'the URL should contain "plan=Gold"', 'Expected the URL to contain "plan=Gold"'),
    "field_value": ("/signup", 'the "Name" field should contain "Zed"', 'Expected the "Name" field to have the value "Zed"'),
    "is_checked": ("/signup", 'the "I accept the terms" checkbox should be checked',
                   'Expected "I accept the terms" to be checked'),
    "is_not_checked": ("/signup", 'the "Send me news" checkbox should not be checked',
                       'Expected "Send me news" not to be checked'),
    "table_contains": ("/products", 'the "Products" table should contain:\n      | Tea | 9.99 |',
                       'Expected the "Products" table to have a row Tea | 9.99'),
    "list_contains": ("/products", 'the "Categories" list should contain:\n      | Juice |',
                      'Expected the "Categories" list to contain "Juice"'),
    "see_within": ("/", 'I should see "Spring sale" within "Help"', 'Expected to see "Spring sale" within "Help"'),
}


def _negative_feature() -> str:
    lines = ["Feature: Built-in steps fail clearly", ""]
    for name, (page, failing, _) in NEGATIVE.items():
        lines += [f"  Scenario: {name}", f'    Given I am on "{page}"', f"    Then {failing}",
                  '    And I should see "anything"', ""]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def positive_run(browser: SharedBrowser, sample_app: SampleApp) -> RunResult:
    return run(POSITIVE, sample_app.url, PASSING, root=FEATURES, shared_browser=browser)


@pytest.fixture(scope="module")
def negative_run(browser: SharedBrowser, sample_app: SampleApp, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    folder = tmp_path_factory.mktemp("negative")
    (folder / "negative.feature").write_text(_negative_feature())
    return run([folder / "negative.feature"], sample_app.url, replace(OPTIONS, contexts=8), root=folder,
               shared_browser=browser)


def _by_name(result: RunResult) -> dict[str, ScenarioResult]:
    return {s.name: s for s in result.scenarios}


def test_every_scenario_of_the_sample_features_passes_on_the_sample_app(positive_run: RunResult) -> None:
    failures = {s.name: [st.error for st in s.steps if st.error] for s in positive_run.scenarios if s.failed}
    assert failures == {}
    assert positive_run.passed
    assert len(positive_run.scenarios) == 9  # the outline's two examples are two scenarios


def test_every_built_in_phrasing_is_exercised_by_a_passing_step(positive_run: RunResult) -> None:
    used = {st.definition for s in positive_run.scenarios for st in s.steps if st.status == "passed"}
    unused = [d.pattern for d in BUILTIN if d.name not in used]
    assert unused == []


@pytest.mark.parametrize("name", sorted(NEGATIVE))
def test_a_built_in_step_fails_with_a_clear_message_where_it_should_not_pass(
    negative_run: RunResult, name: str
) -> None:
    scenario = _by_name(negative_run)[name]
    _, failing, message = NEGATIVE[name]
    statuses = [st.status for st in scenario.steps]
    assert statuses == ["passed", "failed", "skipped"]
    assert scenario.status == "failed"
    assert message in (scenario.steps[1].error or "")
    assert scenario.steps[1].text == failing.split("\n")[0]
    assert scenario.steps[1].screenshot and Path(scenario.steps[1].screenshot).read_bytes()[:4] == b"\x89PNG"


def test_every_action_of_the_vocabulary_is_performed_by_exactly_one_playwright_action() -> None:
    assert sorted(ACTIONS) == sorted(entry.action for entry in VOCABULARY)
    reordered = {p for entry in VOCABULARY for p, _ in entry.argument_names}
    assert all(step_function(d) is ACTIONS[d.action or ""] for d in BUILTIN if d.pattern not in reordered)
    # `I enter {string} in {string}` gives the value first: its arguments go to `fill` by name (shop.feature
    # runs it and finds the typed text in the right field)
    assert reordered == {"I enter {string} in {string}"}


def test_every_built_in_action_has_a_failing_case() -> None:
    # visit_home only opens the base URL: it fails just when the whole app is down (a run-level test).
    actions = {d.source.removeprefix("builtin:") for d in BUILTIN} - {"visit_home"}
    assert actions <= set(NEGATIVE)


def test_each_step_result_names_its_definition_and_its_cucumber_arguments(positive_run: RunResult) -> None:
    steps = [st for s in positive_run.scenarios for st in s.steps]
    visit = next(st for st in steps if st.text == 'I visit "/search"')
    assert visit.definitions == ['"I visit {string}" (builtin:visit)']
    assert visit.match_arguments == [[{"group": {"start": 8, "value": '"/search"', "children": [
        {"start": 9, "value": "/search", "children": [{}]}, {"children": [{}]}]}, "parameterTypeName": "string"}]]
    home = next(st for st in steps if st.text == "I am on the home page")
    assert home.match_arguments == [[]]
    definitions = {d["pattern"]: d for d in positive_run.step_definitions}
    assert definitions["I visit {string}"]["expression_type"] == "CUCUMBER_EXPRESSION"
    assert definitions["I visit {string}"]["name"] == '"I visit {string}" (builtin:visit)'


PROJECT_STEPS = '''
import re

from app.domain.steps import Pending, parameter_type, step


@step("I sign up as {string} on the {plan} plan")
async def sign_up(page, name, plan):
    await page.goto("/signup")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Plan").select_option(label=plan)
    await page.get_by_role("button", name="Create account").click()


@step(re.compile(r"^the greeting names (\\w+)$"))
async def greets(name, page):
    assert name in await page.inner_text("h1")


@step("{airport} is closed")
def closed(airport):
    pass


@step("the invoice is emailed")
def not_yet():
    raise Pending("the mail double is not wired yet")


parameter_type("plan", r"free|pro|team", str.capitalize)
'''

PROJECT_FEATURE = """Feature: Project steps as Cucumber Expressions
  Scenario: Sign up with a custom parameter type
    When I sign up as 'Flo' on the team plan
    Then the greeting names Flo
    And I should see "Welcome, Flo!"

  Scenario: A step not written yet
    Given the invoice is emailed

  Scenario: A step meant for an unknown parameter type
    Given CDG is closed
"""


def test_project_steps_with_parameter_types_regexes_and_pending_run_in_qa(sample_app: SampleApp, tmp_path: Path) -> None:
    features = tmp_path / "features"
    (features / "steps").mkdir(parents=True)
    (features / "steps" / "signup_steps.py").write_text(PROJECT_STEPS)
    (features / "project.feature").write_text(PROJECT_FEATURE)
    options = replace(PASSING, steps_dir=str(features / "steps"), allow_repo_steps=True)
    result = run([features / "project.feature"], sample_app.url, options, root=features)
    assert not result.errors
    by_name = {s.name: s for s in result.scenarios}
    signup = by_name["Sign up with a custom parameter type"]
    assert signup.status == "passed", [st.error for st in signup.steps]
    assert signup.steps[0].match_arguments[0][1] == {"group": {"start": 26, "value": "team"},
                                                     "parameterTypeName": "plan"}
    assert by_name["A step not written yet"].steps[0].status == "pending"
    unknown = by_name["A step meant for an unknown parameter type"].steps[0]
    assert unknown.status == "undefined" and "{airport}" in (unknown.error or "")
    assert [(t["name"], t["source"]) for t in result.parameter_types] == [("plan", "signup_steps.py:30")]
    assert result.undefined_parameter_types == [{"expression": "{airport} is closed", "name": "airport"}]
    project = {d["pattern"]: d for d in result.step_definitions if not d["source"].startswith("builtin:")}
    assert "{airport} is closed" not in project  # Cucumber lists it as an undefined parameter type instead
    regex = project["^the greeting names (\\w+)$"]
    assert regex["expression_type"] == "REGULAR_EXPRESSION" and regex["source"] == "signup_steps.py:15"
    assert regex["uri"].endswith("signup_steps.py") and regex["line"] == 15
