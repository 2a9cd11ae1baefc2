"""`purge_artifacts`: a daily cron on the light worker that deletes artifacts past their retention.

Screenshot URLs in check runs never expire, so retention (`ARTIFACT_RETENTION_DAYS`) is the only thing
that bounds the artifact store; this job is what makes that setting take effect.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from arq.cron import CronJob, cron

from app.context import deps

log = logging.getLogger(__name__)

JOB_NAME = "purge_artifacts"


async def purge_artifacts(ctx: dict[str, Any]) -> dict[str, Any]:
    """Delete every stored artifact older than the retention period; returns how many went."""
    store = deps(ctx).artifacts
    if store is None:
        return {"removed": 0}
    removed = await asyncio.to_thread(store.purge)  # file or bucket listing: keep it off the event loop
    if removed:
        log.info("purged old artifacts", extra={"removed": removed, "retention_days": store.retention_days})
    return {"removed": removed}


def purge_cron() -> list[CronJob]:
    """Once a day, at a quiet minute; unique, so many workers still purge once."""
    return [cron(purge_artifacts, name=JOB_NAME, hour={3}, minute={41}, second=0, unique=True, timeout=600,
                 run_at_startup=False)]
