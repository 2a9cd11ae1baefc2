"""The agent's run: the SDK's tool runner over the Messages API, with Specloop's limits between the turns.

    outcome = await run_agent(sdk, AgentSetup(model, system, first, tools, limits), on_turn=report)

`sdk.beta.messages.tool_runner` sends the turns and runs the tools (the editor, bash and `run_qa` are the
SDK's builtin-tool shape; see app/agent/editor.py, shell.py, qa_tool.py); Specloop only looks at each
turn as the runner yields it, before the runner runs its tools and asks again, and decides whether there
may be another: `finish` called, turns, minutes, the run's dollar cap, the story's cap and the
installation's daily budget (the shared usage ledger, so the run's spend counts where every other model
call's does). The static prefix (rules, story, map, feature files, vocabulary, layout) is one system block
with `cache_control`, so every turn after the first reads it from the prompt cache; old tool results are
cleared by the API's context management (`clear_tool_uses_20250919`) so a long run stays inside the
context window. Model errors are retried by the SDK client (the operator's MODEL_MAX_RETRIES, honouring
retry-after); what still fails ends the run with the reason, never an exception.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anthropic
from anthropic import AsyncAnthropic
from anthropic.types.beta import (
    BetaClearToolUses20250919EditParam,
    BetaContextManagementConfigParam,
    BetaMessageParam,
    BetaTextBlockParam,
)

from app.agent.qa_tool import finish_summary
from app.logs import job_id_var
from app.model.usage import Budget, BudgetExceeded, Usage, UsageLedger

log = logging.getLogger(__name__)

CONTEXT_BETA = "context-management-2025-06-27"
# Old tool results go once the prompt passes this many tokens; the last few and every `run_qa` stay.
CLEAR_TOOL_USES: BetaClearToolUses20250919EditParam = {
    "type": "clear_tool_uses_20250919",
    "trigger": {"type": "input_tokens", "value": 100_000},
    "keep": {"type": "tool_uses", "value": 6},
    "exclude_tools": ["run_qa"],
}

Stop = str  # "finished" | "ended" | "turns" | "minutes" | "budget" | "model" | "cut off"


@dataclass(frozen=True)
class AgentLimits:
    """When the run must stop even if the model would go on."""

    max_turns: int
    max_seconds: float
    max_usd: float  # this run's hard cap, from the model's prices
    budget: Budget  # the story's cap and the installation's daily budget (the ledger's)
    story: str  # the ledger's story key
    installation_id: int


@dataclass
class AgentSetup:
    """One run's request: model, prompt and tools."""

    model: str
    system: str
    first_message: str
    tools: Sequence[Any]  # runnable tools (editor, bash, run_qa) and plain tool params (finish)
    limits: AgentLimits
    max_tokens: int = 16_000


@dataclass
class TurnReport:
    """What the job shows after each turn (the check run's progress)."""

    turn: int
    max_turns: int
    usage: Usage
    elapsed_s: float
    text: str = ""  # what the model said this turn, if anything
    tools: list[str] = field(default_factory=list)  # the tools it called this turn


@dataclass
class AgentOutcome:
    """How the run ended."""

    stop: Stop
    summary: str = ""  # the `finish` summary, or the model's last words
    reason: str = ""  # for every stop but "finished": why, in words for the check run
    turns: int = 0
    usage: Usage = field(default_factory=Usage)
    duration_s: float = 0.0
    prompt_tokens: int | None = None  # the first request's size, counted before it was sent

    @property
    def finished(self) -> bool:
        return self.stop in ("finished", "ended")


def _text_of(content: Sequence[Any]) -> str:
    return "\n".join(str(block.text) for block in content if getattr(block, "type", None) == "text").strip()


async def _over_budget(ledger: UsageLedger | None, spent: Usage, limits: AgentLimits) -> str | None:
    """Why no further turn may be asked for (the run's cap, then the story's and the day's), else None."""
    if spent.cost_usd >= limits.max_usd:
        return (f"the run's cost cap of ${limits.max_usd:.2f} (`code.max_usd`) is spent "
                f"(${spent.cost_usd:.2f} so far)")
    if ledger is not None:
        try:
            await ledger.check(limits.budget, story=limits.story, installation_id=limits.installation_id)
        except BudgetExceeded as exc:
            return str(exc)
    return None


async def _limit_reached(ledger: UsageLedger | None, spent: Usage, limits: AgentLimits, turns: int,
                         elapsed: float) -> AgentOutcome | None:
    """The stop a limit calls for before another turn (turns, minutes, dollars), else None."""
    if turns >= limits.max_turns:
        return AgentOutcome(stop="turns", reason=f"it used all {limits.max_turns} turns (`code.max_turns`)")
    if elapsed >= limits.max_seconds:
        return AgentOutcome(stop="minutes", reason=f"it ran for {limits.max_seconds / 60:g} minutes "
                                                   "(`code.max_minutes`)")
    refused = await _over_budget(ledger, spent, limits)
    return AgentOutcome(stop="budget", reason=refused) if refused is not None else None


async def count_prompt(sdk: AsyncAnthropic, setup: AgentSetup, request: dict[str, Any]) -> int | None:
    """The first request's size in tokens (the Token Counting API), None when it cannot say."""
    try:
        counted = await sdk.beta.messages.count_tokens(
            model=setup.model, system=request["system"], messages=request["messages"], tools=request["tools"],
            betas=[CONTEXT_BETA])
        return int(counted.input_tokens)
    except (anthropic.APIError, ValueError) as exc:
        log.info("token count unavailable", extra={"error": type(exc).__name__})
        return None


def _tool_params(tools: Sequence[Any]) -> list[Any]:
    return [tool.to_dict() if hasattr(tool, "to_dict") else tool for tool in tools]


async def run_agent(sdk: AsyncAnthropic, setup: AgentSetup, *, ledger: UsageLedger | None = None,
                    on_turn: Callable[[TurnReport], Awaitable[None]] | None = None) -> AgentOutcome:
    """Run the agent until it finishes or a limit stops it; never raises for the model's failures."""
    limits = setup.limits
    started = time.monotonic()
    spent = Usage(model=setup.model)
    system: list[BetaTextBlockParam] = [{"type": "text", "text": setup.system, "cache_control": {"type": "ephemeral"}}]
    messages: list[BetaMessageParam] = [{"role": "user", "content": [{"type": "text", "text": setup.first_message}]}]
    context: BetaContextManagementConfigParam = {"edits": [CLEAR_TOOL_USES]}
    outcome = AgentOutcome(stop="ended")
    prompt_tokens = await count_prompt(sdk, setup, {"system": system, "messages": messages,
                                                    "tools": _tool_params(setup.tools)})
    refused = await _over_budget(ledger, spent, limits)
    if refused is not None:
        return AgentOutcome(stop="budget", reason=refused, prompt_tokens=prompt_tokens)
    runner = sdk.beta.messages.tool_runner(
        model=setup.model, max_tokens=setup.max_tokens, system=system, messages=messages, tools=list(setup.tools),
        max_iterations=limits.max_turns, betas=[CONTEXT_BETA], context_management=context,
    )
    turns = 0
    try:
        async for message in runner:
            turns += 1
            usage = Usage.from_response(setup.model, message.usage)
            spent = spent + usage
            if ledger is not None:
                await ledger.record(usage, story=limits.story, installation_id=limits.installation_id,
                                    job_id=job_id_var.get())
            text = _text_of(message.content)
            called = [b.name for b in message.content if b.type == "tool_use"]
            if on_turn is not None:
                await on_turn(TurnReport(turns, limits.max_turns, spent, time.monotonic() - started, text, called))
            summary = finish_summary(message.content)
            if summary is not None:
                outcome = AgentOutcome(stop="finished", summary=summary)
                break
            if message.stop_reason == "max_tokens":
                outcome = AgentOutcome(stop="cut off", reason=(
                    f"the model's turn was cut off at {setup.max_tokens} tokens (`code.max_tokens`)"))
                break
            if message.stop_reason == "refusal":
                outcome = AgentOutcome(stop="model", reason="the model declined to continue (stop reason `refusal`)")
                break
            if message.stop_reason != "tool_use":
                outcome = AgentOutcome(stop="ended", summary=text)  # it stopped talking: its last words
                break
            limit = await _limit_reached(ledger, spent, limits, turns, time.monotonic() - started)
            if limit is not None:
                # the turn is paid for: its tool calls still run (no further model call), so its work counts
                await runner.generate_tool_call_response()
                outcome = limit
                break
    except anthropic.APIStatusError as exc:
        outcome = AgentOutcome(stop="model", reason=f"the model API answered {exc.status_code} ({_message(exc)}) "
                                                     "after its retries")
    except (anthropic.APIConnectionError, anthropic.APITimeoutError):
        outcome = AgentOutcome(stop="model", reason="the model API could not be reached after its retries")
    finally:
        await runner.close()  # a run stopped between turns: the runner runs no more tools and asks nothing more
    outcome.turns = turns
    outcome.usage = spent
    outcome.duration_s = time.monotonic() - started
    outcome.prompt_tokens = prompt_tokens
    return outcome


def _message(exc: anthropic.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    return str((error or {}).get("message") or exc.message)[:300]
