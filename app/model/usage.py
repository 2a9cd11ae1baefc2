"""Token usage, cost from the model's prices, and the Redis ledger behind per-story caps and daily budgets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from app.model.catalog import Price, UnknownModel, price_for

__all__ = ["DAY_KEY", "JOB_KEY", "MICRO", "STORY_KEY", "Budget", "BudgetExceeded", "Price", "UnknownModel", "Usage",
           "UsageLedger", "price_of"]

STORY_KEY = "specloop:usage:story:{}"
DAY_KEY = "specloop:usage:installation:{}:{}"
JOB_KEY = "specloop:usage:job:{}"
USAGE_TTL_SECONDS = 90 * 24 * 3600  # story totals outlive a sprint; daily keys only matter for a day
DAY_TTL_SECONDS = 3 * 24 * 3600
MICRO = 1_000_000  # costs are stored as integer micro-dollars so HINCRBY stays exact


def price_of(model: str, prompt_tokens: int = 0) -> Price:
    """Per-million-token prices for `model` (see app/model/catalog.py); raises UnknownModel, never guesses."""
    return price_for(model, prompt_tokens)


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
        """Usage of one Messages API response (the SDK's `message.usage`), priced for `model`.

        Cache writes are priced by their lifetime when the response splits them (`usage.cache_creation`:
        5-minute and 1-hour writes cost differently); otherwise all writes are priced as 5-minute ones."""
        tokens = [int(getattr(usage, name, 0) or 0) for name in
                  ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
        split = getattr(usage, "cache_creation", None)
        write_1h = int(getattr(split, "ephemeral_1h_input_tokens", 0) or 0) if split is not None else 0
        write_5m = tokens[2] - write_1h
        price = price_of(model, prompt_tokens=tokens[0] + tokens[2] + tokens[3])
        cost = (tokens[0] * price.input + tokens[1] * price.output + write_5m * price.cache_write_5m
                + write_1h * price.cache_write_1h + tokens[3] * price.cache_read) / 1_000_000
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
