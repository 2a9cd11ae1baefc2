"""The queue on a real Redis: delivery dedupe in one transaction, debounce, per-story lock, follow-ups."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq.connections import ArqRedis
from arq.constants import job_key_prefix
from arq.jobs import deserialize_job
from redis.exceptions import ResponseError

from app.job_args import MapStory
from app.queue import (
    DELIVERY_KEY,
    LOCK_KEY,
    QUEUES,
    DeliveryIntake,
    JobRequest,
    acquire_story,
    delivery_seen,
    drain_orphaned_follow_ups,
    drop_installation_jobs,
    enqueue,
    enqueue_delivery,
    release_story,
    story_lock,
)
from app.webhook import REDIS_ERRORS
from tests.support.redis import unreachable_redis_url

STORY = "octo-org/shop#12"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[ArqRedis]:
    client = ArqRedis.from_url(redis_url)
    yield client
    await client.aclose()


def request(function: str = "map_story", delivery: str = "d1", debounce: float = 0.0, story: str = STORY,
            installation_id: int = 1, queue: str = "light", key: str | None = None) -> JobRequest:
    # the nonce is the delivery here only so that ids are predictable in these tests
    return JobRequest(function=function, queue=queue, story=story, debounce=debounce, key=key,  # type: ignore[arg-type]
                      delivery=delivery, nonce=delivery,
                      kwargs={"installation_id": installation_id, "repo": "octo-org/shop", "number": 12})


async def queued(redis: ArqRedis, queue: str = "light") -> list[str]:
    return [raw.decode() for raw in await redis.zrange(QUEUES[queue], 0, -1)]


async def test_a_delivery_enqueues_its_jobs_as_arq_jobs(redis: ArqRedis) -> None:
    assert await enqueue_delivery(redis, "d1", [request(), request("run_qa", queue="heavy")])
    assert await queued(redis) == ["map_story:octo-org/shop#12:d1"]
    assert await queued(redis, "heavy") == ["run_qa:octo-org/shop#12:d1"]
    # arq's own reader understands what we wrote
    jobs = await redis.queued_jobs(queue_name=QUEUES["light"])
    assert jobs[0].function == "map_story" and jobs[0].kwargs["number"] == 12


async def test_a_redelivered_guid_enqueues_nothing(redis: ArqRedis) -> None:
    assert await enqueue_delivery(redis, "d1", [request()])
    await redis.delete(job_key_prefix + request().job_id)
    await redis.delete(QUEUES["light"])
    assert not await enqueue_delivery(redis, "d1", [request()])
    assert await queued(redis) == []


async def test_the_guid_is_kept_for_about_a_week(redis: ArqRedis) -> None:
    await enqueue_delivery(redis, "d1", [])
    assert await delivery_seen(redis, "d1")
    assert 6 * 24 * 3600 < await redis.ttl(DELIVERY_KEY.format("d1")) <= 7 * 24 * 3600


async def test_the_guid_is_not_marked_when_its_jobs_cannot_be_written(redis: ArqRedis) -> None:
    await redis.set(QUEUES["heavy"], "not a queue")  # any write failure inside the transaction
    with pytest.raises(ResponseError):
        await enqueue_delivery(redis, "d1", [request(), request("run_qa", queue="heavy")])
    assert not await delivery_seen(redis, "d1")
    assert await queued(redis) == []  # nor half of its jobs


async def test_a_new_delivery_for_the_same_story_is_a_new_job(redis: ArqRedis) -> None:
    await enqueue_delivery(redis, "d1", [request()])
    await enqueue_delivery(redis, "d2", [request(delivery="d2")])
    assert sorted(await queued(redis)) == ["map_story:octo-org/shop#12:d1", "map_story:octo-org/shop#12:d2"]


async def test_five_quick_triggers_are_debounced_into_one_run(redis: ArqRedis) -> None:
    scores = []
    for n in range(5):
        await enqueue_delivery(redis, f"d{n}", [request(delivery=f"d{n}", debounce=30)])
        scores.append(await redis.zscore(QUEUES["light"], "map_story:octo-org/shop#12:d0"))
    assert await queued(redis) == ["map_story:octo-org/shop#12:d0"]
    # each trigger pushes the waiting run back: it runs once the conversation settles
    assert scores == sorted(scores) and scores[-1] > scores[0]


async def test_debounce_is_per_story_and_function(redis: ArqRedis) -> None:
    await enqueue_delivery(redis, "d1", [request(debounce=30)])
    await enqueue_delivery(redis, "d2", [request(delivery="d2", debounce=30, story="octo-org/shop#13")])
    await enqueue_delivery(redis, "d3", [request("write_spec", delivery="d3", debounce=30)])
    assert len(await queued(redis)) == 3


async def test_a_trigger_after_the_debounced_run_started_gets_its_own_run(redis: ArqRedis) -> None:
    await enqueue_delivery(redis, "d1", [request(debounce=30)])
    await redis.zrem(QUEUES["light"], "map_story:octo-org/shop#12:d1")  # a worker took it
    await enqueue_delivery(redis, "d2", [request(delivery="d2", debounce=30)])
    assert await queued(redis) == ["map_story:octo-org/shop#12:d2"]


async def test_a_job_for_a_busy_story_is_recorded_as_one_merged_follow_up(redis: ArqRedis) -> None:
    assert await acquire_story(redis, STORY, "runner", 60)
    for n in range(3):
        assert not await acquire_story(redis, STORY, f"waiter{n}", 60, follow_up=request(delivery=f"d{n}"))
    follow_ups = await release_story(redis, STORY, "runner")
    assert [f.function for f in follow_ups] == ["map_story"]
    ids = await queued(redis)
    assert len(ids) == 1 and ids[0].startswith("map_story:octo-org/shop#12:d2:followup-")
    # and the lock is free again
    assert await acquire_story(redis, STORY, "next", 60)


async def test_follow_ups_are_merged_per_function(redis: ArqRedis) -> None:
    async with story_lock(redis, STORY, owner="runner") as lock:
        assert lock.acquired
        async with story_lock(redis, STORY, follow_up=request("map_story", "d1")) as busy:
            assert not busy.acquired
        await acquire_story(redis, STORY, "w2", 60, follow_up=request("write_spec", "d2"))
        await acquire_story(redis, STORY, "w3", 60, follow_up=request("map_story", "d3"))
    assert sorted(f.function for f in lock.follow_ups) == ["map_story", "write_spec"]
    assert len(await queued(redis)) == 2


async def test_keyed_requests_for_a_busy_story_are_merged_only_with_the_same_key(redis: ArqRedis) -> None:
    assert await acquire_story(redis, STORY, "runner", 60)
    for n, key in enumerate(["help", "status", "unknown-frobnicate", "help"]):
        await acquire_story(redis, STORY, f"w{n}", 60, follow_up=request("reply", f"d{n}", key=key))
    await acquire_story(redis, STORY, "w5", 60, follow_up=request("map_story", "d5"))
    follow_ups = await release_story(redis, STORY, "runner")
    assert sorted(f.key or f.function for f in follow_ups) == ["help", "map_story", "status", "unknown-frobnicate"]
    # the key stays in the id, next to the follow-up's fresh part
    assert f"reply:{STORY}:d3:help:followup-" in " ".join(await queued(redis))


async def test_follow_up_ids_are_fresh_each_time(redis: ArqRedis) -> None:
    ids = set()
    for _ in range(2):
        await acquire_story(redis, STORY, "runner", 60)
        await acquire_story(redis, STORY, "w", 60, follow_up=request(delivery="same"))
        ids.update(f.job_id for f in await release_story(redis, STORY, "runner"))
    assert len(ids) == 2


async def test_releasing_someone_elses_lock_leaves_it_held(redis: ArqRedis) -> None:
    await acquire_story(redis, STORY, "owner", 60)
    await release_story(redis, STORY, "intruder")
    assert not await acquire_story(redis, STORY, "third", 60)


async def test_enqueue_refuses_a_repeated_job_id(redis: ArqRedis) -> None:
    assert await enqueue(redis, request())
    assert not await enqueue(redis, request())


async def test_an_idempotency_key_is_the_job_id_and_refuses_a_second_request(redis: ArqRedis) -> None:
    first = request("generate_code", "d1", queue="heavy").model_copy(update={"once": "code:octo-org/shop:abc"})
    again = request("generate_code", "d2", queue="heavy").model_copy(update={"once": "code:octo-org/shop:abc"})
    assert first.job_id == "code:octo-org/shop:abc"
    assert await enqueue(redis, first) and not await enqueue(redis, again)
    assert await queued(redis, "heavy") == ["code:octo-org/shop:abc"]


def test_requests_without_a_key_get_distinct_ids() -> None:
    args = MapStory(installation_id=1, repo="octo-org/shop", number=12, trigger="conversation")
    # (a delivery id that cannot occur in the hex nonce by chance, as "d1" can)
    one, two = JobRequest.of(args, delivery="delivery-1"), JobRequest.of(args, delivery="delivery-1")
    assert one.job_id != two.job_id and "delivery-1" not in one.job_id


async def test_dropping_an_installation_removes_only_its_queued_jobs(redis: ArqRedis) -> None:
    await enqueue_delivery(redis, "d1", [request(installation_id=1), request("run_qa", queue="heavy")])
    await enqueue_delivery(redis, "d2", [request(delivery="d2", installation_id=2)])
    assert await drop_installation_jobs(redis, 1) == 2
    remaining = [deserialize_job(await redis.get(job_key_prefix + job_id)).kwargs["installation_id"]
                 for job_id in await queued(redis)]
    assert remaining == [2] and await queued(redis, "heavy") == []


async def test_the_locks_own_holder_takes_it_again(redis: ArqRedis) -> None:
    # arq retries a job whose worker was killed under the same job id, while the dead run's lock stands
    assert await acquire_story(redis, STORY, "map_story:octo-org/shop#12:d1", 60)
    assert await acquire_story(redis, STORY, "map_story:octo-org/shop#12:d1", 60, follow_up=request())
    assert not await acquire_story(redis, STORY, "someone-else", 60, follow_up=request("write_spec", "d2"))


async def test_follow_ups_of_an_expired_lock_are_drained_and_a_live_locks_are_left(redis: ArqRedis) -> None:
    assert await acquire_story(redis, STORY, "killed-run", 60)
    await acquire_story(redis, STORY, "waiter", 60, follow_up=request("write_spec", "d2"))
    other = "octo-org/shop#13"
    assert await acquire_story(redis, other, "live-run", 60)
    await acquire_story(redis, other, "waiter", 60, follow_up=request("write_spec", "d3", story=other))
    await redis.delete(LOCK_KEY.format(STORY))  # what the TTL does when the holder never lets go
    drained = await drain_orphaned_follow_ups(redis)
    assert [(r.function, r.story) for r in drained] == [("write_spec", STORY)]
    assert [job for job in await queued(redis) if job.startswith("write_spec:")] == [drained[0].job_id]
    assert await drain_orphaned_follow_ups(redis) == []  # once
    # the live lock's follow-up is still its holder's to enqueue
    assert [f.story for f in await release_story(redis, other, "live-run")] == [other]


async def test_a_job_we_write_is_stored_exactly_as_arqs_own_enqueue_stores_it(redis: ArqRedis) -> None:
    # app/queue.py writes arq's job format itself (inside one Lua script); if an arq upgrade changes that
    # format, this fails before a worker meets a job it cannot read
    ours = request("map_story", "d1")
    assert await enqueue(redis, ours)
    theirs = await redis.enqueue_job("map_story", _job_id="theirs", _queue_name=QUEUES["light"],
                                     **ours.arq_kwargs())
    assert theirs is not None
    mine_raw, theirs_raw = await redis.get(job_key_prefix + ours.job_id), await redis.get(job_key_prefix + "theirs")
    mine, arqs = deserialize_job(mine_raw), deserialize_job(theirs_raw)
    assert (mine.function, mine.args, mine.kwargs, mine.job_try) == (arqs.function, arqs.args, arqs.kwargs,
                                                                     arqs.job_try)
    assert abs(await redis.pttl(job_key_prefix + ours.job_id) - await redis.pttl(job_key_prefix + "theirs")) < 5_000
    scores = [await redis.zscore(QUEUES["light"], job_id) for job_id in (ours.job_id, "theirs")]
    assert all(scores) and abs(scores[0] - scores[1]) < 5_000  # both scored by when they may run, in ms
    assert [j.job_id for j in await redis.queued_jobs(queue_name=QUEUES["light"])] == [ours.job_id, "theirs"]


# --- the web service's intake: concurrent deliveries share a round trip -------------------------------

class CountingPipelines(ArqRedis):
    """A real client that counts the pipelines it executes (how many round trips a burst took)."""

    executed: list[int]

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction=transaction, shard_hint=shard_hint)
        execute = pipe.execute

        async def counted(raise_on_error: bool = True) -> Any:
            self.executed.append(len(pipe.command_stack))
            return await execute(raise_on_error=raise_on_error)

        pipe.execute = counted  # type: ignore[method-assign]
        return pipe


@pytest.fixture
async def counting(redis_url: str) -> AsyncIterator[CountingPipelines]:
    client = CountingPipelines.from_url(redis_url)
    client.executed = []
    yield client
    await client.aclose()


async def test_deliveries_arriving_together_go_to_redis_in_one_round_trip_each_still_deduplicated(
        counting: CountingPipelines) -> None:
    intake = DeliveryIntake(counting)
    deliveries = [f"d{n}" for n in range(40)] + ["d3", "d7"]  # two repeats inside the same burst
    answers = await asyncio.gather(*(intake.enqueue_delivery(d, [request(delivery=d)]) for d in deliveries))
    assert answers == [True] * 40 + [False, False]
    assert len(await queued(counting)) == 40
    # the first went out alone; everything that arrived meanwhile went in the next pipeline
    assert sum(counting.executed) == 42 and len(counting.executed) < 5, counting.executed


async def test_the_intake_loads_its_script_again_into_a_redis_that_forgot_it(redis: ArqRedis) -> None:
    intake = DeliveryIntake(redis)
    assert await intake.enqueue_delivery("d1", [request()])
    await redis.script_flush()  # what a restarted Redis looks like (this test's own server)
    assert await intake.enqueue_delivery("d2", [request(delivery="d2")])
    assert not await intake.enqueue_delivery("d2", [request(delivery="d2")])
    assert await queued(redis) == ["map_story:octo-org/shop#12:d1", "map_story:octo-org/shop#12:d2"]
    await redis.script_flush()  # the one-at-a-time path falls back the same way
    assert await enqueue_delivery(redis, "d3", [request(delivery="d3")])


async def test_a_redis_that_is_gone_fails_every_waiting_delivery_and_the_intake_recovers(
        redis: ArqRedis) -> None:
    dead = ArqRedis.from_url(unreachable_redis_url(), socket_connect_timeout=1)
    intake = DeliveryIntake(dead)
    results = await asyncio.gather(*(intake.enqueue_delivery(f"d{n}", [request(delivery=f"d{n}")]) for n in range(5)),
                                   return_exceptions=True)
    assert all(isinstance(result, REDIS_ERRORS) for result in results), results  # each answers 503
    await dead.aclose()
    intake.redis = redis  # Redis is back: the same intake writes again
    assert await intake.enqueue_delivery("d1", [request()])


async def test_a_caller_that_stops_waiting_does_not_cancel_the_others_write(redis: ArqRedis) -> None:
    intake = DeliveryIntake(redis)
    impatient = asyncio.create_task(intake.enqueue_delivery("d1", [request()]))
    patient = asyncio.create_task(intake.enqueue_delivery("d2", [request(delivery="d2")]))
    await asyncio.sleep(0)
    impatient.cancel()
    assert await patient
    # the cancelled caller's delivery was written with the batch: a redelivery of it is a duplicate
    assert await delivery_seen(redis, "d1") and await delivery_seen(redis, "d2")
