"""What code generation shows: the `specloop/code` check run (live progress, then the outcome) and the
sticky comment on the story's pull request that says what was pushed, what still fails and which tests
the change deleted or weakened.

One function per artifact state; each carries a hidden marker. The check run is a `QaCheck` (the same
payload rules as `specloop/qa`: title and summary on every write, actions on the first) with a
"Re-run code generation" button.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.domain.markers import marker
from app.domain.qa_reports import STATUS_ICON
from app.domain.qa_results import RunResult
from app.model.usage import Usage
from app.render.qa_check import QaCheck

CODE_CHECK_NAME = "specloop/code"
CODE_COMMENT_KIND = "code"
# GitHub's limits: a label of at most 20 characters, a description of at most 40
RERUN_CODE_ACTION = {"label": "Re-run code", "description": "Generate the code again on the head",
                     "identifier": "rerun-code"}
MAX_TEXT = 60_000


@dataclass
class CodeProgress:
    """Where a run stands, after each agent turn (and after each tool the job watches)."""

    sha: str
    turn: int = 0
    max_turns: int = 0
    files_changed: list[str] = field(default_factory=list)
    last_command: str | None = None
    last_exit: int | None = None
    last_qa: RunResult | None = None
    usage: Usage = field(default_factory=Usage)  # the model's tokens and dollars so far
    elapsed_s: float = 0.0
    phase: str = "agent"  # "workspace" | "install" | "agent" | "checking" | "pushing"


@dataclass
class ChangedFile:
    """One file of the change as the summary lists it."""

    path: str
    status: str  # "A" | "M" | "D"
    added: int = 0
    removed: int = 0


@dataclass
class CodeReport:
    """How a run ended, for the check run and the pull request's comment."""

    sha: str  # the commit the run started from (the check run is on it)
    outcome: str  # "pushed" | "partial" | "nothing" | "refused" | "superseded" | "error"
    reason: str = ""  # why (every outcome but "pushed")
    pushed_sha: str | None = None
    files: list[ChangedFile] = field(default_factory=list)
    qa: RunResult | None = None  # the final QA of the work (Specloop's own run, not the agent's word)
    summary: str = ""  # the agent's `finish` summary
    tests_removed: list[str] = field(default_factory=list)
    tests_weakened: list[str] = field(default_factory=list)
    project_tests: str | None = None  # "passed" | "failed: ..." | None (no `code.test`)
    turns: int = 0
    duration_s: float = 0.0
    usage: Usage = field(default_factory=Usage)
    stop: str = ""
    detail: str = ""  # a command's output, for a failed install or test run


def _qa_words(result: RunResult | None) -> str:
    if result is None:
        return "not run yet"
    counts = result.counts()
    return f"{counts.get('passed', 0)} of {len(result.scenarios)} scenarios pass"


def _usage_line(usage: Usage) -> str:
    """Tokens (input counted with the prompt cache's reads and writes) and dollars."""
    read = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
    return f"{read:,} input + {usage.output_tokens:,} output tokens, ${usage.cost_usd:.2f}"


def render_code_progress(progress: CodeProgress) -> QaCheck:
    """The in-progress check run: turn n of max, files, last command, last QA, tokens and dollars."""
    if progress.phase != "agent":
        title = {"workspace": "Preparing the workspace", "install": "Installing the project's dependencies",
                 "checking": "Checking the work", "pushing": "Pushing the commit"}.get(progress.phase, "Working")
    else:
        title = f"Generating code: turn {progress.turn} of {progress.max_turns}"
    lines = [
        f"Implementing the approved specification of commit {progress.sha[:7]} in a sandbox.", "",
        f"- **Turn:** {progress.turn} of {progress.max_turns}, {progress.elapsed_s / 60:.1f} min",
        f"- **Files changed:** {len(progress.files_changed)}"
        + (": " + ", ".join(f"`{p}`" for p in progress.files_changed[:10]) if progress.files_changed else ""),
    ]
    if progress.last_command is not None:
        code = "running" if progress.last_exit is None else f"exit code {progress.last_exit}"
        lines.append(f"- **Last command:** `{_one_line(progress.last_command)}` ({code})")
    lines.append(f"- **Last QA run:** {_qa_words(progress.last_qa)}")
    lines.append(f"- **Model:** {_usage_line(progress.usage)}")
    lines += ["", marker("code", sha=progress.sha, state="running")]
    return QaCheck("in_progress", None, title, "\n".join(lines), name=CODE_CHECK_NAME,
                   actions=[])


def _one_line(command: str, limit: int = 120) -> str:
    first = command.strip().splitlines()[0] if command.strip() else ""
    first = first.replace("`", "'")
    return first[:limit] + ("…" if len(first) > limit or "\n" in command.strip() else "")


TITLES = {
    "pushed": "Code pushed: {qa}",
    "partial": "Partial code pushed: {qa}",
    "nothing": "Nothing pushed",
    "refused": "Code generation could not run",
    "superseded": "Nothing pushed: the branch moved",
    "error": "Code generation failed",
}
CONCLUSIONS = {"pushed": "success", "partial": "neutral", "nothing": "failure", "refused": "neutral",
               "superseded": "neutral", "error": "failure"}


def files_table(files: Sequence[ChangedFile]) -> str:
    """Changed files with their +/- lines."""
    if not files:
        return "_No files changed._"
    rows = ["| file | change |", "|---|---|"]
    words = {"A": "added", "M": "changed", "D": "deleted"}
    for f in files[:200]:
        rows.append(f"| `{f.path}` | {words.get(f.status, f.status)} +{f.added} −{f.removed} |")
    if len(files) > 200:
        rows.append(f"| … and {len(files) - 200} more | |")
    return "\n".join(rows)


def qa_table(result: RunResult | None) -> str:
    """The final QA result per scenario."""
    if result is None:
        return "_QA did not run._"
    rows = ["| scenario | status |", "|---|---|"]
    for scenario in result.scenarios:
        step = scenario.failing_step()
        why = f": `{step.keyword.strip()} {step.text}`" if step is not None and scenario.failed else ""
        rows.append(f"| {scenario.name.replace('|', '/')} | {STATUS_ICON[scenario.status]} {scenario.status}{why} |")
    for error in result.errors:
        rows.append(f"| (run) | ❌ {error.message[:200].replace('|', '/')} |")
    return "\n".join(rows)


def undefined_steps(result: RunResult | None) -> list[str]:
    """Steps of the approved spec that no step definition matches: only a person can add those."""
    found: list[str] = []
    for scenario in result.scenarios if result is not None else []:
        for step in scenario.steps:
            text = f"{step.keyword.strip()} {step.text}"
            if step.status == "undefined" and text not in found:
                found.append(text)
    return found


def _tests_notice(report: CodeReport) -> list[str]:
    lines = []
    missing = undefined_steps(report.qa)
    if missing:
        lines.append("✋ **These approved steps have no step definition**, which generated code may not write "
                     "(step definitions are the test): a person adds them under the features folder's `steps/`: "
                     + ", ".join(f"`{m}`" for m in missing[:10]))
    if report.tests_removed:
        lines.append("⚠️ **This change deletes test files:** " + ", ".join(f"`{p}`" for p in report.tests_removed))
    if report.tests_weakened:
        lines.append("⚠️ **This change weakens tests** (fewer tests or assertions): "
                     + ", ".join(f"`{p}`" for p in report.tests_weakened))
    return lines


def render_code_result(report: CodeReport) -> QaCheck:
    """The completed check run: outcome, why, files, QA per scenario, turns, duration, tokens, cost."""
    qa = _qa_words(report.qa)
    title = TITLES[report.outcome].format(qa=qa)
    lines: list[str] = [*_tests_notice(report)]
    if report.outcome in ("pushed", "partial") and report.pushed_sha:
        lines.append(f"Pushed commit {report.pushed_sha[:7]} to the pull request's branch ({qa}).")
    if report.reason:
        lines.append(("Why: " if report.outcome != "pushed" else "") + report.reason)
    lines += ["", "**Files**", "", files_table(report.files), "", ("**Approved scenarios** (Specloop's own run "
              "against the generated code)"), "", qa_table(report.qa), ""]
    if report.project_tests:
        lines.append(f"- **Project tests:** {report.project_tests}")
    lines += [
        f"- **Turns:** {report.turns}, **duration:** {report.duration_s / 60:.1f} min",
        f"- **Model:** {_usage_line(report.usage)}",
        "", marker("code", sha=report.sha, state=report.outcome, pushed=report.pushed_sha),
    ]
    text = ""
    if report.summary:
        text = "### The agent's summary\n\n" + report.summary[:20_000]
    if report.detail:
        text += "\n\n```\n" + report.detail[-8000:] + "\n```"
    return QaCheck("completed", CONCLUSIONS[report.outcome], title, "\n".join(lines)[:MAX_TEXT], text=text[:MAX_TEXT],
                   name=CODE_CHECK_NAME, actions=[dict(RERUN_CODE_ACTION)])


def render_code_comment(report: CodeReport, *, check_url: str | None) -> str:
    """The sticky comment on the pull request after a run that pushed (whole or partial) or refused."""
    lines: list[str] = [marker(CODE_COMMENT_KIND, sha=report.sha, state=report.outcome, pushed=report.pushed_sha)]
    lines += _tests_notice(report)
    link = f" ([details]({check_url}))" if check_url else ""
    if report.outcome == "pushed":
        lines.append(f"💻 Specloop implemented the approved scenarios in {report.pushed_sha or ''}{link}: "
                     f"{_qa_words(report.qa)}. `specloop/qa` now checks them on the new head.")
    elif report.outcome == "partial":
        lines.append(f"💻 Specloop pushed a partial implementation in {report.pushed_sha or ''}{link}: "
                     f"{_qa_words(report.qa)}. The pull request is a draft until the rest pass.")
        lines.append(f"It stopped because {report.reason}." if report.reason else "")
        failing = [s for s in (report.qa.scenarios if report.qa else []) if s.failed]
        if failing:
            lines += ["", "**Still failing:**"]
            for scenario in failing:
                step = scenario.failing_step()
                why = (step.error or step.status) if step is not None else (scenario.error or scenario.status)
                where = f" at `{step.keyword.strip()} {step.text}`" if step is not None else ""
                lines.append(f"- {scenario.name}{where}: {_one_line(why, 300)}")
        lines += ["", ("Push the rest yourself, or comment `/specloop code` followed by what to do differently to try "
                      "again.")]
    else:
        lines.append(f"💻 Specloop pushed nothing{link}: {report.reason}.")
        lines.append("Comment `/specloop code` (followed by instructions, if you have any) to try again.")
    if report.files:
        lines += ["", "<details><summary>Files</summary>", "", files_table(report.files), "", "</details>"]
    return "\n".join(line for line in lines if line is not None)


def commit_message(issue: int | None, title: str, report_qa: RunResult | None, run_id: str) -> str:
    """`Implement #<issue>: <title>` and a body listing the scenarios it makes pass; the run's trailer lets a
    retry of the same job recognise its own push."""
    head = f"Implement #{issue}: {title}" if issue else f"Implement: {title}"
    passing = [s.name for s in (report_qa.scenarios if report_qa else []) if s.status == "passed"]
    body = ["Makes these approved scenarios pass:", *(f"- {name}" for name in passing)] if passing else \
        ["No approved scenario passes yet (a partial implementation)."]
    return "\n".join([head[:200], "", *body, "", f"Specloop-Run: {run_id}"])


def code_needs_approval() -> str:
    """`/specloop code` on a spec PR nobody has approved yet."""
    return "\n".join(
        [
            marker("reply", type="code_needs_approval"),
            "Code generation starts from an approved spec: approve the latest commit of this pull request first.",
        ]
    )
