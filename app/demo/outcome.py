"""What the demo produced, and its last phase: the summary of the status chain, timings and artifacts."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from app.demo.narrator import markdown_lines
from app.demo.story import PHASES

if TYPE_CHECKING:
    from app.demo.stage import Stage


@dataclass
class Timing:
    """How long one phase took."""

    name: str
    seconds: float


@dataclass
class Outcome:
    """What the demo produced, for the summary."""

    issue: int | None = None
    pull: int | None = None
    branch: str | None = None
    feature_path: str | None = None
    approved_sha: str | None = None  # the spec commit bob approved
    code_sha: str | None = None  # the generated commit, the branch's head after code generation
    code_files: list[str] = field(default_factory=list)
    qa_conclusion: str | None = None  # specloop/qa on code_sha
    status_line: str | None = None
    screenshot: Path | None = None
    reports: dict[str, Path] = field(default_factory=dict)
    timings: list[Timing] = field(default_factory=list)


async def summary(stage: Stage) -> None:
    """Phase 8: the status chain from the map comment, the timings and where the artifacts are."""
    n, outcome = stage.n, stage.outcome
    assert outcome.issue is not None
    n.phase(8, PHASES, "Summary")
    comment, _ = stage.map_state(outcome.issue)
    status = next((line for line in markdown_lines(comment.body) if line.startswith("Status:")), None)
    stage.expect(status is not None, "the map comment shows no status chain")
    assert status is not None
    assert outcome.code_sha is not None
    for shown in (f"💻 code {outcome.code_sha[:7]}", "QA ❌ failed" if stage.broken else "QA ✅ passed"):
        stage.expect(shown in status, f"the status chain on the issue does not show “{shown}”: {status}")
    stage.expect(not stage.double.unhandled,
                 f"Specloop called routes the GitHub double does not implement: {stage.double.unhandled}")
    if stage.model is not None:
        left = stage.model.llm.remaining
        stage.expect(not left, f"the scripted model has {left} answer(s) nobody asked for: a job asked less than "
                               "the script expects")
    outcome.status_line = status
    n.say(f"Issue #{outcome.issue}, as its map comment now opens:")
    n.quote([status])
    n.write()
    n.say("Timings:")
    for timing in outcome.timings:
        n.field(timing.name, f"{timing.seconds:5.1f} s", width=22)
    n.field("total", f"{time.perf_counter() - stage.started:5.1f} s", width=22)
    n.write()
    n.say(f"Artifacts in {stage.out_dir}:")
    artifacts = {"screenshot": outcome.screenshot, **outcome.reports, "service log": stage.out_dir / "demo.log"}
    width = max(len(name) for name in artifacts) + 1
    for name, path in artifacts.items():
        n.field(name, str(path), width=width)
