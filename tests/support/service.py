"""The whole service under test: the web app on a loopback port, wired to the GitHub double and Redis.

`service` starts `create_app(settings)` with uvicorn in a background thread, points the double's
webhooks at it, and `await service.drain()` runs burst workers until no job is due (waiting for short
debounces), so a test reads like: act on the double, drain, assert on the double.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from app.redis_server import free_port
from app.settings import Settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "webhooks"

TEST_DEBOUNCE_SECONDS = 0.2  # debounced jobs come due quickly, and drain() waits for them


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


def settings_values(github: Any, redis_url: str, data_dir: Path, public_url: str = "http://127.0.0.1:1") -> dict[str, Any]:
    """Settings values pointing at the GitHub double and the test Redis."""
    return {
        "app_id": github.app_id,
        "app_slug": github.slug,
        "private_key": github.private_key_pem,
        "webhook_secret": github.webhook_secret,
        "github_url": github.web_url,
        "github_api_url": github.api_url,
        "public_url": public_url,
        "redis_url": redis_url,
        "data_dir": data_dir,
        "debounce_seconds": TEST_DEBOUNCE_SECONDS,
    }


def settings_for(github: Any, redis_url: str, data_dir: Path, **overrides: Any) -> Settings:
    """Settings for jobs and clients under test (no web service needed)."""
    return Settings(_env_file=None, **{**settings_values(github, redis_url, data_dir), **overrides})  # type: ignore[call-arg]


@dataclass
class Service:
    """A running Specloop web service against the GitHub double."""

    settings: Settings
    url: str
    github: Any  # app.sandbox.github.GitHubDouble
    redis_url: str
    deps: Any = None  # a prebuilt jobs Deps, or None for the worker's own start-up
    results: list[dict[str, int]] = field(default_factory=list)

    @property
    def webhook_url(self) -> str:
        """Where the double sends webhooks."""
        return f"{self.url}/api/github/webhooks"

    async def drain(self, wait_deferred: float = 5.0, max_rounds: int = 20) -> dict[str, int]:
        """Deliver pending webhooks and run jobs until nothing is due; totals of complete/failed/retried."""
        from jobs.worker import run_burst

        totals = {"complete": 0, "failed": 0, "retried": 0}
        for _ in range(max_rounds):
            # webhooks caused by the last jobs' API calls must reach the service before we look
            await asyncio.to_thread(self.github.wait_for_deliveries)
            result = await run_burst(self.settings, self.redis_url, self.deps, wait_deferred=wait_deferred)
            self.results.append(result)
            for key in totals:
                totals[key] += result[key]
            if not any(result.values()):
                break
        return totals


class _Server(uvicorn.Server):
    """uvicorn without signal handlers (it runs in a thread)."""

    def install_signal_handlers(self) -> None:  # pragma: no cover - trivial
        return None


def _start(app: Any, port: int) -> tuple[_Server, threading.Thread]:
    """Run `app` on 127.0.0.1:`port` in a daemon thread; returns once it accepts connections."""
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name=f"specloop-web-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the Specloop web service did not start")
        time.sleep(0.01)
    return server, thread


@pytest.fixture
def make_service(request: pytest.FixtureRequest, redis_url: str, github: Any,
                 tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """A factory: `make_service(**settings_overrides)` starts a service against the double."""
    from app.web import create_app

    started: list[tuple[_Server, threading.Thread]] = []

    def make(**overrides: Any) -> Service:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        values = settings_values(github, redis_url, tmp_path / "specloop", public_url=url)
        if "llm" in request.fixturenames:
            llm = request.getfixturevalue("llm")
            values.update(anthropic_api_key="sk-ant-test-key-for-the-double", anthropic_base_url=llm.base_url)
        values.update(overrides)
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        started.append(_start(create_app(settings), port))
        github.set_webhook_url(f"{url}/api/github/webhooks")
        # a test may point one service at its own Redis (to stop it), so the drain follows the settings
        return Service(settings=settings, url=url, github=github, redis_url=str(settings.redis_url or redis_url))

    yield make
    for server, thread in started:
        server.should_exit = True
        thread.join(timeout=10)


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


def install_shop(github: Any, files: dict[str, str] | None = None, repo: str = SHOP) -> Shop:
    """`repo` in the double with the app installed (created if the `github` fixture did not), plus `files`."""
    try:
        existing = github.repo(repo)
    except KeyError:
        github.create_repo(repo, files=files)
        github.add_user("alice", "admin", repo)
        return Shop(repo=repo, installation_id=github.install(repo.split("/")[0], [repo]))
    if files:
        github.push_files(repo, existing.default_branch, dict(files), message="Test set-up")
    installation = github.installation_for(existing) or None
    installation_id = installation.id if installation else github.install(repo.split("/")[0], [repo])
    return Shop(repo=repo, installation_id=installation_id)


@pytest.fixture
async def core_deps(redis_url: str, github: Any, tmp_path: Path) -> AsyncIterator[Any]:
    """Jobs' Deps against the double and the test Redis, without a web service (model and artifacts None)."""
    from redis.asyncio import Redis

    from app.context import Deps
    from app.github import GitHubApp

    settings = settings_for(github, redis_url, tmp_path / "specloop")
    redis = Redis.from_url(redis_url)
    github_app = GitHubApp(settings, redis)
    yield Deps(settings=settings, redis=redis, github=github_app)
    await github_app.aclose()
    await redis.aclose()
