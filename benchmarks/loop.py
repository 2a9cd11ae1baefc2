"""Bot overhead: from a story label to its map comment, with a running worker (not a burst) and no model.

Everything runs on loopback: the GitHub double delivers a signed `issues.labeled` webhook to the web
service, which queues the job; a light worker (arq, as `specloop worker` runs it) maps the story offline and
posts the comment. The figure is what Specloop adds between GitHub's delivery and the comment appearing:
queueing, polling, the job's GitHub reads and writes. arq's default poll interval is measured beside the
one the worker uses, since polling is most of the wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from arq.worker import Worker

from app.domain.markers import find_marker
from app.sandbox.harness import Harness
from jobs.worker import LIGHT_POLL_SECONDS, worker_settings

REPO = "bench/shop"
STORIES = 60
MEMORY_JOBS = 1000
ARQ_DEFAULT_POLL = 0.5


def _has_map(harness: Harness, number: int) -> bool:
    """Whether the bot's map comment is on issue `number` yet."""
    login = harness.github.bot.login
    while True:
        try:  # the double's server thread may be adding a comment while we look
            comments = harness.github.comments(REPO, number)
        except RuntimeError:
            continue
        return any(c.user.login == login and find_marker(c.body, "map") is not None for c in comments)


async def _latencies(poll: float, stories: int) -> list[float]:
    """Seconds from each label's delivery to its map comment, one story at a time."""
    with tempfile.TemporaryDirectory(prefix="specloop-bench-") as tmp, Harness(Path(tmp)) as harness:
        harness.start()
        github = harness.github
        # no automatic spec PR: a ready map would start one, whose work would overlap the next story's map
        github.create_repo(REPO, files={"README.md": "# shop\n", ".github/specloop.yml": "spec:\n  auto: false\n"})
        github.add_user("alice", "admin", REPO)
        github.install("bench", [REPO])
        deps = await harness.start_worker()
        options = worker_settings(harness.settings, "light", prebuilt=deps, redis_url=harness.redis_url,
                                  cron_jobs=False)
        worker = Worker(**{**options, "handle_signals": False, "poll_delay": poll})
        running = asyncio.create_task(worker.main())
        seconds = []
        try:
            for index in range(stories):
                number = github.open_issue(REPO, f"Saved carts {index}",
                                           "As a shopper I want to save my cart so that I can buy later.\n\n"
                                           "## Acceptance criteria\n- A saved cart keeps its items for 30 days\n")
                started = time.perf_counter()
                github.label_issue(REPO, number, "story")  # returns once the service answered 202
                while not _has_map(harness, number):
                    await asyncio.sleep(0.002)
                seconds.append(time.perf_counter() - started)
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            await worker.close()
            await harness.stop_worker()
    return seconds


def _rss_mb(pid: int) -> float:
    """A process's resident memory now, in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def _memory(jobs: int, every: int) -> list[tuple[int, float]]:
    """`specloop worker --queue light`'s resident memory after each `every` map jobs of `jobs`."""
    with tempfile.TemporaryDirectory(prefix="specloop-bench-") as tmp, Harness(Path(tmp)) as harness:
        harness.start()
        github = harness.github
        github.create_repo(REPO, files={"README.md": "# shop\n", ".github/specloop.yml": "spec:\n  auto: false\n"})
        github.add_user("alice", "admin", REPO)
        github.install("bench", [REPO])
        specloop = Path(sys.executable).with_name("specloop")
        worker = await asyncio.create_subprocess_exec(str(specloop), "worker", "--queue", "light",
                                                      env=harness.worker_env(), stdout=subprocess.DEVNULL,
                                                      stderr=subprocess.DEVNULL)
        samples = []
        try:
            done = 0
            for _ in range(jobs // every):
                numbers = [github.open_issue(REPO, f"Story {done + i}", "As a shopper I want a cart so that I buy.")
                           for i in range(every)]
                for number in numbers:
                    github.label_issue(REPO, number, "story")
                done += every
                deadline = time.monotonic() + 600
                while not all(_has_map(harness, n) for n in numbers) and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                samples.append((done, _rss_mb(worker.pid)))
        finally:
            worker.terminate()
            await asyncio.wait_for(worker.wait(), timeout=30)
    return samples


def _row(name: str, seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (f"| {name} | {len(seconds)} | {statistics.median(seconds) * 1000:.0f} ms | "
            f"{ordered[round(0.9 * (len(ordered) - 1))] * 1000:.0f} ms | {p99 * 1000:.0f} ms |")


def run_all(stories: int = STORIES, jobs: int = MEMORY_JOBS) -> str:
    """The section of docs/benchmarks.md."""
    ours = asyncio.run(_latencies(LIGHT_POLL_SECONDS, stories))
    default = asyncio.run(_latencies(ARQ_DEFAULT_POLL, stories))
    memory = asyncio.run(_memory(jobs, jobs // 5))
    return "\n".join([
        "## Bot overhead: story label to map comment",
        "",
        __doc__.split("\n\n", 1)[1].strip().replace("\n", " "),
        f" {stories} stories, one at a time, offline mapper (no model), `spec.auto` off (the map alone).",
        "",
        "| worker | stories | p50 | p90 | p99 |",
        "|---|---|---|---|---|",
        _row(f"light worker, poll every {LIGHT_POLL_SECONDS:g} s (Specloop)", ours),
        _row(f"arq's default poll, every {ARQ_DEFAULT_POLL:g} s", default),
        "",
        f"Memory of `specloop worker --queue light` (its own process) over {jobs} map jobs, after each fifth:",
        "",
        "| jobs done | " + " | ".join(str(done) for done, _ in memory) + " |",
        "|---|" + "---|" * len(memory),
        "| resident MB | " + " | ".join(f"{mb:.0f}" for _, mb in memory) + " |",
        "",
    ])


if __name__ == "__main__":
    print(run_all())
