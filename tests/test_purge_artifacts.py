"""Artifact retention: the daily cron deletes what is older than ARTIFACT_RETENTION_DAYS, nothing newer."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from app.artifacts import LocalArtifactStore
from app.context import DEPS_KEY, Deps
from app.gh.client import GitHubApp
from jobs.purge_artifacts import JOB_NAME, purge_artifacts
from jobs.worker import worker_settings
from tests.support.service import settings_for


async def test_the_purge_job_removes_only_artifacts_past_retention(github: Any, redis_url: str,
                                                                   tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts", b"k" * 32, "http://localhost", retention_days=30)
    store.put("qa/old.png", b"old")
    store.put("qa/new.png", b"new")
    month_and_a_day = time.time() - 31 * 86400
    os.utime(tmp_path / "artifacts" / "qa" / "old.png", (month_and_a_day, month_and_a_day))
    settings = settings_for(github, redis_url, tmp_path)
    redis = Redis.from_url(redis_url)
    app = GitHubApp(settings, redis)
    try:
        outcome = await purge_artifacts({DEPS_KEY: Deps(settings=settings, redis=redis, github=app,
                                                        artifacts=store)})
    finally:
        await app.aclose()
        await redis.aclose()
    assert outcome == {"removed": 1}
    assert store.get("qa/old.png") is None and store.get("qa/new.png") == b"new"


def test_the_light_worker_purges_once_a_day(github: Any, redis_url: str, tmp_path: Path) -> None:
    crons = {job.name: job for job in worker_settings(settings_for(github, redis_url, tmp_path), "light")["cron_jobs"]}
    assert crons[JOB_NAME].unique and crons[JOB_NAME].hour == {3}
