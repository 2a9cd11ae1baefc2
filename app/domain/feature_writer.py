"""Writing a Gherkin feature from an Example Map, deterministically (no model needed)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from app.domain.example_map import Example, ExampleMap, Rule

INDENT = "  "

_WS = re.compile(r"\s+")
_LEADING_KEYWORD = re.compile(r"^(?:given|when|then|and|but|\*)\s+", re.IGNORECASE)
_SLUG = re.compile(r"[^a-z0-9]+")

# Free-text step phrasings -> the web step vocabulary the QA runner executes (app/domain/steps.py).
# Each entry: (pattern on the step text, template). Quoted or bare values are both accepted, since
# maps written by people and models say `visits /login` as often as `visits "/login"`.
_Q = r"[\"'“”]?"
_PATH = rf"{_Q}(?P<path>/[^\s\"'“”]*){_Q}"
_V = r"[\"“](?P<{0}>[^\"”]*)[\"”]"  # a double-quoted value
_SUBJ = r"(?:(?:i|we|they|he|she|the \w+|an? \w+)\s+)?"


def _t(pattern: str, template: str) -> tuple[re.Pattern[str], str]:
    return re.compile(pattern, re.IGNORECASE), template


_SHOWN = r"(?:shown|displayed|visible)"
_TRANSLATIONS: list[tuple[re.Pattern[str], str]] = [
    _t(
        rf"^{_SUBJ}(?:should be|am|is|are|gets?|was|were)\s+(?:redirected|sent|taken)\s+to\s+"
        rf"(?:the\s+page\s+)?{_PATH}\s*$",
        'I should be on "{path}"',
    ),
    _t(rf"^{_SUBJ}should be on\s+(?:the\s+page\s+)?{_PATH}\s*$", 'I should be on "{path}"'),
    _t(rf"^{_SUBJ}(?:am|is|are)\s+on\s+(?:the\s+page\s+)?{_PATH}\s*$", 'I am on "{path}"'),
    _t(
        rf"^{_SUBJ}(?:visits?|opens?|goes to|go to|navigates? to|browses? to)\s+(?:the\s+page\s+)?{_PATH}\s*$",
        'I go to "{path}"',
    ),
    _t(
        rf"^{_SUBJ}(?:fills? in|enters?|types?)\s+{_V.format('label')}\s+with\s+{_V.format('value')}\s*$",
        'I fill in "{label}" with "{value}"',
    ),
    _t(
        rf"^{_SUBJ}(?:fills? in|enters?|types?)\s+{_V.format('value')}\s+(?:in|into|as|for)\s+(?:the\s+)?"
        rf"{_V.format('label')}(?:\s+field)?\s*$",
        'I fill in "{label}" with "{value}"',
    ),
    _t(
        rf"^{_SUBJ}(?:selects?|chooses?|picks?)\s+{_V.format('option')}\s+(?:from|in)\s+(?:the\s+)?"
        rf"{_V.format('label')}(?:\s+(?:list|menu|dropdown))?\s*$",
        'I select "{option}" from "{label}"',
    ),
    _t(
        rf"^{_SUBJ}(?:follows?(?:\s+the)?|clicks? (?:on )?the link)\s+{_V.format('link')}(?:\s+link)?\s*$",
        'I follow "{link}"',
    ),
    _t(
        rf"^{_SUBJ}(?:press(?:es)?|clicks?(?: on)?|taps?|submits?)\s+(?:the\s+)?{_V.format('button')}"
        r"(?:\s+button)?\s*$",
        'I press "{button}"',
    ),
    _t(
        rf"^{_SUBJ}(?:checks?|ticks?)\s+(?:the\s+)?{_V.format('label')}(?:\s+(?:box|checkbox))?\s*$",
        'I check "{label}"',
    ),
    _t(
        rf"^{_SUBJ}(?:unchecks?|unticks?)\s+(?:the\s+)?{_V.format('label')}(?:\s+(?:box|checkbox))?\s*$",
        'I uncheck "{label}"',
    ),
    _t(
        rf"^{_SUBJ}(?:should not|shouldn't|does not|doesn't|do not|don't|cannot|can't)\s+see\s+"
        rf"(?:the\s+(?:text|message)\s+)?{_V.format('text')}\s*$",
        'I should not see "{text}"',
    ),
    _t(
        rf"^{_SUBJ}(?:should see|sees?|can see)\s+(?:the\s+(?:text|message)\s+)?{_V.format('text')}\s*$",
        'I should see "{text}"',
    ),
    _t(
        rf"^(?:the\s+)?(?:page|screen|app|site|form)\s+(?:shows|displays|says|should show|should display)"
        rf"\s+(?:the\s+(?:text|message)\s+)?{_V.format('text')}\s*$",
        'I should see "{text}"',
    ),
    _t(rf"^{_V.format('text')}\s+(?:is|should be)\s+{_SHOWN}\s*$", 'I should see "{text}"'),
    _t(rf"^{_V.format('text')}\s+(?:is not|isn't|should not be)\s+{_SHOWN}\s*$", 'I should not see "{text}"'),
]


@dataclass(frozen=True)
class _Step:
    kind: str  # "Given" / "When" / "Then"
    text: str


def clean(text: str) -> str:
    """One Gherkin-safe line: whitespace collapsed, no leading step keyword, no trailing question mark."""
    text = _WS.sub(" ", text or "").strip()
    text = _LEADING_KEYWORD.sub("", text)
    # a trailing "?" would be flagged by the lint as an unanswered question
    return text.rstrip("?").rstrip(" .").strip()


def _lower_first(text: str) -> str:
    """ "A wrong password is refused" reads as a step after "Then"; "I", names in capitals, "API" stay."""
    first = text.split(" ", 1)[0]
    if not first or first == "I" or first[1:] != first[1:].lower():
        return text
    return text[0].lower() + text[1:]


def to_web_step(text: str, kind: str) -> str:
    """Phrase one free-text step in the web step vocabulary where a known phrasing fits, else keep it."""
    step = clean(text)
    for pattern, template in _TRANSLATIONS:
        match = pattern.match(step)
        if match:
            phrased = template.format(**match.groupdict())
            # navigation in a Given reads as a precondition, in a When as an action
            if kind == "Given" and phrased.startswith("I go to "):
                phrased = "I am on " + phrased.removeprefix("I go to ")
            elif kind == "When" and phrased.startswith("I am on "):
                phrased = "I go to " + phrased.removeprefix("I am on ")
            return phrased
    return step


def slugify(title: str, *, limit: int = 48) -> str:
    """A file- and branch-safe slug of a story title ("Sign in with email" -> "sign-in-with-email")."""
    slug = _SLUG.sub("-", title.lower()).strip("-")
    return slug[:limit].rstrip("-") or "story"


def feature_path(features_dir: str, title: str) -> str:
    """Where the story's feature file lives in the repository."""
    return f"{features_dir.strip('/') or 'features'}/{slugify(title)}.feature"


def _example_steps(example: Example, rule: Rule) -> list[_Step]:
    steps = [_Step("Given", to_web_step(s, "Given")) for s in example.given if clean(s)]
    steps += [_Step("When", to_web_step(s, "When")) for s in example.when if clean(s)]
    steps += [_Step("Then", to_web_step(s, "Then")) for s in example.then if clean(s)]
    if not any(step.kind == "Then" for step in steps):
        # an example without an outcome still states the rule it illustrates, so the scenario is never
        # empty and the lint lists the step as one that needs a definition instead of passing silently
        steps.append(_Step("Then", _lower_first(clean(rule.text) or clean(example.title))))
    return steps


def _common_given_prefix(all_steps: list[list[_Step]]) -> list[_Step]:
    """The leading Given steps every example shares (they become the Background)."""
    if len(all_steps) < 2:
        return []
    prefix: list[_Step] = []
    # the lists differ in length on purpose: the prefix can be no longer than the shortest
    for column in zip(*all_steps, strict=False):
        first = column[0]
        if first.kind != "Given" or any(step != first for step in column[1:]):
            break
        prefix.append(first)
    # keep at least one step in every example: a Background may not swallow a whole scenario
    shortest = min(len(steps) for steps in all_steps)
    return prefix[: max(0, shortest - 1)]


def _render_steps(steps: Iterable[_Step], indent: str) -> list[str]:
    lines: list[str] = []
    previous = ""
    for step in steps:
        keyword = "And" if step.kind == previous else step.kind
        previous = step.kind
        lines.append(f"{indent}{keyword} {step.text}")
    return lines


def _title(example: Example, used: set[str]) -> str:
    title = clean(example.title) or f"example {example.id}"
    title = title[0].upper() + title[1:]
    unique, n = title, 2
    while unique.casefold() in used:  # scenario names must be unique within the feature
        unique, n = f"{title} ({n})", n + 1
    used.add(unique.casefold())
    return unique


def _vowel_sound(word: str) -> bool:
    """Whether "an" goes before `word` ("an admin", "an editor", but "a user", "a European")."""
    lowered = word.lower()
    if lowered.startswith(("use", "usu", "uni", "eu", "one", "uk")):
        return False
    return lowered[:1] in ("a", "e", "i", "o", "u") or lowered.startswith(("hour", "honest"))


def narrative(example_map: ExampleMap) -> list[str]:
    """The story's "As a / I want / So that" lines (empty parts left out)."""
    story = example_map.story
    parts = [("As a", story.as_a), ("I want", story.i_want), ("So that", story.so_that)]
    lines = []
    for label, value in parts:
        value = clean(value)
        if value:
            # the story text may already start with its own connective ("As a user", "to ...")
            lowered = value.lower()
            for prefix in (label.lower() + " ", "as an "):
                if lowered.startswith(prefix):
                    value = value[len(prefix) :]
                    break
            if label == "As a" and _vowel_sound(value):
                label = "As an"
            lines.append(f"{label} {value}")
    return lines


def write_feature(example_map: ExampleMap, issue_number: int) -> str:
    """The feature for a map: @issue tag, narrative, Background, one Rule per rule, one Example each."""
    per_example = [
        (rule, example, _example_steps(example, rule))
        for rule in example_map.rules
        # a rule the map has no example for still becomes one scenario stating the rule, so reviewers
        # see it and the lint lists its step as needing a definition, instead of a Rule with nothing to run
        for example in (rule.examples or [Example(id=f"{rule.id}-rule", title=clean(rule.text) or rule.id)])
    ]
    background = _common_given_prefix([steps for _, _, steps in per_example])
    lines = [
        f"@issue-{issue_number}",
        f"Feature: {clean(example_map.story.title) or f'Issue {issue_number}'}",
    ]
    lines += [f"{INDENT}{line}" for line in narrative(example_map)]
    if background:
        lines += ["", f"{INDENT}Background:"]
        lines += _render_steps(background, INDENT * 2)
    used: set[str] = set()
    for rule in example_map.rules:
        lines += ["", f"{INDENT}Rule: {clean(rule.text) or rule.id}"]
        for r, example, steps in per_example:
            if r is not rule:
                continue
            lines += ["", f"{INDENT * 2}Example: {_title(example, used)}"]
            lines += _render_steps(steps[len(background) :], INDENT * 3)
    return "\n".join(lines) + "\n"
