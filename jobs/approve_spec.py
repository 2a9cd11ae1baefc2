"""The approval gate: `approve_spec` opens it (once per approved commit), `close_gate` closes it again.

The gate opens only for an APPROVED review of the PR's current head, by someone allowed to approve
(write/maintain/admin, or a configured approver), never the app, only on a spec PR the bot opened itself
(never a fork), and only when enough distinct people approved that commit (`approval_count`). The
approval is recorded in the PR body signed for this PR (see `app/spec_gate.py`). Everything is re-read
from GitHub: the webhook's word is only the trigger.
"""

from __future__ import annotations

import logging
from typing import Any

from app.context import JobScope
from app.domain.fingerprint import Fingerprint
from app.gh import issues, pulls
from app.gh.models import Pull, Review, User
from app.gh.repos import collaborator_role
from app.job_args import ApproveSpec, CloseGate, GenerateCode
from app.permissions import describe, may
from app.queue import JobRequest, enqueue
from app.render.spec_pr import approval_not_counted_reply, not_specloop_pull_reply
from app.repo_config import RepoConfig
from app.spec_gate import (
    SpecPr,
    close_gate_for,
    post_spec_check,
    read_spec,
    record_approval,
    recorded_fingerprint,
    story_issue,
)
from app.story_status import advance_status

log = logging.getLogger(__name__)


def generate_code_request(installation_id: int, repo: str, number: int, sha: str, digest: str) -> JobRequest:
    """The code generation job for an approved commit; its id is keyed on the SHA, so arq refuses a second."""
    args = GenerateCode(installation_id=installation_id, repo=repo, number=number, sha=sha, digest=digest)
    return JobRequest.of(args, once=f"code:{repo}:{sha}")


def _is_app(user: User | None, bot_login: str) -> bool:
    return user is not None and (user.is_bot or user.login.lower() == bot_login.lower())


async def may_approve(scope: JobScope, login: str, config: RepoConfig) -> bool:
    """Write/maintain/admin (the `approve` entry of the permission table), or a configured approver."""
    if login.lower() in {a.lower() for a in config.approvers}:
        return True
    return may(await collaborator_role(scope.gh, scope.repo, login), "approve", config.permission_table)


async def approvals_of(scope: JobScope, number: int, sha: str, config: RepoConfig) -> list[str]:
    """Distinct people allowed to approve whose latest deciding review approves commit `sha`."""
    latest: dict[str, Review] = {}
    for review in await pulls.list_reviews(scope.gh, scope.repo, number):
        if review.verdict == "COMMENTED" or review.user is None or _is_app(review.user, scope.bot_login):
            continue  # a comment does not withdraw an approval; the app's reviews never count
        latest[review.user.login.lower()] = review
    counted = []
    for _, review in sorted(latest.items()):
        login = review.user.login if review.user else ""
        if review.verdict == "APPROVED" and review.commit_id == sha and await may_approve(scope, login, config):
            counted.append(login)
    return counted


async def _not_counted(scope: JobScope, number: int, login: str, why: str) -> None:
    await issues.create_comment(scope.gh, scope.repo, number, approval_not_counted_reply(login, why))


async def _refusal(scope: JobScope, spec: SpecPr, pull: Pull, review: Review, login: str,
                   sha: str) -> dict[str, Any] | None:
    """Why this review cannot open the gate (said on the PR where a person should hear it), or None."""
    head = pull.head.sha
    if review.verdict != "APPROVED":
        return {"status": "not an approval"}
    if _is_app(review.user, scope.bot_login):
        return {"status": "the app's own review does not count"}
    if not pull.is_open:
        return {"status": "pull request closed"}
    if not spec.owns(pull):
        # fork heads are someone else's repository, and a person's own PR has a body its author controls:
        # the gate exists only on the spec PRs the bot opened
        await issues.create_comment(scope.gh, scope.repo, pull.number, not_specloop_pull_reply(login, "an approval"))
        return {"status": "fork" if pull.is_fork else "not a specloop pull request"}
    if review.commit_id != head or sha != head:
        await _not_counted(scope, pull.number, login,
                           f"it approves commit {str(review.commit_id)[:7]}, but the head is now {head[:7]}; "
                           "please review and approve the latest commit")
        return {"status": "stale", "head": head}
    recorded = recorded_fingerprint(spec, pull)
    if recorded is not None and recorded.sha == head:
        # a second delivery (or a second approver) of an already approved commit starts nothing new
        return {"status": "already approved", "sha": head}
    return None


async def approve_spec(scope: JobScope, args: ApproveSpec) -> dict[str, Any]:
    """Open the gate for an approving review of the current head; enqueue code generation exactly once."""
    number = args.number
    config = await scope.config()
    pull = await pulls.get_pull(scope.gh, scope.repo, number)
    review = await pulls.get_review(scope.gh, scope.repo, number, args.review_id)
    login = (review.user.login if review.user else "") or args.reviewer or ""
    spec = SpecPr.of(scope)
    refused = await _refusal(scope, spec, pull, review, login, args.sha)
    if refused is not None:
        return refused
    head = pull.head.sha
    if not await may_approve(scope, login, config):
        who = describe("approve", config.permission_table)
        if config.approvers:
            who += " and the approvers named in `.github/specloop.yml`"
        await _not_counted(scope, number, login, f"approvals that open the gate come from {who}")
        return {"status": "reviewer may not approve", "reviewer": login}
    approvers = await approvals_of(scope, number, head, config)
    if len(approvers) < config.approval_count:
        return {"status": "waiting for more approvals", "approvals": len(approvers), "needed": config.approval_count}
    state = await read_spec(scope.gh, scope.repo, head, config)
    if state.has_errors or not state.parsed:
        await _not_counted(scope, number, login, f"the spec at {head[:7]} has errors (see the `specloop/spec` "
                                                 "check); fix them and approve again")
        return {"status": "spec has errors"}

    fingerprint = spec.sign(pull, Fingerprint.of(head, login, state.manifest))
    pull = await record_approval(spec, pull, fingerprint)
    await post_spec_check(spec, pull, state, approved=fingerprint)
    await advance_status(scope.gh, scope.repo, story_issue(pull), bot_login=scope.bot_login, approved_by=login,
                         approved_sha=head)
    queued = await enqueue(scope.deps.redis, generate_code_request(args.installation_id, scope.repo.full_name,
                                                                  number, head, fingerprint.digest))
    log.info("gate opened", extra={"sha": head, "approver": login, "queued": queued})
    return {"status": "approved", "sha": head, "digest": fingerprint.digest, "queued": queued}


async def close_gate(scope: JobScope, args: CloseGate) -> dict[str, Any]:
    """A person dismissed a review: close the gate unless the approvals that opened it still stand."""
    if args.actor and args.actor.lower() == scope.bot_login.lower():
        return {"status": "the app's own dismissal does not close the gate"}
    config = await scope.config()
    spec = SpecPr.of(scope)
    pull = await pulls.get_pull(scope.gh, scope.repo, args.number)
    if not spec.owns(pull):
        return {"status": "not a specloop pull request"}
    approved = recorded_fingerprint(spec, pull)
    if approved is None:
        return {"status": "not approved"}
    # the dismissed review may not have been one that counted (or others still approve that commit)
    if len(await approvals_of(scope, args.number, approved.sha, config)) >= config.approval_count:
        return {"status": "still approved"}
    pull = await close_gate_for(spec, pull, approved, reason=args.reason, actor=args.actor)
    await post_spec_check(spec, pull, await read_spec(scope.gh, scope.repo, pull.head.sha, config))
    return {"status": "gate closed", "reason": args.reason}
