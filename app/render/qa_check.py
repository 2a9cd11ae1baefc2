"""The `specloop/qa` check run: progress, per-scenario table by rule, failures, annotations, screenshots.

GitHub limits what one check-run write may carry: `summary` and `text` at 65,535 characters each,
at most 50 annotations per request (later updates append) and every update must repeat the output's
`title` and `summary`. `QaCheck.requests()` turns one rendered check into the sequence of payloads
that respects all of that, for any number of scenarios.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.artifacts import TRACE_LINK_SECONDS
from app.domain.markers import marker
from app.domain.qa_reports import STATUS_ICON, step_error
from app.domain.qa_results import RunResult, ScenarioResult

QA_CHECK_NAME = "specloop/qa"
RERUN_ACTION = {"label": "Re-run QA", "description": "Run the approved scenarios again", "identifier": "rerun-qa"}
MAX_ANNOTATIONS_PER_REQUEST = 50
MAX_OUTPUT = 65_535
_BUDGET = 60_000  # headroom under GitHub's limit for the closing notes and the marker
MAX_IMAGES = 30
SPEC_CHANGED = "the approved specification was changed"
TITLE_RUNNING = "Running the approved scenarios"
TITLE_PASSED = "All scenarios pass"
TITLE_CHANGED = "QA refused: " + SPEC_CHANGED
TITLE_ERROR = "QA could not run"
TITLE_ALL_SKIPPED = "Every scenario was skipped: nothing was tested"
# The order and names reports are linked under (keys as `app.domain.qa_reports.write_reports` returns them).
REPORT_LINKS = (("html", "HTML report"), ("junit", "JUnit XML"), ("ndjson", "Cucumber Messages (NDJSON)"))


@dataclass
class QaCheck:
    """One rendered `specloop/qa` check: status, conclusion, output parts, annotations, images."""

    status: str  # "in_progress" | "completed"
    conclusion: str | None
    title: str
    summary: str
    text: str = ""
    annotations: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, str]] = field(default_factory=list)
    name: str = QA_CHECK_NAME
    actions: list[dict[str, str]] = field(default_factory=lambda: [dict(RERUN_ACTION)])

    def requests(self) -> list[dict[str, Any]]:
        """The check-run payloads to send in order: the first carries status and images, the rest append
        annotations 50 at a time, each repeating title and summary as GitHub requires."""
        batches = [self.annotations[i:i + MAX_ANNOTATIONS_PER_REQUEST]
                   for i in range(0, len(self.annotations), MAX_ANNOTATIONS_PER_REQUEST)] or [[]]
        payloads = []
        for index, batch in enumerate(batches):
            output: dict[str, Any] = {"title": self.title, "summary": self.summary}
            if self.text:
                output["text"] = self.text
            if batch:
                output["annotations"] = batch
            payload: dict[str, Any] = {"output": output}
            if index == 0:
                payload["status"] = self.status
                if self.conclusion is not None:
                    payload["conclusion"] = self.conclusion
                if self.images:
                    output["images"] = self.images
                payload["actions"] = self.actions
            payloads.append(payload)
        return payloads


def _fit(parts: Sequence[str], budget: int, more: Callable[[int], str]) -> str:
    """Join `parts` while they fit in `budget`, then say how many were left out."""
    out: list[str] = []
    used = 0
    for index, part in enumerate(parts):
        if used + len(part) + 200 > budget:
            out.append(more(len(parts) - index))
            break
        out.append(part)
        used += len(part) + 1
    return "\n".join(out)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


_MARKDOWN = re.compile(r"([\\`*\[\]<>!|])")


def _plain(text: str) -> str:
    """Text from repository code (a hook's name) on one line with Markdown's active characters escaped: no
    link, image, HTML or code span of its own."""
    return _MARKDOWN.sub(r"\\\1", " ".join(text.splitlines()))


def _code(text: str) -> str:
    """`text` as one inline code span, whatever backticks it holds (a fence longer than its longest run)."""
    text = " ".join(text.splitlines())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if fence != "`" else f"`{text}`"


FLAKY = "⚠️ flaky"


def _counts_line(result: RunResult) -> str:
    """`**5 scenarios**: 4 passed (1 flaky), 1 failed, against ...`, then which tag expression selected them."""
    counts = result.counts()
    flaky = sum(1 for s in result.scenarios if s.flaky)
    parts = [f"{counts[s]} {s}" + (f" (**{flaky} flaky**: passed only on a retry)" if s == "passed" and flaky
                                   else "")
             for s in ("passed", "failed", "undefined", "ambiguous", "pending") if counts.get(s)]
    count = len(result.scenarios)
    line = f"**{count} scenario{'' if count == 1 else 's'}**: " + (", ".join(parts) or "none") + \
        f", against `{result.base_url}` in {result.duration:.1f} s."
    if result.tags:
        line += f"\nScenarios selected by the tag expression {_code(result.tags)} (`qa.tags`)."
    if result.retry:
        line += f"\nA failed scenario was run again up to {result.retry} more time{'s' if result.retry > 1 else ''} " \
                "(`qa.retry`)."
    return line


def _status_cell(scenario: ScenarioResult) -> str:
    """`❌ failed`, or `⚠️ flaky (passed on attempt 2 of 2)` for one that passed only on a retry."""
    if scenario.flaky:
        return f"{FLAKY} (passed on attempt {scenario.attempt + 1})"
    attempts = f" (attempt {scenario.attempt + 1})" if scenario.attempt else ""
    return f"{STATUS_ICON.get(scenario.status, '')} {scenario.status}{attempts}"


def _summary_table(result: RunResult, budget: int, trace_urls: Mapping[str, str] | None = None) -> str:
    """The scenario table grouped by feature and rule; failed scenarios first, linking their traces."""
    trace_urls = trace_urls or {}
    groups: dict[tuple[str, str], list[ScenarioResult]] = {}
    for scenario in result.scenarios:
        groups.setdefault((scenario.feature or scenario.uri, scenario.rule or ""), []).append(scenario)
    parts: list[str] = []
    for (feature, rule), scenarios in groups.items():
        heading = f"**{_cell(feature)}**" + (f" · Rule: {_cell(rule)}" if rule else "")
        parts.append(f"\n{heading}\n\n| scenario | status | duration |\n|---|---|---|")
        for s in sorted(scenarios, key=lambda s: (not s.failed, not s.flaky)):
            trace = f" ([trace]({trace_urls[s.id]}))" if s.failed and trace_urls.get(s.id) else ""
            parts.append(f"| {_cell(s.name)} (`{s.uri}:{s.line}`) | {_status_cell(s)}{trace} "
                         f"| {s.duration:.1f} s |")
    return _fit(parts, budget, lambda n: f"\n… and {n} more rows (the full list is in the reports).")


def _failure_text(scenario: ScenarioResult, trace_url: str | None, budget: int) -> str:
    lines = [f"### {STATUS_ICON[scenario.status]} {scenario.name}", f"`{scenario.uri}:{scenario.line}`", ""]
    for step in scenario.steps:
        lines.append(f"- {STATUS_ICON[step.status]} {step.status}: `{step.keyword} {step.text}` (line {step.line})")
    for hook in scenario.failed_hooks():  # their errors are in `scenario.error`, below
        lines.append(f"- {STATUS_ICON[hook.status]} {hook.status}: {_plain(hook.label)}")
    if scenario.error:
        lines.append(f"\n```\n{scenario.error[:2000]}\n```")
    failing = scenario.failing_step()
    if failing is not None:
        lines.append(f"\n```\n{step_error(failing)[:4000]}\n```")
    if scenario.console_errors:
        lines.append("\nConsole errors:\n```\n" + "\n".join(scenario.console_errors[:10])[:1500] + "\n```")
    if scenario.failed_requests:
        lines.append("\nFailed requests:\n```\n" + "\n".join(scenario.failed_requests[:10])[:1500] + "\n```")
    if trace_url:
        lines.append(f"\n[Playwright trace]({trace_url}) (open it at https://trace.playwright.dev; the link expires)")
    return "\n".join(lines)[:budget]


def _flaky_text(scenario: ScenarioResult, budget: int) -> str:
    """A scenario that passed only on a retry: each earlier attempt's failing step and error."""
    earlier_count = len(scenario.previous_attempts)
    plural = "s" if earlier_count > 1 else ""
    lines = [f"### {FLAKY}: {scenario.name}",
             f"`{scenario.uri}:{scenario.line}` passed on attempt {scenario.attempt + 1}, after {earlier_count} "
             + f"failed attempt{plural}:"]
    for earlier in scenario.previous_attempts:
        step = earlier.failing_step()
        where = f"`{step.keyword} {step.text}` (line {step.line})" if step is not None else "the scenario"
        error = step_error(step) if step is not None else (earlier.error or earlier.status)
        lines.append(f"\n- attempt {earlier.attempt + 1}: {earlier.status} at {where}\n\n```\n{error[:2000]}\n```")
    return "\n".join(lines)[:budget]


def _annotation(scenario: ScenarioResult) -> dict[str, Any] | None:
    step = scenario.failing_step()
    line = step.line if step is not None else scenario.line
    if not line or not scenario.uri:
        return None
    message = step_error(step) if step is not None else (scenario.error or scenario.status)
    return {
        "path": scenario.uri, "start_line": line, "end_line": line, "annotation_level": "failure",
        "title": f"{scenario.status}: {scenario.name}"[:255], "message": message[:64_000] or scenario.status,
    }


def _flaky_annotation(scenario: ScenarioResult) -> dict[str, Any] | None:
    """A warning on the step where a flaky scenario's first attempt failed."""
    step = scenario.previous_attempts[0].failing_step()
    line = step.line if step is not None else scenario.line
    if not line or not scenario.uri:
        return None
    message = step_error(step) if step is not None else (scenario.previous_attempts[0].error or "failed")
    return {
        "path": scenario.uri, "start_line": line, "end_line": line, "annotation_level": "warning",
        "title": f"flaky: {scenario.name} (passed on attempt {scenario.attempt + 1})"[:255],
        "message": (f"Failed on attempt 1 and passed on a retry: {message}")[:64_000],
    }


def render_report_links(report_urls: Mapping[str, str]) -> str:
    """One line linking the stored reports (HTML first: the one people open), or "" when there are none."""
    links = [f"[{label}]({report_urls[kind]})" for kind, label in REPORT_LINKS if report_urls.get(kind)]
    if not links:
        return ""
    days = TRACE_LINK_SECONDS // 86400
    return f"📄 **Reports:** {' · '.join(links)} (the links expire after {days} days)."


def render_qa_progress(done: int, total: int, counts: Mapping[str, int], *, base_url: str, sha: str) -> QaCheck:
    """The in-progress check: how many scenarios have finished and how they went so far."""
    so_far = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none finished yet"
    summary = (f"Running {total} approved scenarios in Chromium against `{base_url}`: "
               f"{done}/{total} done ({so_far}).\n\n{marker('qa', sha=sha, state='running')}")
    return QaCheck("in_progress", None, f"{TITLE_RUNNING} ({done}/{total})", summary)


def render_qa_result(
    result: RunResult, *, sha: str, image_urls: Mapping[str, str] | None = None,
    trace_urls: Mapping[str, str] | None = None, report_urls: Mapping[str, str] | None = None,
    report_note: str = "",
) -> QaCheck:
    """The completed check for a run: conclusion, summary table by rule, failures, annotations, images.

    `image_urls` maps a screenshot's local path to its public signed URL; `trace_urls` maps a
    scenario id to its expiring trace link; `report_urls` maps a report kind (`html`, `junit`,
    `ndjson`) to its expiring link; `report_note` is shown when there is nothing to link.
    """
    image_urls = image_urls or {}
    trace_urls = trace_urls or {}
    failed = [s for s in result.scenarios if s.failed]
    flaky = sum(1 for s in result.scenarios if s.flaky)
    if result.passed:
        title = TITLE_PASSED + f" ({len(result.scenarios)}{f', {flaky} flaky' if flaky else ''})"
    elif result.errors and not result.scenarios:
        title = TITLE_ERROR
    elif not failed and result.scenarios and not result.errors and not result.failed_run_hooks():
        title = TITLE_ALL_SKIPPED
    else:
        title = f"{len(failed)} of {len(result.scenarios)} scenarios failed" if failed else TITLE_ERROR
    head = [_counts_line(result)]
    for error in result.errors[:20]:
        where = f"{error.uri}:{error.line}" if error.line else error.uri
        head.append(f"- ❌ `{where}`: {error.message[:500]}")
    for hook in result.failed_run_hooks():
        head.append(f"- ❌ {_plain(hook.label)} {hook.status}: {_plain((hook.error or '')[:500])}")
    reports = render_report_links(report_urls or {})
    for note in (reports, report_note):
        if note:
            head.append("\n" + note)  # its own paragraph: Markdown joins adjacent lines
    closing = f"\n\n{marker('qa', sha=sha, state='completed', passed=result.passed)}"
    head_text = "\n".join(head)
    summary = head_text + "\n" + _summary_table(result, _BUDGET - len(head_text) - len(closing), trace_urls) + closing
    text_parts = [_failure_text(s, trace_urls.get(s.id), 8000) for s in failed]
    text_parts += [_flaky_text(s, 4000) for s in result.scenarios if s.flaky]
    text = _fit(text_parts, _BUDGET, lambda n: f"\n… and {n} more failed scenarios (see the annotations).")
    annotations = [a for a in (_annotation(s) for s in failed) if a is not None]
    annotations += [a for a in (_flaky_annotation(s) for s in result.scenarios if s.flaky) if a is not None]
    for error in result.errors:
        if error.line and error.uri.endswith(".feature"):
            annotations.append({"path": error.uri, "start_line": error.line, "end_line": error.line,
                                "annotation_level": "failure", "title": "Gherkin parse error",
                                "message": error.message[:64_000]})
    images = _images(result, image_urls)
    return QaCheck("completed", "success" if result.passed else "failure", title,
                   summary[:MAX_OUTPUT], text[:MAX_OUTPUT], annotations, images)


def _images(result: RunResult, image_urls: Mapping[str, str]) -> list[dict[str, str]]:
    """Screenshots as check-run images: each failing step first, then the last screenshot of the rest."""
    failing: list[dict[str, str]] = []
    others: list[dict[str, str]] = []
    for scenario in result.scenarios:
        step = scenario.failing_step() if scenario.failed else None
        shot = step.screenshot if step is not None and step.screenshot else (
            scenario.screenshots[-1] if scenario.screenshots else None)
        if shot is None or shot not in image_urls:
            continue
        caption = f"{STATUS_ICON[scenario.status]} {scenario.name}"
        if step is not None:
            caption += f" — after `{step.text}` (line {step.line})"
        image = {"alt": f"{scenario.status}: {scenario.name}"[:200], "image_url": image_urls[shot],
                 "caption": caption[:500]}
        (failing if scenario.failed else others).append(image)
    return (failing + others)[:MAX_IMAGES]


def render_spec_changed(changed: Sequence[str], *, sha: str) -> QaCheck:
    """Spec lock: the feature files at the head differ from the approved fingerprint."""
    files = "\n".join(f"- `{path}`" for path in changed[:200])
    summary = (f"QA did not run: {SPEC_CHANGED} after approval. These files differ from what was approved:\n\n"
               f"{files}\n\nA reviewer must approve the pull request again (on its current head) before QA can "
               f"run.\n\n{marker('qa', sha=sha, state='spec-changed')}")
    annotations = [{"path": p, "start_line": 1, "end_line": 1, "annotation_level": "failure",
                    "title": "Changed after approval", "message": f"{p}: {SPEC_CHANGED}"}
                   for p in changed if p.endswith(".feature")]
    return QaCheck("completed", "failure", TITLE_CHANGED, summary[:MAX_OUTPUT], annotations=annotations)


def render_qa_error(reason: str, *, sha: str, detail: str = "", conclusion: str = "failure") -> QaCheck:
    """QA could not run (no approved spec, no app URL, the app did not start, ...): say why and what to do."""
    summary = f"{reason}\n\n{marker('qa', sha=sha, state='error')}"
    text = f"```\n{detail[-_BUDGET:]}\n```" if detail else ""
    return QaCheck("completed", conclusion, TITLE_ERROR, summary[:MAX_OUTPUT], text)
