"""Periodic redelivery: failed webhook deliveries are redelivered once through the App's delivery API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.context import DEPS_KEY, Deps
from app.domain.markers import find_marker
from app.queue import DELIVERY_KEY
from app.redis_server import ManagedRedis
from jobs.redeliver import JOB_NAME, redeliver_failed, redelivery_cron
from jobs.worker import worker_settings
from tests.support.service import SHOP, Service, settings_for

ATTEMPTS = r"^/app/hook/deliveries/\d+/attempts$"


def asks(github: Any) -> list[str]:
    """The redelivery requests the app sent to GitHub."""
    return [r.path for r in github.requests_to("POST", ATTEMPTS)]


def map_comments(github: Any, number: int) -> list[Any]:
    return [c for c in github.comments(SHOP, number)
            if c.user.login == github.bot.login and find_marker(c.body, "map") is not None]


async def run_cron(deps: Deps) -> dict[str, Any]:
    """One run of the cron job, as the worker would call it."""
    return await redeliver_failed({DEPS_KEY: deps, "job_id": f"{JOB_NAME}:test"})


async def test_a_dropped_delivery_is_redelivered_once_and_processed_once(service: Service, github: Any,
                                                                         core_deps: Deps) -> None:
    delivered = github.open_issue(SHOP, "Already delivered")  # `issues opened` reaches the service
    number = github.open_issue(SHOP, "Guest checkout", body="As a guest I want to check out")
    github.fault(path="^issues$", target="webhook", times=1)  # GitHub cannot reach the service once
    dropped = github.label_issue(SHOP, number, "story", by="alice")
    assert dropped is not None and dropped.status_code == 0 and delivered

    first = await run_cron(core_deps)
    assert first["asked"] == [dropped.guid]
    assert asks(github) == [f"/app/hook/deliveries/{dropped.id}/attempts"]  # the good ones left alone

    await service.drain()
    [again] = [d for d in github.deliveries_for("issues", "labeled") if d.redelivery]
    assert again.guid == dropped.guid and again.status_code == 202
    assert len(map_comments(github, number)) == 1

    second = await run_cron(core_deps)
    assert second["asked"] == [] and len(asks(github)) == 1


async def test_a_delivery_answered_503_while_redis_was_down_is_processed_after_redelivery(
        make_service: Callable[..., Service], own_redis: ManagedRedis, own_deps: Deps, github: Any) -> None:
    service = make_service(redis_url=own_redis.url)
    number = github.open_issue(SHOP, "Guest checkout", body="As a guest I want to check out")
    own_redis.stop()
    down = github.label_issue(SHOP, number, "story", by="alice")
    assert down is not None and down.status_code == 503
    own_redis.start()

    assert (await run_cron(own_deps))["asked"] == [down.guid]
    await service.drain()
    assert await own_deps.redis.exists(DELIVERY_KEY.format(down.guid))
    assert len(map_comments(github, number)) == 1
    assert (await run_cron(own_deps))["asked"] == [] and len(asks(github)) == 1


async def test_a_redelivery_that_fails_again_is_not_asked_for_again(service: Service, github: Any,
                                                                    core_deps: Deps) -> None:
    number = github.open_issue(SHOP, "Guest checkout")
    github.fault(path="^issues$", target="webhook", times=None)  # the service stays unreachable
    dropped = github.label_issue(SHOP, number, "story", by="alice")
    assert dropped is not None
    assert (await run_cron(core_deps))["asked"] == [dropped.guid]
    github.wait_for_deliveries()
    assert [d.status_code for d in github.deliveries_for("issues", "labeled")] == [0, 0]
    assert (await run_cron(core_deps))["already_asked"] == [dropped.guid] and len(asks(github)) == 1


async def test_a_failed_delivery_the_service_already_processed_is_left_alone(service: Service, github: Any,
                                                                             core_deps: Deps) -> None:
    number = github.open_issue(SHOP, "Guest checkout")
    github.fault(path="^issues$", target="webhook", times=1)
    dropped = github.label_issue(SHOP, number, "story", by="alice")
    assert dropped is not None
    # e.g. the service queued it but answered after GitHub's 10 s, so GitHub shows a failure
    await core_deps.redis.set(DELIVERY_KEY.format(dropped.guid), "1")
    result = await run_cron(core_deps)
    assert result["asked"] == [] and result["already_processed"] == [dropped.guid] and asks(github) == []


async def test_a_refused_redelivery_request_is_tried_again_next_run(service: Service, github: Any,
                                                                    core_deps: Deps) -> None:
    number = github.open_issue(SHOP, "Guest checkout")
    github.fault(path="^issues$", target="webhook", times=1)
    dropped = github.label_issue(SHOP, number, "story", by="alice")
    assert dropped is not None
    github.fault("POST", ATTEMPTS, status=422, times=1)
    assert (await run_cron(core_deps))["errors"] and asks(github) == [f"/app/hook/deliveries/{dropped.id}/attempts"]
    assert (await run_cron(core_deps))["asked"] == [dropped.guid]


def test_the_light_worker_runs_the_redelivery_cron_every_few_minutes(github: Any, redis_url: str,
                                                                     tmp_path: Path) -> None:
    settings = settings_for(github, redis_url, tmp_path)
    job = next(j for j in worker_settings(settings, "light")["cron_jobs"] if j.name == JOB_NAME)
    assert job.name == JOB_NAME and job.unique
    assert "cron_jobs" not in worker_settings(settings, "heavy")
    assert redelivery_cron(10)[0].minute == {0, 10, 20, 30, 40, 50}
    assert redelivery_cron(0) == []


async def test_a_failed_delivery_on_a_later_page_is_found_by_following_the_cursor(
    service: Service, github: Any, core_deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    github.fault(path="^issues$", target="webhook", times=1)
    github.open_issue(SHOP, "Guest checkout", body="As a guest I want to check out")
    dropped = github.deliveries_for("issues", "opened")[-1]
    assert dropped.status_code == 0
    for title in ("One", "Two", "Three", "Four"):  # newer, successful deliveries push it to page 3
        github.open_issue(SHOP, title)
    monkeypatch.setattr("app.gh.deliveries.PER_PAGE", 2)
    assert (await run_cron(core_deps))["asked"] == [dropped.guid]
    pages = github.requests_to("GET", r"^/app/hook/deliveries$")
    assert [r.query.get("cursor") is None for r in pages] == [True, False, False]
