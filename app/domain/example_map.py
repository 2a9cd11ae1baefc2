"""The Example Map: a story (yellow), rules (blue), examples (green), questions (red), scenario titles."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class Story(BaseModel):
    """The yellow card: the user story, in Connextra form."""

    title: str
    as_a: str = ""
    i_want: str = ""
    so_that: str = ""
    inferred: bool = False  # True when the issue did not say "As a / I want / so that" itself


class Example(BaseModel):
    """A green card: one concrete example, titled "the one where ...", with optional steps."""

    id: str  # stable across revisions: "E1", "E2", ...
    title: str
    given: list[str] = Field(default_factory=list)
    when: list[str] = Field(default_factory=list)
    then: list[str] = Field(default_factory=list)


class Rule(BaseModel):
    """A blue card: one business rule (acceptance criterion) and the examples that illustrate it."""

    id: str  # stable across revisions: "R1", "R2", ...
    text: str
    examples: list[Example] = Field(default_factory=list)


class Question(BaseModel):
    """A red card: something nobody in the room could answer yet."""

    id: str  # stable across revisions: "Q1", "Q2", ...
    text: str
    answered: bool = False
    answer: str | None = None


class Readiness(StrEnum):
    """The verdict shown on the map and used to gate the spec."""

    READY = "ready"
    OPEN_QUESTIONS = "open_questions"
    TOO_BIG = "too_big"
    RULE_WITHOUT_EXAMPLES = "rule_without_examples"


class ExampleMap(BaseModel):
    """One revision of a story's example map."""

    story: Story
    rules: list[Rule] = Field(default_factory=list)
    questions: list[Question] = Field(default_factory=list)
    scenarios: list[str] = Field(default_factory=list)  # proposed scenario titles
    split_suggestion: list[str] = Field(default_factory=list)  # smaller stories, when too big

    def open_questions(self) -> list[Question]:
        """The questions nobody has answered yet (the red cards)."""
        return [q for q in self.questions if not q.answered]

    def readiness(self, max_rules: int) -> Readiness:
        """Ready only with no open questions, at most `max_rules` rules, and examples under every rule."""
        if len(self.rules) > max_rules:
            return Readiness.TOO_BIG
        if self.open_questions():
            return Readiness.OPEN_QUESTIONS
        if not self.rules or any(not rule.examples for rule in self.rules):
            return Readiness.RULE_WITHOUT_EXAMPLES
        return Readiness.READY
