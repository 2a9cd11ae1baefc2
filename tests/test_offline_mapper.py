"""The deterministic mapper on the story fixtures and on threads that answer its questions."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.example_map import Question, Readiness
from app.domain.map_revision import revise
from app.domain.markers import marker
from app.domain.offline_mapper import build_map, find_answers, suggest_split
from app.domain.story import Comment, IssueStory, read_story
from app.render.map_comment import read_map_state

STORIES = Path(__file__).parent / "fixtures" / "stories"


def load(name: str, comments: list[Comment] | None = None) -> IssueStory:
    title, body = (STORIES / name).read_text().split("\n", 1)
    return read_story(7, title.removeprefix("Title: "), body, comments)


def test_password_reset_maps_every_criterion_to_its_example_and_is_ready():
    example_map = build_map(load("password-reset.md"))
    assert [r.text for r in example_map.rules] == [
        "A reset link is sent to the account's email address",
        "A reset link expires after 24 hours",
        "A used reset link cannot be used again",
    ]
    assert [[e.title for e in r.examples] for r in example_map.rules] == [
        ["the one where asking for a reset link"],
        ["the one where using an expired link"],
        ["the one where using a link twice"],
    ]
    assert example_map.story.inferred
    assert example_map.readiness(6) is Readiness.READY
    assert example_map.scenarios == ["Asking for a reset link", "Using an expired link", "Using a link twice"]


def test_save_cart_keeps_its_open_question_and_values():
    example_map = build_map(load("save-cart.md"))
    assert len(example_map.rules) == 3
    assert [q.text for q in example_map.questions] == [
        "What happens to an item that is out of stock when the cart is reopened?"]
    assert example_map.readiness(6) is Readiness.OPEN_QUESTIONS
    signed_in = next(e for r in example_map.rules for e in r.examples if "two items" in e.title)
    assert 'I am signed in as "ann@example.com"' in signed_in.given
    # the guest example illustrates the sign-in rule, not the one that happens to share "save" and "cart"
    rule = next(r for r in example_map.rules if r.text == "Only signed-in shoppers can save a cart")
    assert [e.title for e in rule.examples] == ["the one where a guest tries to save a cart"]


def test_headings_become_rules_when_there_is_no_criteria_list():
    example_map = build_map(load("newsletter.md"))
    assert [r.text for r in example_map.rules] == ["Subscribing with a valid address", "Refusing an invalid address"]
    assert all(len(r.examples) == 1 for r in example_map.rules)
    assert example_map.questions[0].text == "Should we ask people to confirm their address by email?"


def test_an_untitled_example_is_named_for_its_values_and_outcome_not_its_mechanics():
    example_map = build_map(load("newsletter.md"))
    assert [e.title for r in example_map.rules for e in r.examples] == [
        'the one where "eve@example.com" is entered, and the page says "Thanks for subscribing"',
        'the one where "not-an-email" is entered, and the page says "Please enter a valid email address"',
    ]


def test_a_rule_with_concrete_values_becomes_its_own_example():
    issue = read_story(1, "Carts", "## Acceptance criteria\n- A saved cart keeps its items for 30 days\n")
    rule = build_map(issue).rules[0]
    assert rule.examples and "30 days" in rule.examples[0].title


def test_a_rule_without_values_or_steps_has_no_invented_example():
    example_map = build_map(load("prompt-injection.md"))
    assert example_map.rules[0].examples == []
    assert example_map.readiness(6) is Readiness.RULE_WITHOUT_EXAMPLES


def test_replies_quoting_a_question_or_naming_its_id_answer_it():
    questions = [Question(id="Q1", text="Should the link expire?"), Question(id="Q2", text="Which template?")]
    comments = [Comment("ann", "> Should the link expire?\nYes, after 24 hours."),
                Comment("bob", "Q2: the plain one"), Comment("bot", "Q1: wrong", is_bot=True)]
    assert find_answers(questions, comments) == {"Q1": "Yes, after 24 hours.", "Q2": "the plain one"}


def test_ticked_questions_in_the_bots_comment_are_read():
    body = marker("map", revision=1) + (
        "\n- [x] 🟥 **Q1** · question: a?\n- [ ] 🟥 **Q2** · question: b?\n- [X] 🟥 **Q3** · question: c?")
    state = read_map_state(body)
    assert state is not None and (state.ticked, state.unticked) == ({"Q1", "Q3"}, {"Q2"})


def test_answered_questions_become_rules_and_the_map_converges():
    first = revise(None, build_map(load("save-cart.md")))
    assert first.map.readiness(6) is Readiness.OPEN_QUESTIONS
    reply = Comment("ann", "Q1: An out-of-stock item stays in the saved cart marked as unavailable")
    second_map = build_map(load("save-cart.md", [reply]), previous=first.map)
    second = revise(first.map, second_map, previous_revision=1, counters=first.counters)
    answered = second.map.questions[0]
    assert answered.id == "Q1" and answered.answered
    assert any(r.text == "An out-of-stock item stays in the saved cart marked as unavailable" for r in second.map.rules)
    assert [c.action for c in second.changes if c.card == "question"] == ["answered"]
    # ids of what was already there did not move
    assert [r.id for r in second.map.rules[:3]] == [r.id for r in first.map.rules]
    # a third run with the same thread changes nothing: no churn
    third = revise(second.map, build_map(load("save-cart.md", [reply]), previous=second.map),
                   previous_revision=2, counters=second.counters)
    assert third.changes == [] and third.map == second.map


def test_too_big_story_gets_a_split_suggestion():
    criteria = "\n".join(f"- Rule number {i} about topic {i}" for i in range(1, 10))
    example_map = build_map(read_story(1, "Big", f"## Acceptance criteria\n{criteria}\n"), max_rules=4)
    assert example_map.readiness(4) is Readiness.TOO_BIG
    assert len(example_map.split_suggestion) == 3
    assert suggest_split(example_map, 20) == []


@pytest.mark.parametrize("name", sorted(p.name for p in STORIES.glob("*.md")))
def test_mapping_the_same_issue_twice_gives_the_same_map(name):
    assert build_map(load(name)) == build_map(load(name))


def test_an_example_written_in_a_reply_gives_the_answered_rule_its_example():
    answer = Comment("ann", "Q1: Yes, a new subscriber confirms the address by email before it is subscribed")
    before = build_map(load("newsletter.md", [answer]))
    new_rule = next(r for r in before.rules if "confirms the address" in r.text)
    assert not new_rule.examples and before.readiness(6) is Readiness.RULE_WITHOUT_EXAMPLES
    example = Comment("bob", 'Example: the one where Eve has to confirm\nGiven I am on "/"\n'
                             'When I fill in "Email" with "eve@example.com"\nAnd I press "Subscribe"\n'
                             'Then I should see "Check your inbox to confirm your address"')
    after = build_map(load("newsletter.md", [answer, example]))
    rule = next(r for r in after.rules if "confirms the address" in r.text)
    assert [e.title for e in rule.examples] == ["the one where Eve has to confirm"]
    assert after.readiness(6) is Readiness.READY


def test_steps_quoted_from_the_issue_in_a_reply_are_not_a_new_example():
    quoting = Comment("ann", '> Given I am on "/"\n> When I fill in "Email" with "x@example.com"\nLooks right to me.')
    assert len(load("newsletter.md", [quoting]).blocks) == len(load("newsletter.md").blocks)
