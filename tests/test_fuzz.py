"""Hostile input, generated: the webhook endpoint and the artifact routes never answer 5xx, and nothing is
queued without a valid signature. Bounded runs (a fixed number of examples each), derandomized so that
CI sees the same cases every time; a failure prints the smallest input that breaks it."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
import redis as redis_lib
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.artifact_routes import router
from app.artifacts import LocalArtifactStore
from app.queue import QUEUES
from app.redis_server import ManagedRedis
from app.signature import sign
from app.web import BackgroundServer, create_app
from app.webhook import WEBHOOK_PATH
from tests.test_webhook_endpoint import SECRET, fixture, make_settings

FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
EVENTS = ["issues", "issue_comment", "pull_request", "pull_request_review", "check_run", "check_suite",
          "deployment_status", "installation", "ping", "push", "", "ISSUES", "issues\r\nX-Evil: 1"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
# what an HTTP client can send as a header value (no control characters, no surrounding blanks)
HEADER_TEXT = st.text(alphabet=string.digits + string.ascii_letters + string.punctuation + " ", max_size=80).map(str.strip)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, redis_server: ManagedRedis) -> Iterator[str]:
    """The web service on loopback with the session's Redis (one for the whole module: it is stateless)."""
    tmp = tmp_path_factory.mktemp("fuzz")
    with BackgroundServer(create_app(make_settings(redis_server.url, tmp))) as server:
        yield server.url


def queued(redis_url: str) -> int:
    """Jobs waiting on both queues."""
    client = redis_lib.Redis.from_url(redis_url)
    try:
        return sum(int(client.zcard(name)) for name in QUEUES.values())
    finally:
        client.close()


_CLIENT: list[httpx.Client] = []  # one keep-alive connection for the many examples of this module


@pytest.fixture(scope="module", autouse=True)
def _client() -> Iterator[None]:
    with httpx.Client(timeout=30) as client:
        _CLIENT.append(client)
        yield
        _CLIENT.clear()


def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return _CLIENT[0].post(url + WEBHOOK_PATH, content=body, headers=headers)


@FUZZ
@given(body=st.binary(max_size=2048) | JSON_VALUES.map(lambda v: json.dumps(v).encode()),
       event=st.sampled_from(EVENTS), signature=st.none() | HEADER_TEXT | st.just("sha256=" + "0" * 64),
       delivery=st.none() | HEADER_TEXT)
def test_unsigned_or_badly_signed_deliveries_get_4xx_and_queue_nothing(service: str, redis_server: ManagedRedis,
                                                                        body: bytes,
                                                                        event: str, signature: str | None,
                                                                        delivery: str | None) -> None:
    before = queued(redis_server.url)
    headers = {"Content-Type": "application/json", "X-GitHub-Event": event.replace("\r\n", " ")}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    if delivery is not None:
        headers["X-GitHub-Delivery"] = delivery
    response = post(service, body, headers)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert queued(redis_server.url) == before


def mutate(payload: Any, path: list[str | int], value: Any) -> Any:
    """`payload` with the value at `path` replaced (or the key added where the path runs out)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(payload, dict) and isinstance(head, str):
        return {**payload, head: mutate(payload.get(head), rest, value)}
    if isinstance(payload, list) and isinstance(head, int) and payload:
        index = head % len(payload)
        return [mutate(item, rest, value) if i == index else item for i, item in enumerate(payload)]
    return value


FIELDS = ["action", "installation", "repository", "sender", "issue", "comment", "label", "pull_request", "review",
          "check_run", "deployment", "deployment_status", "changes"]
NESTED = ["id", "number", "login", "full_name", "body", "state", "type", "name", "head", "ref", "sha", "user",
          "pull_request", "commit_id", "app", "labels"]


@FUZZ
@given(event=st.sampled_from(["issues", "issue_comment", "pull_request_review", "check_run"]),
       path=st.lists(st.sampled_from(FIELDS + NESTED) | st.integers(0, 3), min_size=1, max_size=3),
       value=JSON_VALUES)
def test_signed_but_mangled_payloads_never_answer_5xx(service: str, event: str, path: list[str | int],
                                                      value: Any) -> None:
    base = {
        "issues": "issues/labeled.payload.json", "issue_comment": "issue_comment/created.payload.json",
        "pull_request_review": "pull_request_review/submitted.payload.json",
        "check_run": "check_run/rerequested.payload.json",
    }[event]
    try:
        payload = fixture(base, installation={"id": 77})
    except FileNotFoundError:
        pytest.skip(f"no captured {base}")
    body = json.dumps(mutate(payload, path, value)).encode()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": "fuzz-" + str(path),
               "X-Hub-Signature-256": sign(SECRET, body)}
    response = post(service, body, headers)
    assert response.status_code < 500, (response.status_code, response.text[:300])


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    """The artifact routes over a local store holding one screenshot; (client, its signed path)."""
    store = LocalArtifactStore(tmp_path_factory.mktemp("artifacts"), b"k" * 32, "https://specloop.example.com")
    key = store.put("qa/acme-shop/abc/run/shot.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    url = urlsplit(store.signed_url(key))
    app = FastAPI()
    app.state.artifacts = store
    app.include_router(router)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, f"{url.path}?{url.query}"


QUERY_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60)


@FUZZ
@given(path=st.lists(st.sampled_from(["qa", "..", ".", "%2e%2e", "acme-shop", "abc", "shot.png", "%00", "//", "\\",
                                      "é", "a" * 300]) | QUERY_TEXT.map(lambda t: t.replace("/", "")),
                     min_size=1, max_size=6),
       sig=st.none() | QUERY_TEXT, exp=st.none() | QUERY_TEXT | st.integers().map(str) | st.just("9" * 4301))
def test_artifact_urls_with_any_path_or_query_answer_4xx_never_5xx(artifacts: tuple[TestClient, str],
                                                                    path: list[str], sig: str | None,
                                                                    exp: str | None) -> None:
    client, _ = artifacts
    params = {k: v for k, v in (("sig", sig), ("exp", exp)) if v is not None}
    # segments percent-encoded as a browser would send them (a client refuses raw control characters)
    response = client.get("/artifacts/" + "/".join(quote(part, safe="%") for part in path), params=params)
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert response.status_code != 200 or not params  # nothing is served without a valid signature


def test_the_fuzzers_reach_the_code_they_mean_to(service: str, artifacts: tuple[TestClient, str]) -> None:
    # a valid signed delivery is accepted and a signed artifact URL serves: the 4xx above are refusals
    body = json.dumps(fixture("issues/labeled.payload.json", installation={"id": 77})).encode()
    ok = post(service, body, {"Content-Type": "application/json", "X-GitHub-Event": "issues",
                              "X-GitHub-Delivery": "fuzz-baseline", "X-Hub-Signature-256": sign(SECRET, body)})
    assert ok.status_code == 202
    client, signed = artifacts
    assert client.get(signed).status_code == 200
