"""Issue, label and comment state changes, each sending the webhook GitHub would (used by routes and people)."""

from __future__ import annotations

from typing import Any

from .hub import Hub
from .pulls import pull_json
from .state import Comment, Issue, Label, Repo, State, User, now
from .webhooks import Delivery

DEFAULT_LABELS = (("bug", "d73a4a"), ("documentation", "0075ca"), ("enhancement", "a2eeef"))


def new_label(state: State, name: str, color: str = "ededed", description: str | None = None,
              default: bool = False) -> Label:
    """A label object with a fresh id (not yet added to a repository)."""
    return Label(state.next_id(), name, color, description, default)


def ensure_label(state: State, repo: Repo, name: str) -> Label:
    """Adding an unknown label to an issue creates it with GitHub's default colour."""
    key = name.lower()
    if key not in repo.labels:
        repo.labels[key] = new_label(state, name)
    return repo.labels[key]


def issue_event(hub: Hub, repo: Repo, issue: Issue, action: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    """Event name and payload core for an issue-level change (PRs send `pull_request`)."""
    if issue.is_pull:
        return "pull_request", {"action": action, "number": issue.number,
                                "pull_request": pull_json(hub, repo, repo.pulls[issue.number]), **extra}
    return "issues", {"action": action, "issue": hub.shapes.issue(repo, issue, hub.app), **extra}


def create_issue(hub: Hub, repo: Repo, title: str, body: str | None, actor: User, *, via_app: bool = False,
                 labels: list[str] | None = None, wait: bool = True) -> Issue:
    """Open an issue: `issues` `opened` (then `labeled` per label, as GitHub sends them)."""
    state = hub.state
    with state.lock:
        issue = Issue(repo.next_number(), state.next_id(), title, body, actor, via_app=via_app)
        repo.issues[issue.number] = issue
        for name in labels or []:
            issue.labels.append(ensure_label(state, repo, name).name)
        event, payload = issue_event(hub, repo, issue, "opened")
    hub.emit(event, repo, actor, payload, wait=wait)
    for name in labels or []:
        with state.lock:
            label = hub.shapes.label(repo, repo.labels[name.lower()])
            event, payload = issue_event(hub, repo, issue, "labeled", label=label)
        hub.emit(event, repo, actor, payload, wait=wait)
    return issue


def add_labels(hub: Hub, repo: Repo, issue: Issue, names: list[str], actor: User, *,
               wait: bool = True) -> list[Delivery | None]:
    """Add labels; each new one sends `labeled` with the label."""
    sent = []
    for name in names:
        with hub.state.lock:
            label = ensure_label(hub.state, repo, name)
            if label.name.lower() in (n.lower() for n in issue.labels):
                continue  # GitHub sends nothing for a label the issue already has
            issue.labels.append(label.name)
            issue.updated_at = now()
            event, payload = issue_event(hub, repo, issue, "labeled", label=hub.shapes.label(repo, label))
        sent.append(hub.emit(event, repo, actor, payload, wait=wait))
    return sent


def remove_label(hub: Hub, repo: Repo, issue: Issue, name: str, actor: User, *,
                 wait: bool = True) -> Delivery | None:
    """Remove a label: `unlabeled` (404 semantics are the route's business)."""
    with hub.state.lock:
        match = next((n for n in issue.labels if n.lower() == name.lower()), None)
        if match is None:
            return None
        issue.labels.remove(match)
        issue.updated_at = now()
        label = repo.labels.get(name.lower()) or new_label(hub.state, name)
        event, payload = issue_event(hub, repo, issue, "unlabeled", label=hub.shapes.label(repo, label))
    return hub.emit(event, repo, actor, payload, wait=wait)


def set_labels(hub: Hub, repo: Repo, issue: Issue, names: list[str], actor: User) -> None:
    """Replace an issue's labels: `unlabeled` for each dropped one, `labeled` for each new one."""
    wanted = [n.lower() for n in names]
    for old in list(issue.labels):
        if old.lower() not in wanted:
            remove_label(hub, repo, issue, old, actor, wait=False)
    add_labels(hub, repo, issue, names, actor, wait=False)


def update_issue(hub: Hub, repo: Repo, issue: Issue, actor: User, *, title: str | None = None,
                 body: str | None = None, state: str | None = None, state_reason: str | None = None,
                 wait: bool = True) -> list[Delivery | None]:
    """Edit title/body (`edited` with `changes`) and/or close/reopen (`closed`/`reopened`)."""
    events: list[tuple[str, dict[str, Any]]] = []
    with hub.state.lock:
        changes: dict[str, Any] = {}
        if title is not None and title != issue.title:
            changes["title"] = {"from": issue.title}
            issue.title = title
        if body is not None and body != issue.body:
            changes["body"] = {"from": issue.body or ""}
            issue.body = body
        if changes:
            issue.updated_at = now()
            events.append(issue_event(hub, repo, issue, "edited", changes=changes))
        if state in ("open", "closed") and state != issue.state:
            issue.state = state
            issue.closed_at = now() if state == "closed" else None
            issue.state_reason = (state_reason or "completed") if state == "closed" else "reopened"
            issue.updated_at = now()
            events.append(issue_event(hub, repo, issue, "closed" if state == "closed" else "reopened"))
    return [hub.emit(event, repo, actor, payload, wait=wait) for event, payload in events]


def create_comment(hub: Hub, repo: Repo, issue: Issue, body: str, actor: User, *, via_app: bool = False,
                   wait: bool = True) -> Comment:
    """Comment on an issue or PR: `issue_comment` `created`."""
    with hub.state.lock:
        comment = Comment(hub.state.next_id(), issue.number, body, actor, via_app=via_app)
        repo.comments[comment.id] = comment
        payload = {"action": "created", "issue": hub.shapes.issue(repo, issue, hub.app),
                   "comment": hub.shapes.comment(repo, comment, hub.app)}
    hub.emit("issue_comment", repo, actor, payload, wait=wait)
    return comment


def update_comment(hub: Hub, repo: Repo, comment: Comment, body: str, actor: User, *,
                   wait: bool = True) -> Delivery | None:
    """Edit a comment: `issue_comment` `edited` with `changes.body.from`."""
    with hub.state.lock:
        old = comment.body
        comment.body = body
        comment.updated_at = now()
        payload = {"action": "edited", "changes": {"body": {"from": old}},
                   "issue": hub.shapes.issue(repo, repo.issues[comment.number], hub.app),
                   "comment": hub.shapes.comment(repo, comment, hub.app)}
    return hub.emit("issue_comment", repo, actor, payload, wait=wait)


def delete_comment(hub: Hub, repo: Repo, comment: Comment, actor: User, *, wait: bool = True) -> Delivery | None:
    """Delete a comment: `issue_comment` `deleted`."""
    with hub.state.lock:
        payload = {"action": "deleted", "issue": hub.shapes.issue(repo, repo.issues[comment.number], hub.app),
                   "comment": hub.shapes.comment(repo, comment, hub.app)}
        del repo.comments[comment.id]
    return hub.emit("issue_comment", repo, actor, payload, wait=wait)
