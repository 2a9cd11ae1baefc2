"""What a job runs with: `Deps` (clients made once at the worker's start-up) and the `JobScope` of one job.

The worker's wrapper builds the scope (installation client, repository, bot login, the repository's
config read at most once) and hands it to the job with its typed arguments, so no job repeats that
preamble and the permission check and the job share one config read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from githubkit import GitHub
from redis.asyncio import Redis

from app.gh.models import RepoRef
from app.repo_config import RepoConfig, load_repo_config
from app.settings import Settings

if TYPE_CHECKING:
    from app.artifacts import ArtifactStore
    from app.gh.client import GitHubApp
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
        found = ctx[DEPS_KEY]
    except KeyError:
        raise RuntimeError("no Deps in the job context: the worker's on_startup did not run") from None
    if not isinstance(found, Deps):
        raise TypeError(f"the job context holds {type(found).__name__}, not Deps")
    return found


@dataclass
class InstallationScope:
    """One job acting as one installation."""

    deps: Deps
    installation_id: int
    job_id: str

    @property
    def gh(self) -> GitHub[Any]:
        """The installation's GitHub client."""
        return self.deps.github.installation(self.installation_id)

    @property
    def bot_login(self) -> str:
        """The login GitHub gives the App's own comments and reviews."""
        return self.deps.settings.bot_login


@dataclass
class JobScope(InstallationScope):
    """One job about one repository: adds the repository and its config (read from GitHub at most once)."""

    repo: RepoRef
    _config: RepoConfig | None = field(default=None, repr=False)

    async def config(self, default_branch: str | None = None) -> RepoConfig:
        """The repository's `.github/specloop.yml` (defaults filled in), read on first use."""
        if self._config is None:
            self._config = await load_repo_config(self.gh, self.repo, default_branch)
        return self._config
