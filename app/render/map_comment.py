"""The Example Map comment: the one sticky comment on a story issue, edited in place on every revision.

GitHub strips colour from comments, so the cards are emoji plus words (🟨 story, 🟦 rule, 🟩 example,
🟥 question). The hidden `map` marker carries the revision, the map itself (compact JSON), the status
chain and the id counters, so the next run reads the previous revision from GitHub, not from Redis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from app.domain.example_map import ExampleMap, Readiness
from app.domain.map_revision import Change
from app.domain.markers import find_marker, marker
from app.domain.story import StoryStatus
from app.render.status_chain import spec_next_step, status_chain

KIND = "map"
# A question is a task-list item `- [ ] Q2 ...`; people tick it in the comment to say it is answered.
_TICKED = re.compile(r"^\s*[-*]\s+\[[xX]\]\s+(?:🟥\s*)?(?:\*\*)?(Q\d+)\b", re.MULTILINE)
_UNTICKED = re.compile(r"^\s*[-*]\s+\[ \]\s+(?:🟥\s*)?(?:\*\*)?(Q\d+)\b", re.MULTILINE)
GITHUB_LIMIT = 65_536  # GitHub refuses comment bodies longer than this
BODY_BUDGET = 64_000  # leave room for GitHub counting some characters differently
MARKER_BUDGET = 30_000  # the marker may take at most this much; the rest is for people
TITLE = "Example Map"



@dataclass
class MapState:
    """What the previous run left in the marker."""

    revision: int
    map: ExampleMap | None
    status: StoryStatus = field(default_factory=StoryStatus)
    counters: dict[str, int] = field(default_factory=dict)
    offline: bool = False
    max_rules: int = 6
    usage: dict[str, Any] | None = None
    model_name: str | None = None
    changes: list[Change] = field(default_factory=list)
    auto_spec: bool = True
    ticked: set[str] = field(default_factory=set)  # questions ticked in the comment (`- [x] Q2 ...`)
    unticked: set[str] = field(default_factory=set)  # questions still unticked there

    @property
    def readiness(self) -> Readiness | None:
        """The map's verdict under the rule limit the comment was made with (None without a map)."""
        return self.map.readiness(self.max_rules) if self.map is not None else None


def read_map_state(body: str | None) -> MapState | None:
    """The state in a map comment's marker, or None when the body has no (valid) map marker."""
    data = find_marker(body, KIND)
    if data is None:
        return None
    try:
        example_map = ExampleMap.model_validate(data["map"]) if data.get("map") else None
        status = StoryStatus.model_validate(data.get("status") or {})
    except (ValidationError, TypeError):
        return None
    return MapState(revision=int(data.get("revision") or 0), map=example_map, status=status,
                    counters={str(k): int(v) for k, v in (data.get("ids") or {}).items()},
                    offline=bool(data.get("offline")), max_rules=int(data.get("max_rules") or 6),
                    usage=data.get("usage"), model_name=data.get("model"),
                    changes=[Change(*map(str, c)) for c in data.get("changes") or [] if len(c) == 4],
                    auto_spec=bool(data.get("auto_spec", True)),
                    ticked={m.upper() for m in _TICKED.findall(body or "")},
                    unticked={m.upper() for m in _UNTICKED.findall(body or "")})


# --- pieces -------------------------------------------------------------------------------------------


def _story(example_map: ExampleMap) -> list[str]:
    story = example_map.story
    lines = [f"### 🟨 Story: {_inline(story.title)}", ""]
    narrative = [f"**As a** {_inline(story.as_a or 'user')}",
                 f"**I want** {_inline(story.i_want or '…')}"]
    narrative.append(f"**so that** {_inline(story.so_that)}" if story.so_that else "**so that** _(not stated)_")
    lines.append(", ".join(narrative[:2]) + ", " + narrative[2] + ".")
    if story.inferred:
        lines += ["", ("_Inferred: the issue does not say \"As a / I want / so that\" itself; edit the issue "
                      "to correct it._")]
    return lines


def _inline(text: str | None, limit: int = 1000) -> str:
    """One line of card text: no newlines, no HTML comment openers that could hide the rest, capped."""
    line = " ".join((text or "").split()).replace("<!--", "&lt;!--")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def readiness_lines(example_map: ExampleMap, readiness: Readiness, max_rules: int, *, auto_spec: bool = True,
                    status: StoryStatus | None = None) -> list[str]:
    """The verdict: ready / has open questions / too big (with a split) / a rule without examples.

    Once the spec pull request exists (`status.spec_pr`), the next step named is reviewing it there.
    """
    spec_open = bool(status is not None and status.spec_pr)
    lines = _verdict(example_map, readiness, max_rules, auto_spec=auto_spec, spec_open=spec_open)
    if status is not None and spec_open:
        if readiness is Readiness.READY:
            lines[0] += " " + spec_next_step(status)
        else:  # the map changed after the spec was written: the verdict stands, and so does the PR
            lines += ["", spec_next_step(status)]
    return lines


def _verdict(example_map: ExampleMap, readiness: Readiness, max_rules: int, *, auto_spec: bool,
             spec_open: bool) -> list[str]:
    if readiness is Readiness.READY:
        after = ("" if spec_open else " Specloop opens the spec pull request next." if auto_spec
                 else " Comment `/specloop spec` to open the spec pull request.")
        return [f"**Readiness: ✅ ready for the spec.** No open questions, every rule has an example.{after}"]
    if readiness is Readiness.OPEN_QUESTIONS:
        count = len(example_map.open_questions())
        plural = "s" if count != 1 else ""
        return [(f"**Readiness: 🟥 has {count} open question{plural}.** Answer in a reply (quote the question, or "
                "start a line with its id, e.g. `Q1: ...`) or tick it below; the map updates itself."
                + ("" if spec_open else " `/specloop spec` proceeds anyway."))]
    if readiness is Readiness.TOO_BIG:
        lines = [(f"**Readiness: 📏 too big.** {len(example_map.rules)} rules, more than the {max_rules} that fit "
                 "one story. Consider splitting it:")]
        lines += [f"- {_inline(part)}" for part in example_map.split_suggestion] or ["- (group the rules by theme)"]
        return lines
    bare = [r for r in example_map.rules if not r.examples]
    if not example_map.rules:
        return [("**Readiness: 🟦 no rules yet.** Add acceptance criteria (a list under an \"Acceptance "
                "criteria\" heading) or describe the rules in a reply.")]
    names = ", ".join(f"{r.id}" for r in bare)
    return [(f"**Readiness: 🟦 a rule without examples** ({names}). Add a concrete example for it "
            "(Given / When / Then with real values) in a reply or in the issue.")]


def _rules(example_map: ExampleMap, shown: int, steps: bool) -> list[str]:
    lines = ["#### 🟦 Rules and 🟩 examples", ""]
    if not example_map.rules:
        lines.append("_No rules yet._")
    for rule in example_map.rules[:shown]:
        lines.append(f"**🟦 {rule.id} · rule:** {_inline(rule.text)}")
        if not rule.examples:
            lines.append("- _no example yet_")
        for example in rule.examples:
            lines.append(f"- 🟩 **{example.id} · example:** {_inline(example.title)}")
            if steps:
                parts = [f"_{word}_ " + "; ".join(_inline(s) for s in items)
                         for word, items in (("Given", example.given), ("When", example.when), ("Then", example.then))
                         if items]
                if parts:
                    lines.append("  <br><sub>" + " · ".join(parts) + "</sub>")
        lines.append("")
    hidden = len(example_map.rules) - shown
    if hidden > 0:
        lines += [(f"_… and {hidden} more rule{'s' if hidden != 1 else ''}, not shown: the comment would be too "
                  "long for GitHub. The story is probably too big._"), ""]
    return lines


def _questions(example_map: ExampleMap, shown: int) -> list[str]:
    if not example_map.questions:
        return ["#### 🟥 Questions", "", "_No open questions._", ""]
    lines = ["#### 🟥 Questions", ""]
    for question in example_map.questions[:shown]:
        if question.answered:
            answer = f" — **answer:** {_inline(question.answer)}" if question.answer else " — _resolved_"
            lines.append(f"- [x] 🟥 **{question.id}** · question: {_inline(question.text)}{answer}")
        else:
            lines.append(f"- [ ] 🟥 **{question.id}** · question: {_inline(question.text)}")
    hidden = len(example_map.questions) - shown
    if hidden > 0:
        lines.append(f"- _… and {hidden} more question{'s' if hidden != 1 else ''}, not shown (too long)._")
    return lines + [""]


def _scenarios(example_map: ExampleMap, shown: int) -> list[str]:
    if not example_map.scenarios:
        return []
    lines = ["#### Proposed scenarios", ""]
    lines += [f"{i}. {_inline(title)}" for i, title in enumerate(example_map.scenarios[:shown], 1)]
    if len(example_map.scenarios) > shown:
        lines.append(f"_… and {len(example_map.scenarios) - shown} more._")
    return lines + [""]


def _changes(revision: int, changes: list[Change], shown: int) -> list[str]:
    if revision <= 1:
        return ["_Revision 1: the first map of this story._", ""]
    if not changes:
        return [f"_Revision {revision}: nothing changed since revision {revision - 1}._", ""]
    lines = [f"<details><summary>What changed in revision {revision}</summary>", ""]
    lines += [f"- {c.action} {c.card} **{c.id}**: {_inline(c.text)}" for c in changes[:shown]]
    if len(changes) > shown:
        lines.append(f"- … and {len(changes) - shown} more changes")
    return lines + ["", "</details>", ""]


def _footer(usage: dict[str, Any] | None, model_name: str | None, offline: bool) -> list[str]:
    if offline or not model_name:
        return ["<details><summary>How this map was made</summary>", "",
                ("Built without a model, from the structure of the issue (acceptance criteria, Given/When/Then "
                "lines, headings and questions). Set `ANTHROPIC_API_KEY` on the Specloop service for richer maps."),
                "", "</details>"]
    data = dict(usage or {})
    lines = ["<details><summary>Model and token usage</summary>", "", f"- model: `{model_name}`"]
    if data:
        lines += [
            f"- calls: {data.get('calls', 0)}",
            (f"- input tokens: {data.get('input_tokens', 0):,} (cache write {data.get('cache_creation_input_tokens', 0):,}, "
            f"cache read {data.get('cache_read_input_tokens', 0):,})"),
            f"- output tokens: {data.get('output_tokens', 0):,}",
            f"- cost: ${float(data.get('cost_usd', 0.0)):.4f}",
        ]
    return lines + ["", "</details>"]


# --- the marker ---------------------------------------------------------------------------------------


def _compact_map(example_map: ExampleMap, level: int) -> dict[str, Any]:
    """The map for the marker; higher levels drop steps, cap texts and finally cap card counts."""
    data = example_map.model_dump(mode="json", exclude_defaults=False)
    if level == 0:
        return data
    cap = {1: 400, 2: 200, 3: 120}.get(level, 80)
    count = {1: 10_000, 2: 10_000, 3: 60}.get(level, 25)

    def trim(text: Any) -> Any:
        return text[:cap] if isinstance(text, str) else text

    data["rules"] = data["rules"][:count]
    for rule in data["rules"]:
        rule["text"] = trim(rule["text"])
        rule["examples"] = rule["examples"][:count]
        for example in rule["examples"]:
            example["title"] = trim(example["title"])
            for key in ("given", "when", "then"):
                example[key] = [trim(s) for s in example[key]][: (3 if level < 2 else 0)]
    data["questions"] = data["questions"][:count]
    for question in data["questions"]:
        question["text"] = trim(question["text"])
        question["answer"] = trim(question["answer"])
    data["scenarios"] = [trim(s) for s in data["scenarios"]][:count]
    data["split_suggestion"] = [trim(s) for s in data["split_suggestion"]][:10]
    data["story"] = {k: trim(v) for k, v in data["story"].items()}
    return data


def map_marker(example_map: ExampleMap, *, revision: int, status: StoryStatus, counters: dict[str, int] | None,
               offline: bool, max_rules: int, usage: dict[str, Any] | None, model_name: str | None,
               changes: list[Change] | None = None, auto_spec: bool = True) -> str:
    """The hidden marker, small enough for GitHub (the map is compacted step by step when huge)."""
    for level in range(6):
        kept = [[c.action, c.card, c.id, c.text[:200]] for c in (changes or [])][: 50 if level < 3 else 0]
        text = marker(KIND, revision=revision, map=_compact_map(example_map, level), changes=kept,
                      status=status.model_dump(exclude_none=True), ids=counters or {}, offline=offline,
                      max_rules=max_rules, usage=usage, model=model_name, auto_spec=auto_spec)
        if len(text) <= MARKER_BUDGET:
            return text
    return text


# --- the comment --------------------------------------------------------------------------------------


def render_map_comment(state: MapState, readiness: Readiness | None = None) -> str:
    """The map comment's body for `state` (the reverse of `read_map_state`), always under GitHub's
    65,536-character limit, with a valid marker; `readiness` overrides the map's own verdict."""
    if state.map is None:
        raise ValueError("a map comment needs a map")
    example_map, revision, status, changes = state.map, state.revision, state.status, state.changes
    max_rules, auto_spec, usage, model_name, offline = (state.max_rules, state.auto_spec, state.usage,
                                                        state.model_name, state.offline)
    readiness = readiness or example_map.readiness(max_rules)
    head = [map_marker(example_map, revision=revision, status=status, counters=state.counters, offline=offline,
                       max_rules=max_rules, usage=usage, model_name=model_name, changes=changes,
                       auto_spec=auto_spec),
            f"## {TITLE} · revision {revision}", "", status_chain(status, revision), ""]
    head += _story(example_map) + [""]
    head += readiness_lines(example_map, readiness, max_rules, auto_spec=auto_spec, status=status) + [""]
    footer = _footer(usage, model_name, offline)

    def build(sizes: list[int], steps: bool) -> str:
        rules, questions, scenarios, change_count = sizes
        body = head + _rules(example_map, rules, steps) + _questions(example_map, questions)
        body += _scenarios(example_map, scenarios) + _changes(revision, changes, change_count) + footer
        return "\n".join(body)

    sizes = [len(example_map.rules), len(example_map.questions), len(example_map.scenarios), len(changes)]
    text = build(sizes, steps=True)
    if len(text) <= BODY_BUDGET:
        return text
    # Too long: drop the step lines, then show fewer cards (halving) until it fits.
    text = build(sizes, steps=False)
    while len(text) > BODY_BUDGET and any(sizes):
        sizes = [size // 2 for size in sizes]
        text = build(sizes, steps=False)
    if len(text) > BODY_BUDGET:  # the head alone is huge (an enormous title): cut the visible text
        keep = BODY_BUDGET - 200
        text = text[:keep] + "\n\n_… cut: too long for a GitHub comment._"
    return text
