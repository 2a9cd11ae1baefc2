"""`drop_installation`: an uninstalled or suspended app forgets its tokens and queued jobs."""

from __future__ import annotations

import logging
from typing import Any

from app.context import deps
from app.queue import drop_installation_jobs

log = logging.getLogger(__name__)


async def drop_installation(ctx: dict[str, Any], *, installation_id: int, delivery: str | None = None,
                            **_: Any) -> dict[str, int]:
    """Drop cached installation tokens and not-yet-started jobs for `installation_id`."""
    d = deps(ctx)
    tokens = await d.github.drop_installation(installation_id)
    jobs = await drop_installation_jobs(d.redis, installation_id)
    log.info("installation dropped", extra={"installation_id": installation_id, "tokens": tokens, "jobs": jobs})
    return {"tokens": tokens, "jobs": jobs}
