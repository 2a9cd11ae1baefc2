"""Revisions of an example map: stable ids, what changed, and convergence instead of churn.

A new map (from the model or the offline mapper) arrives with provisional ids. `revise()` matches its
cards to the previous revision's by normalized-text similarity, so a rule that is still the same rule
keeps its id (and, when only reworded slightly, its previous wording); new cards get ids never used
before; answered questions stay answered; and the result lists what was added, removed or answered.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import TypeVar

from app.domain.example_map import Example, ExampleMap, Question, Rule

MATCH_THRESHOLD = 0.6  # below this, two cards are different cards
KEEP_WORDING = 0.85  # above this, the new wording is a mere rephrasing: keep the previous one

_STOP = {"a", "an", "the", "to", "of", "and", "or", "is", "are", "be", "in", "on", "for", "with", "it", "its",
         "one", "where", "that", "this", "i", "my", "should", "can", "must", "will"}

C = TypeVar("C", Rule, Example, Question)


def normalize(text: str) -> str:
    """Lowercase words without punctuation or the "the one where" prefix, for comparing cards."""
    text = re.sub(r"^\s*the one (where|with)\s+", "", text.lower())
    return " ".join(re.findall(r"[a-z0-9@.$%€£]+", text)).strip(" .")


def similarity(a: str, b: str) -> float:
    """How alike two card texts are, 0..1 (max of character ratio and content-word overlap)."""
    na, nb = normalize(a), normalize(b)
    if not na or not nb:
        return 0.0
    if na == nb:
        return 1.0
    ratio = SequenceMatcher(None, na, nb).ratio()
    wa = {w for w in na.split() if w not in _STOP}
    wb = {w for w in nb.split() if w not in _STOP}
    overlap = len(wa & wb) / len(wa | wb) if wa and wb else 0.0
    return max(ratio, overlap)


@dataclass
class Change:
    """One line of "what changed": a card added, removed, answered or reworded."""

    action: str  # "added" | "removed" | "answered" | "reopened" | "reworded"
    card: str  # "rule" | "example" | "question"
    id: str
    text: str

    def __str__(self) -> str:
        return f"{self.action} {self.card} {self.id}: {self.text}"


@dataclass
class Revised:
    """The revised map, its revision number, the changes, and the id counters to carry forward."""

    map: ExampleMap
    revision: int
    changes: list[Change] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)


def _pairs(old: Sequence[C], new: Sequence[C], text: Callable[[C], str]) -> dict[int, int]:
    """Greedy best-first matching of new cards to old ones: {new index: old index}."""
    scored = sorted(
        ((similarity(text(o), text(n)), ni, oi) for ni, n in enumerate(new) for oi, o in enumerate(old)),
        reverse=True,
    )
    matched: dict[int, int] = {}
    used: set[int] = set()
    for score, ni, oi in scored:
        if score < MATCH_THRESHOLD:
            break
        if ni not in matched and oi not in used:
            matched[ni] = oi
            used.add(oi)
    return matched


def _counter(ids: list[str], prefix: str) -> int:
    numbers = [int(i[len(prefix):]) for i in ids if i.startswith(prefix) and i[len(prefix):].isdigit()]
    return max(numbers, default=0)


def revise(previous: ExampleMap | None, new: ExampleMap, *, previous_revision: int = 0,
           counters: dict[str, int] | None = None, reopened: set[str] | frozenset[str] = frozenset()) -> Revised:
    """Give `new` stable ids against `previous` and list what changed (revision = previous + 1).

    `reopened` holds ids of answered questions a person unticked in the map comment: they open again
    unless the new map still finds an answer for them (a written reply outlives a tick).
    """
    counters = dict(counters or {})
    old_rules = previous.rules if previous else []
    old_examples = [e for r in old_rules for e in r.examples]
    old_questions = previous.questions if previous else []
    for prefix, ids in (("R", [r.id for r in old_rules]), ("E", [e.id for e in old_examples]),
                        ("Q", [q.id for q in old_questions])):
        counters[prefix] = max(counters.get(prefix, 0), _counter(ids, prefix))

    def fresh(prefix: str) -> str:
        counters[prefix] += 1
        return f"{prefix}{counters[prefix]}"

    result = new.model_copy(deep=True)
    changes = _revise_rules(old_rules, result.rules, fresh)
    changes += _revise_examples(old_examples, [e for r in result.rules for e in r.examples], fresh)
    changes += _revise_questions(old_questions, result.questions, fresh, reopened)
    result.questions.sort(key=lambda q: _id_number(q.id))

    return Revised(map=result, revision=previous_revision + 1, changes=changes, counters=counters)


def _revise_rules(old_rules: list[Rule], new_rules: list[Rule], fresh: Callable[[str], str]) -> list[Change]:
    """Keep the ids (and near-identical wording) of matched rules; number the new ones."""
    changes: list[Change] = []
    rule_match = _pairs(old_rules, new_rules, lambda r: r.text)
    for ni, rule in enumerate(new_rules):
        if ni in rule_match:
            old = old_rules[rule_match[ni]]
            rule.id = old.id
            if similarity(old.text, rule.text) >= KEEP_WORDING:
                rule.text = old.text
            elif normalize(old.text) != normalize(rule.text):
                changes.append(Change("reworded", "rule", rule.id, rule.text))
        else:
            rule.id = fresh("R")
            changes.append(Change("added", "rule", rule.id, rule.text))
    kept_rules = {rule_match[ni] for ni in rule_match}
    changes += [Change("removed", "rule", r.id, r.text) for i, r in enumerate(old_rules) if i not in kept_rules]
    return changes


def _revise_examples(old_examples: list[Example], new_examples: list[Example],
                     fresh: Callable[[str], str]) -> list[Change]:
    """Match examples across the whole map, so an example moved to another rule keeps its id."""
    changes: list[Change] = []
    example_match = _pairs(old_examples, new_examples, lambda e: e.title)
    for ni, example in enumerate(new_examples):
        if ni in example_match:
            old_example = old_examples[example_match[ni]]
            example.id = old_example.id
            if similarity(old_example.title, example.title) >= KEEP_WORDING:
                example.title = old_example.title
        else:
            example.id = fresh("E")
            changes.append(Change("added", "example", example.id, example.title))
    kept_examples = set(example_match.values())
    changes += [Change("removed", "example", e.id, e.title) for i, e in enumerate(old_examples)
                if i not in kept_examples]
    return changes


def _revise_questions(old_questions: list[Question], new_questions: list[Question], fresh: Callable[[str], str],
                      reopened: set[str] | frozenset[str]) -> list[Change]:
    """Answered questions stay answered (a person answered them; a re-map must not forget that).

    Appends the answered questions the new map dropped to `new_questions`, ticked.
    """
    changes: list[Change] = []
    question_match = _pairs(old_questions, new_questions, lambda q: q.text)
    for ni, question in enumerate(new_questions):
        if ni in question_match:
            changes += _carry_question(old_questions[question_match[ni]], question, reopened)
        else:
            question.id = fresh("Q")
            changes.append(Change("answered" if question.answered else "added", "question", question.id,
                                  question.answer or question.text if question.answered else question.text))
    kept_questions = set(question_match.values())
    for i, old_q in enumerate(old_questions):
        if i in kept_questions:
            continue
        if old_q.answered:
            new_questions.append(old_q.model_copy())  # answered cards stay on the map, ticked
        else:
            changes.append(Change("removed", "question", old_q.id, old_q.text))
    return changes


def _carry_question(old_q: Question, question: Question, reopened: set[str] | frozenset[str]) -> list[Change]:
    """Give a matched question its previous id, wording and answer; the change it makes, if any."""
    question.id = old_q.id
    if similarity(old_q.text, question.text) >= KEEP_WORDING:
        question.text = old_q.text
    if old_q.answered and not question.answered and old_q.id in reopened:
        return [Change("reopened", "question", question.id, question.text)]
    if old_q.answered and not question.answered:
        question.answered, question.answer = True, old_q.answer
    elif question.answered and not old_q.answered:
        return [Change("answered", "question", question.id, question.answer or question.text)]
    return []


def _id_number(card_id: str) -> int:
    digits = card_id[1:]
    return int(digits) if digits.isdigit() else 0


def apply_answers(example_map: ExampleMap, answers: dict[str, str]) -> ExampleMap:
    """Mark questions answered ({question id: answer}) in a copy of the map."""
    result = example_map.model_copy(deep=True)
    for question in result.questions:
        if question.id in answers and not question.answered:
            question.answered = True
            question.answer = answers[question.id]
    return result


def provisional_ids(example_map: ExampleMap) -> ExampleMap:
    """Number the cards R1.., E1.., Q1.. in order (before `revise` maps them onto stable ids)."""
    result = example_map.model_copy(deep=True)
    n = 0
    for ri, rule in enumerate(result.rules, 1):
        rule.id = f"R{ri}"
        for example in rule.examples:
            n += 1
            example.id = f"E{n}"
    for qi, question in enumerate(result.questions, 1):
        question.id = f"Q{qi}"
    return result
