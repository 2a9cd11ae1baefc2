"""What a QA run produced: each step's and scenario's status and evidence, and the run as a whole.

Plain data, JSON-serialisable so a child process can hand a run back; the reports (`qa_reports`) and
the check run (`app.render.qa_check`) read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from app.domain.scenario_plan import FeatureError

StepStatus = Literal["passed", "failed", "skipped", "undefined", "ambiguous"]
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
    snippet: str | None = None
    definition: str | None = None
    data_table: list[list[str]] | None = None
    doc_string: str | None = None


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

    @property
    def failed(self) -> bool:
        """Whether the scenario did not pass (failed, undefined or ambiguous)."""
        return self.status != "passed"

    def failing_step(self) -> StepResult | None:
        """The first step that is failed, undefined or ambiguous."""
        return next((s for s in self.steps if s.status in ("failed", "undefined", "ambiguous")), None)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScenarioResult:
        """A scenario from its `asdict` form."""
        raw = dict(data)
        steps = [StepResult(**s) for s in raw.pop("steps", [])]
        return cls(**raw, steps=steps)


def scenario_status(steps: list[StepResult]) -> StepStatus:
    """A scenario's status from its steps: the worst of them; an empty scenario never passes."""
    for status in ("failed", "ambiguous", "undefined"):
        if any(s.status == status for s in steps):
            return status
    if not steps:
        return "undefined"  # an empty scenario proves nothing, so it must not pass
    return "passed"


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

    @property
    def passed(self) -> bool:
        """True only when there were scenarios, all passed, and nothing failed to load."""
        return bool(self.scenarios) and not self.errors and all(not s.failed for s in self.scenarios)

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
        rest = {k: v for k, v in data.items() if k not in ("scenarios", "errors")}
        return cls(**rest, scenarios=scenarios, errors=errors)
