"""The double's HTTP server: a Starlette app on uvicorn in a background thread, one catch-all dispatcher."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.loopback import LoopbackServer

from .router import Call, HttpError, Routes

if TYPE_CHECKING:
    from .double import GitHubDouble

API_PREFIX = "/api/v3"
METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS"]


def all_routes() -> Routes:
    """Every REST route of every family."""
    from . import apps, checks, git_data, issues, manifest, pulls
    table = Routes()
    # checks before git_data: `/commits/{ref}/check-runs` must win over `/commits/{ref+}`
    for module in (apps, manifest, issues, checks, pulls, git_data):
        table.extend(module.routes)
    return table


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer with GitHub's usual headers."""
    hdrs = {"x-github-media-type": "github.v3; format=json", "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4999", "x-github-request-id": "DOUBLE"}
    hdrs.update(headers or {})
    if status == 204:
        return Response(status_code=204, headers=hdrs)
    return JSONResponse(body, status_code=status, headers=hdrs)


class Server:
    """Runs the ASGI app on 127.0.0.1 on a free port in a daemon thread."""

    def __init__(self, double: GitHubDouble) -> None:
        self.double = double
        self.routes = all_routes()
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
        from . import git_http, manifest
        if git_http.GIT_PATH.match(path):
            return await git_http.serve(self.double, request)
        page = manifest.match(request.method, path)
        if page is not None:
            return await page(self.double, request)
        return self._unhandled(request.method, path)

    def _unhandled(self, method: str, path: str) -> Response:
        route = f"{method} {path}"
        self.double.unhandled.append(route)
        return json_response(404, {"message": f"GitHub double: no route for {route}",
                                   "documentation_url": "https://docs.github.com/rest"})

    async def api(self, request: Request, path: str) -> Response:
        """A REST call: record it, apply faults, authenticate, run the handler."""
        from .double import RecordedRequest
        double = self.double
        raw = await request.body()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() != "authorization"}
        record = RecordedRequest(request.method, path, dict(request.query_params), body, headers)
        double.requests.append(record)
        fault = double.faults.take("api", request.method, path)
        if fault is not None:
            if fault.latency:
                await asyncio.sleep(fault.latency)
            answer = fault.response()
            if answer is not None:
                record.status = answer[0]
                return json_response(*answer[:1], answer[2], answer[1])
        matched = self.routes.match(request.method, path)
        if matched is None:
            record.status = 404
            return self._unhandled(request.method, API_PREFIX + path)
        route, params = matched
        if isinstance(body, str):
            record.status = 400
            return json_response(400, {"message": "Problems parsing JSON",
                                       "documentation_url": "https://docs.github.com/rest"})
        call = Call(request.method, path, params, dict(request.query_params), body, headers)
        try:
            double.authenticate(call, request.headers.get("authorization"), route.auth)
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

    def _run(self, handler: Any, call: Call) -> Any:
        # one lock for the whole handler: state and git refs change together, like one GitHub transaction
        with self.double.state.lock:
            return handler(self.double, call)
