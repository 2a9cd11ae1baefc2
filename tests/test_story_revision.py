"""Revisions of a map: stable ids by text similarity, what changed, answered questions stay answered."""

from __future__ import annotations

from app.domain.example_map import Example, ExampleMap, Question, Rule, Story
from app.domain.map_revision import revise, similarity


def make(rules: list[tuple[str, list[str]]], questions: list[tuple[str, bool]] = ()) -> ExampleMap:
    return ExampleMap(
        story=Story(title="T"),
        rules=[Rule(id="", text=t, examples=[Example(id="", title=e) for e in ex]) for t, ex in rules],
        questions=[Question(id="", text=q, answered=a, answer="yes" if a else None) for q, a in questions],
    )


def test_reworded_rule_keeps_its_id_and_its_previous_wording():
    first = revise(None, make([("A reset link expires after 24 hours", []), ("Links work once", [])]))
    second = revise(first.map, make([("Links work only once", []), ("A reset link expires after 24 hours.", [])]),
                    previous_revision=first.revision, counters=first.counters)
    by_text = {r.text: r.id for r in second.map.rules}
    assert by_text["A reset link expires after 24 hours"] == "R1"
    assert second.map.rules[0].id == "R2"
    assert second.revision == 2


def test_new_cards_get_ids_never_used_before_even_after_a_removal():
    first = revise(None, make([("Rule one about carts", []), ("Rule two about prices", [])]))
    second = revise(first.map, make([("Rule one about carts", [])]), previous_revision=1, counters=first.counters)
    third = revise(second.map, make([("Rule one about carts", []), ("Shipping is free above 50 euros", [])]),
                   previous_revision=2, counters=second.counters)
    assert [r.id for r in third.map.rules] == ["R1", "R3"]
    assert [str(c) for c in second.changes] == ["removed rule R2: Rule two about prices"]
    assert [c.action for c in third.changes] == ["added"]


def test_examples_keep_their_ids_when_moved_to_another_rule():
    first = revise(None, make([("Rule A about carts", ["the one where ann saves 2 items"]), ("Rule B on prices", [])]))
    second = revise(first.map, make([("Rule A about carts", []), ("Rule B on prices", ["the one where ann saves 2 items"])]),
                    previous_revision=1, counters=first.counters)
    assert second.map.rules[1].examples[0].id == first.map.rules[0].examples[0].id
    assert second.changes == []


def test_an_answered_question_stays_answered_when_a_remap_forgets_it():
    first = revise(None, make([("Rule", [])], [("Should links expire?", False)]))
    answered = first.map.model_copy(deep=True)
    answered.questions[0].answered, answered.questions[0].answer = True, "after a day"
    second = revise(first.map, make([("Rule", [])], [("Should links expire?", True)]), previous_revision=1,
                    counters=first.counters)
    assert [c.action for c in second.changes] == ["answered"]
    third = revise(second.map, make([("Rule", [])], []), previous_revision=2, counters=second.counters)
    assert third.map.questions and third.map.questions[0].answered  # kept, ticked, not "removed"
    assert third.changes == []


def test_similarity_ignores_case_punctuation_and_the_one_where():
    assert similarity("The one where Ann saves 2 items.", "ann saves 2 items") == 1.0
    assert similarity("Links expire after 24 hours", "Shipping is free above 50 euros") < 0.6
