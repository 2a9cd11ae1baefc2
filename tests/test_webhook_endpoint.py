"""POST /api/github/webhooks and GET /healthz over real HTTP, against a real redis-server."""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import redis as redis_lib
from pydantic import BaseModel

from app.logs import JsonFormatter, RedactingFilter
from app.queue import QUEUES
from app.redis_server import ManagedRedis
from app.settings import Settings
from app.signature import sign
from app.web import BackgroundServer, create_app
from app.webhook import MAX_BODY_BYTES, SETUP_MODE_REASON, WEBHOOK_PATH
from tests.support.stopping import stop_later

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"
SECRET = "a-real-webhook-secret-for-tests"


def fixture(name: str, **overrides: Any) -> dict[str, Any]:
    """A captured GitHub payload with top-level overrides."""
    payload: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    payload.update(overrides)
    return payload


def labelled_story() -> dict[str, Any]:
    """A real `issues labeled` delivery, as an installed app receives it."""
    return fixture("issues/labeled.payload.json", installation={"id": 77})


def make_settings(redis_url: str | None, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"app_id": 4242, "app_slug": "specloop", "webhook_secret": SECRET,
                              "redis_url": redis_url, "data_dir": tmp_path / ".specloop",
                              "dotenv_path": tmp_path / ".env"}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def web_url(redis_url: str, tmp_path: Path) -> Iterator[str]:
    """The web service on a loopback port, registered, with the session's Redis (stopped in the background
    after the test: its port is its own)."""
    server = BackgroundServer(create_app(make_settings(redis_url, tmp_path))).start()
    yield server.url
    stop_later(server.stop)


def deliver(base_url: str, event: str | None, body: dict[str, Any] | bytes, *, delivery: str | None = None,
            secret: str | None = SECRET, signature: str | None = None) -> httpx.Response:
    """POST a delivery the way GitHub does: raw JSON body, event/delivery/signature headers."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/test"}
    if event is not None:
        headers["X-GitHub-Event"] = event
    headers["X-GitHub-Delivery"] = delivery if delivery is not None else str(uuid.uuid4())
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    elif secret is not None:
        headers["X-Hub-Signature-256"] = sign(secret, raw)
    return httpx.post(base_url + WEBHOOK_PATH, content=raw, headers=headers, timeout=30)


def raw_http(base_url: str, head: bytes, chunks: list[bytes] | None = None) -> tuple[int, bytes]:
    """Send a hand-made request over a socket (for requests httpx will not make) and read the reply.

    The server answers 413 without reading the rest of an oversized body and then closes, which may
    reset the connection; so reading stops at the reply's Content-Length instead of at EOF.
    """
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        try:
            sock.sendall(head)
            for chunk in chunks or []:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading early; its answer is already on the way
        data = b""
        while True:
            header, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = int(re.search(rb"(?i)content-length:\s*(\d+)", header).group(1))  # type: ignore[union-attr]
                if len(body) >= length:
                    return int(header.split()[1]), body[:length]
            more = sock.recv(65536)
            if not more:
                raise AssertionError(f"connection closed before a full reply: {data[:200]!r}")
            data += more


# A signature header of the right shape (it cannot match: the body is refused before that matters).
WELL_FORMED = "X-Hub-Signature-256: sha256=" + "0" * 64 + "\r\n"


def head_of(content_length: int, signature: str | None = None) -> bytes:
    """The head of a delivery that declares `content_length` bytes, with an optional signature header."""
    sig = f"X-Hub-Signature-256: {signature}\r\n" if signature is not None else ""
    return (f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: test\r\nX-GitHub-Event: issues\r\n"
            f"X-GitHub-Delivery: {uuid.uuid4()}\r\nContent-Type: application/json\r\n{sig}"
            f"Content-Length: {content_length}\r\nConnection: close\r\n\r\n").encode()


def quick_reply(base_url: str, head: bytes, body: bytes = b"", timeout: float = 5.0) -> tuple[int, bytes]:
    """Send `head` and part of a body, keep the connection open, and read the reply within `timeout`."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head + body)
        data = b""
        while True:
            header, sep, rest = data.partition(b"\r\n\r\n")
            if sep:
                # the reply's body may come in a later segment than its head: read up to its length
                length = re.search(rb"(?i)content-length:\s*(\d+)", header)
                if length is None or len(rest) >= int(length.group(1)):
                    return int(header.split()[1]), rest
            more = sock.recv(65536)
            if not more:
                return int(header.split()[1]), rest
            data += more


# --- accepted deliveries --------------------------------------------------------------------


def test_ping_is_answered_200_with_githubs_zen(web_url: str) -> None:
    payload = fixture("ping/payload.json")
    response = deliver(web_url, "ping", payload)
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert response.json()["zen"] == payload["zen"]


def test_a_labelled_issue_is_queued_202_with_its_job_id(web_url: str, redis_url: str) -> None:
    delivery = str(uuid.uuid4())
    response = deliver(web_url, "issues", labelled_story(), delivery=delivery)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    [job_id] = body["jobs"]
    assert job_id.startswith("map_story:Codertocat/Hello-World#1:")
    client = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert client.zrange(QUEUES["light"], 0, -1) == body["jobs"]
    finally:
        client.close()


def test_a_redelivered_guid_is_answered_duplicate_and_queues_nothing_more(web_url: str, redis_url: str) -> None:
    delivery = str(uuid.uuid4())
    first = deliver(web_url, "issues", labelled_story(), delivery=delivery)
    again = deliver(web_url, "issues", labelled_story(), delivery=delivery)
    assert first.json()["status"] == "queued"
    assert again.status_code == 202
    assert again.json()["status"] == "duplicate"
    client = redis_lib.Redis.from_url(redis_url)
    try:
        assert client.zcard(QUEUES["light"]) == 1
    finally:
        client.close()


def test_a_form_encoded_delivery_is_read_from_its_payload_field(web_url: str) -> None:
    raw = urlencode({"payload": json.dumps(labelled_story())}).encode()
    response = httpx.post(web_url + WEBHOOK_PATH, content=raw, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": sign(SECRET, raw)})
    assert response.status_code == 202
    assert response.json()["status"] == "queued"


def test_a_label_added_by_a_bot_is_ignored_202(web_url: str) -> None:
    payload = labelled_story()
    payload["sender"] = {**payload["sender"], "login": "dependabot[bot]", "type": "Bot"}
    response = deliver(web_url, "issues", payload)
    assert response.status_code == 202
    assert response.json() == {"status": "ignored", "reason": "sent by a bot (dependabot[bot])"}


def test_an_event_no_handler_wants_is_ignored_202_with_the_reason(web_url: str) -> None:
    response = deliver(web_url, "issues", fixture("issues/opened.payload.json", installation={"id": 77}))
    assert response.status_code == 202
    assert response.json() == {"status": "ignored", "reason": "issues opened is not handled"}


def test_an_unreadable_payload_is_ignored_202_never_500(web_url: str) -> None:
    # correctly signed, but a field the handler reads has the wrong type
    response = deliver(web_url, "issues", fixture("issues/labeled.payload.json", installation={"id": "not-a-number"}))
    assert response.status_code == 202
    assert response.json()["status"] == "ignored"
    assert response.json()["reason"].startswith("could not read the issues payload")


def test_a_handler_raising_a_validation_error_is_ignored_202_never_500(redis_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(redis_url, tmp_path))

    class Strict(BaseModel):
        number: int

    def strict_dispatch(event: str, payload: dict[str, Any], ctx: object) -> object:
        Strict.model_validate({"number": "x"})  # raises ValidationError like a strict handler model would
        raise AssertionError("unreachable")

    app.state.dispatch = strict_dispatch
    with BackgroundServer(app) as server:
        response = deliver(server.url, "issues", labelled_story())
    assert response.status_code == 202
    assert response.json() == {"status": "ignored", "reason": "could not read the issues payload"}


def test_a_crashing_handler_is_logged_and_answered_202_never_500(redis_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(redis_url, tmp_path))

    def broken_dispatch(event: str, payload: dict[str, Any], ctx: object) -> object:
        raise KeyError("bug")

    app.state.dispatch = broken_dispatch
    with BackgroundServer(app) as server:
        response = deliver(server.url, "issues", labelled_story())
    assert response.status_code == 202
    assert response.json()["status"] == "ignored"
    assert "could not handle the issues event" in response.json()["reason"]


# --- rejected deliveries --------------------------------------------------------------------


def test_a_delivery_without_a_signature_is_401_missing(web_url: str) -> None:
    response = deliver(web_url, "issues", labelled_story(), secret=None)
    assert response.status_code == 401
    assert response.json() == {"reason": "missing X-Hub-Signature-256 header"}


def test_a_delivery_signed_with_another_secret_is_401_mismatch(web_url: str, redis_url: str) -> None:
    response = deliver(web_url, "issues", labelled_story(), secret="someone-elses-secret")
    assert response.status_code == 401
    assert response.json() == {"reason": "signature does not match the payload"}
    client = redis_lib.Redis.from_url(redis_url)
    try:
        assert client.zcard(QUEUES["light"]) == 0
    finally:
        client.close()


def test_a_malformed_signature_header_is_401_malformed(web_url: str) -> None:
    response = deliver(web_url, "issues", labelled_story(), signature="sha1=abc")
    assert response.status_code == 401
    assert response.json() == {"reason": "malformed X-Hub-Signature-256 header"}


def test_the_signature_is_checked_before_the_json_is_parsed(web_url: str) -> None:
    # unsigned garbage gets 401, not 400: nothing reads a body before it is verified
    response = deliver(web_url, "issues", b"{not json", secret="wrong")
    assert response.status_code == 401


def test_malformed_json_is_400(web_url: str) -> None:
    response = deliver(web_url, "issues", b"{not json")
    assert response.status_code == 400
    assert response.json() == {"reason": "payload is not valid JSON"}


def test_a_json_array_is_400(web_url: str) -> None:
    response = deliver(web_url, "issues", b"[1, 2]")
    assert response.status_code == 400
    assert response.json() == {"reason": "payload is not a JSON object"}


def test_a_missing_event_header_is_400(web_url: str) -> None:
    response = deliver(web_url, None, labelled_story())
    assert response.status_code == 400
    assert response.json() == {"reason": "missing X-GitHub-Event header"}


def test_a_missing_delivery_header_is_400(web_url: str) -> None:
    response = deliver(web_url, "issues", labelled_story(), delivery="")
    assert response.status_code == 400
    assert response.json() == {"reason": "missing X-GitHub-Delivery header"}


def test_a_declared_body_over_25_mb_is_413_before_reading_it(web_url: str) -> None:
    head = (f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: test\r\nX-GitHub-Event: issues\r\n"
            f"X-GitHub-Delivery: {uuid.uuid4()}\r\nContent-Type: application/json\r\n{WELL_FORMED}"
            f"Content-Length: {MAX_BODY_BYTES + 1}\r\nConnection: close\r\n\r\n").encode()
    status, body = raw_http(web_url, head)  # no body sent at all: the header alone is enough
    assert status == 413
    assert b"payload larger than 25 MB" in body


def test_a_chunked_body_growing_past_25_mb_is_413(web_url: str) -> None:
    head = (f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: test\r\nX-GitHub-Event: issues\r\n"
            f"X-GitHub-Delivery: {uuid.uuid4()}\r\nContent-Type: application/json\r\n{WELL_FORMED}"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    piece = b" " * (1024 * 1024)
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    # 25 MB plus one more small chunk: no Content-Length anywhere, only counting can catch it
    status, body = raw_http(web_url, head, [chunk] * 25 + [b"400\r\n" + b" " * 1024 + b"\r\n"])
    assert status == 413
    assert b"payload larger than 25 MB" in body


def test_a_body_of_exactly_25_mb_is_read_and_verified(web_url: str) -> None:
    raw = b'{"zen": "big"' + b" " * (MAX_BODY_BYTES - 14) + b"}"
    assert len(raw) == MAX_BODY_BYTES
    response = deliver(web_url, "ping", raw)
    assert response.status_code == 200


def test_webhooks_get_503_in_setup_mode(redis_url: str, tmp_path: Path) -> None:
    settings = make_settings(redis_url, tmp_path, app_id=None, webhook_secret=None)
    with BackgroundServer(create_app(settings)) as server:
        response = deliver(server.url, "issues", labelled_story())
        health = httpx.get(server.url + "/healthz")
    assert response.status_code == 503
    assert response.json() == {"reason": SETUP_MODE_REASON}
    assert health.status_code == 200
    assert health.json()["mode"] == "setup"


def test_webhooks_get_503_when_no_webhook_secret_is_configured(redis_url: str, tmp_path: Path) -> None:
    # an empty key would make any "signature" computed with an empty secret valid
    settings = make_settings(redis_url, tmp_path, webhook_secret="")
    with BackgroundServer(create_app(settings)) as server:
        response = deliver(server.url, "issues", labelled_story(), secret="")
    assert response.status_code == 503
    assert "WEBHOOK_SECRET" in response.json()["reason"]


def test_redis_going_down_gives_503_and_coming_back_queues_again(own_redis: ManagedRedis, tmp_path: Path) -> None:
    with BackgroundServer(create_app(make_settings(own_redis.url, tmp_path))) as server:
        assert deliver(server.url, "issues", labelled_story()).json()["status"] == "queued"
        assert httpx.get(server.url + "/healthz").status_code == 200

        own_redis.stop()
        down = deliver(server.url, "issues", labelled_story())
        health = httpx.get(server.url + "/healthz")
        assert down.status_code == 503
        assert "Redis is unreachable" in down.json()["reason"]
        assert health.status_code == 503
        assert health.json()["redis"].startswith("unreachable")

        own_redis.start()  # same port and data dir: the AOF brings back the first job
        back = deliver(server.url, "issues", labelled_story())
        assert back.status_code == 202
        assert back.json()["status"] == "queued"
        assert httpx.get(server.url + "/healthz").json()["queues"]["light"] == 2


def test_the_service_starts_while_redis_is_down_and_answers_503(stopped_redis_url: str, tmp_path: Path) -> None:
    with BackgroundServer(create_app(make_settings(stopped_redis_url, tmp_path))) as server:
        response = deliver(server.url, "issues", labelled_story())
        health = httpx.get(server.url + "/healthz")
    assert response.status_code == 503
    assert health.status_code == 503


# --- health and logs ------------------------------------------------------------------------


def test_healthz_reports_redis_and_queue_depths(web_url: str) -> None:
    deliver(web_url, "issues", labelled_story())
    deliver(web_url, "installation", fixture("installation/deleted.payload.json"))
    response = httpx.get(web_url + "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "redis": "ok", "queues": {"light": 2, "heavy": 0}, "mode": "ready"}


def test_every_webhook_log_line_carries_the_delivery_id_and_no_secret(web_url: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("app.webhook")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        delivery = str(uuid.uuid4())
        deliver(web_url, "issues", labelled_story(), delivery=delivery)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    answered = [line for line in lines if line["msg"] == "webhook answered"]
    assert answered and all(line["delivery_id"] == delivery for line in lines)
    assert answered[0]["status_code"] == 202
    assert answered[0]["event"] == "issues"
    assert SECRET not in stream.getvalue()


@pytest.mark.parametrize("signature", [None, "sha1=abc", "sha256=" + "g" * 64, "sha256=" + "a" * 63,
                                       "sha256=" + "ab " * 21 + "a", "sha256=" + "a" * 65])
def test_a_missing_or_malformed_signature_is_401_before_the_body_is_read(web_url: str,
                                                                       signature: str | None) -> None:
    # the body is declared but never sent: an answer at all means nothing waited for it
    status, _ = quick_reply(web_url, head_of(1000, signature))
    assert status == 401


def test_a_body_sent_too_slowly_is_408(redis_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(redis_url, tmp_path))
    app.state.body_timeout = 0.5
    with BackgroundServer(app) as server:
        status, body = quick_reply(server.url, head_of(1000, "sha256=" + "0" * 64), b'{"zen": ')
    assert status == 408 and b"too slowly" in body


def test_a_client_leaving_mid_body_is_one_quiet_log_line(web_url: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("app.webhook")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        host, port = web_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(head_of(1000, "sha256=" + "0" * 64) + b'{"zen": ')
        deadline = time.monotonic() + 5
        while not stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # anything else the server would log about it
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["level"], line["msg"]) for line in lines] == [("INFO", "client disconnected before the body arrived")]
    assert "Traceback" not in stream.getvalue() and "exc_info" not in stream.getvalue()


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD"])
def test_the_webhook_path_takes_only_post(web_url: str, method: str) -> None:
    response = httpx.request(method, web_url + WEBHOOK_PATH, timeout=5)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    if method != "HEAD":
        assert response.json() == {"reason": "deliveries are POSTed"}


def test_only_the_exact_webhook_path_takes_deliveries(web_url: str) -> None:
    body = json.dumps({"zen": "z"}).encode()
    headers = {"X-GitHub-Event": "ping", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": sign(SECRET, body)}
    assert httpx.post(web_url + WEBHOOK_PATH, content=body, headers=headers, timeout=5).status_code == 200
    for path in (WEBHOOK_PATH + "/", WEBHOOK_PATH + "x", "/api/github"):
        assert httpx.post(web_url + path, content=body, headers=headers, timeout=5).status_code == 404
