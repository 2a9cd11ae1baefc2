"""The web service: the webhook endpoint (app/webhook.py) in front, then FastAPI for /healthz, setup and artifacts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app import artifact_routes, setup_flow
from app.logs import configure_logging, quiet_access_log
from app.loopback import LoopbackServer
from app.queue import DeliveryIntake, queue_depth
from app.redis_server import ManagedRedis, resolve_redis_url
from app.settings import Settings, get_settings
from app.webhook import (
    REDIS_DEADLINE_SECONDS,
    REDIS_ERRORS,
    SETUP_MODE_REASON,
    WEBHOOK_PATH,
    WebhookEndpoint,
)

log = logging.getLogger(__name__)


def _reply(status_code: int, **body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=status_code)


async def connect_redis(url: str) -> ArqRedis:
    """An arq pool for `url`; if Redis is down at start-up the pool still comes up and connects later.

    The service must start (and answer 503 on webhooks, 503 on /healthz) while Redis is away, rather
    than crash-loop, so a failed first PING falls back to a lazily connecting client.
    """
    redis_settings = RedisSettings.from_dsn(url)
    redis_settings.conn_retries = 0
    redis_settings.conn_timeout = 2
    try:
        return await create_pool(redis_settings)
    except REDIS_ERRORS as error:
        log.warning("Redis is unreachable at start-up; will keep trying", extra={"error": str(error)})
        pool = ArqRedis(
            host=redis_settings.host,
            port=redis_settings.port,
            db=redis_settings.database,
            username=redis_settings.username,
            password=redis_settings.password,
            ssl=redis_settings.ssl,
            socket_connect_timeout=redis_settings.conn_timeout,
            encoding="utf8",
        )
        return pool


async def healthz(request: Request) -> JSONResponse:
    """GET /healthz: 200 with queue depths when Redis answers, 503 otherwise (for load balancers)."""
    settings: Settings = request.app.state.settings
    redis: ArqRedis = request.app.state.redis
    mode = "setup" if settings.setup_mode else "ready"
    try:
        await asyncio.wait_for(redis.ping(), REDIS_DEADLINE_SECONDS)
        depths = await asyncio.wait_for(queue_depth(redis), REDIS_DEADLINE_SECONDS)
    except REDIS_ERRORS as error:
        return _reply(503, status="unavailable", redis=f"unreachable: {type(error).__name__}", mode=mode)
    return _reply(200, status="ok", redis="ok", queues=depths, mode=mode)


class WebhookIngress:
    """Sends the webhook path to the bare endpoint (`app.webhook`), everything else on to FastAPI."""

    def __init__(self, app: ASGIApp, endpoint: WebhookEndpoint) -> None:
        self.app = app
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route one request (or the lifespan) by path."""
        if scope["type"] == "http" and scope["path"] == WEBHOOK_PATH:
            await self.endpoint(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class SetupModeGate:
    """In setup mode only /setup, its callback, /healthz and the webhook (which answers 503) are served."""

    OPEN_PATHS = frozenset({"/setup", setup_flow.CALLBACK_PATH, "/healthz", WEBHOOK_PATH})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer it here while no App is registered."""
        if scope["type"] == "http" and scope["path"] not in self.OPEN_PATHS:
            settings: Settings = scope["app"].state.settings
            if settings.setup_mode:
                # an operator opening the bare host name is sent where the work is
                response: Response = (RedirectResponse("/setup", status_code=307) if scope["path"] == "/"
                                      else _reply(503, reason=SETUP_MODE_REASON))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(settings: Settings, *, redis: ArqRedis | None = None) -> FastAPI:
    """The web service. Without `redis`, the lifespan connects to REDIS_URL or a managed redis-server."""
    # The factory is the outermost wiring, the one place app/ may import handlers/ (see architecture.md).
    import handlers

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        managed: ManagedRedis | None = None
        own_pool = redis is None
        if redis is None:
            url, managed = resolve_redis_url(settings)
            app.state.redis = await connect_redis(url)
            app.state.intake = DeliveryIntake(app.state.redis)
        else:
            app.state.redis = redis
        await setup_flow.start(app)  # in setup mode: the one-time setup token, printed in the log
        try:
            yield
        finally:
            if own_pool:
                await app.state.redis.aclose()
            if managed is not None:
                managed.stop()

    app = FastAPI(title="Specloop", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.redis = redis
    app.state.intake = DeliveryIntake(redis) if redis is not None else None  # else made by the lifespan
    app.state.dispatch = handlers.dispatch
    app.state.handler_context = handlers.HandlerContext
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.include_router(setup_flow.router)
    app.include_router(artifact_routes.router)
    app.add_middleware(SetupModeGate)
    app.add_middleware(WebhookIngress, endpoint=WebhookEndpoint(app.state))  # the outermost: the hot path
    return app


def service_from_environment() -> FastAPI:
    """The service as each process of `specloop serve --workers N` builds it: settings and logging from
    the environment, Redis at REDIS_URL (the parent process resolved it)."""
    settings = get_settings()
    configure_logging(settings.log_level, fmt=settings.log_format)
    quiet_access_log([WEBHOOK_PATH])
    return create_app(settings)


class BackgroundServer(LoopbackServer):
    """The web service on a loopback port in a thread (tests and `specloop demo`), lifespan included."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(app, name="web service", host=host, port=port, lifespan="on", graceful_seconds=5)
