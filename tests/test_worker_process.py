"""`specloop worker` as operators run it: a real process that outlives a Redis restart and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from app.domain.markers import find_marker
from app.job_args import MapStory
from app.queue import JobRequest, enqueue
from app.redis_server import ManagedRedis
from tests.support.service import install_shop

SPECLOOP = str(Path(sys.executable).with_name("specloop"))
DEADLINE = 60.0  # how long a step may take on a loaded machine: a hang guard, not a speed assertion


async def start_worker(env: dict[str, str], log: Path, *queue: str) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(SPECLOOP, "worker", *queue, env=env, stdout=out,
                                                    stderr=asyncio.subprocess.STDOUT)


async def wait_for_text(log: Path, text: str, after: int = 0) -> bool:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if text in log.read_text()[after:]:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_a_worker_with_both_queues_stops_on_sigterm(service: Any, tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    worker = await start_worker({**service.worker_env(), "LOG_LEVEL": "INFO"}, log)
    try:
        assert await wait_for_text(log, "Starting worker"), log.read_text()
        worker.send_signal(signal.SIGTERM)
        # both arq workers hear it (each installs its handler on the one loop; the last used to win)
        code = await asyncio.wait_for(worker.wait(), DEADLINE)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    assert code == 0, log.read_text()[-3000:]


async def test_a_worker_outlives_a_redis_restart_and_runs_what_is_queued_after_it(
        github: Any, service: Any, own_redis: ManagedRedis, tmp_path: Path) -> None:
    shop = install_shop(github)
    number = github.open_issue(shop.repo, "Saved carts", "As a shopper I want to save my cart so that I can buy later.")
    log = tmp_path / "worker.log"
    env = {**service.worker_env(), "REDIS_URL": own_redis.url, "LOG_LEVEL": "INFO"}
    worker = await start_worker(env, log, "--queue", "light")
    try:
        assert await wait_for_text(log, "Starting worker"), log.read_text()
        own_redis.stop()
        assert await wait_for_text(log, "Redis is unreachable; the worker starts again"), log.read_text()[-3000:]
        assert worker.returncode is None  # still there, waiting for Redis
        mark = len(log.read_text())
        own_redis.start()  # same port, same data
        assert await wait_for_text(log, "Starting worker", after=mark), log.read_text()[-3000:]
        redis = Redis.from_url(own_redis.url)
        try:
            await enqueue(redis, JobRequest.of(MapStory(installation_id=shop.installation_id, repo=shop.repo,
                                                        number=number, trigger="label", label="story")))
        finally:
            await redis.aclose()
        deadline = time.monotonic() + DEADLINE
        while not map_comments(github, shop.repo, number) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    finally:
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)
            await asyncio.wait_for(worker.wait(), DEADLINE)
    assert len(map_comments(github, shop.repo, number)) == 1, log.read_text()[-3000:]


def map_comments(github: Any, repo: str, number: int) -> list[Any]:
    return [c for c in github.comments(repo, number)
            if c.user.login == github.bot.login and find_marker(c.body, "map") is not None]
