"""Typed job arguments: every job's model survives the queue unchanged, and bad arguments fail where made."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq.connections import ArqRedis
from arq.jobs import deserialize_job
from pydantic import ValidationError

from app.job_args import (
    ALL,
    BY_NAME,
    ApproveSpec,
    CheckSpec,
    CloseGate,
    DropInstallation,
    GenerateCode,
    JobArgs,
    MapStory,
    Reply,
    ReviseSpec,
    RunQa,
    WriteSpec,
)
from app.queue import META, QUEUES, JobRequest, enqueue
from jobs.worker import JOBS

REPO = {"installation_id": 7, "repo": "octo-org/shop"}
# One filled-in example per job, optional fields set, so the round trip carries every kind of value.
EXAMPLES: list[JobArgs] = [
    MapStory(**REPO, number=3, actor="alice", trigger="label", label="story"),
    Reply(**REPO, number=3, actor="alice", kind="unknown_command", detail="`/specloop frob`"),
    WriteSpec(**REPO, number=3, actor="alice", regenerate=True),
    CheckSpec(**REPO, number=9, sha="a" * 40),
    ReviseSpec(**REPO, number=9, actor="bob", review_id=1234),
    ApproveSpec(**REPO, number=9, actor="bob", review_id=1234, sha="b" * 40, reviewer="bob"),
    CloseGate(**REPO, number=9, actor="carol", reason="dismissed"),
    GenerateCode(**REPO, number=9, sha="c" * 40, digest="d" * 64),
    RunQa(**REPO, sha="e" * 40, base_url="https://preview.example", environment="preview"),
    DropInstallation(installation_id=7),
]


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[ArqRedis]:
    client = ArqRedis.from_url(redis_url)
    yield client
    await client.aclose()


def test_there_is_an_example_for_every_job_and_a_job_for_every_model() -> None:
    assert {type(args) for args in EXAMPLES} == set(ALL)
    assert set(JOBS) == set(BY_NAME) and all(JOBS[name].args is BY_NAME[name] for name in JOBS)


@pytest.mark.parametrize("args", EXAMPLES, ids=lambda a: a.NAME)
async def test_every_jobs_arguments_round_trip_through_the_queue(redis: ArqRedis, args: JobArgs) -> None:
    request = JobRequest.of(args, delivery="guid-1")
    assert await enqueue(redis, request)
    stored = deserialize_job(await redis.get(f"arq:job:{request.job_id}"))
    assert stored.function == args.NAME
    assert await redis.zscore(QUEUES[args.QUEUE], request.job_id) is not None
    kwargs: dict[str, Any] = dict(stored.kwargs)
    meta = kwargs.pop(META)
    assert meta["delivery"] == "guid-1" and "delivery" not in kwargs  # metadata, not an argument
    assert BY_NAME[stored.function].model_validate(kwargs) == args


def test_a_misspelt_or_missing_argument_fails_where_it_is_made() -> None:
    with pytest.raises(ValidationError):
        CheckSpec(**REPO, number=9, sha="a" * 40, delivery="guid-1")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        MapStory(**REPO, number=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Reply(**REPO, number=3, kind="shout")  # type: ignore[arg-type]


def test_heavy_jobs_go_on_the_heavy_queue() -> None:
    assert {args.NAME for args in EXAMPLES if JobRequest.of(args).queue == "heavy"} == {"generate_code", "run_qa"}
