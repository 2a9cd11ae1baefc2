"""Injected faults: 5xx, secondary rate limits (403/429 with retry-after), latency, dropped webhooks."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID."
)


@dataclass
class Fault:
    """One fault rule: requests whose method and path match answer `status` (or just wait `latency`)."""

    method: str
    path: str
    status: int | None = 502
    times: int | None = 1  # None = forever
    retry_after: int | None = None
    latency: float = 0.0
    body: Any = None
    rate_limit: bool = False
    target: str = "api"  # api | git | webhook
    hits: int = 0
    pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.pattern = re.compile(self.path)

    @property
    def exhausted(self) -> bool:
        """True when the rule has fired `times` times already."""
        return self.times is not None and self.hits >= self.times

    def response(self) -> tuple[int, dict[str, str], Any] | None:
        """Status, headers and JSON body to answer, or None for a latency-only fault."""
        if self.status is None:
            return None
        headers: dict[str, str] = {}
        body = self.body
        if self.rate_limit or self.status == 429:
            reset = int(time.time()) + (self.retry_after or 60)
            headers.update({"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0",
                            "x-ratelimit-used": "5000", "x-ratelimit-reset": str(reset),
                            "x-ratelimit-resource": "core"})
            if body is None:
                body = {"message": SECONDARY_RATE_LIMIT_MESSAGE,
                        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                        "#about-secondary-rate-limits"}
        if self.retry_after is not None:
            headers["retry-after"] = str(self.retry_after)
        if body is None:
            body = {"message": {500: "Internal Server Error", 502: "Server Error",
                                503: "Service Unavailable", 504: "Gateway Timeout"}.get(self.status, "Fault"),
                    "documentation_url": "https://docs.github.com/rest"}
        return self.status, headers, body


class Faults:
    """The list of active fault rules; thread-safe."""

    def __init__(self) -> None:
        self.rules: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        """Register a rule (earlier rules win)."""
        with self._lock:
            self.rules.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self.rules.clear()

    def take(self, target: str, method: str, path: str) -> Fault | None:
        """The first live rule matching this request, counted as used."""
        with self._lock:
            for rule in self.rules:
                if rule.target != target or rule.exhausted:
                    continue
                if rule.method not in ("*", method.upper()):
                    continue
                if rule.pattern.search(path):
                    rule.hits += 1
                    return rule
        return None
