"""Check runs a job owns (`specloop/qa`, `specloop/code`): opened once per job, written in GitHub-sized payloads.

A run carries the job's id (which arq's retry keeps) as its external id: a retry of a job that died after
GitHub created its check run takes that one over, instead of leaving it in progress for ever beside a new
one. A concluded run is reopened by no one: a retry that starts again (after a temporary failure concluded
the first try) reports on a new run and leaves that one as history.
"""

from __future__ import annotations

from typing import Any

from githubkit import GitHub

from app.context import JobScope
from app.gh import checks
from app.gh.models import CheckRun, RepoRef
from app.render.qa_check import QaCheck


async def open_check(scope: JobScope, sha: str, check: QaCheck) -> CheckRun:
    """This job's run `check.name` on `sha` (taken over from an earlier try, or created), sent `check`."""
    gh, repo = scope.gh, scope.repo
    payloads = check.requests()
    found = await checks.find_check_run(gh, repo, sha, check.name, app_id=scope.deps.github.app_id,
                                        external_id=scope.job_id)
    if found is not None and (found.status != "completed" or check.status == "completed"):
        opened = await checks.update_check_run(gh, repo, found.id, payloads[0])
    else:
        opened = await checks.create_check_run(gh, repo, sha, check.name,
                                               {**payloads[0], "external_id": scope.job_id})
    for payload in payloads[1:]:
        await checks.update_check_run(gh, repo, opened.id, payload)
    return opened


async def write_check(gh: GitHub[Any], repo: RepoRef, run_id: int, check: QaCheck) -> None:
    """Update the run; annotations beyond 50 go in further updates (GitHub appends them)."""
    for payload in check.requests():
        await checks.update_check_run(gh, repo, run_id, payload)
