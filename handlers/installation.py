"""`installation` events: an uninstalled or suspended app drops its tokens and queued jobs."""

from __future__ import annotations

from app.events import InstallationEvent
from app.job_args import DropInstallation
from app.queue import JobRequest
from handlers.base import HandlerContext, Router, job

router = Router()


@router.on("installation", "deleted", "suspend")
def drop_installation(event: InstallationEvent, ctx: HandlerContext) -> list[JobRequest]:
    """Forget the installation's cached tokens and queued jobs."""
    return [job(DropInstallation(installation_id=event.installation.id), ctx)]
