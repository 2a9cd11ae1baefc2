"""The model table: every id the SDK knows is priced, exact ids before families, no silent fallback,
an unknown MODEL refused at start-up, and the default the current Sonnet."""

from __future__ import annotations

import typing

import pytest
from anthropic._constants import MODEL_NONSTREAMING_TOKENS
from anthropic._data import DEPRECATED_MODELS
from anthropic.types import Model
from pydantic import ValidationError

from app.model import catalog
from app.model.usage import UnknownModel, Usage, price_of
from app.settings import Settings


def sdk_model_ids() -> list[str]:
    literal = next(arg for arg in typing.get_args(Model) if typing.get_origin(arg) is typing.Literal)
    return list(typing.get_args(literal))


def test_the_table_was_checked_on_the_stated_day():
    assert catalog.CHECKED == "2026-11-29"


@pytest.mark.parametrize("model", sdk_model_ids())
def test_every_model_the_sdk_lists_has_a_full_price_and_limits(model):
    spec = catalog.lookup(model)
    assert all(value > 0 for value in spec.price)
    assert spec.price.cache_read < spec.price.input < spec.price.cache_write_5m < spec.price.cache_write_1h
    assert spec.max_output >= 4096 and spec.cache_minimum >= 1024


def test_the_sdks_deprecated_and_legacy_ids_are_known():
    legacy = [m for m in MODEL_NONSTREAMING_TOKENS if m.startswith("claude-") and "@" not in m]
    for model in [*DEPRECATED_MODELS, *legacy]:
        assert catalog.is_known(model), model


def test_default_model_is_the_current_sonnet_the_sdk_lists():
    assert catalog.DEFAULT_MODEL in sdk_model_ids()
    assert "sonnet" in catalog.DEFAULT_MODEL and catalog.lookup(catalog.DEFAULT_MODEL).lifecycle == "active"
    assert catalog.DEFAULT_MODEL not in DEPRECATED_MODELS
    assert Settings(_env_file=None).model == catalog.DEFAULT_MODEL


@pytest.mark.parametrize(("model", "family"), [
    ("claude-opus-4-5-20251101", "claude-opus-4-5"),
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
    ("claude-opus-4-20250514", "claude-opus-4-0"),
    ("claude-4-opus-20250514", "claude-opus-4-0"),
    ("claude-opus-4-1-20250805", "claude-opus-4-1"),
    ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
])
def test_dated_ids_and_aliases_map_to_their_family(model, family):
    assert catalog.lookup(model) is catalog.lookup(family)


def test_a_later_opus_is_not_charged_the_opus_4_price():
    old = price_of("claude-opus-4-0")
    for model in ("claude-opus-4-5", "claude-opus-4-6", "claude-opus-4-7", "claude-opus-4-8", "claude-opus-5"):
        assert price_of(model).input == old.input / 3, model
    assert price_of("claude-opus-5-5").input == 4.0


def test_published_prices_of_the_current_lineup():
    assert price_of("claude-sonnet-5-5") == (2.0, 10.0, 2.5, 4.0, 0.10)
    assert price_of("claude-opus-5-5") == (4.0, 20.0, 5.0, 8.0, 0.20)
    assert price_of("claude-sonnet-4-6") == (3.0, 15.0, 3.75, 6.0, 0.30)
    assert price_of("claude-fable-5-1").cache_read == 0.25


@pytest.mark.parametrize("model", ["claude-nonsense", "claude-opus-4-9", "claude-opus-4-8x", "gpt-5", ""])
def test_an_unknown_model_has_no_price(model):
    with pytest.raises(UnknownModel, match="is not a model Specloop knows"):
        price_of(model)


def test_haiku_5_5_long_prompts_pay_the_higher_price():
    assert price_of("claude-haiku-5-5", prompt_tokens=50_000).input == 0.10
    assert price_of("claude-haiku-5-5", prompt_tokens=150_000).input == 0.50


class _Split:
    ephemeral_5m_input_tokens = 1_000_000
    ephemeral_1h_input_tokens = 1_000_000


class _Usage:
    input_tokens = 1_000_000
    output_tokens = 1_000_000
    cache_creation_input_tokens = 2_000_000
    cache_read_input_tokens = 1_000_000
    cache_creation = _Split()


def test_cost_prices_one_hour_cache_writes_at_their_own_rate():
    usage = Usage.from_response("claude-sonnet-5-5", _Usage())
    assert usage.cost_usd == pytest.approx(2.0 + 10.0 + 2.5 + 4.0 + 0.10)


def test_an_unknown_model_setting_is_refused_at_start_up_naming_the_choices():
    with pytest.raises(ValidationError, match="MODEL `claude-nonsense` is not a model Specloop knows") as refused:
        Settings(_env_file=None, model="claude-nonsense")
    assert catalog.DEFAULT_MODEL in str(refused.value)


def test_a_retired_model_setting_is_refused():
    with pytest.raises(ValidationError, match="retired"):
        Settings(_env_file=None, model="claude-3-7-sonnet-20250219")


def test_a_dated_id_of_a_current_model_is_accepted():
    assert Settings(_env_file=None, model="claude-haiku-4-5-20251001").model == "claude-haiku-4-5-20251001"
