"""The one wrapper around `anthropic`: forced-tool structured output, one repair, retries, caching, budgets.

`structured()` sends a static system prompt and the tool definition with `cache_control` (they are the
long stable prefix, so repeated calls read them from the prompt cache), the untrusted text as delimited
data, and forces the model to answer through the tool. The answer is validated into the pydantic model;
when it does not fit, the validation errors go back once as an `is_error` tool_result, and a second
miss is a `ModelError` whose message is fit for a comment. Budgets are checked before any call.
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
from anthropic import AsyncAnthropic
from anthropic.types import Message
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from app.domain.markers import strip_markers
from app.logs import job_id_var
from app.model.prompts import DATA_RULE
from app.model.usage import Budget, BudgetExceeded, Usage, UsageLedger
from app.settings import Settings

__all__ = ["Budget", "BudgetExceeded", "ModelClient", "ModelError", "Structured", "Usage"]

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

EPHEMERAL = {"type": "ephemeral"}
RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504, 529}


class ModelError(Exception):
    """The model could not produce a usable answer; the message is fit for a comment on GitHub."""


@dataclass
class Structured(Generic[T]):
    """A validated structured answer and the usage of every call it took (including a repair)."""

    value: T
    usage: Usage
    repaired: bool = False


def tool_name_for(schema: type[BaseModel]) -> str:
    """`ExampleMapDraft` -> `record_example_map_draft`: a tool name the API accepts."""
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", schema.__name__).lower()
    return f"record_{snake}"[:64]


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

    async def structured(
        self,
        schema: type[T],
        system: str,
        data: str,
        instruction: str,
        story: str,
        installation_id: int,
        max_tokens: int = 4096,
        *,
        model: str | None = None,
        budget: Budget | None = None,
        data_tag: str = "data",
    ) -> Structured[T]:
        """Ask for one `schema` answer about `data`; raises ModelError or BudgetExceeded (before calling)."""
        model = model or self.model
        budget = budget or self.budget
        name = tool_name_for(schema)
        tool = {
            "name": name,
            "description": (schema.__doc__ or f"Record the {schema.__name__}.").strip(),
            "input_schema": schema.model_json_schema(),
            "cache_control": EPHEMERAL,
        }
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
            message = await self._create(model=model, max_tokens=max_tokens, system=system_blocks, tools=[tool],
                                         tool_choice={"type": "tool", "name": name}, messages=messages)
            usage = Usage.from_response(model, message.usage)
            total = total + usage
            if self.ledger is not None:
                await self.ledger.record(usage, story=story, installation_id=installation_id,
                                         job_id=job_id_var.get())
            block = next((b for b in message.content if b.type == "tool_use" and b.name == name), None)
            if block is None:
                problem = f"the model answered without calling `{name}` (stop reason {message.stop_reason})"
                messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]},
                             {"role": "user", "content": f"Answer only by calling the `{name}` tool."}]
                continue
            try:
                value = schema.model_validate(block.input)
            except ValidationError as exc:
                problem = _validation_errors(exc)
                log.info("model answer failed validation", extra={"attempt": attempt + 1, "tool": name})
                messages += [
                    {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]},
                    {"role": "user", "content": [{
                        "type": "tool_result", "tool_use_id": block.id, "is_error": True,
                        "content": "Your input did not match the tool's schema:\n" + problem
                        + "\nCall the tool again with a complete, corrected input.",
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
