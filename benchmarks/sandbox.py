"""Sandbox overhead: what running a command in the repository-code sandbox (app/isolation/) adds.

`true` is started the way the worker starts commands (asyncio), bare and then through
`BubblewrapSandbox.run()`: new user, pid, ipc, uts and cgroup namespaces, the read-only system binds,
a private /tmp, rlimits, a cgroup where one can be made, output read and the sandbox's init waited for.
Target: under 50 ms above the command's own time. The sandbox's first command also makes its network
namespace (once per sandbox), timed separately.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from app.isolation import BubblewrapSandbox, Policy, sandbox_available

RUNS = 50
TARGET_MS = 50.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _time(runs: int, once: Callable[[], Awaitable[object]]) -> list[float]:
    """Milliseconds of `runs` calls of `once`, after one warm-up call."""
    await once()
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        await once()
        took.append((time.perf_counter() - started) * 1000)
    return took


async def _bare() -> None:
    process = await asyncio.create_subprocess_exec("true")
    await process.wait()


async def _measure(runs: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="specloop-bench-sandbox-") as tmp:
        results = {"bare `true`": await _time(runs, _bare)}
        first = []
        for _ in range(5):
            async with BubblewrapSandbox(Path(tmp)) as box:
                started = time.perf_counter()
                await box.run(["true"], timeout=30)
                first.append((time.perf_counter() - started) * 1000)
        results["first command of a sandbox (makes its network namespace)"] = first
        async with BubblewrapSandbox(Path(tmp)) as box:
            results["`true` in the sandbox (own loopback only)"] = await _time(
                runs, lambda: box.run(["true"], timeout=30))
        async with BubblewrapSandbox(Path(tmp), Policy(network=True)) as box:
            results["`true` in the sandbox, `network=True`"] = await _time(
                runs, lambda: box.run(["true"], timeout=30))
    return results


def run_all(runs: int = RUNS) -> str:
    """The section of docs/benchmarks.md."""
    head = ["## Sandbox overhead", "", __doc__.split("\n\n", 1)[1].strip().replace("\n", " "), ""]
    problem = sandbox_available()
    if problem is not None:
        return "\n".join([*head, f"Not measured: {problem}.", ""])
    results = asyncio.run(_measure(runs))
    bare = statistics.median(results["bare `true`"])
    rows = [
        f"| {name} | {len(ms)} | {statistics.median(ms):.1f} ms | {_percentile(ms, 0.99):.1f} ms |"
        for name, ms in results.items()
    ]
    added = statistics.median(results["`true` in the sandbox (own loopback only)"]) - bare
    verdict = "within" if added < TARGET_MS else "over"
    return "\n".join([
        *head,
        "| command | runs | p50 | p99 |",
        "|---|---|---|---|",
        *rows,
        "",
        f"Added by the sandbox at p50: {added:.1f} ms ({verdict} the {TARGET_MS:g} ms target).",
        "",
    ])


if __name__ == "__main__":
    print(run_all())
