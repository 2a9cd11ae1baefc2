"""The Gherkin parser wrapper reports exactly what the Gherkin project's own test data expects."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.domain.gherkin import GherkinError, ParsedFeature, parse_feature

FIXTURES = Path(__file__).parent / "fixtures" / "gherkin"
BAD = sorted(FIXTURES.glob("bad/*.feature"))
GOOD = sorted(FIXTURES.glob("good/*.feature"))


def _expected_errors(feature: Path) -> list[tuple[int, int | None, str]]:
    """The errors the Gherkin project says its parser reports for `feature` (line, column, message)."""
    expected = []
    for line in feature.with_name(feature.name + ".errors.ndjson").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        error = json.loads(line)["parseError"]
        location = error["source"]["location"]
        message = re.sub(r"^\(\d+:\d+\):\s*", "", error["message"])
        expected.append((location["line"], location.get("column"), message))
    return expected


@pytest.mark.parametrize("feature", BAD, ids=[p.stem for p in BAD])
def test_bad_feature_reports_the_errors_the_gherkin_project_expects(feature: Path) -> None:
    result = parse_feature(feature.read_text(encoding="utf-8"), feature.name)
    assert isinstance(result, list), "a bad feature must not parse"
    assert [(e.line, e.column, e.message) for e in result] == _expected_errors(feature)


@pytest.mark.parametrize("feature", GOOD, ids=[p.stem for p in GOOD])
def test_good_feature_parses_and_compiles(feature: Path) -> None:
    result = parse_feature(feature.read_text(encoding="utf-8"), feature.name)
    assert isinstance(result, ParsedFeature), result
    assert result.document["uri"] == feature.name


def test_end_of_file_errors_have_no_column() -> None:
    errors = parse_feature('Feature: x\n  Scenario: y\n    Given a\n    """\n    open', "eof.feature")
    assert isinstance(errors, list)
    assert errors[-1].column is None
    assert "end of file" in errors[-1].message


def test_pickles_expand_outline_rows_and_include_background() -> None:
    text = (
        '@issue-3\nFeature: Login\n  Background:\n    Given I am on "/login"\n\n'
        '  Rule: passwords\n    Scenario Outline: wrong <pw>\n      When I fill in "Password" with "<pw>"\n'
        '      Then I should see "Wrong"\n      Examples:\n        | pw |\n        | a  |\n        | b  |\n'
    )
    parsed = parse_feature(text, "features/login.feature")
    assert isinstance(parsed, ParsedFeature)
    assert len(parsed.pickles) == 2
    assert [s["text"] for s in parsed.pickles[0]["steps"]] == [
        'I am on "/login"',
        'I fill in "Password" with "a"',
        'I should see "Wrong"',
    ]
    (scenario,) = parsed.scenarios()
    assert scenario.rule == "passwords"
    assert scenario.examples_rows == 2
    assert [s.text for s in scenario.background_steps] == ['I am on "/login"']
    assert parsed.tags == ["@issue-3"]


def test_error_renders_with_its_location() -> None:
    assert str(GherkinError(line=4, column=7, message="boom")) == "line 4:7: boom"
    assert str(GherkinError(line=4, column=None, message="boom")) == "line 4: boom"
