"""The one wrapper around `anthropic`: structured outputs, one repair, retries, caching, budgets, limits.

`structured()` sends a static system prompt with `cache_control` (the long stable prefix, so repeated
calls read it from the prompt cache), the untrusted text as delimited data, and asks for the answer in
the pydantic model's JSON schema through the API's structured outputs (`output_config.format`, the
schema made strict by the SDK's own `transform_schema`, exactly what `messages.parse` sends). The API
then keeps the answer inside the schema; what the schema cannot say (a pydantic validator, a constraint
`transform_schema` moves into a description) is checked here, and a miss goes back once with the
errors; a second miss is a `ModelError` whose message is fit for a comment.

`messages.parse` itself is not used because it validates inside the SDK before `stop_reason` can be
read: an answer cut off at `max_tokens`, or a refusal, would surface as a bare JSON error. Here both are
told apart and said plainly. Every call sets `max_tokens` (the caller's, capped at the model's output
limit from the Models API, or the catalog when that cannot be reached). Budgets are checked before
any call; an unknown model is refused before any call.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import anthropic
from anthropic import AsyncAnthropic, transform_schema
from anthropic.types import Message
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from app.domain.markers import strip_markers
from app.logs import job_id_var
from app.model import catalog
from app.model.prompts import DATA_RULE
from app.model.usage import Budget, BudgetExceeded, UnknownModel, Usage, UsageLedger
from app.settings import Settings

__all__ = ["Budget", "BudgetExceeded", "ModelClient", "ModelError", "Structured", "Usage"]

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

EPHEMERAL = {"type": "ephemeral"}
DEFAULT_MAX_TOKENS = 8192  # a caller that does not say; every job passes its own
RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504, 529}


class ModelError(Exception):
    """The model could not produce a usable answer; the message is fit for a comment on GitHub."""


@dataclass
class Structured(Generic[T]):
    """A validated structured answer and the usage of every call it took (including a repair)."""

    value: T
    usage: Usage
    repaired: bool = False


def delimit(data: str, tag: str) -> str:
    """Untrusted text inside `<tag>...</tag>`, with our markers stripped and the closing tag defused."""
    cleaned = strip_markers(data)
    # A body containing "</issue>" must not be able to close the data block and speak as the instruction.
    cleaned = re.sub(rf"<\s*/?\s*{re.escape(tag)}\s*>", lambda m: m.group(0).replace("<", "&lt;"), cleaned,
                     flags=re.IGNORECASE)
    return f"<{tag}>\n{cleaned}\n</{tag}>"


def _validation_errors(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors()[:20]:
        where = ".".join(str(part) for part in error["loc"]) or "(root)"
        lines.append(f"- {where}: {error['msg']}")
    return "\n".join(lines)


class ModelClient:
    """Async structured calls to the Messages API with usage, cost and budgets recorded in Redis."""

    def __init__(
        self,
        sdk: AsyncAnthropic,
        redis: Redis | None,
        *,
        model: str,
        max_retries: int = 4,
        budget: Budget | None = None,
        backoff_base: float = 0.5,
        max_wait: float = 60.0,
    ) -> None:
        self.sdk = sdk
        self.ledger = UsageLedger(redis) if redis is not None else None
        self.model = model
        self.max_retries = max_retries
        self.budget = budget or Budget()
        self.backoff_base = backoff_base
        self.max_wait = max_wait
        self._limits: dict[str, int] = {}  # output limits per model, asked once

    @classmethod
    def from_settings(cls, settings: Settings, redis: Redis | None) -> ModelClient | None:
        """The client for the operator's settings, or None without ANTHROPIC_API_KEY (offline mode)."""
        key = settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else ""
        if not key.strip():
            return None
        # Retries are ours (see _create): the SDK would sleep as long as any retry-after says.
        sdk = AsyncAnthropic(api_key=key, base_url=settings.anthropic_base_url or None,
                             timeout=settings.model_timeout, max_retries=0)
        budget = Budget(
            story_cap_usd=settings.model_story_cap_usd,
            daily_usd=settings.model_daily_budget_usd,
        )
        return cls(sdk, redis, model=settings.model, max_retries=settings.model_max_retries, budget=budget)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.sdk.close()

    aclose = close  # the worker's on_shutdown looks for `aclose`

    async def output_limit(self, model: str) -> int:
        """The largest `max_tokens` `model` accepts: the Models API's answer, else the catalog's (cached)."""
        cached = self._limits.get(model)
        if cached is not None:
            return cached
        limit = catalog.lookup(model).max_output
        try:
            info = await self.sdk.models.retrieve(model, timeout=min(10.0, self.max_wait))
            if info.max_tokens:
                limit = int(info.max_tokens)
        except (anthropic.APIError, ValueError) as exc:  # unreachable, refused, or not JSON: the table
            log.info("models API unavailable, using the catalog's output limit",
                     extra={"model": model, "error": type(exc).__name__})
        self._limits[model] = limit
        return limit

    async def structured(
        self,
        schema: type[T],
        system: str,
        data: str,
        instruction: str,
        story: str,
        installation_id: int,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        *,
        model: str | None = None,
        budget: Budget | None = None,
        data_tag: str = "data",
    ) -> Structured[T]:
        """Ask for one `schema` answer about `data`; raises ModelError or BudgetExceeded (before calling)."""
        model = model or self.model
        budget = budget or self.budget
        try:
            catalog.lookup(model)
        except UnknownModel as exc:
            raise ModelError(f"the model {exc}. Set `model.name` in `.github/specloop.yml` (or the "
                             "operator's MODEL) to one of them") from exc
        limit = await self.output_limit(model)
        max_tokens = max(1, min(max_tokens, limit))
        output_config = {"format": {"type": "json_schema", "schema": transform_schema(schema)}}
        system_blocks = [{"type": "text", "text": f"{system.strip()}\n\n{DATA_RULE.format(tag=data_tag)}",
                          "cache_control": EPHEMERAL}]
        messages: list[dict[str, Any]] = [
            {"role": "user", "content": [{"type": "text", "text": f"{instruction.strip()}\n\n{delimit(data, data_tag)}"}]}
        ]
        total = Usage(model=model)
        problem = ""
        for attempt in range(2):  # the answer, then at most one repair
            if self.ledger is not None:
                await self.ledger.check(budget, story=story, installation_id=installation_id)
            message = await self._create(model=model, max_tokens=max_tokens, system=system_blocks,
                                         messages=messages, output_config=output_config)
            usage = Usage.from_response(model, message.usage)
            total = total + usage
            if self.ledger is not None:
                await self.ledger.record(usage, story=story, installation_id=installation_id,
                                         job_id=job_id_var.get())
            _raise_for_stop(message, max_tokens=max_tokens, limit=limit, model=model)
            text = "".join(block.text for block in message.content if block.type == "text")
            try:
                value = schema.model_validate_json(text)
            except ValidationError as exc:
                problem = _validation_errors(exc)
                log.info("model answer failed validation", extra={"attempt": attempt + 1, "schema": schema.__name__})
                messages += [
                    {"role": "assistant", "content": [{"type": "text", "text": text or "(no answer)"}]},
                    {"role": "user", "content": [{
                        "type": "text",
                        "text": "Your answer did not pass validation:\n" + problem
                        + "\nAnswer again with the complete, corrected JSON.",
                    }]},
                ]
                continue
            return Structured(value=value, usage=total, repaired=attempt > 0)
        raise ModelError(
            f"the model's answer did not fit the expected format, even after one repair:\n{problem}"
        )

    async def _create(self, **request: Any) -> Message:
        """One Messages API call, retried with backoff on 429/529/5xx/timeouts, honouring retry-after."""
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            try:
                # without `stream`, create() answers a whole Message (the overloads cannot see that through **)
                message: Message = await self.sdk.messages.create(**request)
                return message
            except anthropic.APIStatusError as exc:
                # The API says when a retry cannot help (x-should-retry: false); believe it.
                if exc.status_code not in RETRY_STATUSES or exc.response.headers.get("x-should-retry") == "false":
                    raise ModelError(f"the model API refused the request ({exc.status_code}: "
                                     f"{_api_message(exc)})") from exc
                reason = f"{exc.status_code} {_api_error_type(exc)}"
                wait = self._wait(attempt, exc.response.headers)
            except (anthropic.APITimeoutError, anthropic.APIConnectionError) as exc:
                reason = "timed out" if isinstance(exc, anthropic.APITimeoutError) else "could not be reached"
                wait = self._wait(attempt, None)
            except ValueError as exc:  # the SDK lets a broken JSON body through as a decode error
                reason = "sent a response that is not valid JSON"
                wait = self._wait(attempt, None)
                log.warning("model API returned malformed JSON", extra={"error": str(exc)[:200]})
            if attempt + 1 >= attempts:
                raise ModelError(f"the model API was unavailable ({reason}) after {attempts} attempts; "
                                 "try again in a few minutes")
            if wait > self.max_wait:
                raise ModelError(f"the model API asked to wait {wait:.0f} s ({reason}); try again later")
            log.info("model API call failed, retrying", extra={"reason": reason, "wait": wait})
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    def _wait(self, attempt: int, headers: Mapping[str, str] | None) -> float:
        """Seconds before the next attempt: the server's retry-after if any, else jittered backoff."""
        if headers is not None:
            for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
                raw = headers.get(name)
                if raw is not None:
                    try:
                        return max(0.0, float(raw) * scale)
                    except ValueError:
                        pass
        return self.backoff_base * (2.0**attempt) * (0.75 + random.random() * 0.25)


def _raise_for_stop(message: Message, *, max_tokens: int, limit: int, model: str) -> None:
    """An answer that stopped for a reason other than finishing, said plainly (ModelError)."""
    reason = message.stop_reason
    if reason == "max_tokens":
        if max_tokens < limit:
            raise ModelError(
                f"the model's answer was cut off at {max_tokens} tokens, before it was complete; raise "
                f"`model.max_tokens` in `.github/specloop.yml` (`{model}` allows up to {limit}) and try again"
            )
        raise ModelError(
            f"the model's answer was cut off at {max_tokens} tokens, the most `{model}` can write in one "
            "answer; split the story into smaller ones, or choose a model with a larger output limit"
        )
    if reason == "refusal":
        raise ModelError(
            "the model declined to answer this request (stop reason `refusal`), so nothing was changed; "
            "rephrase the issue or the comments it read and try again"
        )
    if reason == "model_context_window_exceeded":
        raise ModelError(
            f"the issue and its discussion are longer than `{model}` can read at once; shorten the thread "
            "or choose a model with a larger context window"
        )


def _api_error_type(exc: anthropic.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    error = error if isinstance(error, dict) else {}
    return str(error.get("type") or "error")


def _api_message(exc: anthropic.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    error = error if isinstance(error, dict) else {}
    return str(error.get("message") or exc.message)[:300]
