"""`pull_request_review` events on spec PRs: approval, changes requested, dismissal."""

from __future__ import annotations

from app.events import PullRequestReviewEvent
from app.job_args import ApproveSpec, CloseGate, ReviseSpec
from app.queue import JobRequest
from handlers.base import HandlerContext, JobTarget, Router, installation_of, is_spec_branch, job

router = Router()


@router.on("pull_request_review", "submitted")
def act_on_review(event: PullRequestReviewEvent, ctx: HandlerContext) -> list[JobRequest]:
    """An approval records the gate (approve_spec); changes requested revise the spec.

    Approvals carry no worker-level permission: approve_spec checks the reviewer itself, because
    approvers named in config may hold less than write access and approval_count needs the check.
    """
    pr, review = event.pull_request, event.review
    if event.repository is None or not is_spec_branch(pr.head.ref):
        return []
    reviewer = review.user.login if review.user else (event.sender.login if event.sender else None)
    common: JobTarget = {"installation_id": installation_of(event),
              "repo": event.repository.full_name, "number": pr.number, "actor": reviewer}
    state = (review.state or "").lower()  # webhooks say "approved", the REST API "APPROVED"
    if state == "approved" and review.commit_id:
        return [job(ApproveSpec(**common, review_id=review.id, sha=review.commit_id, reviewer=reviewer), ctx)]
    if state == "changes_requested":
        return [job(ReviseSpec(**common, review_id=review.id), ctx, permission="revise")]
    return []


@router.on("pull_request_review", "dismissed")
def reopen_gate_on_dismissal(event: PullRequestReviewEvent, ctx: HandlerContext) -> list[JobRequest]:
    """A dismissed review closes the gate again (the job checks it was an approval that counted)."""
    pr = event.pull_request
    if event.repository is None or not is_spec_branch(pr.head.ref):
        return []
    return [job(CloseGate(installation_id=installation_of(event),
                          repo=event.repository.full_name, number=pr.number, reason="dismissed",
                          actor=event.sender.login if event.sender else None), ctx)]
