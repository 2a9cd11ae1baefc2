"""One REST request as a route handler sees it (`Call`), GitHub's error answers and JSON responses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response

from .state import App, Installation, Repo, User

MAX_BODY = 65536
DOCS = "https://docs.github.com/rest"


class HttpError(Exception):
    """An error answer in GitHub's shape: `{"message", "documentation_url", "errors"?}`."""

    def __init__(self, status: int, message: str, errors: list[Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body GitHub sends with this status."""
        data: dict[str, Any] = {"message": self.message, "documentation_url": DOCS, "status": str(self.status)}
        if self.errors is not None:
            data["errors"] = self.errors
        return data


def not_found() -> HttpError:
    """GitHub's plain 404 (also used when a token may not see a resource)."""
    return HttpError(404, "Not Found")


def invalid(message: str, field_name: str | None = None, resource: str = "Issue", code: str = "custom") -> HttpError:
    """A 422 Validation Failed with one error item, as GitHub reports bad input."""
    error: dict[str, Any] = {"resource": resource, "code": code, "message": message}
    if field_name:
        error["field"] = field_name
    return HttpError(422, "Validation Failed", errors=[error])


def check_body(body: Any, resource: str = "IssueComment") -> str:
    """Comment/issue bodies: a string up to 65536 characters, like GitHub."""
    if body is None:
        return ""
    if not isinstance(body, str):
        raise invalid("body is not a string", "body", resource, "invalid")
    if len(body) > MAX_BODY:
        raise invalid(f"Body is too long (maximum is {MAX_BODY} characters)", "body", resource)
    return body


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer with GitHub's usual headers."""
    hdrs = {"x-github-media-type": "github.v3; format=json", "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4999", "x-github-request-id": "DOUBLE"}
    hdrs.update(headers or {})
    if status == 204:
        return Response(status_code=204, headers=hdrs)
    return JSONResponse(body, status_code=status, headers=hdrs)


@dataclass
class Call:
    """One authenticated API request as a handler sees it."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    actor: User | None = None  # the app's bot user for installation tokens, the person for user tokens
    installation: Installation | None = None
    app_jwt: bool = False
    app: App | None = None  # the App behind an App JWT or an installation token
    repo: Repo | None = None

    def json(self) -> dict[str, Any]:
        """The JSON body as an object (400 when it is something else)."""
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise HttpError(400, "Problems parsing JSON")
        return self.body

    def int_param(self, name: str) -> int:
        """A numeric path parameter (404 when not a number, as GitHub answers)."""
        try:
            return int(self.params[name])
        except ValueError:
            raise not_found() from None

    def int_query(self, name: str, default: int) -> int:
        """A numeric query parameter (422 when it is not a number)."""
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise invalid(f"{name} is not a number", name, "Request", "invalid") from None

    @property
    def user(self) -> User:
        """The caller (every authenticated route has one; 401 otherwise)."""
        if self.actor is None:
            raise HttpError(401, "Requires authentication")
        return self.actor
