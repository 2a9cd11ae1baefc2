"""REST routes for issues, issue comments and reactions (`/repos/{owner}/{repo}/issues...`)."""

from __future__ import annotations

from typing import Any

from .calls import Call, check_body, invalid, not_found
from .hub import Hub
from .issues import create_comment, create_issue, delete_comment, set_labels, update_comment, update_issue
from .router import Routes, paginate
from .state import Comment, Issue, Reaction, Repo

routes = Routes()
REACTION_CONTENTS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")


def find_issue(hub: Hub, call: Call) -> tuple[Repo, Issue]:
    """The repository and issue named by `{owner}/{repo}` and `{number}` (404 when either is missing)."""
    repo = hub.repo_for(call)
    issue = repo.issues.get(call.int_param("number"))
    if issue is None:
        raise not_found()
    return repo, issue


def _comment(hub: Hub, call: Call) -> tuple[Repo, Comment]:
    repo = hub.repo_for(call)
    comment = repo.comments.get(call.int_param("id"))
    if comment is None:
        raise not_found()
    return repo, comment


@routes.get("/repos/{owner}/{repo}/issues")
def list_issues(hub: Hub, call: Call) -> Any:
    """Issues (and PRs) filtered by state and labels, newest first."""
    repo = hub.repo_for(call)
    state = call.query.get("state", "open")
    wanted = [x.strip().lower() for x in call.query.get("labels", "").split(",") if x.strip()]
    items = [i for i in sorted(repo.issues.values(), key=lambda i: -i.number)
             if (state == "all" or i.state == state) and all(w in [n.lower() for n in i.labels] for w in wanted)]
    return paginate(hub, call, [hub.shapes.issue(repo, i, hub.app) for i in items])


@routes.post("/repos/{owner}/{repo}/issues")
def open_issue(hub: Hub, call: Call) -> Any:
    """Open an issue as the caller."""
    repo = hub.repo_for(call)
    data = call.json()
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise invalid("title wasn't supplied", "title", "Issue", "missing_field")
    body = check_body(data.get("body"), "Issue")
    issue = create_issue(hub, repo, title, body, call.user, via_app=call.installation is not None,
                         labels=[str(x) for x in data.get("labels") or []], wait=False)
    return 201, hub.shapes.issue(repo, issue, hub.app)


@routes.get("/repos/{owner}/{repo}/issues/comments")
def list_repo_comments(hub: Hub, call: Call) -> Any:
    """All issue comments of a repository."""
    repo = hub.repo_for(call)
    return paginate(hub, call, [hub.shapes.comment(repo, c, hub.app) for c in repo.comments.values()])


@routes.get("/repos/{owner}/{repo}/issues/{number}")
def get_issue(hub: Hub, call: Call) -> Any:
    """One issue."""
    repo, issue = find_issue(hub, call)
    return hub.shapes.issue(repo, issue, hub.app)


@routes.patch("/repos/{owner}/{repo}/issues/{number}")
def edit_issue(hub: Hub, call: Call) -> Any:
    """Edit title/body/state/labels."""
    repo, issue = find_issue(hub, call)
    data = call.json()
    body = check_body(data["body"], "Issue") if "body" in data else None
    state = data.get("state")
    if state is not None and state not in ("open", "closed"):
        raise invalid("state is not included in the list", "state", "Issue", "invalid")
    update_issue(hub, repo, issue, call.user, title=data.get("title"), body=body, state=state,
                 state_reason=data.get("state_reason"), wait=False)
    if "labels" in data:
        names = [x if isinstance(x, str) else x.get("name") for x in data["labels"] or []]
        set_labels(hub, repo, issue, names, call.user)
    return hub.shapes.issue(repo, issue, hub.app)


@routes.get("/repos/{owner}/{repo}/issues/{number}/comments")
def list_comments(hub: Hub, call: Call) -> Any:
    """Comments on one issue/PR, oldest first."""
    repo, issue = find_issue(hub, call)
    items = [hub.shapes.comment(repo, c, hub.app) for c in repo.comments.values() if c.number == issue.number]
    return paginate(hub, call, items)


@routes.post("/repos/{owner}/{repo}/issues/{number}/comments")
def add_comment(hub: Hub, call: Call) -> Any:
    """Comment as the caller (bodies over 65536 characters are refused)."""
    repo, issue = find_issue(hub, call)
    data = call.json()
    if "body" not in data:
        raise invalid("body wasn't supplied", "body", "IssueComment", "missing_field")
    body = check_body(data.get("body"))
    comment = create_comment(hub, repo, issue, body, call.user, via_app=call.installation is not None,
                             wait=False)
    return 201, hub.shapes.comment(repo, comment, hub.app)


@routes.get("/repos/{owner}/{repo}/issues/comments/{id}")
def get_comment(hub: Hub, call: Call) -> Any:
    """One comment."""
    repo, comment = _comment(hub, call)
    return hub.shapes.comment(repo, comment, hub.app)


@routes.patch("/repos/{owner}/{repo}/issues/comments/{id}")
def edit_comment(hub: Hub, call: Call) -> Any:
    """Edit a comment."""
    repo, comment = _comment(hub, call)
    body = check_body(call.json().get("body"))
    update_comment(hub, repo, comment, body, call.user, wait=False)
    return hub.shapes.comment(repo, comment, hub.app)


@routes.delete("/repos/{owner}/{repo}/issues/comments/{id}")
def remove_comment(hub: Hub, call: Call) -> Any:
    """Delete a comment."""
    repo, comment = _comment(hub, call)
    delete_comment(hub, repo, comment, call.user, wait=False)
    return 204, None


def _react(hub: Hub, call: Call, reactions: list[Reaction]) -> Any:
    content = call.json().get("content")
    if content not in REACTION_CONTENTS:
        raise invalid("content is not included in the list", "content", "Reaction", "invalid")
    for existing in reactions:
        if existing.content == content and existing.user.login == call.user.login:
            return 200, hub.shapes.reaction(existing)
    reaction = Reaction(hub.state.next_id(), content, call.user)
    reactions.append(reaction)
    return 201, hub.shapes.reaction(reaction)


@routes.post("/repos/{owner}/{repo}/issues/{number}/reactions")
def react_to_issue(hub: Hub, call: Call) -> Any:
    """React to an issue (200 when the same reaction already exists)."""
    _, issue = find_issue(hub, call)
    return _react(hub, call, issue.reactions)


@routes.get("/repos/{owner}/{repo}/issues/{number}/reactions")
def list_issue_reactions(hub: Hub, call: Call) -> Any:
    """Reactions on an issue."""
    _, issue = find_issue(hub, call)
    return paginate(hub, call, [hub.shapes.reaction(x) for x in issue.reactions])


@routes.post("/repos/{owner}/{repo}/issues/comments/{id}/reactions")
def react_to_comment(hub: Hub, call: Call) -> Any:
    """React to a comment."""
    _, comment = _comment(hub, call)
    return _react(hub, call, comment.reactions)


@routes.get("/repos/{owner}/{repo}/issues/comments/{id}/reactions")
def list_comment_reactions(hub: Hub, call: Call) -> Any:
    """Reactions on a comment."""
    _, comment = _comment(hub, call)
    return paginate(hub, call, [hub.shapes.reaction(x) for x in comment.reactions])
