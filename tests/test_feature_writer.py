"""The deterministic feature writer turns an Example Map into a Gherkin feature that parses and lints."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.example_map import Example, ExampleMap, Rule, Story
from app.domain.feature_writer import (
    _TRANSLATIONS,
    feature_path,
    narrative,
    slugify,
    to_web_step,
    write_feature,
)
from app.domain.gherkin import ParsedFeature, parse_feature
from app.domain.offline_mapper import build_map
from app.domain.spec_lint import check_feature, has_errors
from app.domain.steps import match_step
from app.domain.story import read_story

STORIES = Path(__file__).parent / "fixtures" / "stories"


def sign_in_map() -> ExampleMap:
    """A map as a team would write it: free-text steps, a shared setup, an example without steps."""
    login = 'the user visits "/login"'
    return ExampleMap(
        story=Story(
            title="Sign in with email",
            as_a="registered user",
            i_want="to sign in with my email",
            so_that="I can see my orders",
        ),
        rules=[
            Rule(
                id="R1",
                text="A correct password signs you in",
                examples=[
                    Example(
                        id="E1",
                        title="the one where ana@example.com uses s3cret",
                        given=[login],
                        when=[
                            'I fill in "Email" with "ana@example.com"',
                            'enters "s3cret" in the "Password" field',
                            'clicks "Sign in"',
                        ],
                        then=['I should see "Welcome, Ana"', "the user is redirected to /orders"],
                    ),
                ],
            ),
            Rule(
                id="R2",
                text="A wrong password is refused",
                examples=[
                    Example(
                        id="E2",
                        title="the one where Ana types wr0ng?",
                        given=[login],
                        when=['press the "Sign in" button'],
                        then=['the page shows "Wrong password"'],
                    ),
                    Example(id="E3", title="the one where Ana types wr0ng?", given=[login], when=["waits"]),
                ],
            ),
        ],
    )


def test_feature_has_tag_narrative_rules_and_examples_and_parses() -> None:
    text = write_feature(sign_in_map(), 7)
    parsed = parse_feature(text, "features/sign-in-with-email.feature")
    assert isinstance(parsed, ParsedFeature), parsed
    assert parsed.tags == ["@issue-7"]
    assert parsed.name == "Sign in with email"
    assert [line.strip() for line in parsed.description.splitlines()] == [
        "As a registered user",
        "I want to sign in with my email",
        "So that I can see my orders",
    ]
    assert parsed.rules() == ["A correct password signs you in", "A wrong password is refused"]
    assert [(s.rule, s.keyword) for s in parsed.scenarios()] == [
        ("A correct password signs you in", "Example"),
        ("A wrong password is refused", "Example"),
        ("A wrong password is refused", "Example"),
    ]
    assert len(parsed.pickles) == 3


def test_steps_shared_by_every_example_become_the_background() -> None:
    parsed = parse_feature(write_feature(sign_in_map(), 7), "f.feature")
    assert isinstance(parsed, ParsedFeature)
    first = parsed.scenarios()[0]
    assert [s.text for s in first.background_steps] == ['I am on "/login"']
    assert all(s.text != 'I am on "/login"' for scenario in parsed.scenarios() for s in scenario.steps)


def test_free_text_steps_are_phrased_in_the_web_vocabulary() -> None:
    parsed = parse_feature(write_feature(sign_in_map(), 7), "f.feature")
    assert isinstance(parsed, ParsedFeature)
    assert [s.text for s in parsed.scenarios()[0].steps] == [
        'I fill in "Email" with "ana@example.com"',
        'I fill in "Password" with "s3cret"',
        'I press "Sign in"',
        'I should see "Welcome, Ana"',
        'I should be on "/orders"',
    ]


@pytest.mark.parametrize(
    ("free", "kind", "phrased"),
    [
        ("I visit /cart", "Given", 'I am on "/cart"'),
        ("Given I am on /cart", "When", 'I go to "/cart"'),
        ('she selects "Blue" from the "Colour" dropdown', "When", 'I select "Blue" from "Colour"'),
        ('follows the "Help" link', "When", 'I follow "Help"'),
        ('ticks the "Remember me" checkbox', "When", 'I check "Remember me"'),
        ('"Out of stock" is not shown', "Then", 'I should not see "Out of stock"'),
        ("the basket total is 12 EUR", "Then", "the basket total is 12 EUR"),
    ],
)
def test_one_free_text_step_is_phrased_where_a_vocabulary_step_fits(
    free: str, kind: str, phrased: str
) -> None:
    assert to_web_step(free, kind) == phrased


def test_output_passes_the_lint_and_uses_only_known_steps_where_it_can() -> None:
    findings = check_feature(write_feature(sign_in_map(), 7), "f.feature")
    assert not has_errors(findings), findings
    undefined = [f for f in findings if f.code == "step-undefined"]
    # only the example the team gave no vocabulary steps for needs step definitions
    assert {f.line for f in undefined} and all(
        "waits" in f.message or "refused" in f.message for f in undefined
    )


def test_duplicate_titles_and_trailing_questions_are_made_lint_clean() -> None:
    parsed = parse_feature(write_feature(sign_in_map(), 7), "f.feature")
    assert isinstance(parsed, ParsedFeature)
    names = [s.name for s in parsed.scenarios()]
    assert names[1:] == ["The one where Ana types wr0ng", "The one where Ana types wr0ng (2)"]


def test_a_rule_without_examples_becomes_one_scenario_stating_it() -> None:
    example_map = ExampleMap(
        story=Story(title="Export", as_a="accountant"),
        rules=[Rule(id="R1", text="Exports hold one row per order")],
    )
    text = write_feature(example_map, 3)
    assert "  As an accountant\n" in text
    parsed = parse_feature(text, "f.feature")
    assert isinstance(parsed, ParsedFeature)
    (scenario,) = parsed.scenarios()
    assert (scenario.rule, scenario.name, [s.text for s in scenario.steps]) == (
        "Exports hold one row per order",
        "Exports hold one row per order",
        ["exports hold one row per order"],
    )
    assert not has_errors(check_feature(text, "f.feature"))


@pytest.mark.parametrize(
    ("role", "line"),
    [
        ("user", "As a user"),
        ("admin", "As an admin"),
        ("As an editor", "As an editor"),
        ("shopper", "As a shopper"),
    ],
)
def test_narrative_uses_the_right_article(role: str, line: str) -> None:
    assert narrative(ExampleMap(story=Story(title="t", as_a=role))) == [line]


def test_writer_is_deterministic() -> None:
    assert write_feature(sign_in_map(), 7) == write_feature(sign_in_map(), 7)


def test_slug_and_path_follow_the_features_folder() -> None:
    assert slugify("Sign in — with E-mail!") == "sign-in-with-e-mail"
    assert feature_path("specs/", "Sign in") == "specs/sign-in.feature"


def _stories() -> list[Path]:
    return sorted(STORIES.glob("*.md")) if STORIES.is_dir() else []


@pytest.mark.parametrize("path", _stories(), ids=lambda p: p.stem)
def test_feature_from_each_fixture_story_parses_and_has_no_lint_errors(path: Path) -> None:
    """The offline path end to end: fixture issue -> deterministic map -> deterministic feature."""
    title_line, _, body = path.read_text(encoding="utf-8").partition("\n")
    example_map = build_map(read_story(42, title_line.removeprefix("Title:").strip(), body))
    text = write_feature(example_map, 42)
    parsed = parse_feature(text, "features/story.feature")
    assert isinstance(parsed, ParsedFeature), (text, parsed)
    assert parsed.tags == ["@issue-42"]
    assert len(parsed.scenarios()) == sum(len(rule.examples) or 1 for rule in example_map.rules)
    assert not has_errors(check_feature(text, "f.feature")), text


@pytest.mark.parametrize("template", sorted({template for _, template in _TRANSLATIONS}))
def test_every_phrasing_the_writer_produces_is_one_built_in_step(template: str) -> None:
    # a value as the writer captures it: anything but a double quote (an apostrophe included)
    values = dict.fromkeys(("label", "value", "option", "link", "button", "text"), "it's 12 EUR")
    match = match_step(template.format(path="/cart", **values))
    assert match.status == "matched", match.message
    assert set(match.arguments) <= {"/cart", "it's 12 EUR"}
