"""The `specloop/spec` check run: parse errors and lint findings as annotations, and the gate's state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.domain.fingerprint import Fingerprint
from app.domain.markers import marker
from app.domain.spec_lint import Finding

SPEC_CHECK_NAME = "specloop/spec"
MAX_ANNOTATIONS_PER_REQUEST = 50  # GitHub's limit per create/update call; later updates append
MAX_SUMMARY = 60_000  # GitHub caps output.summary and output.text at 65,535 characters

TITLE_INVALID = "The spec has errors"
TITLE_WAITING = "Waiting for approval"
TITLE_APPROVED = "Spec approved"
TITLE_CHANGED = "The approved spec was changed"
TITLE_NO_FEATURES = "No feature files in this pull request"

_LEVELS = {"error": "failure", "warning": "warning"}


@dataclass
class CheckOutput:
    """Everything one check run shows: conclusion, title, summary, text, annotations (all of them)."""

    name: str
    conclusion: str
    title: str
    summary: str
    text: str = ""
    annotations: list[dict[str, Any]] = field(default_factory=list)
    external_id: str = ""

    def batches(self, size: int = MAX_ANNOTATIONS_PER_REQUEST) -> list[list[dict[str, Any]]]:
        """Annotations in request-sized batches; always at least one (possibly empty) batch."""
        return [self.annotations[i : i + size] for i in range(0, len(self.annotations), size)] or [[]]

    def output(self, annotations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The `output` object of one create/update call (each repeats title and summary, as GitHub asks)."""
        data: dict[str, Any] = {"title": self.title, "summary": self.summary}
        if self.text:
            data["text"] = self.text
        if annotations:
            data["annotations"] = annotations
        return data


def annotation(path: str, finding: Finding) -> dict[str, Any]:
    """One GitHub annotation on the finding's line; with a column when the finding has one.

    GitHub accepts start_column/end_column only when start_line == end_line, which always holds here.
    """
    data: dict[str, Any] = {
        "path": path,
        "start_line": finding.line,
        "end_line": finding.line,
        "annotation_level": _LEVELS.get(finding.level, "notice"),
        "title": "Gherkin parse error" if finding.code == "parse" else f"spec lint: {finding.code}",
        "message": finding.message[:64_000],
    }
    if finding.column:
        data["start_column"] = finding.column
        data["end_column"] = finding.column
    return data


def _file_table(findings: Mapping[str, Sequence[Finding]]) -> str:
    rows = []
    for path in sorted(findings):
        errors = sum(1 for f in findings[path] if f.level == "error")
        warnings = len(findings[path]) - errors
        parse = any(f.code == "parse" for f in findings[path])
        state = "❌ does not parse" if parse else "❌ lint errors" if errors else "✅ valid"
        rows.append(f"| `{path}` | {state} | {errors} | {warnings} |")
    return "| file | state | errors | warnings |\n|---|---|---|---|\n" + "\n".join(rows)


def _finding_lines(findings: Mapping[str, Sequence[Finding]]) -> str:
    lines = []
    for path in sorted(findings):
        for f in findings[path]:
            where = f"{path}:{f.line}" + (f":{f.column}" if f.column else "")
            lines.append(f"- **{f.level}** `{where}` {f.message}")
    return "\n".join(lines)


def plural(count: int, word: str) -> str:
    """`1 error`, `2 errors`: check-run summaries are read by people."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def render_spec_check(
    findings: Mapping[str, Sequence[Finding]],
    *,
    sha: str,
    approved: Fingerprint | None = None,
    changed: Sequence[str] = (),
    scenario_count: int = 0,
) -> CheckOutput:
    """The check for one head SHA: failure on errors, success when approved, else action_required.

    `findings` maps each feature path checked to its findings (an empty list for a clean file);
    `approved` is the fingerprint recorded for exactly this head; `changed` lists spec files that differ
    from an earlier approval (the gate was closed again).
    """
    all_findings = [f for fs in findings.values() for f in fs]
    errors = sum(1 for f in all_findings if f.level == "error")
    warnings = len(all_findings) - errors
    annotations = [annotation(path, f) for path in sorted(findings) for f in findings[path]]
    counts = ", ".join(
        plural(n, word) for n, word in
        ((len(findings), "feature file"), (scenario_count, "scenario"), (errors, "error"), (warnings, "warning"))
    ) + "."
    detail = _finding_lines(findings)
    text = detail[:MAX_SUMMARY]
    if not findings:
        return CheckOutput(
            SPEC_CHECK_NAME,
            "failure",
            TITLE_NO_FEATURES,
            "This spec pull request has no `.feature` file under the features folder, so there "
            "is nothing to approve. Add the feature file (or comment `/specloop spec` on the "
            "issue to write it again).",
        )
    if errors:
        summary = "\n\n".join(
            [
                f"**{errors} errors** must be fixed before this spec can be approved. {counts}",
                _file_table(findings),
            ]
        )
        return CheckOutput(
            SPEC_CHECK_NAME, "failure", TITLE_INVALID, summary[:MAX_SUMMARY], text, annotations
        )
    if approved is not None:
        summary = "\n\n".join(
            [
                f"Approved by @{approved.approver} on commit {approved.sha[:7]}. {counts}",
                f"Fingerprint `{approved.digest}` over {len(approved.manifest)} files:",
                "\n".join(
                    f"- `{path}` `{digest[:12]}`" for path, digest in sorted(approved.manifest.items())
                ),
                marker("fingerprint", **approved.to_data()),
            ]
        )
        return CheckOutput(
            SPEC_CHECK_NAME,
            "success",
            TITLE_APPROVED,
            summary[:MAX_SUMMARY],
            text,
            annotations,
            external_id=approved.digest,
        )
    lead = f"Commit {sha[:7]} is valid and waits for an approving review of this commit. {counts}"
    if changed:
        lead = (
            "The approved specification was changed, so the approval no longer holds. Changed: "
            + ", ".join(f"`{p}`" for p in changed)
            + f". Approve the new commit to continue. {counts}"
        )
    summary = "\n\n".join([lead, _file_table(findings)])
    return CheckOutput(
        SPEC_CHECK_NAME,
        "action_required",
        TITLE_CHANGED if changed else TITLE_WAITING,
        summary[:MAX_SUMMARY],
        text,
        annotations,
    )
