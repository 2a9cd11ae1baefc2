"""REST routes for pull requests, their files and commits, reviewers, reviews and review comments."""

from __future__ import annotations

from typing import Any

from .calls import Call, HttpError, check_body, invalid, not_found
from .hub import Hub
from .issues import update_issue
from .pulls import REVIEW_EVENTS, create_pull, create_review, dismiss, head_label, pull_json
from .router import Routes, paginate
from .state import Pull, Repo, Review

routes = Routes()


def _pull(hub: Hub, call: Call) -> tuple[Repo, Pull]:
    repo = hub.repo_for(call)
    pull = repo.pulls.get(call.int_param("number"))
    if pull is None:
        raise not_found()
    return repo, pull


def _head_matches(hub: Hub, repo: Repo, pull: Pull, head: str) -> bool:
    """GitHub's `head` filter: `owner:branch` (owner case-insensitive, branch exact)."""
    owner, sep, branch = head.partition(":")
    if not sep:
        return pull.head_ref == head  # no owner given: the branch name alone
    label_owner, _, label_branch = head_label(hub, repo, pull).partition(":")
    return label_owner.lower() == owner.lower() and label_branch == branch


@routes.get("/repos/{owner}/{repo}/pulls")
def list_pulls(hub: Hub, call: Call) -> Any:
    """PRs filtered by state, `head=owner:branch` and base, newest first."""
    repo = hub.repo_for(call)
    state = call.query.get("state", "open")
    head = call.query.get("head")
    base = call.query.get("base")
    items = []
    for pull in sorted(repo.pulls.values(), key=lambda p: -p.number):
        if state != "all" and repo.issues[pull.number].state != state:
            continue
        if head and not _head_matches(hub, repo, pull, head):
            continue
        if base and pull.base_ref != base:
            continue
        items.append(pull_json(hub, repo, pull, full=False))
    return paginate(hub, call, items)


@routes.post("/repos/{owner}/{repo}/pulls")
def open_pull(hub: Hub, call: Call) -> Any:
    """Open a PR as the caller (422 when one is already open for the head)."""
    repo = hub.repo_for(call)
    data = call.json()
    head, base, title = data.get("head"), data.get("base"), data.get("title")
    if not head or not base:
        raise invalid("head and base are required", "head" if not head else "base", "PullRequest", "missing_field")
    if not title:
        raise invalid("title wasn't supplied", "title", "PullRequest", "missing_field")
    head_ref = str(head).split(":", 1)[-1]
    for p in repo.pulls.values():
        if p.head_ref == head_ref and p.base_ref == base and repo.issues[p.number].state == "open":
            raise invalid(f"A pull request already exists for {repo.owner.login}:{head_ref}.",
                          resource="PullRequest")
    if repo.git.rev_parse(f"refs/heads/{head_ref}") == repo.git.rev_parse(f"refs/heads/{base}"):
        raise invalid(f"No commits between {base} and {head_ref}", resource="PullRequest")
    body = check_body(data.get("body"), "PullRequest")
    pull = create_pull(hub, repo, head_ref, str(base), str(title), body, call.user, draft=bool(data.get("draft")),
                       via_app=call.installation is not None, wait=False)
    return 201, pull_json(hub, repo, pull)


@routes.get("/repos/{owner}/{repo}/pulls/{number}")
def get_pull(hub: Hub, call: Call) -> Any:
    """One PR."""
    repo, pull = _pull(hub, call)
    return pull_json(hub, repo, pull)


@routes.patch("/repos/{owner}/{repo}/pulls/{number}")
def edit_pull(hub: Hub, call: Call) -> Any:
    """Edit title/body/state/base."""
    repo, pull = _pull(hub, call)
    data = call.json()
    if "base" in data:
        sha = repo.git.rev_parse(f"refs/heads/{data['base']}")
        if sha is None:
            raise invalid("base is invalid", "base", "PullRequest", "invalid")
        pull.base_ref, pull.base_sha = data["base"], sha
    body = check_body(data["body"], "PullRequest") if "body" in data else None
    update_issue(hub, repo, repo.issues[pull.number], call.user, title=data.get("title"), body=body,
                 state=data.get("state"), wait=False)
    return pull_json(hub, repo, pull)


@routes.get("/repos/{owner}/{repo}/pulls/{number}/files")
def pull_files(hub: Hub, call: Call) -> Any:
    """Files changed by a PR (against the merge base)."""
    repo, pull = _pull(hub, call)
    base = repo.git.merge_base(pull.base_sha, pull.head_sha) or pull.base_sha
    files = repo.git.diff(base, pull.head_sha)
    return paginate(hub, call, [hub.shapes.file_change(repo, f, pull.head_sha) for f in files])


@routes.get("/repos/{owner}/{repo}/pulls/{number}/commits")
def pull_commits(hub: Hub, call: Call) -> Any:
    """Commits of a PR, oldest first."""
    repo, pull = _pull(hub, call)
    base = repo.git.merge_base(pull.base_sha, pull.head_sha) or pull.base_sha
    shas = repo.git.log(f"{base}..{pull.head_sha}")
    users = hub.state.users
    return paginate(hub, call, [hub.shapes.commit(repo, repo.git.read_commit(s), users=users) for s in shas])


@routes.post("/repos/{owner}/{repo}/pulls/{number}/requested_reviewers")
def request_reviewers(hub: Hub, call: Call) -> Any:
    """Request reviews from people."""
    repo, pull = _pull(hub, call)
    for login in call.json().get("reviewers") or []:
        if login.lower() not in hub.state.users:
            raise invalid("Reviews may only be requested from collaborators.", resource="PullRequest")
        user = hub.state.users[login.lower()]
        if user not in pull.requested_reviewers:
            pull.requested_reviewers.append(user)
    return 201, pull_json(hub, repo, pull, full=False)


@routes.get("/repos/{owner}/{repo}/pulls/{number}/reviews")
def list_reviews(hub: Hub, call: Call) -> Any:
    """Reviews of a PR, oldest first (paged)."""
    repo, pull = _pull(hub, call)
    reviews = [hub.shapes.review(repo, rv) for rv in repo.reviews.values() if rv.number == pull.number]
    return paginate(hub, call, reviews)


@routes.post("/repos/{owner}/{repo}/pulls/{number}/reviews")
def submit_review(hub: Hub, call: Call) -> Any:
    """Submit a review as the caller (`event` APPROVE | REQUEST_CHANGES | COMMENT)."""
    repo, pull = _pull(hub, call)
    data = call.json()
    event = data.get("event", "COMMENT")
    if event not in REVIEW_EVENTS:
        raise invalid("event is invalid", "event", "PullRequestReview", "invalid")
    review = create_review(hub, repo, pull, call.user, REVIEW_EVENTS[event], check_body(data.get("body")),
                           data.get("commit_id"), data.get("comments"), wait=False)
    return hub.shapes.review(repo, review)


def _review(hub: Hub, call: Call) -> tuple[Repo, Review]:
    repo, pull = _pull(hub, call)
    review = repo.reviews.get(call.int_param("id"))
    if review is None or review.number != pull.number:
        raise not_found()
    return repo, review


@routes.get("/repos/{owner}/{repo}/pulls/{number}/reviews/{id}")
def get_review(hub: Hub, call: Call) -> Any:
    """One review."""
    repo, review = _review(hub, call)
    return hub.shapes.review(repo, review)


@routes.get("/repos/{owner}/{repo}/pulls/{number}/reviews/{id}/comments")
def review_comments(hub: Hub, call: Call) -> Any:
    """Line comments of one review (paged)."""
    repo, review = _review(hub, call)
    return paginate(hub, call, [hub.shapes.review_comment(repo, repo.review_comments[i])
                                for i in review.comment_ids])


@routes.put("/repos/{owner}/{repo}/pulls/{number}/reviews/{id}/dismissals")
def dismiss_review(hub: Hub, call: Call) -> Any:
    """Dismiss a review (only approvals and change requests can be dismissed, like GitHub)."""
    repo, review = _review(hub, call)
    if review.state not in ("APPROVED", "CHANGES_REQUESTED"):
        raise HttpError(422, "Can not dismiss a commented pull request review")
    message = call.json().get("message")
    if not message:
        raise invalid("message wasn't supplied", "message", "PullRequestReview", "missing_field")
    dismiss(hub, repo, review, call.user, message, wait=False)
    return hub.shapes.review(repo, review)


@routes.get("/repos/{owner}/{repo}/pulls/{number}/comments")
def pull_review_comments(hub: Hub, call: Call) -> Any:
    """All line comments of a PR (paged)."""
    repo, pull = _pull(hub, call)
    return paginate(hub, call, [hub.shapes.review_comment(repo, c) for c in repo.review_comments.values()
                                if c.number == pull.number])
