"""The `specloop/code` check run: until code generation lands, a clear neutral "not available yet"."""

from __future__ import annotations

from app.domain.markers import marker
from app.render.spec_check import CheckOutput

CODE_CHECK_NAME = "specloop/code"
TITLE_NOT_AVAILABLE = "Code generation not available yet"


def code_not_available(sha: str, digest: str) -> CheckOutput:
    """Neutral: the spec is approved, but this Specloop version cannot generate code yet."""
    summary = "\n".join(
        [
            f"The specification approved on commit {sha[:7]} (fingerprint `{digest[:12]}`) is recorded.",
            "",
            (
                "Code generation is not available in this version of Specloop yet, so nothing was pushed. "
                "Implement the scenarios on this branch yourself; the approved feature files stay locked, and the "
                "`specloop/qa` check runs them against your code."
            ),
            "",
            marker("code", sha=sha, digest=digest, state="not-available"),
        ]
    )
    return CheckOutput(CODE_CHECK_NAME, "neutral", TITLE_NOT_AVAILABLE, summary, external_id=digest)


def code_needs_approval() -> str:
    """`/specloop code` on a spec PR nobody has approved yet."""
    return "\n".join(
        [
            marker("reply", type="code_needs_approval"),
            "Code generation starts from an approved spec: approve the latest commit of this pull request first.",
        ]
    )
