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

from app.comments import find_comment
from app.context import JobScope
from app.domain.fingerprint import Fingerprint
from app.domain.spec_state import SpecState
from app.gh import issues, pulls
from app.gh.models import Pull, Review
from app.job_args import ApproveSpec, CloseGate, GenerateCode
from app.permissions import describe
from app.queue import JobRequest, enqueue
from app.render.spec_pr import approval_not_counted_reply, gate_closed_comment, not_specloop_pull_reply
from app.repo_config import RepoConfig
from app.spec_gate import (
    SpecPr,
    approvals_of,
    approved_fingerprint,
    close_gate_for,
    is_app,
    may_approve,
    post_spec_check,
    read_spec,
    record_approval,
    signed_record,
    story_issue,
)
from app.story_status import advance_status, find_map

log = logging.getLogger(__name__)


def generate_code_request(installation_id: int, repo: str, number: int, sha: str, digest: str) -> JobRequest:
    """The code generation job for an approved commit; its id is keyed on the SHA, so arq refuses a second."""
    args = GenerateCode(installation_id=installation_id, repo=repo, number=number, sha=sha, digest=digest)
    return JobRequest.of(args, once=f"code:{repo}:{sha}")


async def _not_counted(scope: JobScope, number: int, login: str, why: str) -> None:
    await issues.create_comment(scope.gh, scope.repo, number, approval_not_counted_reply(login, why))


async def _refusal(scope: JobScope, spec: SpecPr, pull: Pull, review: Review, login: str,
                   sha: str, config: RepoConfig) -> dict[str, Any] | None:
    """Why this review cannot open the gate (said on the PR where a person should hear it), or None."""
    head = pull.head.sha
    if review.verdict != "APPROVED":
        return {"status": "not an approval"}
    if is_app(review.user, scope.bot_login):
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
    return None


async def _open_gate(scope: JobScope, spec: SpecPr, pull: Pull, state: SpecState, fingerprint: Fingerprint,
                     installation_id: int) -> bool:
    """What follows the approval record: the check, the story's status, code generation queued. Each is
    safe to repeat (the check is found by name and SHA, an unchanged status is not rewritten, code
    generation's job id is keyed on the SHA), so a run that finds the record does them all again."""
    await post_spec_check(spec, pull, state, approved=fingerprint)
    await advance_status(scope.gh, scope.repo, story_issue(pull), bot_login=scope.bot_login,
                         approved_by=fingerprint.approver, approved_sha=fingerprint.sha)
    return await enqueue(scope.deps.redis, generate_code_request(installation_id, scope.repo.full_name,
                                                                 pull.number, fingerprint.sha, fingerprint.digest))


async def approve_spec(scope: JobScope, args: ApproveSpec) -> dict[str, Any]:
    """Open the gate for an approving review of the current head; enqueue code generation exactly once."""
    number = args.number
    config = await scope.config()
    pull = await pulls.get_pull(scope.gh, scope.repo, number)
    review = await pulls.get_review(scope.gh, scope.repo, number, args.review_id)
    login = (review.user.login if review.user else "") or args.reviewer or ""
    spec = SpecPr.of(scope)
    refused = await _refusal(scope, spec, pull, review, login, args.sha, config)
    if refused is not None:
        return refused
    head = pull.head.sha
    recorded = await approved_fingerprint(spec, pull, config)
    if recorded is not None and recorded.sha == head:
        # a second delivery (or a second approver) of an approved commit records nothing new, but the run
        # that recorded it may have died before the rest (arq's retry of it lands here): finish that
        state = await read_spec(scope.gh, scope.repo, head, config)
        queued = await _open_gate(scope, spec, pull, state, recorded, args.installation_id)
        return {"status": "already approved", "sha": head, "queued": queued}
    if not await may_approve(spec, login, config):
        who = describe("approve", config.permission_table)
        if config.approvers:
            who += " and the approvers named in `.github/specloop.yml`"
        await _not_counted(scope, number, login, f"approvals that open the gate come from {who}")
        return {"status": "reviewer may not approve", "reviewer": login}
    approvers = await approvals_of(spec, number, head, config)
    if len(approvers) < config.approval_count:
        return {"status": "waiting for more approvals", "approvals": len(approvers), "needed": config.approval_count}
    state = await read_spec(scope.gh, scope.repo, head, config)
    if state.has_errors or not state.parsed:
        await _not_counted(scope, number, login, f"the spec at {head[:7]} has errors (see the `specloop/spec` "
                                                 "check); fix them and approve again")
        return {"status": "spec has errors"}

    fingerprint = spec.sign(pull, Fingerprint.of(head, login, state.manifest))
    pull = await record_approval(spec, pull, fingerprint)
    queued = await _open_gate(scope, spec, pull, state, fingerprint, args.installation_id)
    log.info("gate opened", extra={"sha": head, "approver": login, "queued": queued})
    return {"status": "approved", "sha": head, "digest": fingerprint.digest, "queued": queued}


async def _finish_closing(scope: JobScope, spec: SpecPr, pull: Pull, args: CloseGate,
                          config: RepoConfig) -> dict[str, Any]:
    """No record in the body: the PR was never approved, or a closing removed it, possibly a run that
    died right after (arq's retry lands here). What follows the removal is repeated, each step finding
    what exists: the comment (only while the story's status still names an approval, and none says that
    approval is closed), the status, and the check, which must not go on saying "approved"."""
    gh, repo, issue = scope.gh, scope.repo, story_issue(pull)
    found = await find_map(gh, repo, issue, bot_login=scope.bot_login) if issue else None
    left = found.state.status.approved_sha if found is not None else None
    if left is not None:
        said = await find_comment(gh, repo, pull.number, "reply", bot_login=scope.bot_login,
                                  match={"type": "gate_closed", "sha": left})
        if said is None:
            await issues.create_comment(gh, repo, pull.number,
                                        gate_closed_comment(args.reason, actor=args.actor, approved_sha=left))
        await advance_status(gh, repo, issue, bot_login=scope.bot_login, approved_by=None, approved_sha=None)
    await post_spec_check(spec, pull, await read_spec(gh, repo, pull.head.sha, config))
    if left is None:
        return {"status": "not approved"}
    return {"status": "gate closed", "reason": args.reason, "resumed": True}


async def close_gate(scope: JobScope, args: CloseGate) -> dict[str, Any]:
    """A person dismissed a review: close the gate unless the approvals that opened it still stand."""
    if args.actor and args.actor.lower() == scope.bot_login.lower():
        return {"status": "the app's own dismissal does not close the gate"}
    config = await scope.config()
    spec = SpecPr.of(scope)
    pull = await pulls.get_pull(scope.gh, scope.repo, args.number)
    if not spec.owns(pull):
        return {"status": "not a specloop pull request"}
    approved = signed_record(spec, pull)
    if approved is None:
        return await _finish_closing(scope, spec, pull, args, config)
    # the dismissed review may not have been one that counted (or others still approve that commit)
    if await approved_fingerprint(spec, pull, config) is not None:
        return {"status": "still approved"}
    pull = await close_gate_for(spec, pull, approved, reason=args.reason, actor=args.actor)
    await post_spec_check(spec, pull, await read_spec(scope.gh, scope.repo, pull.head.sha, config))
    return {"status": "gate closed", "reason": args.reason}
