"""Reading a GitHub issue as a story: Connextra narrative, acceptance criteria, Given/When/Then, questions.

Plain text in, plain data out: the offline mapper and the model prompt both start from `read_story()`.
The text is untrusted, so the bot's own markers are stripped first (nobody can forge a map revision).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import BaseModel

from app.domain.example_map import Story
from app.domain.markers import strip_markers

# Headings that introduce acceptance criteria / rules (their list items become rules).
CRITERIA_HEADINGS = re.compile(r"acceptance|criteria|rules?\b|requirements?|business rules?|must|definition of done",
                               re.IGNORECASE)
QUESTION_HEADINGS = re.compile(r"question|unknowns?|unclear|to clarify|open points?|tbd", re.IGNORECASE)
# Headings that are context, not rules, when the issue has no acceptance-criteria list.
META_HEADINGS = re.compile(
    r"^(story|user story|description|summary|context|background|notes?|motivation|why|problem|"
    r"scenarios?|examples?|screenshots?|links?|references?|details|overview|out of scope|non-goals?)$",
    re.IGNORECASE,
)

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
_BOLD_HEADING = re.compile(r"^\s*(?:\*\*|__)(.+?)(?:\*\*|__)\s*:?\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?:\[(?P<tick>[ xX])\]\s+)?(?P<text>.+)$")
_STEP = re.compile(r"^\s*(?:[-*+]\s+)?(?:\*\*|__)?(?P<kw>given|when|then|and|but)(?:\*\*|__)?\b[:\s]\s*(?P<text>.+)$",
                   re.IGNORECASE)
_SCENARIO = re.compile(r"^\s*(?:[-*+]\s+)?(?:\*\*)?(?:scenario|example|scenario outline)(?:\*\*)?\s*:\s*(?:\*\*)?\s*(?P<title>.+?)\s*$",
                       re.IGNORECASE)
_CONNEXTRA = re.compile(
    r"\bas an?\s+(?P<role>[^,\n.]+?)\s*,?\s+i\s+(?:want|need|would like)\s+(?P<want>.+?)"
    r"(?:\s*,?\s+so\s+that\s+(?P<why>[^\n]+?))?\s*(?:[.\n]|$)",
    re.IGNORECASE | re.DOTALL,
)
_TITLE_ROLE = re.compile(
    r"^(?:as an?\s+)?(?P<role>[a-z][\w -]{0,40}?)s?\s+(?:can|could|should be able to|must be able to|"
    r"should|wants? to|needs? to)\s+(?P<want>.+)$",
    re.IGNORECASE,
)
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)")


@dataclass
class Comment:
    """One comment of the issue's thread."""

    author: str
    body: str
    id: int | None = None
    is_bot: bool = False


@dataclass
class StepBlock:
    """A Given/When/Then block written in the issue or a reply, with its title when one was given."""

    title: str | None = None
    given: list[str] = field(default_factory=list)
    when: list[str] = field(default_factory=list)
    then: list[str] = field(default_factory=list)
    section: str | None = None  # the heading it sat under
    from_reply: bool = False  # examples from the thread illustrate rules; they never define new ones

    @property
    def empty(self) -> bool:
        """Whether the block has no steps at all (a title with nothing under it)."""
        return not (self.given or self.when or self.then)


@dataclass
class Section:
    """A heading and the lines under it."""

    heading: str
    lines: list[str] = field(default_factory=list)


@dataclass
class IssueStory:
    """What an issue says, structured: the story card plus the raw material for rules and examples."""

    number: int
    title: str
    body: str
    story: Story
    criteria: list[tuple[str | None, str]] = field(default_factory=list)  # (section heading, item text)
    sections: list[Section] = field(default_factory=list)
    blocks: list[StepBlock] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)


def clean(text: str) -> str:
    """Markdown emphasis removed and whitespace collapsed (for matching, not for display)."""
    return re.sub(r"\s+", " ", _EMPHASIS.sub("", text)).strip()


def _content_lines(text: str) -> list[str]:
    """Lines outside HTML comments, with fenced code kept (Gherkin often sits in ```gherkin fences)."""
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    return [line for line in text.splitlines() if not line.strip().startswith("```")]


def read_connextra(text: str) -> Story | None:
    """The "As a / I want / so that" narrative in `text`, if it says one."""
    match = _CONNEXTRA.search("\n".join(clean(line) for line in text.splitlines()))
    if match is None:
        return None
    return Story(title="", as_a=match.group("role").strip(), i_want=match.group("want").strip().rstrip(","),
                 so_that=(match.group("why") or "").strip().rstrip("."))


def infer_story(title: str) -> Story:
    """A narrative inferred from the title ("Shoppers can save carts" -> as a shopper, I want to save carts)."""
    plain = clean(title).rstrip(".!")
    match = _TITLE_ROLE.match(plain)
    if match and len(match.group("role").split()) <= 3:
        role = match.group("role").strip().lower()
        want = "to " + match.group("want").strip()
    else:
        role = "user"
        want = plain[:1].lower() + plain[1:]
    return Story(title=title.strip(), as_a=role, i_want=want, so_that="", inferred=True)


def _is_question(line: str) -> bool:
    """Whether the line asks something (a sentence of three or more words ending in "?")."""
    return any(s.endswith("?") and len(s.split()) >= 3 for s in re.split(r"(?<=[.!?])\s+", clean(line)))


class _StepReader:
    """Collects Given/When/Then blocks (titled by a preceding `Scenario:`/`Example:` line) line by line."""

    def __init__(self, *, from_reply: bool = False) -> None:
        self.from_reply = from_reply
        self.blocks: list[StepBlock] = []
        self.current: StepBlock | None = None
        self.pending_title: str | None = None
        self.last_keyword = "given"

    def interrupt(self) -> None:
        """A heading ends the block and forgets a title that had no steps."""
        self.current, self.pending_title = None, None

    def feed(self, line: str, section: str | None) -> bool:
        """Take `line` if it is a scenario title or a step; any other line ends the current block."""
        scenario = _SCENARIO.match(line)
        if scenario:
            self.current, self.pending_title = None, clean(scenario.group("title"))
            return True
        step = _STEP.match(line)
        if not step:
            self.current = None
            return False
        keyword = step.group("kw").lower()
        if keyword in ("and", "but"):
            keyword = self.last_keyword
        if self.current is None or (keyword == "given" and (self.current.when or self.current.then)):
            self.current = StepBlock(title=self.pending_title, section=section, from_reply=self.from_reply)
            self.pending_title = None
            self.blocks.append(self.current)
        getattr(self.current, keyword).append(clean(step.group("text")))
        self.last_keyword = keyword
        return True


def read_story(number: int, title: str, body: str | None, comments: list[Comment] | None = None) -> IssueStory:
    """Read an issue (title, body, thread) as a story."""
    body = strip_markers(body or "")
    title = strip_markers(title).strip()
    story = read_connextra(body)
    if story is None:
        story = infer_story(title)
    story.title = title

    sections: list[Section] = [Section(heading="")]
    criteria: list[tuple[str | None, str]] = []
    loose_items: list[tuple[str | None, str]] = []
    questions: list[str] = []
    steps = _StepReader()
    for raw in _content_lines(body):
        line = raw.rstrip()
        if not line.strip():
            continue
        if line.lstrip().startswith(">"):  # quotes are someone else's words, not this story's cards
            continue
        heading = _HEADING.match(line) or _BOLD_HEADING.match(line)
        if heading:
            sections.append(Section(heading=clean(heading.group(1)).rstrip(":")))
            steps.interrupt()
            continue
        section = sections[-1]
        section.lines.append(line)
        if steps.feed(line, section.heading or None):
            continue
        item = _LIST_ITEM.match(line)
        in_questions = bool(section.heading and QUESTION_HEADINGS.search(section.heading))
        if item:
            text = clean(item.group("text"))
            if in_questions or _is_question(text):
                questions.append(text)
            elif section.heading and CRITERIA_HEADINGS.search(section.heading):
                criteria.append((section.heading, text))
            else:
                loose_items.append((section.heading or None, text))
            continue
        if in_questions and clean(line):
            questions.append(clean(line))
        elif _is_question(line):
            # a question inside a paragraph: keep the sentence that asks it
            sentences = re.split(r"(?<=[.!?])\s+", clean(line))
            questions.extend(s for s in sentences if s.endswith("?") and len(s.split()) >= 3)

    if not criteria:
        # No acceptance-criteria heading: list items under rule-like headings (not notes) are the rules.
        criteria = [(h, t) for h, t in loose_items if not (h and META_HEADINGS.match(h))]
    people = [c for c in comments or [] if not c.is_bot]
    blocks = steps.blocks + _reply_blocks(people)
    return IssueStory(number=number, title=title, body=body, story=story, criteria=criteria,
                      sections=[s for s in sections if s.heading or s.lines], blocks=[b for b in blocks if not b.empty],
                      questions=_unique(questions), comments=people)


def _reply_blocks(people: list[Comment]) -> list[StepBlock]:
    """The Given/When/Then blocks written in people's replies (they count like those in the issue)."""
    blocks: list[StepBlock] = []
    for comment in people:
        reply = _StepReader(from_reply=True)
        for line in _content_lines(strip_markers(comment.body)):
            if line.strip() and not line.lstrip().startswith(">"):
                reply.feed(line.rstrip(), None)
        blocks += reply.blocks
    return blocks


def _unique(items: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        key = clean(item).lower()
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


class StoryStatus(BaseModel):
    """Where the story stands after the map: spec PR, approval, code, QA (shown atop the map comment)."""

    spec_pr: int | None = None
    spec_pr_url: str | None = None
    approved_by: str | None = None
    approved_sha: str | None = None
    code_sha: str | None = None
    code_url: str | None = None  # the pushed code's commit, or the `specloop/code` check run
    code_state: str | None = None  # why there is no code yet, e.g. "not available" (see CODE_STATES)
    qa_conclusion: str | None = None  # a check-run conclusion: success, failure, ...
    qa_url: str | None = None
