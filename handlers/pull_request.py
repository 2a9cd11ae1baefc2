"""`pull_request` events: a spec PR opened, reopened or pushed to is checked."""

from __future__ import annotations

from app.events import PullRequestEvent
from app.job_args import CheckSpec
from app.queue import JobRequest
from handlers.base import HandlerContext, Router, installation_of, is_spec_branch, job

router = Router()


@router.on("pull_request", "opened", "reopened", "synchronize")
def check_spec_pr(event: PullRequestEvent, ctx: HandlerContext) -> list[JobRequest]:
    """Check the spec on a `specloop/` branch for its new head (the job re-closes the gate if needed)."""
    pr = event.pull_request
    if event.repository is None or not is_spec_branch(pr.head.ref) or not pr.head.sha:
        return []
    return [job(CheckSpec(installation_id=installation_of(event),
                          repo=event.repository.full_name, number=pr.number, sha=pr.head.sha), ctx)]
