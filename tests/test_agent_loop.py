"""The agent's loop (app/agent/loop.py) on the real SDK's tool runner against the LLM double: what ends a
run (finish, the model going quiet, turns, the run's dollar cap, the story's cap, a cut-off, a refusal, an
API that keeps failing), that nothing runs or is asked for after the end, and that model faults are retried.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from anthropic import AsyncAnthropic
from anthropic.lib.tools import BetaAsyncBuiltinFunctionTool
from anthropic.types.beta import BetaToolUnionParam
from redis.asyncio import Redis

from app.agent.loop import AgentLimits, AgentSetup, TurnReport, run_agent
from app.agent.qa_tool import FINISH_TOOL
from app.model import catalog
from app.model.usage import Budget, UsageLedger
from app.sandbox.messages_api import Fault, Text, ToolCalls, ToolUse, cut_off, overloaded, refusal

MODEL = catalog.DEFAULT_MODEL


class Note(BetaAsyncBuiltinFunctionTool):
    """A custom tool that records each call (so a test sees what ran)."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def to_dict(self) -> BetaToolUnionParam:
        return {"name": "note", "description": "Write a note.", "input_schema": {
            "type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}

    async def call(self, input: object) -> str:
        self.calls.append(input)
        return "noted"


def note(text: str) -> ToolUse:
    return ToolUse({"text": text}, name="note")


def finish(summary: str) -> ToolUse:
    return ToolUse({"summary": summary}, name="finish")


def setup(tool: Note, **limits: Any) -> AgentSetup:
    values: dict[str, Any] = {"max_turns": 10, "max_seconds": 600.0, "max_usd": 5.0, "budget": Budget(),
                              "story": "octo-org/shop#1", "installation_id": 1, **limits}
    return AgentSetup(model=MODEL, system="You write notes.", first_message="Write two notes.",
                      tools=[tool, FINISH_TOOL], limits=AgentLimits(**values), max_tokens=1024)


@pytest.fixture
async def sdk(llm: Any) -> Any:
    client = AsyncAnthropic(api_key="test", base_url=llm.base_url, max_retries=2)
    yield client
    await client.close()


async def test_finish_ends_the_run_with_its_summary_and_nothing_after_it_runs(llm: Any, sdk: Any) -> None:
    tool = Note()
    llm.script(ToolCalls(note("one")), ToolCalls(note("two"), finish("Two notes written.")))
    turns: list[TurnReport] = []

    async def seen(report: TurnReport) -> None:
        turns.append(report)

    outcome = await run_agent(sdk, setup(tool), on_turn=seen)
    assert (outcome.stop, outcome.summary, outcome.turns) == ("finished", "Two notes written.", 2)
    assert tool.calls == [{"text": "one"}]  # the call beside `finish` never ran, and no third request went out
    assert len(llm.requests) == 2 and [t.tools for t in turns] == [["note"], ["note", "finish"]]
    assert outcome.usage.calls == 2 and outcome.usage.cost_usd > 0 and outcome.prompt_tokens
    first = llm.requests[0].body
    assert first["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert first["context_management"]["edits"][0]["type"] == "clear_tool_uses_20250919"
    assert "context-management-2025-06-27" in llm.requests[0].betas


async def test_a_model_that_stops_calling_tools_ends_the_run_with_its_last_words(llm: Any, sdk: Any) -> None:
    llm.script(ToolCalls(note("one")), Text("All done, I think."))
    outcome = await run_agent(sdk, setup(Note()))
    assert (outcome.stop, outcome.summary, outcome.finished) == ("ended", "All done, I think.", True)


async def test_turns_run_out(llm: Any, sdk: Any) -> None:
    tool = Note()
    llm.script(ToolCalls(note("1")), ToolCalls(note("2")), ToolCalls(note("3")))
    outcome = await run_agent(sdk, setup(tool, max_turns=2))
    assert (outcome.stop, outcome.turns, len(llm.requests)) == ("turns", 2, 2)
    assert "all 2 turns (`code.max_turns`)" in outcome.reason and not outcome.finished
    assert tool.calls == [{"text": "1"}, {"text": "2"}]  # the last paid-for turn's calls still ran
    llm.reset()  # the third reply was never asked for


async def test_the_runs_dollar_cap_stops_it_between_turns(llm: Any, sdk: Any) -> None:
    tool = Note()
    llm.script(ToolCalls(note("1")), ToolCalls(note("2")))
    outcome = await run_agent(sdk, setup(tool, max_usd=0.000001))
    assert (outcome.stop, outcome.turns) == ("budget", 1) and "`code.max_usd`" in outcome.reason
    assert tool.calls == [{"text": "1"}] and len(llm.requests) == 1
    llm.reset()


async def test_the_storys_cap_in_the_shared_ledger_stops_the_run_before_it_starts(
    llm: Any, sdk: Any, redis_url: str,
) -> None:
    redis = Redis.from_url(redis_url)
    ledger = UsageLedger(redis)
    story = f"octo-org/shop#{time.time_ns()}"
    try:
        llm.script(ToolCalls(note("1")), ToolCalls(finish("done")))
        first = await run_agent(sdk, setup(Note(), story=story, budget=Budget(story_cap_usd=1.0)), ledger=ledger)
        assert first.stop == "finished" and await ledger.story_cost(story) == pytest.approx(first.usage.cost_usd)
        spent = await run_agent(sdk, setup(Note(), story=story, budget=Budget(story_cap_usd=0.0)), ledger=ledger)
        assert spent.stop == "budget" and "its cap is $0.00" in spent.reason and spent.turns == 0
        assert len(llm.requests) == 2  # the second run asked nothing
    finally:
        await redis.aclose()


@pytest.mark.parametrize(("reply", "stop", "words"), [
    (cut_off("partial"), "cut off", "cut off at 1024 tokens"),
    (refusal(), "model", "declined"),
])
async def test_a_cut_off_or_a_refusal_ends_the_run_plainly(llm: Any, sdk: Any, reply: Text, stop: str,
                                                           words: str) -> None:
    llm.script(reply)
    outcome = await run_agent(sdk, setup(Note()))
    assert outcome.stop == stop and words in outcome.reason


async def test_an_overloaded_model_is_retried_and_one_that_keeps_failing_ends_the_run(llm: Any, sdk: Any) -> None:
    llm.fault(overloaded(), times=1)
    llm.script(ToolCalls(finish("done")))
    outcome = await run_agent(sdk, setup(Note()))
    assert outcome.stop == "finished" and len(llm.requests) == 2  # the 529, then the retry
    llm.reset()
    llm.fault(Fault(529, "overloaded_error", "Overloaded", retry_after=0.01), times=None)
    failed = await run_agent(sdk, setup(Note()))
    assert failed.stop == "model" and "529" in failed.reason and not failed.finished
