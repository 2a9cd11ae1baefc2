"""The models Specloop knows: ids, prices, output limits, caching minimums, lifecycle.

One table, read by the price calculation (app/model/usage.py), the settings check (an unknown `MODEL` is
refused at start-up), the model client (output limits when the Models API cannot be reached) and the LLM
double (app/sandbox/messages_api.py: known ids, `max_tokens` limits, caching minimums).

CHECKED is the day the table was last compared with the SDK's `anthropic.types.Model` (the ids), the
published pricing page (USD per million tokens: input, output, 5-minute cache write, 1-hour cache write,
cache read) and the model overview pages (max output, prompt-caching minimum). Update the date with the table.

Lookup is exact first: an id in the table (or one of its listed aliases) is its own row. A dated id
(`claude-opus-4-5-20251101`, `claude-opus-4-20250514`) maps to its family by dropping the `-YYYYMMDD`
suffix and looking the rest up exactly; there is no prefix matching, so `claude-opus-4` can never price
`claude-opus-4-8`. Anything else is unknown: `UnknownModel`, never a silent fallback price.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

CHECKED = "2026-11-29"

# The Sonnet the SDK lists as current on CHECKED; the operator's default MODEL.
DEFAULT_MODEL = "claude-sonnet-5-5"

Lifecycle = Literal["active", "deprecated", "retired"]


class Price(NamedTuple):
    """USD per million tokens."""

    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float


@dataclass(frozen=True)
class ModelSpec:
    """One model family as Specloop uses it."""

    id: str
    price: Price
    max_output: int  # the largest `max_tokens` the API accepts for it
    cache_minimum: int  # a cached prefix shorter than this is neither written nor read
    lifecycle: Lifecycle = "active"
    aliases: tuple[str, ...] = ()
    # Adaptive thinking that cannot be turned off (and Sonnet 5.5, which refuses it outright): the API
    # refuses `tool_choice` {"type": "any"|"tool"} for these, so structured answers use output_config.
    forced_tool_use: bool = True
    # Haiku 5.5 bills a request whose prompt (input + cache reads + cache writes) exceeds the threshold
    # at a second, higher price on every token of that request.
    long_prompt: tuple[int, Price] | None = None
    current: bool = field(default=False)  # listed in the SDK's `Model` type on CHECKED


def _p(inp: float, out: float, w5: float, w1: float, read: float) -> Price:
    return Price(inp, out, w5, w1, read)


FABLE_5_2 = _p(8.0, 40.0, 10.0, 16.0, 0.20)
FABLE_5_1 = _p(10.0, 50.0, 12.50, 20.0, 0.25)
FABLE_5 = _p(10.0, 50.0, 12.50, 20.0, 1.00)
OPUS_5_5 = _p(4.0, 20.0, 5.0, 8.0, 0.20)
OPUS_NEW = _p(5.0, 25.0, 6.25, 10.0, 0.50)  # Opus 4.5 .. Opus 5
OPUS_OLD = _p(15.0, 75.0, 18.75, 30.0, 1.50)  # Opus 4, 4.1
SONNET_5_5 = _p(2.0, 10.0, 2.50, 4.0, 0.10)  # cache reads cut from $0.20 on 2026-10-07
SONNET_5 = _p(2.0, 10.0, 2.50, 4.0, 0.20)
SONNET_4 = _p(3.0, 15.0, 3.75, 6.0, 0.30)  # Sonnet 3.7 .. 4.6
HAIKU_5_5 = _p(0.10, 0.50, 0.125, 0.20, 0.01)  # prompts up to 100k tokens
HAIKU_5_5_LONG = _p(0.50, 2.50, 0.625, 1.00, 0.05)  # prompts over 100k tokens
HAIKU_4_5 = _p(1.0, 5.0, 1.25, 2.0, 0.10)
HAIKU_3_5 = _p(0.80, 4.0, 1.0, 1.6, 0.08)
HAIKU_3 = _p(0.25, 1.25, 0.30, 0.50, 0.03)
MYTHOS_PREVIEW = _p(25.0, 125.0, 31.25, 50.0, 2.50)

K = 1000
MODELS: tuple[ModelSpec, ...] = (
    # current: every id in anthropic.types.Model on CHECKED
    ModelSpec("claude-fable-5-2", FABLE_5_2, 128 * K, 2048, forced_tool_use=False, current=True),
    ModelSpec("claude-mythos-5-2", FABLE_5_2, 128 * K, 2048, forced_tool_use=False, current=True),
    ModelSpec("claude-haiku-5-5", HAIKU_5_5, 128 * K, 4096, long_prompt=(100 * K, HAIKU_5_5_LONG), current=True),
    ModelSpec("claude-sonnet-5-5", SONNET_5_5, 128 * K, 2048, forced_tool_use=False, current=True),
    ModelSpec("claude-fable-5-1", FABLE_5_1, 128 * K, 2048, forced_tool_use=False, current=True),
    ModelSpec("claude-opus-5-5", OPUS_5_5, 128 * K, 4096, forced_tool_use=False, current=True),
    ModelSpec("claude-mythos-5-1", FABLE_5_1, 128 * K, 2048, forced_tool_use=False, current=True),
    ModelSpec("claude-sonnet-5", SONNET_5, 128 * K, 2048, current=True),
    ModelSpec("claude-fable-5", FABLE_5, 128 * K, 2048, current=True),
    ModelSpec("claude-mythos-5", FABLE_5, 128 * K, 2048, current=True),
    ModelSpec("claude-opus-5", OPUS_NEW, 128 * K, 4096, current=True),
    ModelSpec("claude-opus-4-8", OPUS_NEW, 128 * K, 4096, current=True),
    ModelSpec("claude-opus-4-7", OPUS_NEW, 128 * K, 4096, current=True),
    ModelSpec("claude-mythos-preview", MYTHOS_PREVIEW, 128 * K, 4096, "deprecated", current=True),
    ModelSpec("claude-opus-4-6", OPUS_NEW, 128 * K, 4096, current=True),
    # 2048: what the API enforces on Sonnet 4.6 (anthropic-sdk-python#1194), though the docs said 1024
    ModelSpec("claude-sonnet-4-6", SONNET_4, 64 * K, 2048, current=True),
    ModelSpec("claude-haiku-4-5", HAIKU_4_5, 64 * K, 4096, current=True),
    ModelSpec("claude-opus-4-5", OPUS_NEW, 64 * K, 4096, "deprecated", current=True),
    ModelSpec("claude-sonnet-4-5", SONNET_4, 64 * K, 1024, "deprecated", current=True),
    # legacy: ids the SDK still knows (its MODEL_NONSTREAMING_TOKENS) and older ledgers may name
    ModelSpec("claude-opus-4-1", OPUS_OLD, 32 * K, 1024, "retired"),
    ModelSpec("claude-opus-4-0", OPUS_OLD, 32 * K, 1024, "retired", aliases=("claude-opus-4", "claude-4-opus")),
    ModelSpec("claude-sonnet-4-0", SONNET_4, 64 * K, 1024, "deprecated", aliases=("claude-sonnet-4", "claude-4-sonnet")),
    ModelSpec("claude-3-7-sonnet", SONNET_4, 64 * K, 1024, "retired", aliases=("claude-3-7-sonnet-latest",)),
    ModelSpec("claude-3-5-haiku", HAIKU_3_5, 8192, 2048, "retired", aliases=("claude-3-5-haiku-latest",)),
    ModelSpec("claude-3-haiku", HAIKU_3, 4096, 2048, "deprecated"),
)

_BY_ID: dict[str, ModelSpec] = {}
for _spec in MODELS:
    for _name in (_spec.id, *_spec.aliases):
        _BY_ID[_name] = _spec
_DATED = re.compile(r"^(?P<family>.+)-(?P<date>20\d{6})$")


class UnknownModel(ValueError):
    """A model id that is not in the table; the message names the choices."""

    def __init__(self, model: str) -> None:
        self.model = model
        super().__init__(
            f"`{model}` is not a model Specloop knows (its price and limits are unknown); choose one of: "
            + ", ".join(choices())
        )


def lookup(model: str) -> ModelSpec:
    """The row for `model` (exact id or alias first, then a dated id's family); raises UnknownModel."""
    spec = _BY_ID.get(model)
    if spec is None:
        dated = _DATED.match(model)
        if dated is not None:
            spec = _BY_ID.get(dated.group("family"))
    if spec is None:
        raise UnknownModel(model)
    return spec


def is_known(model: str) -> bool:
    """Whether `model` has a row (any lifecycle)."""
    try:
        lookup(model)
    except UnknownModel:
        return False
    return True


def choices() -> list[str]:
    """The ids an operator may choose (not retired), newest first as the SDK lists them."""
    return [spec.id for spec in MODELS if spec.lifecycle != "retired"]


def price_for(model: str, prompt_tokens: int = 0) -> Price:
    """The price of one request to `model` whose prompt (input + cache reads + writes) is `prompt_tokens`."""
    spec = lookup(model)
    if spec.long_prompt is not None and prompt_tokens > spec.long_prompt[0]:
        return spec.long_prompt[1]
    return spec.price
