"""A worker killed mid-job: arq's retry of the same job takes the story lock the dead run left behind,
and follow-ups recorded while it was dead run once the lock is gone."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from arq.connections import ArqRedis
from redis.asyncio import Redis

from app.context import DEPS_KEY, Deps, JobScope
from app.domain.markers import find_marker
from app.gh import issues
from app.gh.models import RepoRef
from app.gh.repos import get_repository
from app.job_args import MapStory, WriteSpec
from app.queue import LOCK_KEY, JobRequest, acquire_story, enqueue
from jobs.follow_ups import drain_follow_ups
from jobs.worker import Job, run_burst
from tests.support.service import install_shop


async def test_the_retry_of_a_killed_job_runs_despite_the_lock_its_first_run_left(
    github: Any, core_deps: Deps, redis_url: str
) -> None:
    shop = install_shop(github)
    number = github.open_issue(shop.repo, "A story")
    request = JobRequest.of(MapStory(installation_id=shop.installation_id, repo=shop.repo, number=number,
                                     trigger="command"))
    ran: list[str] = []

    async def map_story(scope: JobScope, args: Any) -> dict[str, Any]:
        ran.append(scope.job_id)
        return {"status": "mapped"}

    redis = ArqRedis.from_url(redis_url)
    try:
        # the first run took the lock under its job id, then its worker was SIGKILLed: no release
        assert await acquire_story(redis, request.story, request.job_id, 3600)
        assert await enqueue(redis, request)  # arq runs the same job id again
    finally:
        await redis.aclose()
    result = await run_burst(core_deps.settings, redis_url, core_deps, jobs={"map_story": Job(MapStory, map_story)})
    assert ran == [request.job_id] and result["complete"] == 1
    redis = ArqRedis.from_url(redis_url)
    try:
        assert not await redis.exists(LOCK_KEY.format(request.story))  # released this time
    finally:
        await redis.aclose()


async def test_a_follow_up_recorded_while_the_holder_died_runs_after_its_lock_expires(
    github: Any, core_deps: Deps, redis_url: str
) -> None:
    shop = install_shop(github)
    number = github.open_issue(shop.repo, "A story")
    spec = JobRequest.of(WriteSpec(installation_id=shop.installation_id, repo=shop.repo, number=number))
    ran: list[int] = []

    async def write_spec(scope: JobScope, args: Any) -> dict[str, Any]:
        ran.append(args.number)
        return {"status": "written"}

    redis = ArqRedis.from_url(redis_url)
    try:
        assert await acquire_story(redis, spec.story, "a run whose worker was killed", 3600)
        assert await enqueue(redis, spec)
    finally:
        await redis.aclose()
    jobs = {"write_spec": Job(WriteSpec, write_spec)}
    first = await run_burst(core_deps.settings, redis_url, core_deps, jobs=jobs)
    assert ran == [] and first["complete"] == 1  # the story looked busy: recorded as its follow-up
    redis = ArqRedis.from_url(redis_url)
    try:
        await redis.delete(LOCK_KEY.format(spec.story))  # the dead holder's lock expires
    finally:
        await redis.aclose()
    swept = await drain_follow_ups({DEPS_KEY: core_deps, "job_id": "drain_follow_ups:test"})
    assert len(swept["enqueued"]) == 1
    await run_burst(core_deps.settings, redis_url, core_deps, jobs=jobs)
    assert ran == [number]


async def test_a_token_that_expires_mid_job_is_replaced_and_the_job_retried(
    github: Any, core_deps: Deps, redis_url: str
) -> None:
    shop = install_shop(github)
    number = github.open_issue(shop.repo, "A story")
    repo = RepoRef.parse(shop.repo)
    await get_repository(core_deps.github.installation(shop.installation_id), repo)  # a token, now cached
    github.expire_tokens()  # GitHub lets it go early (revoked, or a clock apart): the cache still holds it
    seen: list[str] = []

    async def map_story(scope: JobScope, args: Any) -> dict[str, Any]:
        seen.append((await issues.get_issue(scope.gh, scope.repo, args.number)).title)
        return {"status": "mapped"}

    request = JobRequest.of(MapStory(installation_id=shop.installation_id, repo=shop.repo, number=number,
                                     trigger="command"))
    redis = ArqRedis.from_url(redis_url)
    try:
        assert await enqueue(redis, request)
    finally:
        await redis.aclose()
    result = await run_burst(core_deps.settings, redis_url, core_deps, jobs={"map_story": Job(MapStory, map_story)},
                             wait_deferred=5)
    assert seen == ["A story"] and (result["retried"], result["failed"]) == (1, 0)
    assert github.comments(shop.repo, number) == []  # no failure comment: nothing failed for good


async def _worker(specloop: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    """A real `specloop worker --queue light` process."""
    return await asyncio.create_subprocess_exec(specloop, "worker", "--queue", "light", env=env,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


async def test_a_worker_sigkilled_mid_job_leaves_exactly_one_map_once_another_worker_runs(
    github: Any, service: Any
) -> None:
    shop = install_shop(github)
    number = github.open_issue(shop.repo, "Saved carts", "As a shopper I want to save my cart so that I can buy later.")
    specloop = str(Path(sys.executable).with_name("specloop"))
    comment_posts = rf"/issues/{number}/comments$"
    # the map comment's POST hangs for a while: the worker is killed while the job is inside it
    github.fault("POST", comment_posts, status=None, latency=2.0, times=1)
    redis = Redis.from_url(service.redis_url)
    first = await _worker(specloop, service.worker_env())
    try:
        github.label_issue(shop.repo, number, "story")
        deadline = time.monotonic() + 60  # a start-up deadline, not a speed assertion
        while not github.requests_to("POST", comment_posts) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert github.requests_to("POST", comment_posts), "the job never reached its comment"
        first.kill()  # SIGKILL: no clean-up, no lock release, the job left "in progress"
        await first.wait()
        [job_id] = [key.decode().removeprefix("arq:in-progress:")
                    async for key in redis.scan_iter("arq:in-progress:map_story:*")]
        await redis.delete(f"arq:in-progress:{job_id}")  # what arq's in-progress TTL does, minutes later
        second = await _worker(specloop, service.worker_env())
        try:
            deadline = time.monotonic() + 60
            while not await redis.exists(f"arq:result:{job_id}") and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        finally:
            second.terminate()
            await second.wait()
        assert await redis.exists(f"arq:result:{job_id}")
        assert not await redis.exists(LOCK_KEY.format(f"{shop.repo}#{number}"))  # released by the retry
    finally:
        if first.returncode is None:
            first.kill()
        await redis.aclose()
    maps = [c for c in github.comments(shop.repo, number)
            if c.user.login == github.bot.login and find_marker(c.body, "map") is not None]
    assert len(maps) == 1  # the retry found (or made) the one comment: never two, never none
