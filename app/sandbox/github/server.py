"""The double's HTTP server: a Starlette app on uvicorn in a background thread, one catch-all dispatcher."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.loopback import LoopbackServer

from . import (
    apps,
    check_routes,
    deployments,
    git_data,
    git_http,
    graphql_routes,
    issue_routes,
    labels,
    manifest,
    pull_routes,
    repos,
)
from .auth import authenticate, check_api_version
from .calls import DOCS, Call, HttpError, json_response
from .hub import Hub
from .router import Handler, Routes
from .state import RecordedRequest

API_PREFIX = "/api/v3"
METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS"]


def all_routes() -> Routes:
    """Every REST route of every route module."""
    table = Routes()
    # check_routes before repos: `/commits/{ref}/check-runs` must win over `/commits/{ref+}`
    for module in (apps, manifest, issue_routes, labels, check_routes, deployments, pull_routes, repos, git_data,
                   graphql_routes):
        table.extend(module.routes)
    return table


class Server:
    """Runs the ASGI app on 127.0.0.1 on a free port in a daemon thread."""

    def __init__(self, hub: Hub, routes: Routes | None = None) -> None:
        self.hub = hub
        self.routes = routes or all_routes()
        self.port = 0
        self._loopback: LoopbackServer | None = None
        self.asgi = Starlette(routes=[Route("/{path:path}", self.dispatch, methods=METHODS)])

    def start(self) -> None:
        """Bind a free loopback port and serve until stop()."""
        self._loopback = LoopbackServer(self.asgi, name="GitHub double").start(timeout=10)
        self.port = self._loopback.port

    def stop(self) -> None:
        """Shut the server down."""
        if self._loopback is not None:
            self._loopback.stop(timeout=10)
        self._loopback = None

    # -- dispatch -------------------------------------------------------------------------------
    async def dispatch(self, request: Request) -> Response:
        """Route a request to the REST API, git smart HTTP or the web pages."""
        path = request.url.path
        if path.startswith(API_PREFIX + "/") or path == API_PREFIX:
            return await self.api(request, path[len(API_PREFIX):] or "/")
        if path in graphql_routes.PATHS:  # GraphQL lives beside the REST prefix, not under it
            return await self.api(request, graphql_routes.PATH)
        if git_http.GIT_PATH.match(path):
            return await git_http.serve(self.hub, request)
        page = manifest.match(request.method, path)
        if page is not None:
            return await page(self.hub, request)
        return self._unhandled(request.method, path)

    def _unhandled(self, method: str, path: str) -> Response:
        route = f"{method} {path}"
        self.hub.state.unhandled.append(route)
        return json_response(404, {"message": f"GitHub double: no route for {route}", "documentation_url": DOCS})

    async def api(self, request: Request, path: str) -> Response:
        """A REST call: record it, apply faults, check the API version, authenticate, run the handler."""
        state = self.hub.state
        raw = await request.body()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() != "authorization"}
        record = RecordedRequest(request.method, path, dict(request.query_params), body, headers)
        state.requests.append(record)
        fault = self.hub.faults.take("api", request.method, path)
        answer = None
        if fault is not None:
            if fault.latency:
                await asyncio.sleep(fault.latency)
            answer = fault.response()
            if answer is not None and not fault.applied:
                record.status = answer[0]
                return json_response(answer[0], answer[2], answer[1])
        response = await self._handle(request, path, record, body, headers)
        if answer is not None:  # an applied fault: the request was carried out, its answer is lost
            record.status = answer[0]
            return json_response(answer[0], answer[2], answer[1])
        return response

    async def _handle(self, request: Request, path: str, record: RecordedRequest, body: Any,
                      headers: dict[str, str]) -> Response:
        """Route, check and run one REST call (after faults), recording the status it answers."""
        state = self.hub.state
        matched = self.routes.match(request.method, path)
        if matched is None:
            record.status = 404
            return self._unhandled(request.method, API_PREFIX + path)
        route, params = matched
        refused = check_api_version(state, headers)
        if refused is None and isinstance(body, str):
            refused = HttpError(400, "Problems parsing JSON")
        if refused is not None:
            record.status = refused.status
            return json_response(refused.status, refused.body(), refused.headers)
        call = Call(request.method, path, params, dict(request.query_params), body, headers)
        try:
            authenticate(state, call, request.headers.get("authorization"), route.auth)
            result = await run_in_threadpool(self._run, route.handler, call)
        except HttpError as exc:
            record.status = exc.status
            record.actor = call.actor.login if call.actor else None
            return json_response(exc.status, exc.body(), exc.headers)
        record.actor = call.actor.login if call.actor else None
        if isinstance(result, Response):
            record.status = result.status_code
            return result
        status, payload = result if isinstance(result, tuple) else (200, result)
        record.status = status
        return json_response(status, payload)

    def _run(self, handler: Handler, call: Call) -> Any:
        # one lock for the whole handler: state and git refs change together, like one GitHub transaction
        with self.hub.state.lock:
            return handler(self.hub, call)
