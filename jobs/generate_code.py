"""`generate_code`: a clearly named no-op until the Code generation issue lands.

It reports on a `specloop/code` check run that code generation is not available yet, once per
approved commit (a second run for the same SHA finds the check run and posts nothing new), and records
`code_state="not available"` with a link to that check run in the story's status chain.
"""

from __future__ import annotations

from typing import Any

from app.context import deps
from app.github import post_comment
from app.render.code_check import CODE_CHECK_NAME, code_needs_approval, code_not_available
from jobs.check_spec import (
    get_json,
    get_pull,
    publish_check,
    recorded_fingerprint,
    spec_pr_data,
    update_status,
)

NOT_AVAILABLE = "not available"  # the `StoryStatus.code_state` this job records


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
    d = deps(ctx)
    gh = d.github.installation(int(installation_id))
    pull = await get_pull(gh, repo, number)
    if not sha:  # `/specloop code` names no commit: use the approved one, if any
        approved = recorded_fingerprint(pull)
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
    existing = next(iter(runs.get("check_runs") or []), None)
    if existing is not None:
        result: dict[str, Any] = {"status": "already reported", "sha": sha}
        check_url = existing.get("html_url")
    else:
        run_id = await publish_check(gh, repo, sha, code_not_available(sha, digest or ""))
        result = {"status": NOT_AVAILABLE, "check_run": run_id, "sha": sha}
        check_url = (await get_json(gh, "GET", f"/repos/{repo}/check-runs/{run_id}")).get("html_url")
    # Also on "already reported": a retry after the check run was posted still completes the chain
    # (an unchanged status is not rewritten).
    await update_status(gh, repo, spec_pr_data(pull).get("issue"), bot_login=d.settings.bot_login,
                        code_state=NOT_AVAILABLE, code_url=check_url)
    return result
