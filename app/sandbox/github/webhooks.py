"""Signed webhook delivery: one background sender, deliveries in order, every attempt recorded."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import queue
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from .state import now

USER_AGENT = "GitHub-Hookshot/double"


def sign(secret: str, body: bytes) -> str:
    """`X-Hub-Signature-256` value: `sha256=` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every double's sender: loading the CA bundle costs ~40 ms a client."""
    return ssl.create_default_context()


@dataclass
class Delivery:
    """One webhook delivery attempt and its outcome."""

    id: int
    guid: str
    event: str
    action: str | None
    payload: dict[str, Any] = field(repr=False)
    body: bytes = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    url: str | None
    installation_id: int | None = None
    repository_id: int | None = None
    redelivery: bool = False
    status_code: int | None = None  # None until attempted; 0 when the receiver could not be reached
    response_body: str = ""
    response_headers: dict[str, str] = field(default_factory=dict, repr=False)
    delivered_at: datetime | None = None
    duration: float = 0.0
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def ok(self) -> bool:
        """True when the receiver answered 2xx."""
        return self.status_code is not None and 200 <= self.status_code < 300

    def json(self) -> Any:
        """The receiver's response body parsed as JSON (None when it is not JSON)."""
        try:
            return json.loads(self.response_body)
        except ValueError:
            return None


class Deliverer:
    """Sends deliveries from one thread so they arrive in the order they happened, like GitHub's queue."""

    def __init__(self, hook_id: int, fault_for: Callable[[str], Any] | None = None) -> None:
        self.hook_id = hook_id
        self.deliveries: list[Delivery] = []
        self._ids = iter(range(10_000_000_000, 99_999_999_999))
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._lock = threading.Lock()
        self._fault_for = fault_for
        self._thread: threading.Thread | None = None
        self._client: httpx.Client | None = None
        self.timeout = 10.0  # GitHub gives up after 10 s

    def start(self) -> None:
        """Start the sender thread."""
        self._client = httpx.Client(timeout=self.timeout, verify=_tls())
        self._thread = threading.Thread(target=self._run, name="github-double-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish pending deliveries and stop the sender."""
        if self._thread:
            self._queue.put(None)
            self._thread.join(timeout=15)
            self._thread = None
        if self._client:
            self._client.close()
            self._client = None

    def build(self, event: str, payload: dict[str, Any], secret: str | None, url: str | None, *,
              guid: str | None = None, headers: dict[str, str] | None = None,
              redelivery: bool = False, body: bytes | None = None) -> Delivery:
        """Serialise and sign a payload into a Delivery (not yet sent)."""
        body = body if body is not None else json.dumps(payload, separators=(",", ":")).encode()
        guid = guid or str(uuid.uuid4())
        hdrs = {
            "Content-Type": "application/json", "User-Agent": USER_AGENT, "X-GitHub-Event": event,
            "X-GitHub-Delivery": guid, "X-GitHub-Hook-ID": str(self.hook_id),
            "X-GitHub-Hook-Installation-Target-Type": "integration",
        }
        if secret is not None:
            hdrs["X-Hub-Signature-256"] = sign(secret, body)
            # GitHub still sends the legacy SHA-1 signature next to the SHA-256 one.
            hdrs["X-Hub-Signature"] = "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
        if headers:
            for key, value in headers.items():
                for existing in [k for k in hdrs if k.lower() == key.lower()]:
                    del hdrs[existing]
                if value is not None:
                    hdrs[key] = value
        inst = payload.get("installation") if isinstance(payload, dict) else None
        repo = payload.get("repository") if isinstance(payload, dict) else None
        with self._lock:
            delivery = Delivery(next(self._ids), guid, event, payload.get("action") if isinstance(payload, dict)
                                else None, payload, body, hdrs, url,
                                installation_id=inst.get("id") if isinstance(inst, dict) else None,
                                repository_id=repo.get("id") if isinstance(repo, dict) else None,
                                redelivery=redelivery)
            self.deliveries.append(delivery)
        return delivery

    def send(self, delivery: Delivery, wait: bool) -> Delivery:
        """Queue a delivery; with `wait`, block until it (and everything before it) was attempted."""
        self._queue.put(delivery)
        if wait:
            delivery.done.wait(timeout=self.timeout + 20)
        return delivery

    def drain(self, timeout: float = 30.0) -> None:
        """Block until every queued delivery was attempted."""
        deadline = time.monotonic() + timeout
        for d in list(self.deliveries):
            d.done.wait(timeout=max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while True:
            delivery = self._queue.get()
            if delivery is None:
                return
            try:
                self._attempt(delivery)
            finally:
                delivery.done.set()

    def _attempt(self, d: Delivery) -> None:
        if not d.url:
            d.error = "no webhook URL configured"
            return
        fault = self._fault_for(d.event) if self._fault_for else None
        if fault is not None:
            # a webhook fault means GitHub could not reach the receiver (dropped delivery)
            d.status_code, d.error, d.delivered_at = 0, f"fault injected: {fault}", now()
            return
        assert self._client is not None
        started = time.monotonic()
        d.delivered_at = now()
        try:
            resp = self._client.post(d.url, content=d.body, headers=d.headers)
            d.status_code = resp.status_code
            d.response_body = resp.text
            d.response_headers = dict(resp.headers)
        except httpx.HTTPError as exc:
            d.status_code, d.error = 0, f"{type(exc).__name__}: {exc}"
        d.duration = time.monotonic() - started
