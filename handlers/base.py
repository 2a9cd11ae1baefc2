"""The handler toolkit: what a handler may know, the router, and the decision it produces."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict, TypeVar

from app.events import Event
from app.job_args import JobArgs
from app.queue import JobRequest

EVENT_SPEC_BRANCH_PREFIX = "specloop/"


@dataclass(frozen=True)
class HandlerContext:
    """What a handler may know without a network call."""

    app_id: int | None
    app_slug: str
    delivery: str
    debounce_seconds: float = 30.0

    @property
    def bot_login(self) -> str:
        """The login GitHub gives the app's own actions."""
        return f"{self.app_slug}[bot]"


@dataclass
class Decision:
    """What to do with a delivery: the jobs to enqueue, or why it is ignored."""

    jobs: list[JobRequest] = field(default_factory=list)
    ignored_reason: str | None = None


Handler = Callable[[Any, HandlerContext], list[JobRequest]]
F = TypeVar("F", bound=Handler)


class Router:
    """Maps (event, action) to handler functions; one per handlers/ module, merged in one place."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str | None], list[Handler]] = {}

    def on(self, event: str, action: str | None = None, *more_actions: str) -> Callable[[F], F]:
        """Register the decorated handler for `event` and one or more actions (None: every action)."""

        def register(handler: F) -> F:
            for each in (action, *more_actions):
                self._routes.setdefault((event, each), []).append(handler)
            return handler

        return register

    def include(self, *others: Router) -> Router:
        """Merge other routers' routes into this one."""
        for other in others:
            for key, handlers in other._routes.items():
                self._routes.setdefault(key, []).extend(handlers)
        return self

    def handlers_for(self, event: str, action: str | None) -> list[Handler]:
        """Handlers for this event and action, including any registered for every action."""
        found = list(self._routes.get((event, action), []))
        if action is not None:
            found += self._routes.get((event, None), [])
        return found

    @property
    def events(self) -> set[str]:
        """Every event some handler listens to."""
        return {event for event, _ in self._routes}


class JobTarget(TypedDict):
    """The arguments a handler shares between the jobs it asks for, spread into their models."""

    installation_id: int
    repo: str
    number: int
    actor: NotRequired[str | None]


def installation_of(event: Event) -> int:
    """The installation the delivery is for (`dispatch` drops deliveries without one before any handler)."""
    if event.installation is None:
        raise ValueError("a delivery without an installation reached a handler")
    return event.installation.id


def is_spec_branch(ref: str | None) -> bool:
    """Spec PRs come from `specloop/<n>-<slug>` branches."""
    return bool(ref) and str(ref).startswith(EVENT_SPEC_BRANCH_PREFIX)


def job(args: JobArgs, ctx: HandlerContext, *, debounce: float = 0.0, permission: str | None = None,
        key: str | None = None, story: str | None = None) -> JobRequest:
    """The request for the job `args` belong to, carrying the delivery (for logs)."""
    return JobRequest.of(args, delivery=ctx.delivery, debounce=debounce, permission=permission, key=key,
                         story=story)
