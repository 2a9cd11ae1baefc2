"""REST routes for repository labels and the labels on an issue (`/labels`, `/issues/{number}/labels`)."""

from __future__ import annotations

from typing import Any

from .calls import Call, HttpError, invalid, not_found
from .hub import Hub
from .issue_routes import find_issue
from .issues import add_labels, new_label, remove_label, set_labels
from .router import Routes, paginate

routes = Routes()


@routes.get("/repos/{owner}/{repo}/labels")
def list_labels(hub: Hub, call: Call) -> Any:
    """Repository labels (paged)."""
    repo = hub.repo_for(call)
    return paginate(hub, call, [hub.shapes.label(repo, lab) for lab in repo.labels.values()])


@routes.post("/repos/{owner}/{repo}/labels")
def create_label(hub: Hub, call: Call) -> Any:
    """Create a label (422 already_exists for a duplicate name)."""
    repo = hub.repo_for(call)
    data = call.json()
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise invalid("name wasn't supplied", "name", "Label", "missing_field")
    if name.lower() in repo.labels:
        raise invalid("already_exists", "name", "Label", "already_exists")
    color = str(data.get("color", "ededed")).lstrip("#")
    label = new_label(hub.state, name, color, data.get("description"))
    repo.labels[name.lower()] = label
    return 201, hub.shapes.label(repo, label)


@routes.get("/repos/{owner}/{repo}/labels/{name}")
def get_label(hub: Hub, call: Call) -> Any:
    """One label by name."""
    repo = hub.repo_for(call)
    label = repo.labels.get(call.params["name"].lower())
    if label is None:
        raise not_found()
    return hub.shapes.label(repo, label)


@routes.patch("/repos/{owner}/{repo}/labels/{name}")
def update_label(hub: Hub, call: Call) -> Any:
    """Rename/recolour a label."""
    repo = hub.repo_for(call)
    label = repo.labels.pop(call.params["name"].lower(), None)
    if label is None:
        raise not_found()
    data = call.json()
    old = label.name
    label.name = data.get("new_name") or data.get("name") or label.name
    label.color = str(data.get("color", label.color)).lstrip("#")
    label.description = data.get("description", label.description)
    repo.labels[label.name.lower()] = label
    for issue in repo.issues.values():
        issue.labels = [label.name if n == old else n for n in issue.labels]
    return hub.shapes.label(repo, label)


@routes.delete("/repos/{owner}/{repo}/labels/{name}")
def delete_label(hub: Hub, call: Call) -> Any:
    """Delete a label everywhere."""
    repo = hub.repo_for(call)
    label = repo.labels.pop(call.params["name"].lower(), None)
    if label is None:
        raise not_found()
    for issue in repo.issues.values():
        issue.labels = [n for n in issue.labels if n.lower() != label.name.lower()]
    return 204, None


def _label_names(data: Any) -> list[str]:
    """`{"labels": [...]}` or a bare list; items are names or `{"name": ...}`."""
    items = data.get("labels", []) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise invalid("labels must be a list", "labels", "Label", "invalid")
    return [x if isinstance(x, str) else str(x.get("name")) for x in items]


def _issue_labels(hub: Hub, call: Call) -> list[dict[str, Any]]:
    repo, issue = find_issue(hub, call)
    return [hub.shapes.label(repo, repo.labels[n.lower()]) for n in issue.labels if n.lower() in repo.labels]


@routes.get("/repos/{owner}/{repo}/issues/{number}/labels")
def list_issue_labels(hub: Hub, call: Call) -> Any:
    """Labels on an issue (paged)."""
    return paginate(hub, call, _issue_labels(hub, call))


@routes.post("/repos/{owner}/{repo}/issues/{number}/labels")
def add_issue_labels(hub: Hub, call: Call) -> Any:
    """Add labels (unknown ones are created, as GitHub does)."""
    repo, issue = find_issue(hub, call)
    add_labels(hub, repo, issue, _label_names(call.body), call.user, wait=False)
    return _issue_labels(hub, call)


@routes.put("/repos/{owner}/{repo}/issues/{number}/labels")
def set_issue_labels(hub: Hub, call: Call) -> Any:
    """Replace all labels."""
    repo, issue = find_issue(hub, call)
    set_labels(hub, repo, issue, _label_names(call.body), call.user)
    return _issue_labels(hub, call)


@routes.delete("/repos/{owner}/{repo}/issues/{number}/labels/{name}")
def remove_issue_label(hub: Hub, call: Call) -> Any:
    """Remove one label (404 "Label does not exist" when the issue lacks it)."""
    repo, issue = find_issue(hub, call)
    name = call.params["name"]
    if not any(n.lower() == name.lower() for n in issue.labels):
        raise HttpError(404, "Label does not exist")
    remove_label(hub, repo, issue, name, call.user, wait=False)
    return _issue_labels(hub, call)
