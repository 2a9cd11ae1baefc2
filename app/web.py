"""The FastAPI service: verifies, decides and enqueues webhook deliveries; health check; setup routes."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

from arq.connections import ArqRedis, RedisSettings, create_pool
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from redis.exceptions import RedisError
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from app import artifact_routes, setup_flow
from app.logs import log_context
from app.loopback import LoopbackServer
from app.queue import JobRequest, enqueue_delivery, queue_depth
from app.redis_server import ManagedRedis, resolve_redis_url
from app.settings import Settings
from app.signature import SignatureError, verify_signature

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/api/github/webhooks"
# GitHub caps webhook payloads at 25 MB and drops bigger ones; anything larger is not from GitHub.
MAX_BODY_BYTES = 25 * 1024 * 1024
SETUP_MODE_REASON = "Specloop is not registered yet; open /setup"
REDIS_DOWN_REASON = "Redis is unreachable; the delivery was not queued (redeliver it once Redis is back)"
# Errors that mean "Redis is not there right now": answer 503 so GitHub shows a failed, redeliverable delivery.
REDIS_ERRORS = (RedisError, OSError, TimeoutError)
# GitHub gives up on a delivery after 10 s; a Redis that hangs must not hold the answer that long.
REDIS_DEADLINE_SECONDS = 5.0
# GitHub sends a whole delivery at once; a body still trickling in after this is someone holding a
# connection (and up to 25 MB of buffer) open. Overridable per app through `app.state.body_timeout`.
BODY_TIMEOUT_SECONDS = 10.0
# The only shape GitHub sends; checked before the body is read, so an unsigned request costs nothing.
_SIGNATURE_HEADER = re.compile(r"sha256=[0-9a-fA-F]{64}")


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


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The raw body, or None when it is larger than `limit` (declared or actually sent)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        return None
    # Count while reading too: a chunked request has no Content-Length, and a client may lie.
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _json_text(body: bytes, content_type: str) -> bytes | str:
    """The JSON document of a delivery: the body, or its `payload` field for form-encoded webhooks."""
    # A webhook can be set to "application/x-www-form-urlencoded" in the App settings; GitHub then
    # sends `payload=<json>` (and signs the encoded body, which is what was verified).
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        return fields.get("payload", [""])[0]
    return body


def _job_ids(jobs: list[JobRequest]) -> list[str]:
    """The arq job ids of the queued requests, for the response body and the logs."""
    return [job.job_id for job in jobs]


async def handle_webhook(request: Request) -> JSONResponse:
    """POST /api/github/webhooks: verify, decide, enqueue; never a 500 for a correctly signed delivery."""
    settings: Settings = request.app.state.settings
    delivery = request.headers.get("x-github-delivery", "").strip()
    event = request.headers.get("x-github-event", "").strip()
    with log_context(delivery_id=delivery or None):
        started = time.perf_counter()
        try:
            response = await _handle_webhook(request, settings, event, delivery)
        except ClientDisconnect:
            # nobody is left to answer: one quiet line, not a traceback
            log.info("client disconnected before the body arrived")
            return _reply(400, reason="client disconnected")
        except Exception:
            # Last line of defence: a bug must not become a 500 page; 503 lets GitHub show the
            # delivery as failed so it can be redelivered once fixed.
            log.exception("webhook failed unexpectedly", extra={"event": event or None})
            response = _reply(503, reason="Specloop could not process this delivery; see the service log")
        body = json.loads(bytes(response.body))  # starlette types body as bytes | memoryview
        log.info(
            "webhook answered",
            extra={
                "event": event or None,
                "status_code": response.status_code,
                "outcome": body.get("status") or body.get("reason"),
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return response


async def _verified_body(request: Request, settings: Settings) -> bytes | JSONResponse:
    """The raw body once its signature holds, or the answer refusing it (401, 408, 413, 503)."""
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    if not secret.strip():
        # An empty key would let anyone sign deliveries; refuse until the operator sets one.
        return _reply(503, reason="WEBHOOK_SECRET is not set; Specloop cannot verify deliveries")
    # Up to 25 MB is read only for a request that at least carries a signature of the right shape.
    header = request.headers.get("x-hub-signature-256")
    if not header:
        return _reply(401, reason="missing X-Hub-Signature-256 header")
    if not _SIGNATURE_HEADER.fullmatch(header.strip()):
        return _reply(401, reason="malformed X-Hub-Signature-256 header")
    timeout = getattr(request.app.state, "body_timeout", BODY_TIMEOUT_SECONDS)
    try:
        body = await asyncio.wait_for(read_body(request), timeout)
    except TimeoutError:
        return _reply(408, reason=f"the body arrived too slowly (over {timeout:g} s)")
    if body is None:
        return _reply(413, reason=f"payload larger than {MAX_BODY_BYTES // (1024 * 1024)} MB")
    # The signature is checked on the raw bytes before anything reads them.
    try:
        verify_signature(secret, body, header)
    except SignatureError as error:
        return _reply(401, reason=error.reason)
    return body


async def _handle_webhook(request: Request, settings: Settings, event: str, delivery: str) -> JSONResponse:
    if settings.setup_mode:
        return _reply(503, reason=SETUP_MODE_REASON)
    body = await _verified_body(request, settings)
    if isinstance(body, JSONResponse):
        return body
    if not event:
        return _reply(400, reason="missing X-GitHub-Event header")
    if not delivery:
        return _reply(400, reason="missing X-GitHub-Delivery header")
    try:
        payload = json.loads(_json_text(body, request.headers.get("content-type", "")))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _reply(400, reason="payload is not valid JSON")
    if not isinstance(payload, dict):
        return _reply(400, reason="payload is not a JSON object")
    if event == "ping":
        return _reply(200, ok=True, zen=payload.get("zen"), hook_id=payload.get("hook_id"))

    decision = _decide(request.app, settings, event, payload, delivery)
    if isinstance(decision, JSONResponse):
        return decision
    jobs, ignored_reason = decision
    if not jobs:
        return _reply(202, status="ignored", reason=ignored_reason or f"nothing to do for {event}")

    try:
        accepted = await asyncio.wait_for(enqueue_delivery(request.app.state.redis, delivery, jobs),
                                          REDIS_DEADLINE_SECONDS)
    except REDIS_ERRORS as error:
        log.warning("could not enqueue: Redis unreachable", extra={"error": str(error)})
        return _reply(503, reason=REDIS_DOWN_REASON)
    if not accepted:
        return _reply(202, status="duplicate", reason="this delivery was already received")
    return _reply(202, status="queued", jobs=_job_ids(jobs))


def _decide(app: FastAPI, settings: Settings, event: str, payload: dict[str, Any],
            delivery: str) -> tuple[list[JobRequest], str | None] | JSONResponse:
    """Run the pure handlers; a payload they cannot read is ignored with a reason, never a 500."""
    dispatch = app.state.dispatch
    context = app.state.handler_context(
        app_id=settings.app_id,
        app_slug=settings.app_slug,
        delivery=delivery,
        debounce_seconds=settings.debounce_seconds,
    )
    action = payload.get("action")
    try:
        decision = dispatch(event, payload, context)
    except ValidationError as error:
        log.warning("payload did not match the handler's model",
                    extra={"event": event, "action": action, "errors": error.errors(include_input=False)})
        return _reply(202, status="ignored", reason=f"could not read the {event} payload")
    except Exception:
        # A bug in a handler: a 500 would make GitHub show a failure that redelivery cannot fix.
        log.exception("handler failed", extra={"event": event, "action": action})
        return _reply(202, status="ignored", reason=f"could not handle the {event} event (see the service log)")
    # Decision(jobs, ignored_reason); a bare list of JobRequest is accepted too.
    if isinstance(decision, list):
        return decision, None
    return list(decision.jobs), getattr(decision, "ignored_reason", None)


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
    app.state.dispatch = handlers.dispatch
    app.state.handler_context = handlers.HandlerContext
    app.add_api_route(WEBHOOK_PATH, handle_webhook, methods=["POST"])
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.include_router(setup_flow.router)
    app.include_router(artifact_routes.router)
    app.add_middleware(SetupModeGate)
    return app


class BackgroundServer(LoopbackServer):
    """The web service on a loopback port in a thread (tests and `specloop demo`), lifespan included."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(app, name="web service", host=host, port=port, lifespan="on", graceful_seconds=5)
