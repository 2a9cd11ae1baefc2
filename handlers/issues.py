"""`issues` events: a label added (map or spec) and a story body edited (re-map, debounced)."""

from __future__ import annotations

from app.events import IssuesEvent
from app.job_args import MapStory
from app.queue import JobRequest
from handlers.base import HandlerContext, Router, installation_of, job

router = Router()


@router.on("issues", "labeled")
def map_labelled_issue(event: IssuesEvent, ctx: HandlerContext) -> list[JobRequest]:
    """Any label on an issue goes to map_story; the job reads config to see which label it was."""
    # The label names are configurable per repository, and reading the config is I/O, so the job
    # decides whether this label is the story label, `ready-for-spec`, or something else to ignore.
    if event.issue.is_pull_request or event.label is None or event.repository is None:
        return []
    return [job(MapStory(installation_id=installation_of(event),
                         repo=event.repository.full_name, number=event.issue.number,
                         actor=event.sender.login if event.sender else None, trigger="label",
                         label=event.label.name), ctx)]


@router.on("issues", "edited")
def remap_edited_story(event: IssuesEvent, ctx: HandlerContext) -> list[JobRequest]:
    """An edited story body re-maps it, debounced so a burst of edits causes one run."""
    if event.issue.is_pull_request or event.repository is None or "body" not in (event.changes or {}):
        return []
    return [job(MapStory(installation_id=installation_of(event),
                         repo=event.repository.full_name, number=event.issue.number,
                         actor=event.sender.login if event.sender else None, trigger="conversation"),
                ctx, debounce=ctx.debounce_seconds)]
