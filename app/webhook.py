"""POST /api/github/webhooks: verify, decide, enqueue, answer; never a 500 for a correctly signed delivery.

This is the service's hot path, so it is a bare ASGI endpoint: it reads the request's messages and
writes its answer itself. Starlette's Request and Response objects and the framework's middleware cost
more per delivery than verifying, deciding and enqueueing it (docs/benchmarks.md has the figures);
every other route (setup, artifacts, health) stays in FastAPI. `app.web.WebhookIngress` sends the one
path here before FastAPI sees the request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any
from urllib.parse import parse_qs

from pydantic import ValidationError
from redis.exceptions import RedisError
from starlette.types import Receive, Scope, Send

from app.logs import log_context
from app.queue import DeliveryIntake, JobRequest
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
_JSON_HEADERS = [(b"content-type", b"application/json")]


class Answer:
    """The JSON answer to one delivery, and its outcome (status or reason) for the log line."""

    __slots__ = ("body", "outcome", "status_code")

    def __init__(self, status_code: int, **body: Any) -> None:
        self.status_code = status_code
        self.body = body
        self.outcome = body.get("status") or body.get("reason")

    async def send(self, send: Send, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        """Write the answer as the ASGI response."""
        content = json.dumps(self.body, separators=(",", ":")).encode()
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": [*_JSON_HEADERS, (b"content-length", str(len(content)).encode()), *(headers or [])]})
        await send({"type": "http.response.body", "body": content})


class _Disconnected(Exception):
    """The client went away before its body arrived."""


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (the last of repeated ones)."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


async def read_body(receive: Receive, declared: str | None, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The raw body, or None when it is larger than `limit` (declared or actually sent)."""
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        return None
    # Count while reading too: a chunked request has no Content-Length, and a client may lie.
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _json_text(body: bytes, content_type: str) -> bytes | str:
    """The JSON document of a delivery: the body, or its `payload` field for form-encoded webhooks."""
    # A webhook can be set to "application/x-www-form-urlencoded" in the App settings; GitHub then
    # sends `payload=<json>` (and signs the encoded body, which is what was verified).
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        return fields.get("payload", [""])[0]
    return body


class WebhookEndpoint:
    """The ASGI endpoint for deliveries; reads the service's settings, handlers and intake from `state`."""

    def __init__(self, state: Any) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request to the webhook path."""
        if scope["method"] != "POST":
            await Answer(405, reason="deliveries are POSTed").send(send, [(b"allow", b"POST")])
            return
        headers = _headers(scope)
        delivery = headers.get("x-github-delivery", "").strip()
        event = headers.get("x-github-event", "").strip()
        with log_context(delivery_id=delivery or None):
            started = time.perf_counter()
            try:
                answer = await self._answer(headers, receive, event, delivery)
            except _Disconnected:
                # nobody is left to answer: one quiet line, not a traceback
                log.info("client disconnected before the body arrived")
                return
            except Exception:
                # Last line of defence: a bug must not become a 500 page; 503 lets GitHub show the
                # delivery as failed so it can be redelivered once fixed.
                log.exception("webhook failed unexpectedly", extra={"event": event or None})
                answer = Answer(503, reason="Specloop could not process this delivery; see the service log")
            log.info("webhook answered", extra={
                "event": event or None, "status_code": answer.status_code, "outcome": answer.outcome,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2)})
            await answer.send(send)

    async def _verified_body(self, settings: Settings, headers: dict[str, str], receive: Receive) -> bytes | Answer:
        """The raw body once its signature holds, or the answer refusing it (401, 408, 413, 503)."""
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
        if not secret.strip():
            # An empty key would let anyone sign deliveries; refuse until the operator sets one.
            return Answer(503, reason="WEBHOOK_SECRET is not set; Specloop cannot verify deliveries")
        # Up to 25 MB is read only for a request that at least carries a signature of the right shape.
        header = headers.get("x-hub-signature-256")
        if not header:
            return Answer(401, reason="missing X-Hub-Signature-256 header")
        if not _SIGNATURE_HEADER.fullmatch(header.strip()):
            return Answer(401, reason="malformed X-Hub-Signature-256 header")
        timeout = getattr(self.state, "body_timeout", BODY_TIMEOUT_SECONDS)
        try:
            async with asyncio.timeout(timeout):  # (not wait_for: no task per delivery)
                body = await read_body(receive, headers.get("content-length"))
        except TimeoutError:
            return Answer(408, reason=f"the body arrived too slowly (over {timeout:g} s)")
        if body is None:
            return Answer(413, reason=f"payload larger than {MAX_BODY_BYTES // (1024 * 1024)} MB")
        # The signature is checked on the raw bytes before anything reads them.
        try:
            verify_signature(secret, body, header)
        except SignatureError as error:
            return Answer(401, reason=error.reason)
        return body

    async def _answer(self, headers: dict[str, str], receive: Receive, event: str, delivery: str) -> Answer:
        settings: Settings = self.state.settings
        if settings.setup_mode:
            return Answer(503, reason=SETUP_MODE_REASON)
        body = await self._verified_body(settings, headers, receive)
        if isinstance(body, Answer):
            return body
        if not event:
            return Answer(400, reason="missing X-GitHub-Event header")
        if not delivery:
            return Answer(400, reason="missing X-GitHub-Delivery header")
        try:
            payload = json.loads(_json_text(body, headers.get("content-type", "")))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return Answer(400, reason="payload is not valid JSON")
        if not isinstance(payload, dict):
            return Answer(400, reason="payload is not a JSON object")
        if event == "ping":
            return Answer(200, ok=True, zen=payload.get("zen"), hook_id=payload.get("hook_id"))

        decision = self._decide(settings, event, payload, delivery)
        if isinstance(decision, Answer):
            return decision
        jobs, ignored_reason = decision
        if not jobs:
            return Answer(202, status="ignored", reason=ignored_reason or f"nothing to do for {event}")
        try:
            intake: DeliveryIntake = self.state.intake
            async with asyncio.timeout(REDIS_DEADLINE_SECONDS):
                accepted = await intake.enqueue_delivery(delivery, jobs)
        except REDIS_ERRORS as error:
            log.warning("could not enqueue: Redis unreachable", extra={"error": str(error)})
            return Answer(503, reason=REDIS_DOWN_REASON)
        if not accepted:
            return Answer(202, status="duplicate", reason="this delivery was already received")
        return Answer(202, status="queued", jobs=[job.job_id for job in jobs])

    def _decide(self, settings: Settings, event: str, payload: dict[str, Any],
                delivery: str) -> tuple[list[JobRequest], str | None] | Answer:
        """Run the pure handlers; a payload they cannot read is ignored with a reason, never a 500."""
        context = self.state.handler_context(
            app_id=settings.app_id,
            app_slug=settings.app_slug,
            delivery=delivery,
            debounce_seconds=settings.debounce_seconds,
        )
        action = payload.get("action")
        try:
            decision = self.state.dispatch(event, payload, context)
        except ValidationError as error:
            log.warning("payload did not match the handler's model",
                        extra={"event": event, "action": action, "errors": error.errors(include_input=False)})
            return Answer(202, status="ignored", reason=f"could not read the {event} payload")
        except Exception:
            # A bug in a handler: a 500 would make GitHub show a failure that redelivery cannot fix.
            log.exception("handler failed", extra={"event": event, "action": action})
            return Answer(202, status="ignored", reason=f"could not handle the {event} event (see the service log)")
        # Decision(jobs, ignored_reason); a bare list of JobRequest is accepted too.
        if isinstance(decision, list):
            return decision, None
        return list(decision.jobs), getattr(decision, "ignored_reason", None)
