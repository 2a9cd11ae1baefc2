"""The approval gate: `approve_spec` opens it (once per approved commit), `close_gate` closes it again.

The gate opens only for an APPROVED review of the PR's current head, by someone allowed to approve
(write/maintain/admin, or a configured approver), never the app, never on a fork, and only when enough
distinct people approved that commit (`approval_count`). Everything is re-read from GitHub: the
webhook's word is only the trigger.
"""

from __future__ import annotations

import logging
from typing import Any

from app.context import deps
from app.domain.fingerprint import Fingerprint
from app.github import post_comment
from app.permissions import describe, may, role_of
from app.queue import JobRequest, enqueue, story_of
from app.render.spec_pr import approval_not_counted_reply, with_approval
from app.repo_config import RepoConfig, load_repo_config
from jobs.check_spec import (
    GH,
    close_gate_for,
    get_json,
    get_pull,
    is_fork,
    post_spec_check,
    read_spec,
    recorded_fingerprint,
    spec_pr_data,
    split_repo,
    update_status,
)

log = logging.getLogger(__name__)

GENERATE_CODE = "generate_code"


def generate_code_request(installation_id: int, repo: str, number: int, sha: str, digest: str) -> JobRequest:
    """The code generation job for an approved commit; its id is keyed on the SHA, so arq refuses a second."""
    return JobRequest(
        function=GENERATE_CODE,
        queue="heavy",
        story=story_of(repo, number),
        kwargs={
            "installation_id": int(installation_id),
            "repo": repo,
            "number": int(number),
            "sha": sha,
            "digest": digest,
            "delivery": f"approved-{sha}",
        },
    )


async def _reviews(gh: GH, repo: str, number: int) -> list[dict[str, Any]]:
    """Every review of the PR, oldest first."""
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        batch = await get_json(
            gh, "GET", f"/repos/{repo}/pulls/{number}/reviews", params={"per_page": 100, "page": page}
        )
        found += batch
        if len(batch) < 100:
            return found
        page += 1


def _is_app(user: dict[str, Any] | None, bot_login: str) -> bool:
    login = str((user or {}).get("login", "")).lower()
    return (user or {}).get("type") == "Bot" or login == bot_login.lower() or login.endswith("[bot]")


async def may_approve(gh: GH, repo: str, login: str, config: RepoConfig) -> bool:
    """Write/maintain/admin (the `approve` entry of the permission table), or a configured approver."""
    if login.lower() in {a.lower() for a in config.approvers}:
        return True
    owner, name = split_repo(repo)
    return may(await role_of(gh, owner, name, login), "approve", config.permission_table)


async def approvals_of(
    gh: GH, repo: str, number: int, sha: str, config: RepoConfig, bot_login: str
) -> list[str]:
    """Distinct people allowed to approve whose latest deciding review approves commit `sha`."""
    latest: dict[str, dict[str, Any]] = {}
    for review in await _reviews(gh, repo, number):
        state = str(review.get("state", "")).upper()
        if state == "COMMENTED" or _is_app(review.get("user"), bot_login):
            continue  # a comment does not withdraw an approval; the app's reviews never count
        latest[str(review["user"]["login"]).lower()] = review
    counted = []
    for login, review in sorted(latest.items()):
        if (
            str(review.get("state", "")).upper() == "APPROVED"
            and review.get("commit_id") == sha
            and await may_approve(gh, repo, str(review["user"]["login"]), config)
        ):
            counted.append(str(review["user"]["login"]))
    return counted


async def approve_spec(
    ctx: dict[str, Any],
    *,
    installation_id: int,
    repo: str,
    number: int,
    review_id: int,
    sha: str,
    reviewer: str | None = None,
    delivery: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """Open the gate for an approving review of the current head; enqueue code generation exactly once."""
    d = deps(ctx)
    gh = d.github.installation(int(installation_id))
    owner, name = split_repo(repo)
    bot_login = d.settings.bot_login
    config = await load_repo_config(gh, owner, name)
    pull = await get_pull(gh, repo, number)
    review = await get_json(gh, "GET", f"/repos/{repo}/pulls/{number}/reviews/{review_id}")
    login = str((review.get("user") or {}).get("login") or reviewer or "")
    head = str(pull["head"]["sha"])
    if str(review.get("state", "")).upper() != "APPROVED":
        return {"status": "not an approval"}
    if _is_app(review.get("user"), bot_login):
        return {"status": "the app's own review does not count"}
    if str(pull.get("state", "open")) != "open":
        return {"status": "pull request closed"}
    if is_fork(pull):
        # fork heads are someone else's repository: the gate would approve code Specloop cannot guard
        await post_comment(
            gh,
            repo,
            number,
            approval_not_counted_reply(
                login,
                "this pull request comes from a fork, and the gate only opens for spec branches in this repository",
            ),
        )
        return {"status": "fork"}
    if review.get("commit_id") != head or sha != head:
        await post_comment(
            gh,
            repo,
            number,
            approval_not_counted_reply(
                login,
                f"it approves commit {str(review.get('commit_id'))[:7]}, but the head is now {head[:7]}; "
                "please review and approve the latest commit",
            ),
        )
        return {"status": "stale", "head": head}
    recorded = recorded_fingerprint(pull)
    if recorded is not None and recorded.sha == head:
        # a second delivery (or a second approver) of an already approved commit starts nothing new
        return {"status": "already approved", "sha": head}
    if not await may_approve(gh, repo, login, config):
        who = describe("approve", config.permission_table)
        if config.approvers:
            who += " and the approvers named in `.github/specloop.yml`"
        await post_comment(
            gh, repo, number, approval_not_counted_reply(login, f"approvals that open the gate come from {who}")
        )
        return {"status": "reviewer may not approve", "reviewer": login}
    approvers = await approvals_of(gh, repo, number, head, config, bot_login)
    if len(approvers) < config.approval_count:
        return {
            "status": "waiting for more approvals",
            "approvals": len(approvers),
            "needed": config.approval_count,
        }
    state = await read_spec(gh, repo, head, config)
    if state.has_errors or not state.parsed:
        await post_comment(
            gh,
            repo,
            number,
            approval_not_counted_reply(
                login,
                f"the spec at {head[:7]} has errors (see the `specloop/spec` check); fix them and approve again",
            ),
        )
        return {"status": "spec has errors"}

    fingerprint = Fingerprint.of(head, login, state.manifest)
    body = with_approval(pull.get("body") or "", fingerprint)
    await gh.arequest("PATCH", f"/repos/{repo}/pulls/{number}", json={"body": body})
    pull["body"] = body
    await post_spec_check(gh, repo, pull, state, approved=fingerprint)
    await update_status(
        gh, repo, spec_pr_data(pull).get("issue"), bot_login=bot_login, approved_by=login, approved_sha=head
    )
    queued = await enqueue(
        d.redis, generate_code_request(int(installation_id), repo, number, head, fingerprint.digest)
    )
    log.info("gate opened", extra={"sha": head, "approver": login, "queued": queued})
    return {"status": "approved", "sha": head, "digest": fingerprint.digest, "queued": queued}


async def close_gate(
    ctx: dict[str, Any],
    *,
    installation_id: int,
    repo: str,
    number: int,
    reason: str = "dismissed",
    actor: str | None = None,
    delivery: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """A person dismissed a review: close the gate unless the approvals that opened it still stand."""
    d = deps(ctx)
    gh = d.github.installation(int(installation_id))
    owner, name = split_repo(repo)
    bot_login = d.settings.bot_login
    if actor and actor.lower() == bot_login.lower():
        return {"status": "the app's own dismissal does not close the gate"}
    config = await load_repo_config(gh, owner, name)
    pull = await get_pull(gh, repo, number)
    approved = recorded_fingerprint(pull)
    if approved is None:
        return {"status": "not approved"}
    # the dismissed review may not have been one that counted (or others still approve that commit)
    if len(await approvals_of(gh, repo, number, approved.sha, config, bot_login)) >= config.approval_count:
        return {"status": "still approved"}
    await close_gate_for(gh, repo, pull, approved, reason=reason, actor=actor, bot_login=bot_login)
    head = str(pull["head"]["sha"])
    await post_spec_check(gh, repo, pull, await read_spec(gh, repo, head, config))
    return {"status": "gate closed", "reason": reason}
