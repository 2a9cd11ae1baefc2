"""Injected faults: 5xx, secondary rate limits (403/429 with retry-after), latency, dropped webhooks.

A rule fires on every matching request until it has fired `times` times, or, with `ratio` below 1,
on about that share of them: each matching request draws from the rule's own random generator, seeded
with `seed`, so a run's faults are spread over it and the same from run to run (given the same order of
requests). `seen` counts the matching requests a rule looked at, `hits` those it failed.

An `applied` fault lets GitHub carry the request out (the comment is created, its webhook sent) and
then answers with the fault's status, as when a proxy times out after the write: a client that retries
a POST on a 5xx then does it twice.
"""

from __future__ import annotations

import random
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
    applied: bool = False  # the request is carried out first, then answered with the fault (api only)
    ratio: float = 1.0  # the share of matching requests that fail (drawn per request)
    seed: int = 0  # the seed of the rule's draws, for repeatable runs
    hits: int = 0  # requests the rule failed
    seen: int = 0  # matching requests the rule looked at (while not exhausted), failed or not
    pattern: re.Pattern[str] = field(init=False, repr=False)
    _draws: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.ratio <= 1.0:
            raise ValueError(f"a fault's ratio must be in (0, 1], not {self.ratio!r}")
        self.pattern = re.compile(self.path)
        self._draws = random.Random(self.seed)

    def fires(self) -> bool:
        """Whether this matching request is failed (counted in `seen`, and in `hits` when it is)."""
        self.seen += 1
        if self.ratio < 1.0 and self._draws.random() >= self.ratio:
            return False
        self.hits += 1
        return True

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
        """The first live rule matching this request that fires, counted as used.

        A ratio rule that lets the request through leaves it to the rules after it.
        """
        with self._lock:
            for rule in self.rules:
                if rule.target != target or rule.exhausted:
                    continue
                if rule.method not in ("*", method.upper()):
                    continue
                if rule.pattern.search(path) and rule.fires():
                    return rule
        return None
