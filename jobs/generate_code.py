"""`generate_code`: a clearly named no-op until the Code generation issue lands.

It reports on a `specloop/code` check run that code generation is not available yet, once per
approved commit (a second run for the same SHA finds the check run and does nothing).
"""

from __future__ import annotations

from typing import Any

from app.context import deps
from app.github import post_comment
from app.render.code_check import CODE_CHECK_NAME, code_needs_approval, code_not_available
from jobs.check_spec import get_json, get_pull, publish_check, recorded_fingerprint, with_client


@with_client
async def generate_code(
    ctx: dict[str, Any],
    *,
    installation_id: int,
    repo: str,
    number: int,
    sha: str | None,
    digest: str | None = "",
    delivery: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """Post the neutral "code generation not available yet" check run on the approved commit."""
    gh = deps(ctx).github.installation(int(installation_id))
    if not sha:  # `/specloop code` names no commit: use the approved one, if any
        approved = recorded_fingerprint(await get_pull(gh, repo, number))
        if approved is None:
            await post_comment(gh, repo, number, code_needs_approval())
            return {"status": "not approved"}
        sha, digest = approved.sha, approved.digest
    runs = await get_json(
        gh,
        "GET",
        f"/repos/{repo}/commits/{sha}/check-runs",
        params={"check_name": CODE_CHECK_NAME, "filter": "latest"},
    )
    if runs.get("check_runs"):
        return {"status": "already reported", "sha": sha}
    run_id = await publish_check(gh, repo, sha, code_not_available(sha, digest or ""))
    return {"status": "not available", "check_run": run_id, "sha": sha}
