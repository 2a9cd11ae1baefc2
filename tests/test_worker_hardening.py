"""The worker process hides its memory and environment from the repository code it runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis

from app.context import Deps, JobScope
from app.job_args import MapStory
from app.queue import JobRequest, enqueue
from jobs import worker
from jobs.worker import Job, run_burst
from tests.support.service import install_shop

ROOT = Path(__file__).resolve().parent.parent

# Runs in a fresh interpreter: protect, then report prctl(PR_GET_DUMPABLE) and whether a child can read
# the parent's /proc/<pid>/environ (as root, CAP_SYS_PTRACE reads it regardless, so only the flag counts).
CHECK = """
import ctypes, os, subprocess, sys
from jobs.worker import forbid_reading_this_process
forbid_reading_this_process()
dumpable = ctypes.CDLL(None, use_errno=True).prctl(3, 0, 0, 0, 0)
child = subprocess.run(["cat", f"/proc/{os.getpid()}/environ"], capture_output=True)
print(dumpable, b"SPECLOOP_TEST_SECRET=s3cret" in child.stdout)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux-only")
def test_a_child_of_the_worker_cannot_read_its_environment() -> None:
    env = {**os.environ, "SPECLOOP_TEST_SECRET": "s3cret", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env, cwd=ROOT,
                            timeout=120, check=True)
    dumpable, child_read = result.stdout.split()
    assert dumpable == "0"
    if os.geteuid() != 0:
        assert child_read == "False"


def test_elsewhere_it_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert worker.forbid_reading_this_process() is False


async def test_the_worker_start_up_protects_the_process(github: Any, core_deps: Deps, redis_url: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def record() -> bool:
        calls.append("called")
        return True

    monkeypatch.setattr(worker, "forbid_reading_this_process", record)
    shop = install_shop(github)
    number = github.open_issue(shop.repo, "A story")

    async def map_story(scope: JobScope, args: Any) -> dict[str, Any]:
        return {}

    args = MapStory(installation_id=shop.installation_id, repo=shop.repo, number=number, actor="alice",
                    trigger="command")
    redis = ArqRedis.from_url(redis_url)
    try:
        assert await enqueue(redis, JobRequest.of(args, delivery="d1"))
    finally:
        await redis.aclose()
    await run_burst(core_deps.settings, redis_url, core_deps, jobs={"map_story": Job(MapStory, map_story)})
    assert calls
