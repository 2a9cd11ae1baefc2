"""Webhook handlers: one router per event module, merged here, and `dispatch()` for the web layer.

Handlers are pure (event in, job requests out); everything needing GitHub is re-checked in the job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from app.events import EVENT_MODELS, IssueCommentEvent, parse_event
from handlers import (
    check_run,
    check_suite,
    deployment_status,
    installation,
    issue_comment,
    issues,
    pull_request,
    pull_request_review,
)
from handlers.base import Decision, HandlerContext, Router, is_spec_branch

__all__ = ["Decision", "HandlerContext", "Router", "dispatch", "handled", "is_spec_branch", "router"]

# Adding an event means adding its module and naming it here.
router = Router().include(
    issues.router,
    issue_comment.router,
    pull_request.router,
    pull_request_review.router,
    check_run.router,
    check_suite.router,
    deployment_status.router,
    installation.router,
)

# Bots may cause these: a deploy workflow reports deployments, GitHub itself sends installation events.
BOT_EVENTS_ALLOWED = {"deployment_status", "installation"}


def handled(event: str, action: str | None) -> bool:
    """Whether some handler listens to this event and action (the web layer answers `ignored` if not)."""
    return bool(router.handlers_for(event, action))


def _describe_error(event: str, error: ValidationError) -> str:
    """A short, log- and response-friendly reason naming the first unreadable field."""
    first: Mapping[str, Any] = error.errors()[0] if error.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ())) or "payload"
    return f"could not read the {event} payload ({where}: {first.get('msg', 'invalid')})"


def dispatch(event: str, payload: dict[str, Any], ctx: HandlerContext) -> Decision:
    """Decide what a verified delivery asks for; never raises for a bad payload."""
    if not isinstance(payload, dict):
        return Decision(ignored_reason=f"could not read the {event} payload (not a JSON object)")
    action = payload.get("action") if isinstance(payload.get("action"), str) else None
    handlers = router.handlers_for(event, action)
    if not handlers:
        return Decision(ignored_reason=f"{event}{' ' + action if action else ''} is not handled")
    try:
        model = parse_event(event, payload)
    except ValidationError as error:
        return Decision(ignored_reason=_describe_error(event, error))

    sender = model.sender
    if sender is not None and sender.login == ctx.bot_login:
        return Decision(ignored_reason="sent by Specloop itself")
    # A comment the app posted: `performed_via_github_app` names the app that created it. Only for
    # `created`: when a person edits the bot's comment, the field still names the app.
    if (isinstance(model, IssueCommentEvent) and action == "created" and ctx.app_id is not None
            and model.comment.performed_via_github_app is not None
            and model.comment.performed_via_github_app.id == ctx.app_id):
        return Decision(ignored_reason="sent by Specloop itself")
    if sender is not None and sender.is_bot and event not in BOT_EVENTS_ALLOWED:
        # Never obey bots: two bots answering each other is an endless loop.
        return Decision(ignored_reason=f"sent by a bot ({sender.login})")
    if model.installation is None:
        return Decision(ignored_reason="no installation in the payload (is the app installed?)")
    if event in EVENT_MODELS and event != "installation" and model.repository is None:
        return Decision(ignored_reason=f"no repository in the {event} payload")

    jobs = [request for handler in handlers for request in handler(model, ctx)]
    if not jobs:
        return Decision(ignored_reason=f"nothing to do for {event} {action}")
    return Decision(jobs=jobs)
