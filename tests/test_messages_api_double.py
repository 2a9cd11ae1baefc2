"""The LLM double speaks the Messages API for the real anthropic SDK, faults included, and is as strict
as the API: each rule below gets the SDK error class the API's answer would give."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest
from anthropic import AsyncAnthropic, beta_async_tool
from pydantic import BaseModel

from app.model import catalog
from app.sandbox.messages_api import (
    Malformed,
    Slow,
    Text,
    ToolCalls,
    ToolUse,
    cut_off,
    overloaded,
    rate_limited,
    refusal,
    server_error,
)

MODEL = "claude-sonnet-4-6"  # forced tool use is allowed on it; the default Sonnet refuses it
TOOL = {
    "name": "record_map",
    "description": "Record the map.",
    "input_schema": {"type": "object", "properties": {"rules": {"type": "array"}}, "required": ["rules"]},
    "cache_control": {"type": "ephemeral"},
}
SHORT_SYSTEM = [{"type": "text", "text": "You map stories. " * 50, "cache_control": {"type": "ephemeral"}}]
# long enough to pass every model's caching minimum (the double counts about four characters a token)
LONG_SYSTEM = [{"type": "text", "text": "You map stories with care. " * 800, "cache_control": {"type": "ephemeral"}}]
USER = [{"role": "user", "content": "map this"}]


@pytest.fixture(autouse=True)
def _refusals_expected(llm):
    """These tests send requests the API refuses on purpose."""
    llm.allow_refused = True


@pytest.fixture
async def clients():
    """Make SDK clients against the double and close them after the test (filterwarnings=error)."""
    made: list[AsyncAnthropic] = []

    def make(llm, **kwargs) -> AsyncAnthropic:
        kwargs.setdefault("max_retries", 0)
        made.append(AsyncAnthropic(api_key="test", base_url=llm.base_url, **kwargs))
        return made[-1]

    yield make
    for sdk in made:
        await sdk.close()


async def ask(sdk: AsyncAnthropic, text: str = "map this", system: Any = SHORT_SYSTEM, **kwargs: Any):
    request: dict[str, Any] = {
        "model": MODEL, "max_tokens": 512, "system": system, "tools": [TOOL],
        "tool_choice": {"type": "tool", "name": "record_map"},
        "messages": [{"role": "user", "content": text}],
    }
    request.update(kwargs)
    return await sdk.messages.create(**request)


# --- replies -----------------------------------------------------------------------------------


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


async def test_cut_off_and_refusal_carry_their_stop_reasons(llm, clients):
    llm.script(cut_off('{"rules": ['), refusal())
    sdk = clients(llm)
    assert (await ask(sdk)).stop_reason == "max_tokens"
    assert (await ask(sdk)).stop_reason == "refusal"


async def test_structured_output_request_gets_the_scripted_dict_as_json_and_parse_reads_it(llm, clients):
    class Verdict(BaseModel):
        answer: str
        score: int

    llm.script({"answer": "yes", "score": 3})
    parsed = await clients(llm).messages.parse(model=catalog.DEFAULT_MODEL, max_tokens=256, messages=USER,
                                               output_format=Verdict)
    assert parsed.parsed_output == Verdict(answer="yes", score=3)
    assert llm.requests[0].body["output_config"]["format"]["type"] == "json_schema"


# --- caching -----------------------------------------------------------------------------------


async def test_repeated_identical_long_prefix_is_reported_as_a_cache_read(llm, clients):
    llm.script({"rules": []}, {"rules": []})
    sdk = clients(llm)
    first = await ask(sdk, "story one", system=LONG_SYSTEM)
    second = await ask(sdk, "story two", system=LONG_SYSTEM)
    assert first.usage.cache_creation_input_tokens > 0 and first.usage.cache_read_input_tokens == 0
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0


async def test_a_prefix_below_the_models_caching_minimum_is_neither_written_nor_read(llm, clients):
    llm.script({"rules": []}, {"rules": []})
    sdk = clients(llm)
    for text in ("story one", "story two"):
        usage = (await ask(sdk, text, system=SHORT_SYSTEM)).usage
        assert usage.cache_creation_input_tokens == 0 and usage.cache_read_input_tokens == 0


async def test_a_one_hour_breakpoint_is_reported_as_a_one_hour_write(llm, clients):
    llm.script({"rules": []})
    system = [{**LONG_SYSTEM[0], "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    usage = (await ask(clients(llm), system=system)).usage
    assert usage.cache_creation is not None
    assert usage.cache_creation.ephemeral_1h_input_tokens == usage.cache_creation_input_tokens > 0


# --- faults ------------------------------------------------------------------------------------


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


async def test_an_unscripted_request_fails_loudly_and_is_recorded(llm, clients):
    llm.allow_unscripted = True
    with pytest.raises(anthropic.InternalServerError, match="unscripted"):
        await ask(clients(llm, max_retries=3))
    # x-should-retry: false stops the SDK from retrying a request the test never planned for
    assert len(llm.requests) == 1 and len(llm.unscripted) == 1


# --- the API's rules, each answered as the API answers it ------------------------------------------


async def test_errors_have_the_apis_json_shape_and_request_id(llm, clients):
    with pytest.raises(anthropic.BadRequestError) as refused:
        await ask(clients(llm), max_tokens=0)
    assert llm.refused == llm.requests  # what the fixture fails a test for, unless it allows it
    body = refused.value.body
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert body["request_id"].startswith("req_") and refused.value.request_id == body["request_id"]


async def test_request_without_max_tokens_is_refused_like_the_real_api(llm, clients):
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        await clients(llm).messages.create(model=MODEL, max_tokens=0, messages=USER)


async def test_max_tokens_above_the_models_output_limit_is_refused(llm, clients):
    limit = catalog.lookup(MODEL).max_output
    with pytest.raises(anthropic.BadRequestError, match=f"max_tokens: {limit + 1} > {limit}"):
        # an explicit timeout: the SDK itself refuses a long non-streaming call before sending it
        await clients(llm).messages.create(model=MODEL, max_tokens=limit + 1, messages=USER, timeout=30)


async def test_an_unknown_model_is_not_found(llm, clients):
    with pytest.raises(anthropic.NotFoundError, match="model: claude-test"):
        await clients(llm).messages.create(model="claude-test", max_tokens=10, messages=USER)


async def test_a_retired_model_is_not_found(llm, clients):
    with pytest.raises(anthropic.NotFoundError):
        await clients(llm).messages.create(model="claude-3-5-haiku-20241022", max_tokens=10, messages=USER)


async def test_an_unknown_top_level_field_is_refused(llm, clients):
    with pytest.raises(anthropic.BadRequestError, match="temperatur: Extra inputs are not permitted"):
        await clients(llm).messages.create(model=MODEL, max_tokens=10, messages=USER,
                                           extra_body={"temperatur": 0.5})


async def test_an_unknown_field_inside_a_block_is_refused(llm, clients):
    messages = [{"role": "user", "content": [{"type": "text", "text": "x", "is_error": True}]}]
    with pytest.raises(anthropic.BadRequestError, match=r"messages\.0\.content\.0\.is_error: Extra inputs"):
        await clients(llm).messages.create(model=MODEL, max_tokens=10, messages=messages)


async def test_five_cache_breakpoints_are_refused(llm, clients):
    system = [{"type": "text", "text": f"part {i}", "cache_control": {"type": "ephemeral"}} for i in range(4)]
    with pytest.raises(anthropic.BadRequestError, match="maximum of 4 blocks with cache_control.*Found 5"):
        await ask(clients(llm), system=system)  # + the tool's breakpoint


async def test_a_cache_ttl_other_than_5m_or_1h_is_refused(llm, clients):
    system = [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "10m"}}]
    with pytest.raises(anthropic.BadRequestError, match=r"system\.0\.cache_control\.ttl: Input should be '5m' or '1h'"):
        await clients(llm).messages.create(model=MODEL, max_tokens=10, system=system, messages=USER)


@pytest.mark.parametrize("name", ["record map", "record.map", "", "x" * 65])
async def test_a_tool_name_outside_the_pattern_is_refused(llm, clients, name):
    with pytest.raises(anthropic.BadRequestError, match="String should match pattern"):
        await clients(llm).messages.create(model=MODEL, max_tokens=10, messages=USER,
                                           tools=[{**TOOL, "name": name}])


async def test_an_anthropic_defined_tool_must_carry_its_fixed_name(llm, clients):
    with pytest.raises(anthropic.BadRequestError, match=r"tools\.0\.name: Input should be 'bash'"):
        await clients(llm).messages.create(model=MODEL, max_tokens=10, messages=USER,
                                           tools=[{"type": "bash_20250124", "name": "shell"}])


async def test_thinking_with_forced_tool_use_is_refused(llm, clients):
    with pytest.raises(anthropic.BadRequestError, match="Thinking may not be enabled when tool_choice forces"):
        await ask(clients(llm), max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 2048})


async def test_forced_tool_use_on_a_model_that_refuses_it(llm, clients):
    with pytest.raises(anthropic.BadRequestError, match="forced tool use"):
        await ask(clients(llm), model=catalog.DEFAULT_MODEL)


async def test_tool_use_without_a_tool_result_is_refused(llm, clients):
    with pytest.raises(anthropic.BadRequestError, match="tool_result"):
        await clients(llm).messages.create(model=MODEL, max_tokens=10, tools=[TOOL], messages=[
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "record_map", "input": {}}]},
            {"role": "user", "content": "no result here"},
        ])


# --- what the code-generation agent needs ---------------------------------------------------------

AGENT_TOOLS: list[Any] = [
    {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
    {"type": "bash_20250124", "name": "bash"},
]


async def test_the_text_editor_and_bash_tools_are_served_and_scripted_calls_name_them(llm, clients):
    llm.script(ToolCalls(ToolUse({"command": "view", "path": "app.py"}, name="str_replace_based_edit_tool"),
                         ToolUse({"command": "pytest -q"}, name="bash"), text="Looking first."))
    message = await clients(llm).messages.create(model=catalog.DEFAULT_MODEL, max_tokens=4096,
                                                 tools=AGENT_TOOLS, messages=USER)
    assert [b.type for b in message.content] == ["text", "tool_use", "tool_use"]
    assert [b.name for b in message.content[1:]] == ["str_replace_based_edit_tool", "bash"]
    assert message.stop_reason == "tool_use"


async def test_streaming_text_and_tool_calls_through_messages_stream(llm, clients):
    llm.script(ToolCalls(ToolUse({"command": "ls -la"}, name="bash"), text="Let me look at the files first."))
    sdk = clients(llm)
    async with sdk.messages.stream(model=catalog.DEFAULT_MODEL, max_tokens=1024, tools=AGENT_TOOLS,
                                   messages=USER) as stream:
        texts = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(texts) == "Let me look at the files first."
    assert final.stop_reason == "tool_use" and final.content[1].input == {"command": "ls -la"}
    assert final.usage.output_tokens > 0
    assert llm.requests[0].body["stream"] is True


async def test_count_tokens_and_its_rules(llm, clients):
    sdk = clients(llm)
    counted = await sdk.messages.count_tokens(model=catalog.DEFAULT_MODEL, messages=USER, tools=AGENT_TOOLS)
    assert counted.input_tokens > 0
    with pytest.raises(anthropic.NotFoundError):
        await sdk.messages.count_tokens(model="claude-test", messages=USER)
    with pytest.raises(anthropic.BadRequestError, match="max_tokens: Extra inputs"):
        await sdk.messages.count_tokens(model=MODEL, messages=USER, extra_body={"max_tokens": 5})
    assert llm.requests == []  # count_tokens is never scripted nor faulted


async def test_models_retrieve_reports_the_output_limit(llm, clients):
    sdk = clients(llm)
    info = await sdk.models.retrieve(catalog.DEFAULT_MODEL)
    assert info.max_tokens == catalog.lookup(catalog.DEFAULT_MODEL).max_output and info.lifecycle == "active"
    with pytest.raises(anthropic.NotFoundError):
        await sdk.models.retrieve("claude-test")


async def test_a_scripted_agent_run_through_the_sdks_tool_runner(llm, clients):
    edits: list[dict[str, Any]] = []

    @beta_async_tool
    async def write_file(path: str, content: str) -> str:
        """Write a file in the work tree.

        Args:
            path: the file's path
            content: its new content
        """
        edits.append({"path": path, "content": content})
        return f"wrote {len(content)} characters to {path}"

    @beta_async_tool
    async def run_tests(selection: str) -> str:
        """Run the tests.

        Args:
            selection: which tests
        """
        return "2 passed"

    llm.script(
        ToolCalls(ToolUse({"path": "app.py", "content": "print('hi')\n"}, name="write_file")),
        ToolCalls(ToolUse({"selection": "tests/"}, name="run_tests"),
                  ToolUse({"path": "README.md", "content": "# hi\n"}, name="write_file")),
        Text("Done: both files written and the tests pass."),
    )
    sdk = clients(llm)
    runner = sdk.beta.messages.tool_runner(
        model=catalog.DEFAULT_MODEL, max_tokens=4096, tools=[write_file, run_tests], messages=USER,
        betas=["context-management-2025-06-27"],
        context_management={"edits": [{"type": "clear_tool_uses_20250919"}]},
    )
    final = await runner.until_done()
    assert final.content[-1].text.startswith("Done")
    assert [e["path"] for e in edits] == ["app.py", "README.md"]
    assert len(llm.answered) == 3 and all(r.beta for r in llm.requests)
    assert "context-management-2025-06-27" in llm.requests[0].betas
    results = [b for b in llm.requests[2].body["messages"][-1]["content"] if b["type"] == "tool_result"]
    assert [r["content"] if isinstance(r["content"], str) else r["content"][0]["text"] for r in results] == [
        "2 passed", "wrote 5 characters to README.md"]


async def test_structured_json_reply_is_plain_json_text(llm, clients):
    llm.script({"a": 1})
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
              "additionalProperties": False}
    message = await clients(llm).messages.create(model=catalog.DEFAULT_MODEL, max_tokens=64, messages=USER,
                                                 output_config={"format": {"type": "json_schema", "schema": schema}})
    assert json.loads(message.content[0].text) == {"a": 1}
