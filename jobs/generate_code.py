"""`generate_code`: a clearly named no-op until the Code generation issue lands.

It reports on a `specloop/code` check run that code generation is not available yet, once per
approved commit (a second run for the same SHA finds the check run and does nothing).
"""

from __future__ import annotations

from typing import Any

from app.context import deps
from app.render.code_check import CODE_CHECK_NAME, code_not_available
from jobs.check_spec import get_json, publish_check


async def generate_code(ctx: dict[str, Any], *, installation_id: int, repo: str, number: int, sha: str,
                        digest: str = "", delivery: str | None = None, **_: Any) -> dict[str, Any]:
    """Post the neutral "code generation not available yet" check run on the approved commit."""
    gh = deps(ctx).github.installation(int(installation_id))
    runs = await get_json(gh, "GET", f"/repos/{repo}/commits/{sha}/check-runs",
                          params={"check_name": CODE_CHECK_NAME, "filter": "latest"})
    if runs.get("check_runs"):
        return {"status": "already reported", "sha": sha}
    run_id = await publish_check(gh, repo, sha, code_not_available(sha, digest))
    return {"status": "not available", "check_run": run_id, "sha": sha}
