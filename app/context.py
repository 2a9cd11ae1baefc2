"""`Deps`: the clients a job uses, created once in the worker's start-up and read through `deps(ctx)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from app.settings import Settings

if TYPE_CHECKING:
    from app.artifacts import ArtifactStore
    from app.github import GitHubApp
    from app.model.client import ModelClient

DEPS_KEY = "specloop_deps"


@dataclass
class Deps:
    """Everything a job needs from outside: settings, Redis, GitHub, the model (None offline), artifacts."""

    settings: Settings
    redis: Redis
    github: GitHubApp
    model: ModelClient | None = None  # None without ANTHROPIC_API_KEY: callers take the offline path
    artifacts: ArtifactStore | None = None


def deps(ctx: dict[str, Any]) -> Deps:
    """The job's dependencies from arq's `ctx` (put there by the worker's on_startup)."""
    try:
        return ctx[DEPS_KEY]
    except KeyError:
        raise RuntimeError("no Deps in the job context: the worker's on_startup did not run") from None
