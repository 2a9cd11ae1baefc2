"""Routing end to end: the double sends signed webhooks, the service decides and queues, workers run."""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis
from arq.constants import job_key_prefix
from arq.jobs import deserialize_job

from app.queue import META, QUEUES
from tests.support.service import SHOP, Service


async def queued_ids(redis_url: str) -> list[str]:
    redis = ArqRedis.from_url(redis_url)
    try:
        return [raw.decode() for q in QUEUES.values() for raw in await redis.zrange(q, 0, -1)]
    finally:
        await redis.aclose()


async def queued_meta(redis_url: str, job_id: str) -> dict[str, Any]:
    """The wrapper's metadata stored with a queued job (its story, function, delivery, ...)."""
    redis = ArqRedis.from_url(redis_url)
    try:
        raw = await redis.get(job_key_prefix + job_id)
    finally:
        await redis.aclose()
    assert raw is not None, job_id
    meta: dict[str, Any] = deserialize_job(raw).kwargs[META]
    return meta


async def test_a_labelled_issue_is_queued_under_its_delivery(service: Service, github: Any) -> None:
    number = github.open_issue(SHOP, "Guest checkout", body="As a guest I want to check out")
    delivery = github.label_issue(SHOP, number, "story", by="alice")
    assert delivery is not None and delivery.status_code == 202
    [job_id] = await queued_ids(service.redis_url)
    assert job_id.startswith(f"map_story:{SHOP}#{number}:")
    assert (await queued_meta(service.redis_url, job_id))["delivery"] == delivery.guid


async def test_a_redelivered_guid_is_processed_once(service: Service, github: Any) -> None:
    number = github.open_issue(SHOP, "Guest checkout")
    first = github.label_issue(SHOP, number, "story", by="alice")
    assert first is not None
    again = github.redeliver(first.guid)
    assert again.status_code == 202 and again.json()["status"] == "duplicate"
    assert len(await queued_ids(service.redis_url)) == 1


async def test_a_bot_labelling_an_issue_queues_nothing(service: Service, github: Any) -> None:
    github.add_user("renovate[bot]")
    github.state.users["renovate[bot]"].type = "Bot"
    number = github.open_issue(SHOP, "Guest checkout")
    delivery = github.label_issue(SHOP, number, "story", by="renovate[bot]")
    assert delivery is not None and delivery.json()["status"] == "ignored"
    assert await queued_ids(service.redis_url) == []


async def test_five_quick_replies_cause_one_debounced_remap(service: Service, github: Any) -> None:
    number = github.open_issue(SHOP, "Guest checkout")
    for n in range(5):
        github.comment(SHOP, number, f"Answer {n}", by="alice")
    assert len(await queued_ids(service.redis_url)) == 1


async def test_uninstalling_drops_the_installations_tokens(service: Service, github: Any) -> None:
    from redis.asyncio import Redis

    from app.gh.client import GitHubApp

    installation_id = github.installation_for(github.repo(SHOP)).id
    redis = Redis.from_url(service.redis_url)
    app = GitHubApp(service.settings, redis)
    try:
        owner, name = SHOP.split("/")
        await app.installation(installation_id).rest.repos.async_get(owner, name)  # caches the token
        assert [k async for k in redis.scan_iter(match="specloop:gh:*:installation:*")]
        github.uninstall(installation_id)
        result = await service.drain()
        assert result["complete"] >= 1 and result["failed"] == 0
        assert [k async for k in redis.scan_iter(match="specloop:gh:*:installation:*")] == []
    finally:
        await app.aclose()
        await redis.aclose()
