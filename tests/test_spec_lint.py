"""The spec lint finds what makes a feature a poor executable spec, at the exact line and column."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.domain.spec_lint import NEEDS_STEP_DEFINITION, check_feature, has_errors, static_step_registry
from app.domain.steps import match_step
from app.qa.step_files import load_step_files

GOOD = """\
@issue-1
Feature: Sign in
  Rule: right password
    Example: the one where Ana signs in
      Given I am on "/login"
      When I press "Sign in"
      Then I should see "Welcome"
"""


def _codes(text: str, **kwargs: object) -> list[tuple[int, str]]:
    return [(f.line, f.code) for f in check_feature(text, "f.feature", **kwargs)]  # type: ignore[arg-type]


def test_a_clean_feature_has_no_errors() -> None:
    assert not has_errors(check_feature(GOOD, "f.feature"))


def test_parse_errors_become_error_findings_with_line_and_column() -> None:
    findings = check_feature("Feature: x\n  Scenario: y\n    Given a\n   | a | b |\n   | c |\n", "f.feature")
    assert [(f.line, f.column, f.level, f.code) for f in findings] == [(5, 4, "error", "parse")]


def test_empty_scenario_is_an_error() -> None:
    text = GOOD + "\n    Example: the one with nothing\n"
    assert (9, "empty-scenario") in _codes(text)


def test_duplicate_scenario_names_are_flagged_on_the_second() -> None:
    text = GOOD + '\n    Example: The one where Ana signs in\n      Then I should see "x"\n'
    findings = [f for f in check_feature(text, "f.feature") if f.code == "duplicate-name"]
    assert [(f.line, f.level) for f in findings] == [(9, "error")]
    assert "line 4" in findings[0].message


def test_scenario_without_then_is_an_error_but_and_after_then_counts() -> None:
    no_then = GOOD.replace('      Then I should see "Welcome"\n', "")
    assert (4, "no-then") in _codes(no_then)
    and_then = GOOD.replace(
        '      Then I should see "Welcome"\n', '      Then I should see "A"\n      And I should see "B"\n'
    )
    assert "no-then" not in [c for _, c in _codes(and_then)]


@pytest.mark.parametrize(
    ("line", "column"),
    [
        ("      # TODO: which page", 9),
        ("  What happens when the email is unknown?", 41),
        ("    TBD by product", 5),
    ],
)
def test_questions_left_in_the_spec_are_errors_at_their_column(line: str, column: int) -> None:
    text = GOOD.replace("Feature: Sign in\n", f"Feature: Sign in\n{line}\n")
    findings = [f for f in check_feature(text, "f.feature") if f.code == "open-question"]
    assert [(f.line, f.column, f.level) for f in findings] == [(3, column, "error")]


def test_question_marks_inside_doc_strings_and_quotes_are_not_questions() -> None:
    text = GOOD.replace(
        '      Then I should see "Welcome"\n',
        '      Then I should see "Really?"\n      And the page says:\n        """\n        Sure?\n        """\n',
    )
    assert "open-question" not in [c for _, c in _codes(text)]


def test_scenario_size_limit_is_configurable_and_a_warning() -> None:
    findings = [f for f in check_feature(GOOD, "f.feature", max_steps=2) if f.code == "too-long"]
    assert [(f.line, f.level) for f in findings] == [(4, "warning")]
    assert not [f for f in check_feature(GOOD, "f.feature", max_steps=3) if f.code == "too-long"]


def test_file_without_feature_or_scenarios_is_an_error() -> None:
    assert _codes("# only a comment\n") == [(1, "no-feature")]
    assert _codes("Feature: nothing yet\n") == [(1, "no-scenarios")]


def test_steps_the_runner_does_not_know_need_a_step_definition() -> None:
    text = GOOD.replace('      When I press "Sign in"\n', "      When the moon turns blue\n")
    findings = [f for f in check_feature(text, "f.feature") if f.code == "step-undefined"]
    assert [(f.line, f.column, f.level) for f in findings] == [(6, 7, "warning")]
    assert NEEDS_STEP_DEFINITION in findings[0].message
    assert not [f for f in check_feature(GOOD, "f.feature") if f.code.startswith("step-")]


def test_repository_step_definitions_are_read_without_running_them() -> None:
    source = (
        "import os\nos.environ['RAN'] = 'yes'  # would run if imported\n"
        "from app.domain.steps import step\n\n"
        "@step('the moon turns {word}')\nasync def moon(page, colour):\n    pass\n"
    )
    registry = static_step_registry({"features/steps/moon.py": source})
    text = GOOD.replace('      When I press "Sign in"\n', "      When the moon turns blue\n")
    assert not [f for f in check_feature(text, "f.feature", extra=registry) if f.code.startswith("step-")]
    assert "RAN" not in os.environ


def test_a_step_two_definitions_match_is_flagged_as_ambiguous() -> None:
    registry = static_step_registry(
        {"features/steps/dup.py": "@step('I press {string}')\ndef p(b):\n    pass\n"}
    )
    findings = [f for f in check_feature(GOOD, "f.feature", extra=registry) if f.code == "step-ambiguous"]
    assert [f.line for f in findings] == [6]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "https://evil.example/login", "javascript:alert(1)",
                                 "chrome://version", "//evil.example/x", "view-source:file:///app/.env"])
def test_an_absolute_url_in_a_visit_step_is_an_error_telling_the_reviewer(url: str) -> None:
    text = GOOD.replace('Given I am on "/login"', f'Given I am on "{url}"')
    (finding,) = [f for f in check_feature(text, "f.feature") if f.code == "foreign-url"]
    assert (finding.line, finding.column, finding.level) == (5, 7, "error")
    assert finding.message == (f"absolute URL `{url}` in a step: QA only visits the app under test; "
                               "use a path like `/signup`")


def test_a_local_file_url_anywhere_in_a_step_or_an_outline_example_is_an_error() -> None:
    text = GOOD.replace('      When I press "Sign in"\n', '      When I fill in "Avatar" with "file:///root/.env"\n')
    assert (6, "foreign-url") in _codes(text)
    outline = GOOD.replace("Example: the one where Ana signs in", "Scenario Outline: visiting").replace(
        '"/login"', '"<page>"') + "      Examples:\n        | page               |\n        | /login             |\n" \
        "        | file:///etc/passwd |\n"
    findings = [f for f in check_feature(outline, "f.feature") if f.code == "foreign-url"]
    assert len(findings) == 1 and "`file:///etc/passwd`" in findings[0].message


def test_relative_paths_and_origins_the_repository_allows_are_fine() -> None:
    assert "foreign-url" not in [c for _, c in _codes(GOOD)]
    allowed = GOOD.replace('"/login"', '"https://login.example/start"')
    assert "foreign-url" in [c for _, c in _codes(allowed)]
    assert "foreign-url" not in [c for _, c in _codes(allowed, allowed_origins=["https://login.example"])]
    # a URL typed into a field is data, not a place QA goes
    typed = GOOD.replace('      When I press "Sign in"\n', '      When I fill in "Website" with "https://a.example"\n')
    assert "foreign-url" not in [c for _, c in _codes(typed)]


MOON_STEPS = (
    "import re\n\nfrom app.domain.steps import parameter_type, step\n\n"
    "parameter_type('colour', r'red|blue', str.upper)\n"
    "parameter_type('phase', [r'full', re.compile(r'new')])\n\n"
    "@step('the moon turns {colour} when {phase}')\nasync def moon(page, colour, phase):\n    pass\n\n"
    "@step(re.compile(r'^the tide is (high|low)$'))\ndef tide(level):\n    pass\n\n"
    "@step('the sun is {brightness}')\ndef sun(brightness):\n    pass\n"
)


@pytest.mark.parametrize(("step", "known"), [
    ("the moon turns blue when full", True),
    ("the moon turns blue when new", True),
    ("the moon turns green when full", False),  # not a colour the project registered
    ("the tide is high", True),
    ("the tide is medium", False),
    ("the sun is bright", False),  # {brightness} is no parameter type: that definition never matches
])
def test_the_lint_reads_parameter_types_and_regular_expressions_as_the_runner_matches_them(
    tmp_path: Path, step: str, known: bool,
) -> None:
    registry = static_step_registry({"features/steps/moon.py": MOON_STEPS})
    text = GOOD.replace('      When I press "Sign in"\n', f"      When {step}\n")
    lint_known = not [f for f in check_feature(text, "f.feature", extra=registry) if f.code.startswith("step-")]
    assert lint_known is known
    # what the lint accepts is exactly what the QA run executes
    (tmp_path / "moon.py").write_text(MOON_STEPS)
    assert (match_step(step, load_step_files(tmp_path)).status == "matched") is known


def test_a_step_meant_for_a_definition_with_an_unknown_parameter_type_says_which_type() -> None:
    registry = static_step_registry({"features/steps/moon.py": MOON_STEPS})
    text = GOOD.replace('      When I press "Sign in"\n', "      When the sun is bright\n")
    [finding] = [f for f in check_feature(text, "f.feature", extra=registry) if f.code == "step-undefined"]
    assert '`{brightness}` in "the sun is {brightness}" is not a parameter type' in finding.message


def test_an_old_parse_pattern_leaves_its_steps_undefined_in_the_lint() -> None:
    registry = static_step_registry(
        {"features/steps/old.py": "@step('the moon turns \"{colour}\"')\ndef moon(colour):\n    pass\n"})
    text = GOOD.replace('      When I press "Sign in"\n', '      When the moon turns "blue"\n')
    assert [f.code for f in check_feature(text, "f.feature", extra=registry)] == ["step-undefined"]
