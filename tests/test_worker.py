"""The worker's wrapper, with real arq burst workers, Redis and the GitHub double."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from arq.connections import ArqRedis
from githubkit.retry import RetryChainDecision

from app.context import Deps, JobScope
from app.domain.markers import find_marker
from app.gh import issues
from app.gh.client import GitHubApp, RetryShortRateLimit
from app.gh.models import RepoRef
from app.gh.repos import get_repository
from app.job_args import DropInstallation, GenerateCode, JobArgs, MapStory, Reply, RunQa
from app.queue import JobRequest, acquire_story, enqueue, enqueue_delivery
from jobs.worker import JOBS, Job, run_burst
from tests.support.service import SHOP, Service, Shop, install_shop

ARGS: dict[str, Callable[..., JobArgs]] = {
    "map_story": lambda **base: MapStory(**base, trigger="command"),
    "reply": lambda **base: Reply(**base, kind="help"),
    "generate_code": lambda **base: GenerateCode(**base),
    "run_qa": lambda **base: RunQa(**base),
}


def story_job(shop: Shop, number: int, *, function: str = "map_story", delivery: str = "d1",
              permission: str | None = None, actor: str | None = "alice") -> JobRequest:
    args = ARGS[function](installation_id=shop.installation_id, repo=shop.repo, number=number, actor=actor)
    # the nonce is the delivery only so that the job id is predictable here
    return JobRequest.of(args, delivery=delivery, permission=permission).model_copy(update={"nonce": delivery})


async def put(redis_url: str, *requests: JobRequest) -> None:
    redis = ArqRedis.from_url(redis_url)
    try:
        for request in requests:
            assert await enqueue(redis, request)
    finally:
        await redis.aclose()


def bot_comments(github: Any, shop: Shop, number: int) -> list[str]:
    return [c.body for c in github.comments(shop.repo, number)]


async def test_a_job_failing_for_good_posts_one_failure_comment(github: Any, core_deps: Deps, redis_url: str) -> None:
    shop = install_shop(github)
    number = github.open_issue(shop.repo, "A story")

    async def map_story(scope: JobScope, args: Any) -> dict[str, Any]:
        raise ValueError("internal detail that must not leak")

    await put(redis_url, story_job(shop, number))
    result = await run_burst(core_deps.settings, redis_url, core_deps, jobs={"map_story": Job(MapStory, map_story)})
    assert result["failed"] == 1
    [body] = bot_comments(github, shop, number)
    assert find_marker(body, "failure") == {"id": f"map_story:{shop.repo}#{number}:d1", "job": "map_story"}
    assert "/specloop map" in body  # how to retry
    assert "internal detail" not in body and "Traceback" not in body


async def test_a_rate_limited_job_is_deferred_by_retry_after_then_succeeds(github: Any, core_deps: Deps,
                                                                            redis_url: str) -> None:
    shop = install_shop(github)
    number = github.open_issue(shop.repo, "A story")
    # no waiting inside the request: the rate limit reaches the wrapper, which defers the job
    no_inline_wait = GitHubApp(core_deps.settings, core_deps.redis,
                               auto_retry=RetryChainDecision(RetryShortRateLimit(max_wait=timedelta(0))))
    patient = Deps(settings=core_deps.settings, redis=core_deps.redis, github=no_inline_wait)
    seen: list[str] = []

    async def map_story(scope: JobScope, args: Any) -> dict[str, Any]:
        seen.append((await issues.get_issue(scope.gh, scope.repo, args.number)).title)
        return {}

    github.fault("GET", rf"/repos/octo-org/shop/issues/{number}$", status=403, retry_after=1, rate_limit=True)
    await put(redis_url, story_job(shop, number))
    result = await run_burst(core_deps.settings, redis_url, patient, jobs={"map_story": Job(MapStory, map_story)},
                             wait_deferred=5)
    assert (result["retried"], result["complete"], result["failed"]) == (1, 1, 0)
    assert seen == ["A story"] and bot_comments(github, shop, number) == []


async def test_jobs_for_one_story_run_one_at_a_time_and_merge_into_one_follow_up(github: Any, core_deps: Deps,
                                                                                 redis_url: str) -> None:
    shop = install_shop(github)
    number = github.open_issue(shop.repo, "A story")
    running, most, runs = 0, 0, []

    async def map_story(scope: JobScope, args: Any) -> dict[str, Any]:
        nonlocal running, most
        running += 1
        most = max(most, running)
        runs.append(scope.job_id)
        await asyncio.sleep(0.3)  # long enough for the other triggers to find the story busy
        running -= 1
        return {}

    await put(redis_url, *(story_job(shop, number, delivery=f"d{n}") for n in range(4)))
    await run_burst(core_deps.settings, redis_url, core_deps, jobs={"map_story": Job(MapStory, map_story)})
    assert most == 1
    assert len(runs) == 2 and ":followup-" in runs[1]


async def test_three_distinct_commands_sent_quickly_get_three_replies(service: Service, github: Any) -> None:
    number = github.open_issue(SHOP, "A story")
    for command in ("help", "status", "frobnicate"):
        github.comment(SHOP, number, f"/specloop {command}", by="alice")
    result = await service.drain()
    assert result["failed"] == 0
    replies = [find_marker(c.body, "reply") for c in github.comments(SHOP, number) if c.user.login == github.bot.login]
    assert sorted(r["kind"] for r in replies if r) == ["help", "status", "unknown_command"]


async def test_a_reply_is_not_kept_waiting_by_a_busy_story(github: Any, core_deps: Deps, redis_url: str) -> None:
    shop = install_shop(github)
    number = github.open_issue(shop.repo, "A story")
    ran: list[str] = []

    async def reply(scope: JobScope, args: Any) -> dict[str, Any]:
        ran.append(scope.job_id)
        return {}

    redis = ArqRedis.from_url(redis_url)
    assert await acquire_story(redis, f"{shop.repo}#{number}", "a long code run", 600)
    await redis.aclose()
    await put(redis_url, story_job(shop, number, function="reply"))
    result = await run_burst(core_deps.settings, redis_url, core_deps, jobs={"reply": Job(Reply, reply)})
    assert len(ran) == 1 and ran[0].startswith("reply:") and result["complete"] == 1


async def test_a_person_without_access_gets_one_polite_refusal_and_nothing_runs(github: Any, core_deps: Deps,
                                                                                redis_url: str) -> None:
    shop = install_shop(github)
    github.add_user("rita", "read", shop.repo)
    number = github.open_issue(shop.repo, "A story")
    ran: list[str] = []

    async def generate_code(scope: JobScope, args: Any) -> dict[str, Any]:
        ran.append(args.actor)
        return {}

    await put(redis_url, story_job(shop, number, function="generate_code", permission="code", actor="rita"))
    await run_burst(core_deps.settings, redis_url, core_deps, jobs={"generate_code": Job(GenerateCode, generate_code)})
    assert ran == []
    [body] = bot_comments(github, shop, number)
    assert "@rita" in body and "people with write access or higher" in body
    assert find_marker(body, "reply") == {"action": "code", "actor": "rita", "type": "refusal"}


async def test_a_triager_may_map_a_story(github: Any, core_deps: Deps, redis_url: str) -> None:
    shop = install_shop(github)
    github.add_user("tina", "triage", shop.repo)
    number = github.open_issue(shop.repo, "A story")
    ran: list[str] = []

    async def map_story(scope: JobScope, args: Any) -> dict[str, Any]:
        ran.append(args.actor)
        return {}

    await put(redis_url, story_job(shop, number, permission="map", actor="tina"))
    await run_burst(core_deps.settings, redis_url, core_deps, jobs={"map_story": Job(MapStory, map_story)})
    assert ran == ["tina"] and bot_comments(github, shop, number) == []


async def test_the_repository_config_can_require_more_than_the_default(github: Any, core_deps: Deps,
                                                                       redis_url: str) -> None:
    shop = install_shop(github, files={".github/specloop.yml": "permissions:\n  map: write\n"})
    github.add_user("tina", "triage", shop.repo)
    number = github.open_issue(shop.repo, "A story")
    ran: list[str] = []

    async def map_story(scope: JobScope, args: Any) -> dict[str, Any]:
        ran.append(args.actor)
        return {}

    await put(redis_url, story_job(shop, number, permission="map", actor="tina"))
    await run_burst(core_deps.settings, redis_url, core_deps, jobs={"map_story": Job(MapStory, map_story)})
    assert ran == [] and "people with write access or higher" in bot_comments(github, shop, number)[0]


async def test_an_invalid_config_is_reported_on_the_issue_naming_key_and_line(github: Any, core_deps: Deps,
                                                                              redis_url: str) -> None:
    shop = install_shop(github, files={".github/specloop.yml": "labels:\n  story: s\npermissions:\n  map: boss\n"})
    number = github.open_issue(shop.repo, "A story")
    ran: list[str] = []

    async def map_story(scope: JobScope, args: Any) -> dict[str, Any]:
        ran.append("ran")
        return {}

    await put(redis_url, story_job(shop, number, permission="map"))
    await run_burst(core_deps.settings, redis_url, core_deps, jobs={"map_story": Job(MapStory, map_story)})
    assert ran == []
    [body] = bot_comments(github, shop, number)
    assert "`permissions.map`" in body and "line 4" in body


async def test_a_closed_story_gets_no_more_work(github: Any, core_deps: Deps, redis_url: str) -> None:
    shop = install_shop(github)
    number = github.open_issue(shop.repo, "A story")
    github.close_issue(shop.repo, number)
    ran: list[str] = []

    async def map_story(scope: JobScope, args: Any) -> dict[str, Any]:
        ran.append("ran")
        return {}

    await put(redis_url, story_job(shop, number))
    result = await run_burst(core_deps.settings, redis_url, core_deps, jobs={"map_story": Job(MapStory, map_story)})
    assert ran == [] and result["complete"] == 1


async def test_dropping_an_installation_forgets_tokens_and_queued_jobs(github: Any, core_deps: Deps,
                                                                       redis_url: str) -> None:
    shop = install_shop(github)
    # any call as the installation caches its token
    await get_repository(core_deps.github.installation(shop.installation_id), RepoRef.parse(shop.repo))
    redis = ArqRedis.from_url(redis_url)
    drop = JobRequest.of(DropInstallation(installation_id=shop.installation_id), delivery="d9")
    await enqueue_delivery(redis, "d1", [story_job(shop, 1, function="run_qa").model_copy(update={"queue": "heavy"})])
    await enqueue(redis, drop)
    await redis.aclose()
    await run_burst(core_deps.settings, redis_url, core_deps, queues=("light",))
    redis = ArqRedis.from_url(redis_url)
    assert await redis.zcard("specloop:heavy") == 0
    assert [k async for k in redis.scan_iter(match="specloop:gh:*:installation:*")] == []
    await redis.aclose()


def test_every_job_in_the_architecture_table_is_registered() -> None:
    assert set(JOBS) == {"map_story", "reply", "write_spec", "check_spec", "revise_spec", "approve_spec",
                                "close_gate", "generate_code", "run_qa", "drop_installation"}


async def test_a_permitted_command_reads_the_repository_config_once(service: Service, github: Any) -> None:
    # the worker's permission check and the job itself both need the config: one read serves both
    number = github.open_issue(SHOP, "A story")
    github.comment(SHOP, number, "/specloop help", by="alice")
    assert (await service.drain())["failed"] == 0
    assert len(github.requests_to("GET", rf"^/repos/{SHOP}/contents/\.github/specloop\.yml$")) == 1


async def test_a_job_whose_arguments_do_not_fit_is_dropped_without_running_or_retrying(
    github: Any, core_deps: Deps, redis_url: str
) -> None:
    shop = install_shop(github)
    number = github.open_issue(shop.repo, "A story")
    ran: list[str] = []

    async def map_story(scope: JobScope, args: Any) -> dict[str, Any]:
        ran.append("ran")
        return {}

    # e.g. queued by an older Specloop that still passed the delivery as an argument
    stale = story_job(shop, number)
    stale = stale.model_copy(update={"kwargs": {**stale.kwargs, "delivery": "d1"}})
    await put(redis_url, stale)
    result = await run_burst(core_deps.settings, redis_url, core_deps, jobs={"map_story": Job(MapStory, map_story)})
    assert ran == [] and (result["complete"], result["failed"], result["retried"]) == (1, 0, 0)
    assert bot_comments(github, shop, number) == []


AMPLIFIER = "\n".join(f"/specloop x{n}@victim" for n in range(50)) + "\n/specloop a`@victim`"


async def test_unknown_commands_from_someone_without_a_role_get_no_reply(service: Service, github: Any) -> None:
    number = github.open_issue(SHOP, "A story")
    github.add_user("mallory")
    github.comment(SHOP, number, AMPLIFIER, by="mallory")
    result = await service.drain()
    assert result["failed"] == 0
    assert [c.body for c in github.comments(SHOP, number) if c.user.login == github.bot.login] == []


async def test_many_unknown_commands_from_a_triager_get_one_reply_naming_nobody(service: Service,
                                                                                github: Any) -> None:
    number = github.open_issue(SHOP, "A story")
    github.add_user("tina", "triage", SHOP)
    github.comment(SHOP, number, AMPLIFIER + "\n/specloop frob", by="tina")
    result = await service.drain()
    assert result["failed"] == 0
    [body] = [c.body for c in github.comments(SHOP, number) if c.user.login == github.bot.login]
    assert "victim" not in body and "`/specloop frob`" in body and "an unknown command" in body


async def test_a_job_needing_a_permission_without_an_actor_is_refused_silently(github: Any, core_deps: Deps,
                                                                               redis_url: str) -> None:
    shop = install_shop(github)
    number = github.open_issue(shop.repo, "A story")
    ran: list[str] = []

    async def generate_code(scope: JobScope, args: Any) -> dict[str, Any]:
        ran.append("ran")
        return {"status": "done"}

    await put(redis_url, story_job(shop, number, function="generate_code", permission="code", actor=None))
    redis = ArqRedis.from_url(redis_url)
    try:
        result = await run_burst(core_deps.settings, redis_url, core_deps,
                                 jobs={"generate_code": Job(GenerateCode, generate_code)})
        job_result = await redis.get(f"arq:result:generate_code:{shop.repo}#{number}:d1")
    finally:
        await redis.aclose()
    assert ran == [] and result["failed"] == 0
    assert bot_comments(github, shop, number) == []
    assert job_result is not None and b"refused" in job_result
