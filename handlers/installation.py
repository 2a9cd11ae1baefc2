"""`installation` events: an uninstalled or suspended app drops its tokens and queued jobs."""

from __future__ import annotations

from app.events import InstallationEvent
from app.queue import JobRequest
from handlers.base import HandlerContext, Router

router = Router()


@router.on("installation", "deleted", "suspend")
def drop_installation(event: InstallationEvent, ctx: HandlerContext) -> list[JobRequest]:
    """Forget the installation's cached tokens and queued jobs."""
    installation_id = event.installation.id
    return [JobRequest(function="drop_installation", queue="light",
                       kwargs={"installation_id": installation_id, "delivery": ctx.delivery},
                       story=f"installation:{installation_id}")]
