"""The whole service under test: fixtures over `app.sandbox.harness`, the harness `specloop demo` runs on.

`service` is a `Harness` with the session's Redis, the test's GitHub double (and the LLM double when
the test asks for `llm`), and the web service started on a loopback port; `await service.drain()` runs
burst workers until no job is due (waiting for short debounces), so a test reads like: act on the
double, drain, assert on the double.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from githubkit.exception import RateLimitExceeded
from redis.asyncio import Redis

from app.artifacts import ArtifactStore
from app.context import DEPS_KEY, Deps
from app.gh.client import GitHubApp
from app.redis_server import ManagedRedis
from app.sandbox.github import GitHubDouble
from app.sandbox.harness import DEBOUNCE_SECONDS, Harness, sandbox_settings
from app.settings import Settings
from tests.support.stopping import stop_later

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "webhooks"

TEST_DEBOUNCE_SECONDS = DEBOUNCE_SECONDS  # debounced jobs come due quickly, and drain() waits for them

Service = Harness  # what the `service` fixture gives: settings, url, github, redis_url, drain()


def webhook_payload(event: str, name: str = "payload", **overrides: Any) -> dict[str, Any]:
    """A captured payload from tests/fixtures/webhooks/<event>/<name>.json, with dotted-path overrides.

    `webhook_payload("issues", "labeled.payload", **{"label.name": "story", "installation": {"id": 1}})`
    """
    path = FIXTURES / event / f"{name}.json"
    data: dict[str, Any] = json.loads(path.read_text())
    for dotted, value in overrides.items():
        target = data
        *parents, last = dotted.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = copy.deepcopy(value)
    return data


def settings_for(github: GitHubDouble, redis_url: str, data_dir: Path, /, **overrides: Any) -> Settings:
    """Settings for jobs and clients under test (no web service needed)."""
    return sandbox_settings(github, redis_url, data_dir, **overrides)


@pytest.fixture
def make_service(request: pytest.FixtureRequest, redis_url: str, github: GitHubDouble,
                 tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """A factory: `make_service(**settings_overrides)` starts a service against the double."""
    started: list[Harness] = []

    def make(**overrides: Any) -> Service:
        llm = request.getfixturevalue("llm") if "llm" in request.fixturenames else False
        harness = Harness(tmp_path, redis_url=redis_url, github=github, llm=llm)
        started.append(harness)
        # a test may point one service at its own Redis (to stop it): the drain follows the settings
        return harness.start(**overrides)

    yield make
    for harness in started:
        stop_later(harness.stop)  # its web service is on a port of its own: the next test need not wait


BACKOFF_SCALE = 0.1  # the worker waits 5 s x the try after a 5xx: a test needs the retries, not the waits


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's backoff after a 5xx, an expired token or a lost connection, shortened by BACKOFF_SCALE,
    for tests whose faults make jobs retry: whether a job is retried, how often and in what order is still
    the worker's decision; a rate limit's delay (what GitHub said to wait) is kept as it is."""
    import jobs.worker

    decide = jobs.worker._temporary_delay

    def shortened(error: BaseException, job_try: int) -> float | None:
        delay = decide(error, job_try)
        if delay is None or isinstance(jobs.worker._underlying(error), RateLimitExceeded):
            return delay
        return delay * BACKOFF_SCALE

    monkeypatch.setattr(jobs.worker, "_temporary_delay", shortened)


@pytest.fixture
def service(request: pytest.FixtureRequest, make_service: Callable[..., Service]) -> Service:
    """The service with test settings; parametrize indirectly with a dict to override settings."""
    overrides = getattr(request, "param", None) or {}
    return make_service(**overrides)


SHOP = "octo-org/shop"


@dataclass
class Shop:
    """A repository in the double with the app installed on it."""

    repo: str
    installation_id: int


def install_shop(github: GitHubDouble, files: dict[str, str] | None = None, repo: str = SHOP) -> Shop:
    """`repo` in the double with the app installed (created if the `github` fixture did not), plus `files`."""
    try:
        existing = github.repo(repo)
    except KeyError:
        initial: dict[str, str | bytes] | None = dict(files) if files is not None else None
        github.create_repo(repo, files=initial)
        github.add_user("alice", "admin", repo)
        return Shop(repo=repo, installation_id=github.install(repo.split("/")[0], [repo]))
    if files:
        github.push_files(repo, existing.default_branch, dict(files), message="Test set-up")
    installation = github.installation_for(existing) or None
    installation_id = installation.id if installation else github.install(repo.split("/")[0], [repo])
    return Shop(repo=repo, installation_id=installation_id)


@pytest.fixture
async def core_deps(redis_url: str, github: GitHubDouble, tmp_path: Path) -> AsyncIterator[Any]:
    """Jobs' Deps against the double and the test Redis, without a web service (model and artifacts None)."""
    from redis.asyncio import Redis

    from app.context import Deps
    from app.gh.client import GitHubApp

    settings = settings_for(github, redis_url, tmp_path / "specloop")
    redis = Redis.from_url(redis_url)
    github_app = GitHubApp(settings, redis)
    yield Deps(settings=settings, redis=redis, github=github_app)
    await github_app.aclose()
    await redis.aclose()


@pytest.fixture
async def qa_ctx(service: Service) -> AsyncIterator[dict[str, Any]]:
    """A job context for QA against the service's settings: GitHub, Redis and the artifact store it serves."""
    redis = Redis.from_url(service.redis_url)
    settings = service.settings
    deps = Deps(settings=settings, redis=redis, github=GitHubApp(settings, redis),
                artifacts=ArtifactStore.from_settings(settings))
    yield {DEPS_KEY: deps}
    await redis.aclose()


@pytest.fixture
async def own_deps(own_redis: ManagedRedis, github: GitHubDouble, tmp_path: Path) -> AsyncIterator[Deps]:
    """Jobs' (and crons') Deps on a Redis of the test's own, which it may stop and start."""
    settings = settings_for(github, own_redis.url, tmp_path / "specloop")
    redis = Redis.from_url(own_redis.url)
    app = GitHubApp(settings, redis)
    yield Deps(settings=settings, redis=redis, github=app)
    await app.aclose()
    await redis.aclose()


STORIES = sorted((Path(__file__).parent.parent / "fixtures" / "stories").glob("*.md"))


def open_stories(github: GitHubDouble, count: int, repo: str = SHOP) -> list[int]:
    """`count` issues written as stories (the fixture stories in turn, numbered in their titles)."""
    numbers = []
    for index in range(count):
        title, body = STORIES[index % len(STORIES)].read_text().split("\n", 1)
        numbers.append(github.open_issue(repo, f"{title.removeprefix('Title: ')} ({index})", body))
    return numbers
