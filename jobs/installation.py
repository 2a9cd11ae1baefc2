"""`drop_installation`: an uninstalled or suspended app forgets its tokens and queued jobs."""

from __future__ import annotations

import logging

from app.context import InstallationScope
from app.job_args import DropInstallation
from app.queue import drop_installation_jobs

log = logging.getLogger(__name__)


async def drop_installation(scope: InstallationScope, args: DropInstallation) -> dict[str, int]:
    """Drop cached installation tokens and not-yet-started jobs for the installation."""
    tokens = await scope.deps.github.drop_installation(args.installation_id)
    jobs = await drop_installation_jobs(scope.deps.redis, args.installation_id)
    log.info("installation dropped", extra={"installation_id": args.installation_id, "tokens": tokens, "jobs": jobs})
    return {"tokens": tokens, "jobs": jobs}
