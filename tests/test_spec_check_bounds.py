"""Step patterns from a pull request cannot stall a worker: capped, and matched in a child under a deadline."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.domain.spec_state import SpecInput, evaluate
from app.domain.steps import MAX_PLACEHOLDERS, StepDefinitionError, StepRegistry
from app.spec_check_process import evaluate_bounded

FEATURE = "features/slow.feature"
# a step whose text gives a many-placeholder pattern a great many ways to split it, and then fails
LONG_STEP = "Given " + "a " * 120 + "x"


def steps_file(placeholders: int) -> str:
    pattern = "{} " * placeholders + "end"
    return f"from app.domain.steps import given\n\n\n@given({pattern!r})\ndef slow(page, *args):\n    pass\n"


def spec(placeholders: int) -> SpecInput:
    files = {FEATURE: f"Feature: Slow\n  Scenario: many words\n    {LONG_STEP}\n    Then I should see \"x\"\n",
             "features/steps/slow.py": steps_file(placeholders)}
    return SpecInput("abc123", files, "features", 20)


def test_a_pattern_with_too_many_placeholders_is_refused() -> None:
    with pytest.raises(StepDefinitionError, match="too complex"):
        StepRegistry().add("{} " * (MAX_PLACEHOLDERS + 1) + "end", None, "slow.py:4")
    StepRegistry().add("{} " * MAX_PLACEHOLDERS + "end", None, "ok.py:4")  # the cap itself is fine


def test_a_refused_pattern_leaves_its_steps_undefined_instead_of_stalling_the_lint() -> None:
    state = evaluate(spec(MAX_PLACEHOLDERS + 6))
    assert [f.code for f in state.findings[FEATURE]] == ["step-undefined"]


async def test_a_spec_whose_patterns_match_too_slowly_is_stopped_and_said_so_without_blocking_the_loop() -> None:
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    beating = asyncio.create_task(heartbeat())
    started = time.monotonic()
    try:
        state = await evaluate_bounded(spec(MAX_PLACEHOLDERS), deadline=1.0)
    finally:
        beating.cancel()
    elapsed = time.monotonic() - started
    [finding] = state.findings[FEATURE]
    assert finding.level == "error" and "took longer than 1 s" in finding.message and "features/steps/" in finding.message
    assert state.has_errors
    # the event loop kept running while the child worked (a /specloop help would have been answered)
    assert ticks >= int(elapsed / 0.05) // 2


async def test_a_spec_without_step_files_is_checked_as_before() -> None:
    files = {FEATURE: 'Feature: Quick\n  Scenario: home\n    Given I am on "/"\n    Then I should see "Hi"\n'}
    state = await evaluate_bounded(SpecInput("abc123", files, "features", 20), deadline=1.0)
    assert not state.has_errors and state.scenario_count == 1
