"""The deterministic mapper: an Example Map from the issue's own structure, for when there is no model key.

Rules come from acceptance-criteria lists (or rule-like headings), examples from the Given/When/Then
blocks written in the issue (placed under the rule they talk about) and from rules that carry concrete
values, questions from sentences ending in "?" and "Open questions" sections. Questions are answered by
replies that quote them or name their id ("Q2: ..."), or by a person ticking them in the bot's comment;
an answer becomes a rule, so the map converges as the thread goes on.
"""

from __future__ import annotations

import math
import re

from app.domain.example_map import Example, ExampleMap, Question, Rule
from app.domain.map_revision import provisional_ids, similarity
from app.domain.story import Comment, IssueStory, StepBlock, clean

# Concrete values: numbers with units or money, quoted strings, e-mail addresses, dates.
_VALUE = re.compile(r"\"[^\"]+\"|'[^']+'|\b[\w.+-]+@[\w-]+\.[\w.]+\b|[$€£]\s?\d[\d,.]*|\b\d+(?:[.,]\d+)?\s?%?"
                    r"(?:\s?(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|items?|characters?|times?|"
                    r"attempts?|mb|kb|gb))?")
_ID_REFERENCE = re.compile(r"^\s*(?:[-*]\s+)?(?:\*\*)?\b(Q\d+)\b(?:\*\*)?\s*[:.)\-–—]\s*(?P<answer>.+)$", re.IGNORECASE)


def has_values(text: str) -> bool:
    """Whether `text` names something concrete (a number, a quoted value, an address, an amount)."""
    return bool(_VALUE.search(text))


_FILL = re.compile(r'\bfill(?:s)? in "[^"]+" with "(?P<value>[^"]*)"', re.IGNORECASE)
_SEE = re.compile(r'^I should (?P<not>not )?see "(?P<text>[^"]+)"', re.IGNORECASE)


def _title_from_steps(block: StepBlock) -> str:
    """A team's kind of title for an untitled block: the value it tries and what it sees.

    `When I fill in "Email" with "eve@example.com"` ... `Then I should see "Thanks"` becomes
    `"eve@example.com" is entered, and the page says "Thanks"`: the concrete values, not the mechanics.
    """
    first = block.when[0] if block.when else block.given[0] if block.given else block.then[0]
    entered = next((m.group("value") for step in block.when if (m := _FILL.search(step))), None)
    action = f'"{entered}" is entered' if entered is not None else clean(first).rstrip(".")
    if not block.then:
        return action
    seen = _SEE.match(clean(block.then[0]))
    if seen:
        outcome = f'the page {"does not say" if seen.group("not") else "says"} "{seen.group("text")}"'
    else:
        outcome = clean(block.then[0]).rstrip(".")
    return f"{action}, and {outcome}"


def example_from_block(block: StepBlock) -> Example:
    """A green card from a Given/When/Then block: titled "the one where ..." with its own values."""
    title = clean(block.title if block.title else _title_from_steps(block)).rstrip(".")
    if not title.lower().startswith("the one"):
        first = title if title.startswith("I ") else title[:1].lower() + title[1:]
        title = f"the one where {first}"
    return Example(id="", title=title, given=list(block.given), when=list(block.when), then=list(block.then))


def example_from_rule(text: str) -> Example | None:
    """A rule that carries concrete values is its own first example ("the one with 30 days")."""
    values = [v.strip() for v in _VALUE.findall(text) if v.strip()]
    if not values:
        return None
    return Example(id="", title=f"the one with {', '.join(dict.fromkeys(values))}: {clean(text).rstrip('.')}",
                   then=[clean(text).rstrip(".")])


_WORD_STOP = {"a", "an", "the", "to", "of", "and", "or", "is", "are", "be", "in", "on", "for", "with", "it",
              "its", "i", "my", "me", "we", "our", "your", "should", "can", "must", "will", "only", "when", "then",
              "given", "see", "press", "am", "not", "one", "where", "has", "have", "that", "this"}


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            return word[: -len(suffix)].rstrip("e") if suffix in ("ing", "ed") else word[: -len(suffix)]
    return word.rstrip("e") if len(word) > 3 else word


def _words(text: str) -> set[str]:
    return {_stem(w) for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _WORD_STOP}


def _coverage(rule: str, text: str, weights: dict[str, float] | None = None) -> float:
    """The (weighted) share of the rule's content words that `text` mentions."""
    words = _words(rule)
    if not words:
        return 0.0
    table = weights or {}

    def weight(word: str) -> float:
        return table.get(word, 1.0)

    return sum(weight(w) for w in words & _words(text)) / sum(weight(w) for w in words)


def _fit(block: StepBlock, rule: Rule, heading: str | None, weights: dict[str, float]) -> float:
    """How well a block illustrates a rule: its own section's rule, else what its title and steps say."""
    if block.section and heading and heading == block.section and rule.text == heading:
        return 2.0
    steps = " ".join([*block.given, *block.when, *block.then])
    if block.title:
        # The title says what the example is about; the steps mostly say how, so they weigh less.
        return 0.6 * _coverage(rule.text, block.title, weights) + 0.4 * _coverage(rule.text, steps, weights)
    return _coverage(rule.text, steps, weights)


def _assign(blocks: list[StepBlock], rules: list[Rule], headings: list[str | None]) -> list[int]:
    """The rule index for each block: one example per rule first, the most clear-cut blocks first."""
    # Words every rule shares ("cart", "link") say little about which rule a block illustrates.
    counts: dict[str, int] = {}
    for rule in rules:
        for word in _words(rule.text):
            counts[word] = counts.get(word, 0) + 1
    weights = {word: 1.0 / count for word, count in counts.items()}
    scores = [[_fit(block, rule, headings[r], weights) for r, rule in enumerate(rules)] for block in blocks]
    chosen: dict[int, int] = {}
    free = set(range(len(rules)))
    while free and len(chosen) < len(blocks):
        best: tuple[float, float, int, int] | None = None
        for b in range(len(blocks)):
            if b in chosen:
                continue
            ranked = sorted(((scores[b][r], -r) for r in free), reverse=True)
            top, r = ranked[0][0], -ranked[0][1]
            margin = top - (ranked[1][0] if len(ranked) > 1 else 0.0)
            candidate = (margin, top, -b, r)
            if best is None or candidate > best:
                best = candidate
        assert best is not None
        margin, top, b, r = best[0], best[1], -best[2], best[3]
        if top <= 0:
            break
        chosen[b] = r
        free.discard(r)
    for b in range(len(blocks)):
        if b not in chosen:
            chosen[b] = max(range(len(rules)), key=lambda r: (scores[b][r], -r))
    return [chosen[b] for b in range(len(blocks))]


def find_answers(questions: list[Question], comments: list[Comment], ticked: set[str] | None = None) -> dict[str, str]:
    """Answers in the thread: a reply quoting a question or naming its id, or a ticked task."""
    answers: dict[str, str] = {}
    by_id = {q.id.upper(): q for q in questions}
    for comment in comments:
        if comment.is_bot:
            continue
        # Split the reply into segments: a quoted question followed by the lines that answer it.
        segments: list[tuple[Question | None, list[str]]] = []
        for line in comment.body.splitlines():
            stripped = line.strip()
            if stripped.startswith(">"):
                quote = clean(stripped.lstrip("> "))
                best = max(questions, key=lambda q: similarity(q.text, quote), default=None)
                if best is not None and similarity(best.text, quote) < 0.6:
                    best = None
                segments.append((best, []))
                continue
            reference = _ID_REFERENCE.match(stripped)
            if reference and reference.group(1).upper() in by_id:
                answers.setdefault(by_id[reference.group(1).upper()].id, clean(reference.group("answer")))
                segments.append((None, []))
                continue
            if segments and stripped:
                segments[-1][1].append(stripped)
        for question, lines in segments:
            if question is not None and lines and question.id not in answers:
                answers[question.id] = clean(" ".join(lines))
    for qid in ticked or set():
        if qid in by_id and qid not in answers:
            answers[qid] = ""  # ticked without words: resolved, nothing to add to the rules
    return answers


def _answer_as_rule(question: Question) -> str:
    """The rule an answered question becomes: the answer itself when it is a sentence."""
    answer = (question.answer or "").strip().rstrip(".")
    if len(answer.split()) >= 4 and not re.match(r"^(yes|no|yep|nope|correct|right)\b", answer, re.IGNORECASE):
        return answer[:1].upper() + answer[1:]
    return f"{question.text.rstrip('?')}: {answer}" if answer else ""


def build_map(issue: IssueStory, *, previous: ExampleMap | None = None, ticked: set[str] | None = None,
              max_rules: int = 6) -> ExampleMap:
    """The deterministic example map of `issue` (ids provisional; `map_revision.revise` makes them stable)."""
    rules, headings = _rules_of(issue)
    # Questions of the body and of the people in the thread; then the answers found in the thread.
    questions = _questions_of(issue)
    _number_questions(questions, previous)
    answers = find_answers(questions, issue.comments, ticked)
    _apply_answers(questions, answers, rules, headings)

    # Examples go to rules once every rule is known: one written in a reply after an answer belongs to
    # the rule that answer made.
    for block, index in zip(issue.blocks, _assign(issue.blocks, rules, headings), strict=True):
        rules[index].examples.append(example_from_block(block))

    for rule in rules:
        if not rule.examples:
            example = example_from_rule(rule.text)
            if example is not None:
                rule.examples.append(example)

    story = issue.story.model_copy()
    result = ExampleMap(story=story, rules=rules, questions=questions,
                        scenarios=[_scenario_title(e) for r in rules for e in r.examples])
    result.split_suggestion = suggest_split(result, max_rules)
    return _number_rules_and_examples(result)


def _rules_of(issue: IssueStory) -> tuple[list[Rule], list[str | None]]:
    """The issue's rules and, for each, the heading it was listed under (None when it has none)."""
    rules: list[Rule] = []
    headings: list[str | None] = []
    for heading, text in issue.criteria:
        rules.append(Rule(id="", text=clean(text).rstrip(".")))
        headings.append(heading)
    if not rules:
        for block in issue.blocks:
            # Given/When/Then without any listed criteria: each block's section (or title) is the rule.
            if block.from_reply:
                continue
            label = block.section or block.title
            if label and label not in headings:
                rules.append(Rule(id="", text=label))
                headings.append(label)

    if issue.blocks and not rules:
        rules.append(Rule(id="", text=f"{issue.story.i_want[:1].upper()}{issue.story.i_want[1:]}"))
        headings.append(None)
    return rules, headings


def _questions_of(issue: IssueStory) -> list[Question]:
    """The questions asked in the body and in the thread, without near-duplicates (ids not yet set)."""
    asked = list(issue.questions)
    for comment in issue.comments:
        for line in comment.body.splitlines():
            text = clean(line)
            if line.strip().startswith(">") or _ID_REFERENCE.match(line.strip()):
                continue
            if text.endswith("?") and len(text.split()) >= 3:
                asked.append(text)
    questions: list[Question] = []
    for text in asked:
        if any(similarity(text, q.text) >= 0.85 for q in questions):
            continue
        questions.append(Question(id="", text=text))
    return questions


def _number_questions(questions: list[Question], previous: ExampleMap | None) -> None:
    """Give each question its previous revision's id, else the next unused `Q<n>`, in place."""
    # Keep the previous revision's ids so "Q2: ..." replies and ticks find their question.
    for question in questions:
        match = max(previous.questions if previous else [], key=lambda q: similarity(q.text, question.text),
                    default=None)
        if match is not None and similarity(match.text, question.text) >= 0.6:
            question.id = match.id
    taken = [q.id for q in questions if q.id] + [q.id for q in (previous.questions if previous else [])]
    next_number = max((int(i[1:]) for i in taken if i[1:].isdigit()), default=0)
    for question in questions:
        if not question.id:
            next_number += 1
            question.id = f"Q{next_number}"


def _apply_answers(questions: list[Question], answers: dict[str, str], rules: list[Rule],
                   headings: list[str | None]) -> None:
    """Mark answered questions, and add each answer that states a new rule to `rules`, in place."""
    for question in questions:
        if question.id in answers:
            question.answered, question.answer = True, answers[question.id] or None
            rule_text = _answer_as_rule(question)
            if rule_text and not any(similarity(rule_text, r.text) >= 0.85 for r in rules):
                rules.append(Rule(id="", text=rule_text))
                headings.append(None)


def _number_rules_and_examples(example_map: ExampleMap) -> ExampleMap:
    """Provisional R1.., E1.. ids (questions already carry theirs, matched to the previous revision)."""
    question_ids = [q.id for q in example_map.questions]
    result = provisional_ids(example_map)
    for question, qid in zip(result.questions, question_ids, strict=True):
        question.id = qid
    return result


def _scenario_title(example: Example) -> str:
    title = re.sub(r"^the one (where|with)\s+", "", example.title, flags=re.IGNORECASE)
    return title[:1].upper() + title[1:]


def suggest_split(example_map: ExampleMap, max_rules: int) -> list[str]:
    """When there are more rules than fit one story, smaller stories of at most `max_rules` rules each."""
    rules = example_map.rules
    if len(rules) <= max_rules or max_rules < 1:
        return []
    parts = math.ceil(len(rules) / max_rules)
    size = math.ceil(len(rules) / parts)
    want = example_map.story.i_want or example_map.story.title
    out = []
    for start in range(0, len(rules), size):
        chunk = rules[start:start + size]
        out.append(f"{want[:1].upper()}{want[1:]}: {'; '.join(r.text for r in chunk)}")
    return out
