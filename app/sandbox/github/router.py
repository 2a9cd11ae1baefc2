"""A tiny route table for the double's REST API: path templates, auth kind, handler functions."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .double import GitHubDouble
    from .state import Installation, Repo, User


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
        data: dict[str, Any] = {"message": self.message,
                                "documentation_url": "https://docs.github.com/rest", "status": str(self.status)}
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
    repo: Repo | None = None

    def json(self) -> dict[str, Any]:
        """The JSON body as an object (422 when it is something else)."""
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


Handler = Callable[["GitHubDouble", Call], Any]


@dataclass
class Route:
    """A method + path template bound to a handler."""

    method: str
    template: str
    auth: str  # "app" (App JWT), "installation" (installation or user token), "none"
    handler: Handler
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        pattern = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", self.template)
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self.regex = re.compile(f"^{pattern}$")


class Routes:
    """A list of routes filled by decorators in each family module."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, auth: str = "installation") -> Callable[[Handler], Handler]:
        """Decorator registering a handler."""
        def deco(fn: Handler) -> Handler:
            self.routes.append(Route(method, template, auth, fn))
            return fn
        return deco

    def get(self, template: str, auth: str = "installation") -> Callable[[Handler], Handler]:
        return self.add("GET", template, auth)

    def post(self, template: str, auth: str = "installation") -> Callable[[Handler], Handler]:
        return self.add("POST", template, auth)

    def patch(self, template: str, auth: str = "installation") -> Callable[[Handler], Handler]:
        return self.add("PATCH", template, auth)

    def put(self, template: str, auth: str = "installation") -> Callable[[Handler], Handler]:
        return self.add("PUT", template, auth)

    def delete(self, template: str, auth: str = "installation") -> Callable[[Handler], Handler]:
        return self.add("DELETE", template, auth)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route for a request, with its path parameters."""
        for route in self.routes:
            if route.method != method:
                continue
            m = route.regex.match(path)
            if m:
                return route, m.groupdict()
        return None

    def extend(self, other: Routes) -> None:
        """Merge another family's routes."""
        self.routes.extend(other.routes)
