"""A tiny route table for the double's REST API: path templates, auth kind, handler functions, paging."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from .calls import Call, HttpError, invalid, json_response, not_found
from .hub import Hub

__all__ = ["Call", "Handler", "HttpError", "Route", "Routes", "invalid", "not_found", "paginate"]

Handler = Callable[[Hub, Call], Any]


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
    """A list of routes filled by decorators in each route module."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, auth: str = "installation") -> Callable[[Handler], Handler]:
        """Decorator registering a handler."""
        def deco(fn: Handler) -> Handler:
            """Add `fn` to the table and hand it back unchanged."""
            self.routes.append(Route(method, template, auth, fn))
            return fn
        return deco

    def get(self, template: str, auth: str = "installation") -> Callable[[Handler], Handler]:
        """Register a GET handler."""
        return self.add("GET", template, auth)

    def post(self, template: str, auth: str = "installation") -> Callable[[Handler], Handler]:
        """Register a POST handler."""
        return self.add("POST", template, auth)

    def patch(self, template: str, auth: str = "installation") -> Callable[[Handler], Handler]:
        """Register a PATCH handler."""
        return self.add("PATCH", template, auth)

    def put(self, template: str, auth: str = "installation") -> Callable[[Handler], Handler]:
        """Register a PUT handler."""
        return self.add("PUT", template, auth)

    def delete(self, template: str, auth: str = "installation") -> Callable[[Handler], Handler]:
        """Register a DELETE handler."""
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
        """Merge another module's routes (earlier routes win)."""
        self.routes.extend(other.routes)


def paginate(hub: Hub, call: Call, items: list[Any]) -> Response:
    """A page of a list with GitHub's `Link` header (githubkit's paginator follows `rel="next"`)."""
    per_page = max(1, min(100, call.int_query("per_page", 30)))
    page = max(1, call.int_query("page", 1))
    chunk = items[(page - 1) * per_page: page * per_page]
    headers = {}
    links = []
    if page * per_page < len(items):
        last = (len(items) + per_page - 1) // per_page
        links.append(f'<{_page_url(hub, call, page + 1, per_page)}>; rel="next"')
        links.append(f'<{_page_url(hub, call, last, per_page)}>; rel="last"')
    if page > 1:
        links.append(f'<{_page_url(hub, call, 1, per_page)}>; rel="first"')
        links.append(f'<{_page_url(hub, call, page - 1, per_page)}>; rel="prev"')
    if links:
        headers["link"] = ", ".join(links)
    return json_response(200, chunk, headers)


def _page_url(hub: Hub, call: Call, page: int, per_page: int) -> str:
    query = {**call.query, "page": str(page), "per_page": str(per_page)}
    return f"{hub.api_url}{call.path}?{urlencode(query)}"
