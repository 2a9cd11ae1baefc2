"""Token usage, cost from the model's prices, and the Redis ledger behind per-story caps and daily budgets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

# US dollars per million tokens: input, output, cache write (5 min), cache read. Matched by prefix,
# longest first, so dated ids ("claude-sonnet-4-5-20250929") find their family.
PRICES: dict[str, tuple[float, float, float, float]] = {
    "claude-opus-4-6": (5.0, 25.0, 6.25, 0.50),
    "claude-sonnet-4-6": (3.0, 15.0, 3.75, 0.30),
    "claude-opus-4-5": (5.0, 25.0, 6.25, 0.50),
    "claude-opus-4-1": (15.0, 75.0, 18.75, 1.50),
    "claude-opus-4": (15.0, 75.0, 18.75, 1.50),
    "claude-sonnet-4-5": (3.0, 15.0, 3.75, 0.30),
    "claude-sonnet-4": (3.0, 15.0, 3.75, 0.30),
    "claude-3-7-sonnet": (3.0, 15.0, 3.75, 0.30),
    "claude-haiku-4-5": (1.0, 5.0, 1.25, 0.10),
    "claude-3-5-haiku": (0.80, 4.0, 1.0, 0.08),
}
# An unknown model is charged like the dearest family, so a cap can only trip early, never late.
FALLBACK_PRICE = PRICES["claude-opus-4-1"]

STORY_KEY = "specloop:usage:story:{}"
DAY_KEY = "specloop:usage:installation:{}:{}"
JOB_KEY = "specloop:usage:job:{}"
USAGE_TTL_SECONDS = 90 * 24 * 3600  # story totals outlive a sprint; daily keys only matter for a day
DAY_TTL_SECONDS = 3 * 24 * 3600
MICRO = 1_000_000  # costs are stored as integer micro-dollars so HINCRBY stays exact


def price_of(model: str) -> tuple[float, float, float, float]:
    """Per-million-token prices (input, output, cache write, cache read) for `model`."""
    for prefix in sorted(PRICES, key=len, reverse=True):
        if model.startswith(prefix):
            return PRICES[prefix]
    return FALLBACK_PRICE


@dataclass
class Usage:
    """Tokens and cost of one or more model calls."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    model: str = ""

    @classmethod
    def from_response(cls, model: str, usage: object) -> Usage:
        """Usage of one Messages API response (the SDK's `message.usage`), priced for `model`."""
        tokens = [int(getattr(usage, name, 0) or 0) for name in
                  ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
        prices = price_of(model)
        cost = sum(count * price for count, price in
                   zip((tokens[0], tokens[1], tokens[2], tokens[3]), prices, strict=True)) / 1_000_000
        return cls(tokens[0], tokens[1], tokens[2], tokens[3], cost_usd=cost, calls=1, model=model)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
            self.cost_usd + other.cost_usd,
            self.calls + other.calls,
            self.model or other.model,
        )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary (for the map comment's footer and markers)."""
        return {
            "model": self.model, "calls": self.calls, "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens, "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens, "cost_usd": round(self.cost_usd, 6),
        }


@dataclass(frozen=True)
class Budget:
    """Spending limits: per story (all its jobs together) and per installation per UTC day, in USD."""

    story_cap_usd: float = 2.0
    daily_usd: float = 20.0


class BudgetExceeded(Exception):
    """The story's cost cap or the installation's daily budget is spent; the message fits a comment."""


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


class UsageLedger:
    """Usage recorded in Redis per story, per installation per day, and per job."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def record(self, usage: Usage, *, story: str, installation_id: int, job_id: str | None) -> None:
        """Add `usage` to the story's, the installation's daily and (when known) the job's totals."""
        fields = {
            "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
            "cache_creation_input_tokens": usage.cache_creation_input_tokens,
            "cache_read_input_tokens": usage.cache_read_input_tokens,
            "cost_micro_usd": round(usage.cost_usd * MICRO), "calls": usage.calls,
        }
        keys = [(STORY_KEY.format(story), USAGE_TTL_SECONDS),
                (DAY_KEY.format(installation_id, _today()), DAY_TTL_SECONDS)]
        if job_id:
            keys.append((JOB_KEY.format(job_id), USAGE_TTL_SECONDS))
        async with self.redis.pipeline(transaction=True) as pipe:
            for key, ttl in keys:
                for name, value in fields.items():
                    pipe.hincrby(key, name, value)
                pipe.expire(key, ttl)
            await pipe.execute()

    async def _cost(self, key: str) -> float:
        # redis-py types one method for sync and async clients (`T | Awaitable[T]`); asyncio's returns an awaitable
        raw = await self.redis.hget(key, "cost_micro_usd")  # type: ignore[misc]
        return int(raw or 0) / MICRO

    async def story_cost(self, story: str) -> float:
        """USD spent on `story` so far."""
        return await self._cost(STORY_KEY.format(story))

    async def day_cost(self, installation_id: int) -> float:
        """USD spent by an installation today (UTC)."""
        return await self._cost(DAY_KEY.format(installation_id, _today()))

    async def totals(self, key_kind: str, ident: str) -> Usage:
        """The recorded totals under a story (`story`), job (`job`) key, as a Usage."""
        key = {"story": STORY_KEY, "job": JOB_KEY}[key_kind].format(ident)
        raw = {k.decode() if isinstance(k, bytes) else k: int(v)
               for k, v in (await self.redis.hgetall(key)).items()}  # type: ignore[misc]  # as in _cost
        return Usage(raw.get("input_tokens", 0), raw.get("output_tokens", 0),
                     raw.get("cache_creation_input_tokens", 0), raw.get("cache_read_input_tokens", 0),
                     raw.get("cost_micro_usd", 0) / MICRO, raw.get("calls", 0))

    async def check(self, budget: Budget, *, story: str, installation_id: int) -> None:
        """Raise BudgetExceeded when either limit is already spent (checked BEFORE calling the model)."""
        spent = await self.story_cost(story)
        if spent >= budget.story_cap_usd:
            raise BudgetExceeded(
                f"this story has used ${spent:.2f} of model time, its cap is ${budget.story_cap_usd:.2f}; "
                "raise `budget.story_usd` in `.github/specloop.yml` to continue"
            )
        today = await self.day_cost(installation_id)
        if today >= budget.daily_usd:
            raise BudgetExceeded(
                f"this installation has used ${today:.2f} of model time today (UTC), its daily budget is "
                f"${budget.daily_usd:.2f}; it resets at midnight UTC, or raise `budget.installation_daily_usd`"
            )
