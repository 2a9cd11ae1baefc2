"""One harness for `specloop demo` and the tests: Redis, the doubles, the web service and a burst worker.

It starts, in this order, and stops in the reverse order whatever it started itself (a Redis URL or a
double it was given belongs to whoever gave it):

1. Redis: a managed `redis-server` under `<workdir>/redis`, or the URL it was given;
2. the GitHub double (its own under `<workdir>/github`, or the one it was given) and, when asked, the
   LLM double (the Messages API);
3. the web service on a loopback port (`app.web.BackgroundServer`, an `app.loopback` server), with
   settings pointing at all of them, and the double's webhooks pointed at it;
4. optionally the worker's clients, built once (`start_worker`); without them every burst builds its own.

`await harness.drain()` then plays the worker: it waits until the double has sent every webhook, runs
burst workers over the light and heavy queues until no job is due (waiting for short debounces), and
repeats while jobs keep causing webhooks, so a demo phase or a test reads: act on the double, drain,
look at the double.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from app.redis_server import ManagedRedis, free_port
from app.sandbox.github import Delivery, GitHubDouble
from app.sandbox.messages_api import MessagesDouble
from app.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from app.context import Deps
    from app.web import BackgroundServer

DEBOUNCE_SECONDS = 0.2  # debounced jobs come due quickly, and drain() waits for them
LLM_KEY = "sk-ant-test-key-for-the-double"  # the LLM double accepts any key; this one says where it goes
NO_SERVICE_URL = "http://127.0.0.1:1"  # the public URL of settings used without a web service

Totals = dict[str, int]  # complete / failed / retried, as jobs.worker.run_burst counts them


def settings_values(github: GitHubDouble, redis_url: str, data_dir: Path, /, *, public_url: str = NO_SERVICE_URL,
                    debounce_seconds: float = DEBOUNCE_SECONDS, llm: MessagesDouble | None = None) -> dict[str, Any]:
    """Settings values pointing at the GitHub double, Redis and (when given) the LLM double."""
    values: dict[str, Any] = {
        "app_id": github.app_id,
        "app_slug": github.slug,
        "private_key": github.private_key_pem,
        "webhook_secret": github.webhook_secret,
        "github_url": github.web_url,
        "github_api_url": github.api_url,
        "public_url": public_url,
        "redis_url": redis_url,
        "data_dir": data_dir,
        "debounce_seconds": debounce_seconds,
    }
    if llm is not None:
        values.update(anthropic_api_key=LLM_KEY, anthropic_base_url=llm.base_url)
    return values


def sandbox_settings(github: GitHubDouble, redis_url: str, data_dir: Path, /, **overrides: Any) -> Settings:
    """Settings against the doubles (no `.env` file read); `overrides` (even `redis_url`) win over `settings_values`."""
    keys = ("public_url", "debounce_seconds", "llm")
    named = {key: overrides.pop(key) for key in keys if key in overrides}
    values = {**settings_values(github, redis_url, data_dir, **named), **overrides}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class Harness:
    """The running pieces of one sandboxed Specloop; see the module docstring for the order."""

    def __init__(self, workdir: Path, *, redis_url: str | None = None, github: GitHubDouble | None = None,
                 llm: MessagesDouble | bool = False, debounce_seconds: float = DEBOUNCE_SECONDS) -> None:
        self.workdir = Path(workdir)
        self.debounce_seconds = debounce_seconds
        self.redis: ManagedRedis | None = None  # only when the harness runs its own redis-server
        self.deps: Deps | None = None  # the worker's clients once start_worker() built them
        self.results: list[Totals] = []  # every burst's counts, in order
        self._redis_url = redis_url
        self._github = github
        self._llm: MessagesDouble | None = llm if isinstance(llm, MessagesDouble) else None
        self._own_llm = llm is True
        self._settings: Settings | None = None
        self._web: BackgroundServer | None = None
        self._redis_client: Redis | None = None
        self._checked = 0  # deliveries already looked at by refused_deliveries()
        self._stack = contextlib.ExitStack()

    # -- what is running ---------------------------------------------------------------------------

    @property
    def github(self) -> GitHubDouble:
        """The GitHub double."""
        if self._github is None:
            raise RuntimeError("the harness has no GitHub double yet: call start_github()")
        return self._github

    @property
    def llm(self) -> MessagesDouble | None:
        """The LLM double, when the harness was asked for one."""
        return self._llm

    @property
    def settings(self) -> Settings:
        """The web service's (and the worker's) settings."""
        if self._settings is None:
            raise RuntimeError("the harness has no settings yet: call start_web()")
        return self._settings

    @property
    def redis_url(self) -> str:
        """The Redis jobs are queued in: the service's, once it runs (a test may give it its own)."""
        url = self._settings.redis_url if self._settings is not None else None
        url = url or self._redis_url
        if url is None:
            raise RuntimeError("the harness has no Redis yet: call start_redis()")
        return str(url)

    @property
    def url(self) -> str:
        """The web service's base URL."""
        if self._web is None:
            raise RuntimeError("the web service is not running: call start_web()")
        return self._web.url

    @property
    def webhook_url(self) -> str:
        """Where the double sends webhooks."""
        from app.webhook import WEBHOOK_PATH

        return f"{self.url}{WEBHOOK_PATH}"

    # -- starting and stopping ---------------------------------------------------------------------

    def start_redis(self) -> str:
        """A managed redis-server under `<workdir>/redis` (AOF on), unless a URL was given; the URL."""
        if self._redis_url is None:
            self.redis = ManagedRedis(self.workdir / "redis").start()
            self._stack.callback(self.redis.stop)
            self._redis_url = self.redis.url
        return self._redis_url

    def start_github(self) -> GitHubDouble:
        """The GitHub double: the one given, or a new one under `<workdir>/github`."""
        if self._github is None:
            self._github = GitHubDouble(root=self.workdir / "github").start()
            self._stack.callback(self._github.stop)
        return self._github

    def start_llm(self) -> MessagesDouble | None:
        """The LLM double when asked for one (`llm=True` starts one here); None otherwise."""
        if self._own_llm and self._llm is None:
            self._llm = MessagesDouble().start()
            self._stack.callback(self._llm.stop)
        return self._llm

    def start_web(self, **overrides: Any) -> str:
        """The web service on a free loopback port, settings from the doubles plus `overrides`; its URL."""
        from app.web import BackgroundServer, create_app

        port = free_port()
        values = {"public_url": f"http://127.0.0.1:{port}", "debounce_seconds": self.debounce_seconds,
                  "llm": self._llm, **overrides}
        self._settings = sandbox_settings(self.github, self.start_redis(), self.workdir / "specloop", **values)
        self._web = BackgroundServer(create_app(self._settings), port=port).start()
        self._stack.callback(self._web.stop)
        self.github.set_webhook_url(self.webhook_url)
        return self._web.url

    def start(self, **overrides: Any) -> Self:
        """Redis, the doubles and the web service, in that order (`overrides` go to the settings)."""
        self.start_redis()
        self.start_github()
        self.start_llm()
        self.start_web(**overrides)
        return self

    def on_stop(self, stop: Callable[[], object]) -> None:
        """Call `stop` when the harness stops, before whatever was started earlier (e.g. an app under test)."""
        self._stack.callback(stop)

    def stop(self) -> None:
        """Stop what the harness started, last started first."""
        self._stack.close()

    def __enter__(self) -> Self:
        """`with harness:` stops it on exit; start it (or its pieces one by one) inside."""
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the worker --------------------------------------------------------------------------------

    def worker_env(self) -> dict[str, str]:
        """The environment a separate `specloop worker` process needs to join this sandbox (as an operator
        would set it: the App, the doubles' URLs, this Redis), plus PATH, HOME and LANG."""
        settings, github = self.settings, self.github
        values = {
            "APP_ID": str(settings.app_id), "APP_SLUG": settings.app_slug,
            "PRIVATE_KEY": github.private_key_pem, "WEBHOOK_SECRET": github.webhook_secret,
            "GITHUB_URL": github.web_url, "GITHUB_API_URL": github.api_url, "PUBLIC_URL": self.url,
            "REDIS_URL": self.redis_url, "DATA_DIR": str(self.workdir / "worker"),
            "DOTENV_PATH": str(self.workdir / "worker.env"), "LOG_LEVEL": "WARNING",
        }
        keep = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME", "LANG", "TMPDIR"}}
        return {**keep, **values}

    async def start_worker(self) -> Deps:
        """Build the worker's clients once (GitHub App, model, artifacts) for every drain; stop_worker() closes them."""
        from redis.asyncio import Redis

        from jobs.worker import build_deps

        self._redis_client = Redis.from_url(self.redis_url)
        self.deps = await build_deps(self.settings, self._redis_client)
        return self.deps

    async def stop_worker(self) -> None:
        """Close the worker's clients, GitHub's and the model's (they live on the event loop, so this is async)."""
        for client in ("github", "model"):
            closer = getattr(getattr(self.deps, client, None), "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):  # shutting down: a connection already gone is fine
                    await closer()
        self.deps = None
        if self._redis_client is not None:
            await self._redis_client.aclose()
            self._redis_client = None

    async def drain(self, wait_deferred: float = 5.0, max_rounds: int = 20, *,
                    delivered: Callable[[], None] | None = None,
                    ran: Callable[[Totals], None] | None = None) -> Totals:
        """Deliver pending webhooks and run jobs until nothing is due; totals of complete/failed/retried.

        `delivered` is called once the double has sent every pending webhook (before each burst), `ran`
        after each burst with its counts; either may raise to stop the drain.
        """
        from jobs.worker import run_burst

        totals: Totals = {"complete": 0, "failed": 0, "retried": 0}
        for _ in range(max_rounds):
            # webhooks caused by the last jobs' API calls must reach the service before we look
            await asyncio.to_thread(self.github.wait_for_deliveries)
            if delivered is not None:
                delivered()
            result = await run_burst(self.settings, self.redis_url, self.deps, wait_deferred=wait_deferred)
            self.results.append(result)
            for key in totals:
                totals[key] += result[key]
            if ran is not None:
                ran(result)
            if not any(result.values()):
                break
        return totals

    def refused_deliveries(self) -> list[Delivery]:
        """Webhooks sent since the last call that the service did not accept (no answer, or not 2xx)."""
        deliveries = self.github.deliveries
        new, self._checked = deliveries[self._checked:], len(deliveries)
        return [d for d in new if d.status_code is None or not 200 <= d.status_code < 300]
