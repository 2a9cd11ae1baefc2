"""What a QA run produced: each step's and scenario's status and evidence, and the run as a whole.

Plain data, JSON-serialisable so a child process can hand a run back; the reports (`qa_reports`) and
the check run (`app.render.qa_check`) read it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from app.domain.scenario_plan import FeatureError

StepStatus = Literal["passed", "failed", "skipped", "undefined", "ambiguous", "pending"]
STATUSES = frozenset(("passed", "failed", "skipped", "undefined", "ambiguous", "pending"))
Progress = Callable[["ScenarioResult", int, int], None]


@dataclass
class StepResult:
    """One executed (or skipped) step."""

    keyword: str
    text: str
    line: int
    status: StepStatus
    duration: float = 0.0
    error: str | None = None
    screenshot: str | None = None
    snippet: str | None = None  # an undefined step's ready-to-paste definition (the other expressions as comments)
    snippets: list[str] = field(default_factory=list)  # one definition per expression Cucumber proposes
    definition: str | None = None
    data_table: list[list[str]] | None = None
    doc_string: str | None = None
    # What the step attached (`ctx.attach`, `ctx.log`, `ctx.link`): {"body", "mediaType", "contentEncoding"
    # ("IDENTITY" text, "BASE64" bytes), "fileName"}.
    attachments: list[dict[str, Any]] = field(default_factory=list)
    exception: dict[str, Any] | None = None  # {"type": "AssertionError", "message": ...} when the step raised
    definitions: list[str] = field(default_factory=list)  # every candidate definition's name (2+: ambiguous)
    match_arguments: list[list[dict[str, Any]]] = field(default_factory=list)  # = StepMatch.argument_lists

    def __post_init__(self) -> None:
        checked_attachments(self.attachments)
        checked_status(self.status, self.duration)


def checked_status(status: object, *numbers: object) -> None:
    """ValueError unless `status` is a step status and `numbers` are numbers: the reports put a status into
    HTML attributes and look up its icon, and format durations, so a forged result must not reach them."""
    if status not in STATUSES:
        raise ValueError(f"malformed status in a QA result: {str(status)[:40]!r}")
    checked_numbers(*numbers)


MAX_NUMBER = 1e12  # no duration, timestamp, line or count of a run comes near it; the reports format them all


def checked_numbers(*numbers: object) -> None:
    """ValueError unless every one of `numbers` is a finite int or float of a sane size (a duration, a time,
    a line, a count): NaN or 1e308 would make the reports' time formatting raise."""
    if not all(isinstance(n, (int, float)) and not isinstance(n, bool) and math.isfinite(n) and abs(n) < MAX_NUMBER
               for n in numbers):
        raise ValueError("malformed duration or number in a QA result")


def checked_attachments(items: object) -> list[dict[str, Any]]:
    """`items` when it is a list of attachments in the results' form, else ValueError: a run handed back by
    the child process (which runs repository code) is untrusted, and the reports must not trip on it."""
    def well_formed(item: object) -> bool:
        return (isinstance(item, dict) and isinstance(item.get("body"), str)
                and isinstance(item.get("mediaType"), str) and item.get("contentEncoding") in ("IDENTITY", "BASE64")
                and isinstance(item.get("fileName"), (str, type(None))))

    if not isinstance(items, list) or not all(well_formed(item) for item in items):
        raise ValueError("malformed attachments in a QA result")
    return items


@dataclass
class HookResult:
    """One run of a hook (`app.domain.hooks`): Before/After around a scenario, BeforeAll/AfterAll around the run."""

    hook: str  # the hook definition's key (its source, "file.py:line")
    kind: str  # "before" | "after" | "before_all" | "after_all"
    name: str | None
    status: StepStatus
    duration: float = 0.0
    started_at: float = 0.0
    error: str | None = None
    exception: dict[str, Any] | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        checked_attachments(self.attachments)
        checked_status(self.status, self.duration, self.started_at)

    @property
    def label(self) -> str:
        """How messages name the hook: `Before hook "log in" (auth_steps.py:12)`."""
        kind = {"before": "Before", "after": "After", "before_all": "BeforeAll", "after_all": "AfterAll"}
        named = f' "{self.name}"' if self.name else ""
        return f"{kind.get(self.kind, self.kind)} hook{named} ({self.hook})"


@dataclass
class ScenarioResult:
    """One scenario (pickle): its steps, status and evidence."""

    id: str
    name: str
    uri: str
    line: int
    feature: str
    rule: str | None = None
    tags: list[str] = field(default_factory=list)
    status: StepStatus = "passed"
    duration: float = 0.0
    started_at: float = 0.0
    steps: list[StepResult] = field(default_factory=list)
    screenshots: list[str] = field(default_factory=list)
    trace: str | None = None
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    error: str | None = None  # a failure outside any step (browser context could not open, ...)
    page_text: str | None = None  # the page's visible text when a step failed (for the code agent)
    before_hooks: list[HookResult] = field(default_factory=list)  # in the order they ran
    after_hooks: list[HookResult] = field(default_factory=list)
    # Retry (`qa.retry`, `--retry`): this result is the scenario's last attempt (0 = the first run);
    # `previous_attempts` are the earlier ones that failed and were retried, oldest first.
    attempt: int = 0
    previous_attempts: list[ScenarioResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        checked_status(self.status, self.duration, self.started_at, self.line, self.attempt)

    @property
    def flaky(self) -> bool:
        """Whether the scenario passed only on a retry, after failed attempts (Cucumber's "flaky")."""
        return self.status == "passed" and bool(self.previous_attempts)

    @property
    def failed(self) -> bool:
        """Whether the scenario counts against the run: failed, undefined, ambiguous or pending (Cucumber's
        strict default); a scenario a step or hook skipped on purpose does not."""
        return self.status not in ("passed", "skipped")

    def failing_step(self) -> StepResult | None:
        """The first step that is failed, undefined, ambiguous or pending."""
        return next((s for s in self.steps if s.status in ("failed", "undefined", "ambiguous", "pending")), None)

    def failed_hooks(self) -> list[HookResult]:
        """The Before and After hooks that failed (or are pending)."""
        return [h for h in (*self.before_hooks, *self.after_hooks) if h.status in ("failed", "pending")]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScenarioResult:
        """A scenario from its `asdict` form."""
        raw = dict(data)
        steps = [StepResult(**s) for s in raw.pop("steps", [])]
        for hooks in ("before_hooks", "after_hooks"):
            raw[hooks] = [HookResult(**h) for h in raw.get(hooks, [])]
        previous = [cls.from_json(p) for p in raw.pop("previous_attempts", [])]
        return cls(**raw, steps=steps, previous_attempts=previous)


# Cucumber's precedence: a scenario (or a run of results) has the status of its worst result.
WORST_FIRST: tuple[StepStatus, ...] = ("failed", "ambiguous", "undefined", "pending", "skipped", "passed")


def worst_status(statuses: Iterable[str]) -> StepStatus:
    """The worst of `statuses` in Cucumber's order (failed, ambiguous, undefined, pending, skipped); "passed" if none."""
    present = set(statuses)
    return next((status for status in WORST_FIRST if status in present), "passed")


def scenario_status(steps: list[StepResult], hooks: Sequence[HookResult] = ()) -> StepStatus:
    """A scenario's status from its steps and Before/After hooks: the worst of them; an empty scenario never passes."""
    status = worst_status([*(s.status for s in steps), *(h.status for h in hooks)])
    if not steps and status not in ("failed", "ambiguous", "undefined"):
        return "undefined"  # an empty scenario proves nothing, so it must not pass
    return status


@dataclass
class RunResult:
    """Everything a run produced; JSON-serialisable so a child process can hand it back."""

    base_url: str
    scenarios: list[ScenarioResult] = field(default_factory=list)
    errors: list[FeatureError] = field(default_factory=list)
    started_at: float = 0.0
    duration: float = 0.0
    documents: list[dict[str, Any]] = field(default_factory=list)  # source / gherkinDocument envelopes
    pickles: list[dict[str, Any]] = field(default_factory=list)
    step_definitions: list[dict[str, Any]] = field(default_factory=list)
    # Project hooks: their definitions ({"key", "kind", "name", "tags", "source"}) and the BeforeAll then
    # AfterAll results (Before/After results are on each scenario).
    hook_definitions: list[dict[str, Any]] = field(default_factory=list)
    # The project's custom parameter types, and the definitions naming a type nobody registered.
    parameter_types: list[dict[str, Any]] = field(default_factory=list)
    undefined_parameter_types: list[dict[str, Any]] = field(default_factory=list)  # {"expression", "name"}
    run_hooks: list[HookResult] = field(default_factory=list)
    tags: str | None = None  # the tag expression the run filtered its scenarios with (`qa.tags`, `--tags`)
    retry: int = 0  # how many more times a failed scenario was allowed to run (`qa.retry`, `--retry`)

    def __post_init__(self) -> None:
        checked_numbers(self.started_at, self.duration, self.retry)

    @property
    def passed(self) -> bool:
        """True only when at least one scenario passed, none failed (a skipped one does not fail the run, as
        in Cucumber, but a run where every scenario was skipped tested nothing), no BeforeAll/AfterAll hook
        failed, and nothing failed to load."""
        return (any(s.status == "passed" for s in self.scenarios) and not self.errors
                and all(not s.failed for s in self.scenarios) and not self.failed_run_hooks())

    def failed_run_hooks(self) -> list[HookResult]:
        """The BeforeAll/AfterAll hooks that failed (or are pending): each fails the whole run."""
        return [h for h in self.run_hooks if h.status in ("failed", "pending")]

    def counts(self) -> dict[str, int]:
        """Number of scenarios per status."""
        counts: dict[str, int] = {}
        for scenario in self.scenarios:
            counts[scenario.status] = counts.get(scenario.status, 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        """The run as plain JSON data."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        """A run from `to_json`'s form."""
        scenarios = [ScenarioResult.from_json(raw) for raw in data.get("scenarios", [])]
        errors = [FeatureError(**e) for e in data.get("errors", [])]
        run_hooks = [HookResult(**h) for h in data.get("run_hooks", [])]
        rest = {k: v for k, v in data.items() if k not in ("scenarios", "errors", "run_hooks")}
        return cls(**rest, scenarios=scenarios, errors=errors, run_hooks=run_hooks)
