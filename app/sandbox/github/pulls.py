"""Pull request and review state changes (open, synchronize, review, dismiss), each with its webhook."""

from __future__ import annotations

from typing import Any

from .calls import HttpError
from .hub import Hub
from .state import Issue, Pull, Repo, Review, ReviewComment, User, now
from .webhooks import Delivery

REVIEW_EVENTS = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}


def head_owner(hub: Hub, repo: Repo, pull: Pull) -> User:
    """The account owning the PR's head repository (the fork's owner for a PR from a fork)."""
    return hub.state.user(pull.fork_owner or "forker") if pull.fork else repo.owner


def head_label(hub: Hub, repo: Repo, pull: Pull) -> str:
    """`owner:branch`, as GitHub labels a PR's head (and as `GET /pulls?head=` filters)."""
    return f"{head_owner(hub, repo, pull).login}:{pull.head_ref}"


def pull_json(hub: Hub, repo: Repo, pull: Pull, full: bool = True) -> dict[str, Any]:
    """A PR object with live counts (commits, changed files) from git."""
    fork_repo = None
    if pull.fork:
        fork_repo = hub.shapes.repo(repo, full=False)
        owner = head_owner(hub, repo, pull)
        fork_repo.update({"fork": True, "owner": hub.shapes.user(owner), "full_name": f"{owner.login}/{repo.name}",
                          "id": repo.id + 1, "html_url": f"{hub.web_url}/{owner.login}/{repo.name}"})
    data = hub.shapes.pull(repo, pull, hub.app, fork_repo, full)
    if full:
        base = repo.git.merge_base(pull.base_sha, pull.head_sha) or pull.base_sha
        files = repo.git.diff(base, pull.head_sha)
        data.update({"commits": len(repo.git.log(f"{base}..{pull.head_sha}")), "changed_files": len(files),
                     "additions": sum(f.additions for f in files), "deletions": sum(f.deletions for f in files)})
    return data


def create_pull(hub: Hub, repo: Repo, head: str, base: str, title: str, body: str | None, actor: User, *,
                fork: bool = False, draft: bool = False, via_app: bool = False, wait: bool = True) -> Pull:
    """Open a PR: `pull_request` `opened`."""
    state = hub.state
    with state.lock:
        head_ref = head.split(":", 1)[-1]
        head_sha = repo.git.rev_parse(f"refs/heads/{head_ref}")
        base_sha = repo.git.rev_parse(f"refs/heads/{base}")
        if head_sha is None or base_sha is None:
            raise HttpError(422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "head"
                            if head_sha is None else "base", "code": "invalid"}])
        number = repo.next_number()
        issue = Issue(number, state.next_id(), title, body, actor, is_pull=True, via_app=via_app)
        pull = Pull(number, state.next_id(), head_ref, base, head_sha, base_sha, fork=fork,
                    fork_owner=actor.login if fork else None, draft=draft)
        repo.issues[number] = issue
        repo.pulls[number] = pull
        repo.git.update_ref(f"refs/pull/{number}/head", head_sha)
        payload = {"action": "opened", "number": number, "pull_request": pull_json(hub, repo, pull)}
    hub.emit("pull_request", repo, actor, payload, wait=wait)
    return pull


def sync_pull(hub: Hub, repo: Repo, pull: Pull, new_sha: str, pusher: User, *, before: str | None = None,
              wait: bool = True) -> None:
    """The head branch moved: `synchronize` (and stale approvals dismissed when the repo says so)."""
    with hub.state.lock:
        before = before or pull.head_sha
        pull.head_sha = new_sha
        repo.git.update_ref(f"refs/pull/{pull.number}/head", new_sha)
        repo.issues[pull.number].updated_at = now()
        payload = {"action": "synchronize", "number": pull.number, "before": before, "after": new_sha,
                   "pull_request": pull_json(hub, repo, pull)}
        stale = [rv for rv in repo.reviews.values() if rv.number == pull.number and rv.state == "APPROVED"
                 and rv.commit_id != new_sha] if repo.dismiss_stale_reviews else []
    hub.emit("pull_request", repo, pusher, payload, wait=wait)
    for rv in stale:
        # GitHub's automatic dismissal names the pusher as sender
        dismiss(hub, repo, rv, pusher, "Dismissed: new commits were pushed.", wait=wait)


def create_review(hub: Hub, repo: Repo, pull: Pull, actor: User, state: str, body: str = "",
                  commit_id: str | None = None, comments: list[dict[str, Any]] | None = None, *,
                  wait: bool = True) -> Review:
    """Submit a review: `pull_request_review` `submitted` (state lower-cased in the payload, as GitHub)."""
    with hub.state.lock:
        review = Review(hub.state.next_id(), pull.number, actor, state, body or "", commit_id or pull.head_sha)
        repo.reviews[review.id] = review
        for c in comments or []:
            rc = ReviewComment(hub.state.next_id(), review.id, pull.number, c["path"], c.get("line"),
                               c.get("body", ""), actor, review.commit_id, c.get("side", "RIGHT"))
            repo.review_comments[rc.id] = rc
            review.comment_ids.append(rc.id)
        shaped = hub.shapes.review(repo, review)
        shaped["state"] = review.state.lower()
        payload = {"action": "submitted", "review": shaped, "pull_request": pull_json(hub, repo, pull, full=False)}
    hub.emit("pull_request_review", repo, actor, payload, wait=wait)
    return review


def dismiss(hub: Hub, repo: Repo, review: Review, actor: User, message: str = "", *,
            wait: bool = True) -> Delivery | None:
    """Dismiss a review: `pull_request_review` `dismissed`."""
    with hub.state.lock:
        review.state = "DISMISSED"
        shaped = hub.shapes.review(repo, review)
        shaped["state"] = "dismissed"
        payload = {"action": "dismissed", "review": shaped,
                   "pull_request": pull_json(hub, repo, repo.pulls[review.number], full=False)}
    return hub.emit("pull_request_review", repo, actor, payload, wait=wait)
