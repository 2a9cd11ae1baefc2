"""Issues, comments, labels, reactions and collaborator permissions: state changes, people's actions, routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from .router import Call, HttpError, Routes, invalid, not_found
from .state import CLASSIC_PERMISSION, Comment, Issue, Label, Reaction, Repo, User, now
from .webhooks import Delivery

if TYPE_CHECKING:
    from .double import GitHubDouble

routes = Routes()

MAX_BODY = 65536
REACTION_CONTENTS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")


def paginate(d: GitHubDouble, call: Call, items: list[Any]) -> Response:
    """A page of a list with GitHub's `Link` header (githubkit's paginator follows `rel="next"`)."""
    from .server import json_response
    per_page = max(1, min(100, int(call.query.get("per_page", 30))))
    page = max(1, int(call.query.get("page", 1)))
    chunk = items[(page - 1) * per_page: page * per_page]
    headers = {}
    if page * per_page < len(items):
        query = {**call.query, "page": str(page + 1), "per_page": str(per_page)}
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        headers["link"] = f'<{d.api_url}{call.path}?{qs}>; rel="next"'
    return json_response(200, chunk, headers)


def check_body(body: Any, resource: str = "IssueComment") -> str:
    """Comment/issue bodies: a string up to 65536 characters, like GitHub."""
    if body is None:
        return ""
    if not isinstance(body, str):
        raise invalid("body is not a string", "body", resource, "invalid")
    if len(body) > MAX_BODY:
        raise invalid(f"Body is too long (maximum is {MAX_BODY} characters)", "body", resource)
    return body


class IssuesMixin:
    """State changes for issues and their neighbours; each emits the webhook GitHub would."""

    # Methods type `self` as the GitHubDouble this is mixed into, so their bodies are checked against it;
    # mypy accepts only a supertype (or a Protocol) as a self-type, hence `ignore[misc]` on each def.

    # -- helpers --------------------------------------------------------------------------------
    def _label(self: GitHubDouble, name: str, color: str = "ededed", description: str | None = None,  # type: ignore[misc]
               default: bool = False) -> Label:
        return Label(self.state.next_id(), name, color, description, default)

    def _ensure_label(self: GitHubDouble, repo: Repo, name: str) -> Label:  # type: ignore[misc]
        """Adding an unknown label to an issue creates it with GitHub's default colour."""
        key = name.lower()
        if key not in repo.labels:
            repo.labels[key] = self._label(name)
        return repo.labels[key]

    def issue(self: GitHubDouble, repo: str, number: int) -> Issue:  # type: ignore[misc]
        """An issue's (or PR's issue half) state."""
        return self.repo(repo).issues[number]

    def comments(self: GitHubDouble, repo: str, number: int | None = None) -> list[Comment]:  # type: ignore[misc]
        """Issue comments of a repository (of one issue/PR when `number` is given), oldest first."""
        return [c for c in self.repo(repo).comments.values() if number is None or c.number == number]

    def labels(self: GitHubDouble, repo: str, number: int | None = None) -> list[str]:  # type: ignore[misc]
        """Label names of an issue, or of the repository when `number` is None."""
        r = self.repo(repo)
        if number is None:
            return [lab.name for lab in r.labels.values()]
        return list(r.issues[number].labels)

    def reactions(self: GitHubDouble, repo: str, number: int | None = None,  # type: ignore[misc]
                  comment_id: int | None = None) -> list[str]:
        """Reaction contents on an issue or a comment."""
        r = self.repo(repo)
        target = r.comments[comment_id] if comment_id is not None else r.issues[number or 0]
        return [x.content for x in target.reactions]

    def _issue_body(self: GitHubDouble, repo: Repo, issue: Issue, action: str, **extra: Any) -> tuple[str, dict]:  # type: ignore[misc]
        """Event name and payload core for an issue-level change (PRs send `pull_request`)."""
        if issue.is_pull:
            return "pull_request", {"action": action, "number": issue.number,
                                    "pull_request": self.pull_json(repo, repo.pulls[issue.number]), **extra}
        return "issues", {"action": action, "issue": self.shapes.issue(repo, issue, self.app), **extra}

    # -- operations (API and people) ----------------------------------------------------------
    def create_issue(self: GitHubDouble, repo: Repo, title: str, body: str | None, actor: User, *,  # type: ignore[misc]
                     via_app: bool = False, labels: list[str] | None = None, wait: bool = True) -> Issue:
        """Open an issue: `issues` `opened` (then `labeled` per label, as GitHub sends them)."""
        with self.state.lock:
            issue = Issue(repo.next_number(), self.state.next_id(), title, body, actor, via_app=via_app)
            repo.issues[issue.number] = issue
            for name in labels or []:
                issue.labels.append(self._ensure_label(repo, name).name)
            event, body_ = self._issue_body(repo, issue, "opened")
        self.emit(event, repo, actor, body_, wait=wait)
        for name in labels or []:
            with self.state.lock:
                event, body_ = self._issue_body(repo, issue, "labeled",
                                                label=self.shapes.label(repo, repo.labels[name.lower()]))
            self.emit(event, repo, actor, body_, wait=wait)
        return issue

    def add_labels(self: GitHubDouble, repo: Repo, issue: Issue, names: list[str], actor: User, *,  # type: ignore[misc]
                   wait: bool = True) -> list[Delivery | None]:
        """Add labels; each new one sends `labeled` with the label."""
        sent = []
        for name in names:
            with self.state.lock:
                label = self._ensure_label(repo, name)
                if label.name.lower() in (n.lower() for n in issue.labels):
                    continue  # GitHub sends nothing for a label the issue already has
                issue.labels.append(label.name)
                issue.updated_at = now()
                event, body = self._issue_body(repo, issue, "labeled", label=self.shapes.label(repo, label))
            sent.append(self.emit(event, repo, actor, body, wait=wait))
        return sent

    def remove_label(self: GitHubDouble, repo: Repo, issue: Issue, name: str, actor: User, *,  # type: ignore[misc]
                     wait: bool = True) -> Delivery | None:
        """Remove a label: `unlabeled` (404 semantics are the route's business)."""
        with self.state.lock:
            match = next((n for n in issue.labels if n.lower() == name.lower()), None)
            if match is None:
                return None
            issue.labels.remove(match)
            issue.updated_at = now()
            label = repo.labels.get(name.lower()) or self._label(name)
            event, body = self._issue_body(repo, issue, "unlabeled", label=self.shapes.label(repo, label))
        return self.emit(event, repo, actor, body, wait=wait)

    def update_issue(self: GitHubDouble, repo: Repo, issue: Issue, actor: User, *, title: str | None = None,  # type: ignore[misc]
                     body: str | None = None, state: str | None = None, state_reason: str | None = None,
                     wait: bool = True) -> list[Delivery | None]:
        """Edit title/body (`edited` with `changes`) and/or close/reopen (`closed`/`reopened`)."""
        sent = []
        with self.state.lock:
            changes: dict[str, Any] = {}
            if title is not None and title != issue.title:
                changes["title"] = {"from": issue.title}
                issue.title = title
            if body is not None and body != issue.body:
                changes["body"] = {"from": issue.body or ""}
                issue.body = body
            if changes:
                issue.updated_at = now()
                edited = self._issue_body(repo, issue, "edited", changes=changes)
            state_event = None
            if state in ("open", "closed") and state != issue.state:
                issue.state = state
                issue.closed_at = now() if state == "closed" else None
                issue.state_reason = (state_reason or "completed") if state == "closed" else "reopened"
                issue.updated_at = now()
                state_event = self._issue_body(repo, issue, "closed" if state == "closed" else "reopened")
        if changes:
            sent.append(self.emit(edited[0], repo, actor, edited[1], wait=wait))
        if state_event:
            sent.append(self.emit(state_event[0], repo, actor, state_event[1], wait=wait))
        return sent

    def create_comment(self: GitHubDouble, repo: Repo, issue: Issue, body: str, actor: User, *,  # type: ignore[misc]
                       via_app: bool = False, wait: bool = True) -> Comment:
        """Comment on an issue or PR: `issue_comment` `created`."""
        with self.state.lock:
            comment = Comment(self.state.next_id(), issue.number, body, actor, via_app=via_app)
            repo.comments[comment.id] = comment
            payload = {"action": "created", "issue": self.shapes.issue(repo, issue, self.app),
                       "comment": self.shapes.comment(repo, comment, self.app)}
        self.emit("issue_comment", repo, actor, payload, wait=wait)
        return comment

    def update_comment(self: GitHubDouble, repo: Repo, comment: Comment, body: str, actor: User, *,  # type: ignore[misc]
                       wait: bool = True) -> Delivery | None:
        """Edit a comment: `issue_comment` `edited` with `changes.body.from`."""
        with self.state.lock:
            old = comment.body
            comment.body = body
            comment.updated_at = now()
            payload = {"action": "edited", "changes": {"body": {"from": old}},
                       "issue": self.shapes.issue(repo, repo.issues[comment.number], self.app),
                       "comment": self.shapes.comment(repo, comment, self.app)}
        return self.emit("issue_comment", repo, actor, payload, wait=wait)

    def delete_comment(self: GitHubDouble, repo: Repo, comment: Comment, actor: User, *,  # type: ignore[misc]
                       wait: bool = True) -> Delivery | None:
        """Delete a comment: `issue_comment` `deleted`."""
        with self.state.lock:
            payload = {"action": "deleted", "issue": self.shapes.issue(repo, repo.issues[comment.number], self.app),
                       "comment": self.shapes.comment(repo, comment, self.app)}
            del repo.comments[comment.id]
        return self.emit("issue_comment", repo, actor, payload, wait=wait)

    # -- people's actions ------------------------------------------------------------------------
    def open_issue(self: GitHubDouble, repo: str, title: str, body: str = "", by: str = "alice",  # type: ignore[misc]
                   labels: list[str] | None = None) -> int:
        """A person opens an issue -> its number."""
        return self.create_issue(self.repo(repo), title, body, self.state.user(by), labels=labels).number

    def label_issue(self: GitHubDouble, repo: str, number: int, label: str, by: str = "alice") -> Delivery | None:  # type: ignore[misc]
        """A person adds a label (`issues`/`pull_request` `labeled`)."""
        r = self.repo(repo)
        sent = self.add_labels(r, r.issues[number], [label], self.state.user(by))
        return sent[0] if sent else None

    def unlabel_issue(self: GitHubDouble, repo: str, number: int, label: str, by: str = "alice") -> Delivery | None:  # type: ignore[misc]
        """A person removes a label (`unlabeled`)."""
        r = self.repo(repo)
        return self.remove_label(r, r.issues[number], label, self.state.user(by))

    def edit_issue(self: GitHubDouble, repo: str, number: int, *, body: str | None = None,  # type: ignore[misc]
                   title: str | None = None, by: str = "alice") -> Delivery | None:
        """A person edits an issue (`edited` with `changes`)."""
        r = self.repo(repo)
        sent = self.update_issue(r, r.issues[number], self.state.user(by), title=title, body=body)
        return sent[0] if sent else None

    def close_issue(self: GitHubDouble, repo: str, number: int, by: str = "alice") -> Delivery | None:  # type: ignore[misc]
        """A person closes an issue or PR (`closed`)."""
        r = self.repo(repo)
        sent = self.update_issue(r, r.issues[number], self.state.user(by), state="closed")
        return sent[0] if sent else None

    def reopen_issue(self: GitHubDouble, repo: str, number: int, by: str = "alice") -> Delivery | None:  # type: ignore[misc]
        """A person reopens an issue or PR (`reopened`)."""
        r = self.repo(repo)
        sent = self.update_issue(r, r.issues[number], self.state.user(by), state="open")
        return sent[0] if sent else None

    def comment(self: GitHubDouble, repo: str, number: int, body: str, by: str = "alice") -> int:  # type: ignore[misc]
        """A person comments on an issue or PR -> comment id."""
        r = self.repo(repo)
        return self.create_comment(r, r.issues[number], body, self.state.user(by)).id

    def edit_comment(self: GitHubDouble, repo: str, comment_id: int, body: str, by: str = "alice") -> Delivery | None:  # type: ignore[misc]
        """A person edits a comment (anyone's, as a maintainer can)."""
        r = self.repo(repo)
        return self.update_comment(r, r.comments[comment_id], body, self.state.user(by))


# -- routes -------------------------------------------------------------------------------------

def _issue(d: GitHubDouble, call: Call) -> tuple[Repo, Issue]:
    repo = d.repo_for(call)
    issue = repo.issues.get(call.int_param("number"))
    if issue is None:
        raise not_found()
    return repo, issue


def _comment(d: GitHubDouble, call: Call) -> tuple[Repo, Comment]:
    repo = d.repo_for(call)
    comment = repo.comments.get(call.int_param("id"))
    if comment is None:
        raise not_found()
    return repo, comment


@routes.get("/repos/{owner}/{repo}/issues")
def list_issues(d: GitHubDouble, call: Call) -> Any:
    """Issues (and PRs) filtered by state and labels, newest first."""
    repo = d.repo_for(call)
    state = call.query.get("state", "open")
    wanted = [x.strip().lower() for x in call.query.get("labels", "").split(",") if x.strip()]
    items = [i for i in sorted(repo.issues.values(), key=lambda i: -i.number)
             if (state == "all" or i.state == state) and all(w in [n.lower() for n in i.labels] for w in wanted)]
    return paginate(d, call, [d.shapes.issue(repo, i, d.app) for i in items])


@routes.post("/repos/{owner}/{repo}/issues")
def create_issue_route(d: GitHubDouble, call: Call) -> Any:
    """Open an issue as the caller."""
    repo = d.repo_for(call)
    data = call.json()
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise invalid("title wasn't supplied", "title", "Issue", "missing_field")
    body = check_body(data.get("body"), "Issue")
    issue = d.create_issue(repo, title, body, call.actor, via_app=call.installation is not None,  # type: ignore[arg-type]
                           labels=[str(x) for x in data.get("labels") or []], wait=False)
    return 201, d.shapes.issue(repo, issue, d.app)


@routes.get("/repos/{owner}/{repo}/issues/comments")
def list_repo_comments(d: GitHubDouble, call: Call) -> Any:
    """All issue comments of a repository."""
    repo = d.repo_for(call)
    return paginate(d, call, [d.shapes.comment(repo, c, d.app) for c in repo.comments.values()])


@routes.get("/repos/{owner}/{repo}/issues/{number}")
def get_issue(d: GitHubDouble, call: Call) -> Any:
    """One issue."""
    repo, issue = _issue(d, call)
    return d.shapes.issue(repo, issue, d.app)


@routes.patch("/repos/{owner}/{repo}/issues/{number}")
def update_issue_route(d: GitHubDouble, call: Call) -> Any:
    """Edit title/body/state/labels."""
    repo, issue = _issue(d, call)
    data = call.json()
    body = check_body(data["body"], "Issue") if "body" in data else None
    state = data.get("state")
    if state is not None and state not in ("open", "closed"):
        raise invalid("state is not included in the list", "state", "Issue", "invalid")
    d.update_issue(repo, issue, call.actor, title=data.get("title"), body=body, state=state,  # type: ignore[arg-type]
                   state_reason=data.get("state_reason"), wait=False)
    if "labels" in data:
        names = [x if isinstance(x, str) else x.get("name") for x in data["labels"] or []]
        for old in list(issue.labels):
            if old.lower() not in [n.lower() for n in names]:
                d.remove_label(repo, issue, old, call.actor, wait=False)  # type: ignore[arg-type]
        d.add_labels(repo, issue, names, call.actor, wait=False)  # type: ignore[arg-type]
    return d.shapes.issue(repo, issue, d.app)


@routes.get("/repos/{owner}/{repo}/issues/{number}/comments")
def list_comments(d: GitHubDouble, call: Call) -> Any:
    """Comments on one issue/PR, oldest first."""
    repo, issue = _issue(d, call)
    items = [d.shapes.comment(repo, c, d.app) for c in repo.comments.values() if c.number == issue.number]
    return paginate(d, call, items)


@routes.post("/repos/{owner}/{repo}/issues/{number}/comments")
def create_comment_route(d: GitHubDouble, call: Call) -> Any:
    """Comment as the caller (bodies over 65536 characters are refused)."""
    repo, issue = _issue(d, call)
    data = call.json()
    if "body" not in data:
        raise invalid("body wasn't supplied", "body", "IssueComment", "missing_field")
    body = check_body(data.get("body"))
    comment = d.create_comment(repo, issue, body, call.actor, via_app=call.installation is not None,  # type: ignore[arg-type]
                               wait=False)
    return 201, d.shapes.comment(repo, comment, d.app)


@routes.get("/repos/{owner}/{repo}/issues/comments/{id}")
def get_comment(d: GitHubDouble, call: Call) -> Any:
    """One comment."""
    repo, comment = _comment(d, call)
    return d.shapes.comment(repo, comment, d.app)


@routes.patch("/repos/{owner}/{repo}/issues/comments/{id}")
def update_comment_route(d: GitHubDouble, call: Call) -> Any:
    """Edit a comment."""
    repo, comment = _comment(d, call)
    body = check_body(call.json().get("body"))
    d.update_comment(repo, comment, body, call.actor, wait=False)  # type: ignore[arg-type]
    return d.shapes.comment(repo, comment, d.app)


@routes.delete("/repos/{owner}/{repo}/issues/comments/{id}")
def delete_comment_route(d: GitHubDouble, call: Call) -> Any:
    """Delete a comment."""
    repo, comment = _comment(d, call)
    d.delete_comment(repo, comment, call.actor, wait=False)  # type: ignore[arg-type]
    return 204, None


@routes.get("/repos/{owner}/{repo}/labels")
def list_labels(d: GitHubDouble, call: Call) -> Any:
    """Repository labels."""
    repo = d.repo_for(call)
    return paginate(d, call, [d.shapes.label(repo, lab) for lab in repo.labels.values()])


@routes.post("/repos/{owner}/{repo}/labels")
def create_label(d: GitHubDouble, call: Call) -> Any:
    """Create a label (422 already_exists for a duplicate name)."""
    repo = d.repo_for(call)
    data = call.json()
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise invalid("name wasn't supplied", "name", "Label", "missing_field")
    if name.lower() in repo.labels:
        raise invalid("already_exists", "name", "Label", "already_exists")
    color = str(data.get("color", "ededed")).lstrip("#")
    label = d._label(name, color, data.get("description"))
    repo.labels[name.lower()] = label
    return 201, d.shapes.label(repo, label)


@routes.get("/repos/{owner}/{repo}/labels/{name}")
def get_label(d: GitHubDouble, call: Call) -> Any:
    """One label by name."""
    repo = d.repo_for(call)
    label = repo.labels.get(call.params["name"].lower())
    if label is None:
        raise not_found()
    return d.shapes.label(repo, label)


@routes.patch("/repos/{owner}/{repo}/labels/{name}")
def update_label(d: GitHubDouble, call: Call) -> Any:
    """Rename/recolour a label."""
    repo = d.repo_for(call)
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
    return d.shapes.label(repo, label)


@routes.delete("/repos/{owner}/{repo}/labels/{name}")
def delete_label(d: GitHubDouble, call: Call) -> Any:
    """Delete a label everywhere."""
    repo = d.repo_for(call)
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


@routes.get("/repos/{owner}/{repo}/issues/{number}/labels")
def list_issue_labels(d: GitHubDouble, call: Call) -> Any:
    """Labels on an issue."""
    repo, issue = _issue(d, call)
    return [d.shapes.label(repo, repo.labels[n.lower()]) for n in issue.labels if n.lower() in repo.labels]


@routes.post("/repos/{owner}/{repo}/issues/{number}/labels")
def add_issue_labels(d: GitHubDouble, call: Call) -> Any:
    """Add labels (unknown ones are created, as GitHub does)."""
    repo, issue = _issue(d, call)
    d.add_labels(repo, issue, _label_names(call.body), call.actor, wait=False)  # type: ignore[arg-type]
    return list_issue_labels(d, call)


@routes.put("/repos/{owner}/{repo}/issues/{number}/labels")
def set_issue_labels(d: GitHubDouble, call: Call) -> Any:
    """Replace all labels."""
    repo, issue = _issue(d, call)
    names = _label_names(call.body)
    for old in list(issue.labels):
        if old.lower() not in [n.lower() for n in names]:
            d.remove_label(repo, issue, old, call.actor, wait=False)  # type: ignore[arg-type]
    d.add_labels(repo, issue, names, call.actor, wait=False)  # type: ignore[arg-type]
    return list_issue_labels(d, call)


@routes.delete("/repos/{owner}/{repo}/issues/{number}/labels/{name}")
def remove_issue_label(d: GitHubDouble, call: Call) -> Any:
    """Remove one label (404 "Label does not exist" when the issue lacks it)."""
    repo, issue = _issue(d, call)
    name = call.params["name"]
    if not any(n.lower() == name.lower() for n in issue.labels):
        raise HttpError(404, "Label does not exist")
    d.remove_label(repo, issue, name, call.actor, wait=False)  # type: ignore[arg-type]
    return list_issue_labels(d, call)


def _react(d: GitHubDouble, call: Call, target: Any) -> Any:
    content = call.json().get("content")
    if content not in REACTION_CONTENTS:
        raise invalid("content is not included in the list", "content", "Reaction", "invalid")
    for existing in target.reactions:
        if existing.content == content and existing.user.login == call.actor.login:  # type: ignore[union-attr]
            return 200, d.shapes.reaction(existing)
    reaction = Reaction(d.state.next_id(), content, call.actor)  # type: ignore[arg-type]
    target.reactions.append(reaction)
    return 201, d.shapes.reaction(reaction)


@routes.post("/repos/{owner}/{repo}/issues/{number}/reactions")
def react_to_issue(d: GitHubDouble, call: Call) -> Any:
    """React to an issue (200 when the same reaction already exists)."""
    _, issue = _issue(d, call)
    return _react(d, call, issue)


@routes.get("/repos/{owner}/{repo}/issues/{number}/reactions")
def list_issue_reactions(d: GitHubDouble, call: Call) -> Any:
    """Reactions on an issue."""
    _, issue = _issue(d, call)
    return [d.shapes.reaction(x) for x in issue.reactions]


@routes.post("/repos/{owner}/{repo}/issues/comments/{id}/reactions")
def react_to_comment(d: GitHubDouble, call: Call) -> Any:
    """React to a comment."""
    _, comment = _comment(d, call)
    return _react(d, call, comment)


@routes.get("/repos/{owner}/{repo}/issues/comments/{id}/reactions")
def list_comment_reactions(d: GitHubDouble, call: Call) -> Any:
    """Reactions on a comment."""
    _, comment = _comment(d, call)
    return [d.shapes.reaction(x) for x in comment.reactions]


@routes.get("/repos/{owner}/{repo}/collaborators/{user}/permission")
def collaborator_permission(d: GitHubDouble, call: Call) -> Any:
    """`permission` folds triage into read and maintain into write; `role_name` is the real role."""
    repo = d.repo_for(call)
    login = call.params["user"]
    if login.lower() not in d.state.users:
        raise not_found()
    user = d.state.users[login.lower()]
    role = d.state.role(repo, user.login)
    shaped = d.shapes.user(user) or {}
    if role is not None:
        shaped["permissions"] = {"admin": role == "admin", "maintain": role in ("maintain", "admin"),
                                 "push": role in ("write", "maintain", "admin"),
                                 "triage": role != "read", "pull": True}
        shaped["role_name"] = role
    return {"permission": CLASSIC_PERMISSION.get(role or "", "none"), "role_name": role or "none", "user": shaped}
