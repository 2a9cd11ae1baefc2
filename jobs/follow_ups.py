"""`drain_follow_ups`: a periodic job that runs the follow-ups of stories whose lock holder died.

A trigger that arrives while a story's job runs is recorded as that story's follow-up, and the holder
enqueues it when it lets go of the lock. A worker killed mid-job never lets go: its lock expires, and
without this sweep the follow-ups recorded meanwhile would wait for a next trigger that may never come.
"""

from __future__ import annotations

import logging
from typing import Any

from arq.cron import CronJob, cron

from app.context import deps
from app.logs import log_context
from app.queue import drain_orphaned_follow_ups

log = logging.getLogger(__name__)

JOB_NAME = "drain_follow_ups"


async def drain_follow_ups(ctx: dict[str, Any]) -> dict[str, Any]:
    """Enqueue the follow-ups of every story whose lock expired without a release."""
    with log_context(job_id=str(ctx.get("job_id", JOB_NAME))):
        drained = await drain_orphaned_follow_ups(deps(ctx).redis)
        if drained:
            log.info("orphaned follow-ups enqueued", extra={"jobs": [r.job_id for r in drained]})
        return {"enqueued": [r.job_id for r in drained]}


def follow_up_cron() -> list[CronJob]:
    """Every minute on the light worker; unique, so many workers still sweep once."""
    return [cron(drain_follow_ups, name=JOB_NAME, second=43, unique=True, timeout=60, run_at_startup=True)]
