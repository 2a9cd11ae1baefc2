"""The LLM double speaks the Messages API well enough for the real anthropic SDK, with faults."""

from __future__ import annotations

import anthropic
import pytest
from anthropic import AsyncAnthropic

from app.sandbox.messages_api import Malformed, Slow, Text, ToolUse, overloaded, rate_limited, server_error

TOOL = {
    "name": "record_map",
    "description": "Record the map.",
    "input_schema": {"type": "object", "properties": {"rules": {"type": "array"}}, "required": ["rules"]},
    "cache_control": {"type": "ephemeral"},
}
SYSTEM = [{"type": "text", "text": "You map stories. " * 50, "cache_control": {"type": "ephemeral"}}]


@pytest.fixture
async def clients():
    """Make SDK clients against the double and close them after the test (filterwarnings=error)."""
    made: list[AsyncAnthropic] = []

    def make(llm, **kwargs) -> AsyncAnthropic:
        made.append(AsyncAnthropic(api_key="test", base_url=llm.base_url, **kwargs))
        return made[-1]

    yield make
    for sdk in made:
        await sdk.close()


async def ask(sdk: AsyncAnthropic, text: str = "map this"):
    return await sdk.messages.create(
        model="claude-test", max_tokens=512, system=SYSTEM, tools=[TOOL],
        tool_choice={"type": "tool", "name": "record_map"},
        messages=[{"role": "user", "content": text}],
    )


async def test_scripted_tool_input_comes_back_as_a_tool_use_block(llm, clients):
    llm.script({"rules": ["one"]})
    message = await ask(clients(llm))
    block = message.content[0]
    assert message.stop_reason == "tool_use"
    assert block.type == "tool_use" and block.name == "record_map" and block.input == {"rules": ["one"]}
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert llm.requests[0].body["tool_choice"] == {"type": "tool", "name": "record_map"}


async def test_text_reply_and_optional_leading_text_block(llm, clients):
    llm.script(Text("hello"), ToolUse({"rules": []}, text="Let me think."))
    sdk = clients(llm)
    first = await ask(sdk)
    second = await ask(sdk)
    assert first.content[0].type == "text" and first.content[0].text == "hello"
    assert first.stop_reason == "end_turn"
    assert [b.type for b in second.content] == ["text", "tool_use"]


async def test_repeated_identical_system_prompt_is_reported_as_a_cache_read(llm, clients):
    llm.script({"rules": []}, {"rules": []})
    sdk = clients(llm)
    first = await ask(sdk, "story one")
    second = await ask(sdk, "story two")
    assert first.usage.cache_creation_input_tokens > 0 and first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0


async def test_rate_limit_carries_retry_after_and_the_sdk_retries_it(llm, clients):
    llm.script(rate_limited(0.05), {"rules": []})
    message = await ask(clients(llm, max_retries=1))
    assert message.content[0].input == {"rules": []}
    assert [r.status for r in llm.requests] == [429, 200]


async def test_overloaded_and_server_errors_surface_as_sdk_errors_without_retries(llm, clients):
    llm.script(overloaded(), server_error())
    sdk = clients(llm, max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as first:
        await ask(sdk)
    with pytest.raises(anthropic.InternalServerError):
        await ask(sdk)
    assert first.value.status_code == 529
    assert first.value.body["error"]["type"] == "overloaded_error"


async def test_slow_reply_trips_the_client_timeout(llm, clients):
    llm.script(Slow({"rules": []}, seconds=1.0))
    with pytest.raises(anthropic.APITimeoutError):
        await ask(clients(llm, max_retries=0, timeout=0.2))


async def test_malformed_json_body_breaks_the_sdks_parsing(llm, clients):
    llm.script(Malformed())
    # the SDK lets the decoder's error through; the model client turns it into a ModelError
    with pytest.raises(ValueError):
        await ask(clients(llm, max_retries=0))


async def test_request_without_max_tokens_is_refused_like_the_real_api(llm, clients):
    sdk = clients(llm, max_retries=0)
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        await sdk.messages.create(model="m", max_tokens=0, messages=[{"role": "user", "content": "x"}])


async def test_tool_use_without_a_tool_result_is_refused(llm, clients):
    sdk = clients(llm, max_retries=0)
    with pytest.raises(anthropic.BadRequestError, match="tool_result"):
        await sdk.messages.create(model="m", max_tokens=10, messages=[
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "record_map", "input": {}}]},
            {"role": "user", "content": "no result here"},
        ])


async def test_an_unscripted_request_fails_loudly_and_is_recorded(llm, clients):
    llm.allow_unscripted = True
    with pytest.raises(anthropic.InternalServerError, match="unscripted"):
        await ask(clients(llm, max_retries=3))
    # x-should-retry: false stops the SDK from retrying a request the test never planned for
    assert len(llm.requests) == 1 and len(llm.unscripted) == 1
