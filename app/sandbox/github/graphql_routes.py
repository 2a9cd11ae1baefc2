"""GraphQL for the double: only the two draft mutations GitHub offers nowhere else (`POST /api/graphql`).

`convertPullRequestToDraft` and `markPullRequestReadyForReview` take `input: {pullRequestId: <node id>}`
(a variable or a string literal) and answer `{pullRequest {id number isDraft}}` whatever the selection asks
for. The query text is read with a small regex, not a GraphQL parser. Like GitHub, problems with the query
or its target are answered 200 with an `errors` list; credentials are checked like the REST routes (401).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from .calls import Call, HttpError
from .hub import Hub
from .pulls import pull_json
from .router import Routes
from .state import Pull, Repo, now

routes = Routes()

PATH = "/graphql"
# GitHub Enterprise's endpoint (what githubkit derives from an `/api/v3` base URL) and github.com's
PATHS = ("/api/graphql", PATH)
MUTATIONS = {"convertPullRequestToDraft": True, "markPullRequestReadyForReview": False}
ACTIONS = {True: "converted_to_draft", False: "ready_for_review"}
# `mutation Name($id: ID!) {` or `{`, then the first field of the selection (an alias is allowed)
OPERATION = re.compile(r"^\s*(?:(query|mutation|subscription)\b\s*\w*\s*(?:\([^)]*\))?\s*)?"
                       r"\{\s*(?:\w+\s*:\s*)?(\w+)")
PULL_REQUEST_ID = re.compile(r"\bpullRequestId\s*:\s*(?:\$(\w+)|\"((?:[^\"\\]|\\.)*)\")")
COMMENT = re.compile(r"#[^\n]*")


class GraphQLError(Exception):
    """One GraphQL error: answered 200 with `{"errors": [...]}` (and `data` with the field null when given)."""

    def __init__(self, message: str, *, type_: str | None = None, field: str | None = None,
                 extensions: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message, self.type, self.field, self.extensions = message, type_, field, extensions

    def answer(self) -> dict[str, Any]:
        """The response body GitHub sends for this error."""
        error: dict[str, Any] = {"message": self.message}
        if self.type:
            error["type"] = self.type
        if self.field:
            error["path"] = [self.field]
        if self.extensions:
            error["extensions"] = self.extensions
        body: dict[str, Any] = {"errors": [error]}
        if self.field and self.type:  # an execution error: the field resolved to null
            body["data"] = {self.field: None}
        return body


def pull_for_node(hub: Hub, node: str) -> tuple[Repo, Pull] | None:
    """The pull request whose node id (as `payloads.node_id("PR", id)` renders it) is `node`."""
    try:
        decoded = base64.b64decode(node + "=" * (-len(node) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    match = re.fullmatch(r"0:PR(\d+)", decoded)
    if match is None:
        return None
    ident = int(match.group(1))
    for repo in hub.state.repos.values():
        for pull in repo.pulls.values():
            if pull.id == ident:
                return repo, pull
    return None


def _field(query: str) -> str:
    """The mutation's field; a GraphQL error for anything but the two draft mutations."""
    match = OPERATION.match(COMMENT.sub("", query))
    if match is None:
        raise GraphQLError("Parse error on the query (the GitHub double reads only simple operations)")
    operation, field = match.group(1) or "query", match.group(2)
    type_name = operation.capitalize()
    if operation != "mutation" or field not in MUTATIONS:
        raise GraphQLError(f"Field '{field}' doesn't exist on type '{type_name}'",
                           extensions={"code": "undefinedField", "typeName": type_name, "fieldName": field})
    return field


def _node_id(query: str, variables: Any, field: str) -> str:
    """The `pullRequestId` of the input, from a variable or a string literal."""
    match = PULL_REQUEST_ID.search(query)
    if match is None:
        raise GraphQLError(f"Argument 'input' on Field '{field}' is missing required field 'pullRequestId'",
                           extensions={"code": "missingRequiredInputObjectAttribute", "argumentName": "pullRequestId"})
    name, literal = match.groups()
    if name is None:
        return str(literal)
    value = variables.get(name) if isinstance(variables, dict) else None
    if not isinstance(value, str) or not value:
        raise GraphQLError(f"Variable ${name} of type ID! was provided invalid value",
                           extensions={"value": value, "problems": [{"path": [], "explanation": "Expected value to "
                                                                     "not be null"}]})
    return value


def _may_change(hub: Hub, call: Call, repo: Repo, pull: Pull, field: str, node: str) -> None:
    """The caller must see the repository (NOT_FOUND otherwise) and, as a person, write to it or own the PR."""
    call.params = {"owner": repo.owner.login, "repo": repo.name}  # let `repo_for` apply the REST visibility rules
    try:
        hub.repo_for(call)
    except HttpError:
        raise GraphQLError(f"Could not resolve to a node with the global id of '{node}'", type_="NOT_FOUND",
                           field=field) from None
    if call.installation is None and call.actor is not None:
        role = hub.state.role(repo, call.actor.login)
        author = repo.issues[pull.number].user
        if role not in ("write", "maintain", "admin") and (author is None or author.login != call.actor.login):
            operation = field[0].upper() + field[1:]
            raise GraphQLError(f"{call.actor.login} does not have the correct permissions to execute `{operation}`",
                               type_="FORBIDDEN", field=field)


def set_draft(hub: Hub, call: Call, field: str, node: str) -> dict[str, Any]:
    """Flip the pull's draft flag (a `pull_request` webhook when it changed) and answer its new state."""
    found = pull_for_node(hub, node)
    if found is None:
        raise GraphQLError(f"Could not resolve to a node with the global id of '{node}'", type_="NOT_FOUND",
                           field=field)
    repo, pull = found
    _may_change(hub, call, repo, pull, field, node)
    draft = MUTATIONS[field]
    if pull.draft != draft:
        pull.draft = draft
        repo.issues[pull.number].updated_at = now()
        payload = {"action": ACTIONS[draft], "number": pull.number, "pull_request": pull_json(hub, repo, pull)}
        hub.emit("pull_request", repo, call.user, payload, wait=False)
    return {"pullRequest": {"id": node, "number": pull.number, "isDraft": pull.draft}}


@routes.post(PATH)
def graphql(hub: Hub, call: Call) -> Any:
    """One GraphQL request: `{"query", "variables"?}` -> `{"data": {...}}` or `{"errors": [...]}`."""
    data = call.json()
    query = data.get("query")
    try:
        if not isinstance(query, str) or not query.strip():
            raise GraphQLError("A query attribute must be specified and must be a string.")
        field = _field(query)
        return {"data": {field: set_draft(hub, call, field, _node_id(query, data.get("variables"), field))}}
    except GraphQLError as error:
        return error.answer()
