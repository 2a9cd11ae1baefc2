"""Checking a spec without letting it stall a worker: off the event loop, and under a deadline.

Built-in step patterns are ours and quick. A repository's own step patterns are not: matching a step
against a pattern with many placeholders backtracks exponentially, and a thread cannot be stopped. So a
spec that brings step files is checked in a child process that is killed at the deadline, and the check
run says the spec took too long; one without them is checked in a thread.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from multiprocessing.connection import Connection

from app.domain.spec_state import SpecInput, SpecState, evaluate, too_slow

LINT_DEADLINE_SECONDS = 20.0


def _evaluate_into(conn: Connection, spec: SpecInput) -> None:
    """The child's work: check the spec and send the result back."""
    with conn:
        conn.send(evaluate(spec))


def evaluate_in_child(spec: SpecInput, deadline: float) -> SpecState:
    """`evaluate(spec)` in a fresh process, killed when it runs past `deadline` seconds."""
    # spawn, not fork: the worker has threads and an event loop a forked child must not inherit
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_evaluate_into, args=(send, spec), daemon=True)
    child.start()
    send.close()
    try:
        if receive.poll(deadline):
            result: SpecState = receive.recv()
            return result
        return too_slow(spec, deadline)
    finally:
        if child.is_alive():
            child.kill()
        child.join(5)
        receive.close()


async def evaluate_bounded(spec: SpecInput, *, deadline: float | None = None) -> SpecState:
    """The checked spec, computed off the event loop; in a killable child when it has step files."""
    limit = LINT_DEADLINE_SECONDS if deadline is None else deadline
    if not any(path.endswith(".py") for path in spec.files):
        return await asyncio.to_thread(evaluate, spec)
    return await asyncio.to_thread(evaluate_in_child, spec, limit)
