"""The GitHub App client: one githubkit App client, installation clients, tokens cached in Redis.

Installation tokens live an hour. githubkit caches them through its cache strategy; with the Redis
strategy every worker shares them, and the cache entry expires `refresh_margin` before the token does,
so a job never starts with a token about to lapse. Retries: githubkit's own, for 5xx and short rate-limit
waits; a long `retry-after` is raised instead, so the worker defers the job rather than blocking.

Connections: outside `async with`, githubkit builds (and closes) a new httpx client for every request,
and each new client loads the system CA bundle again (tens of ms) and opens a new connection. Entering
the client would fix that, but githubkit keeps the entered client in a ContextVar, which jobs running
as other asyncio tasks would not see. So every client of one `GitHubApp` is given one shared transport
(githubkit's `async_transport` option): an httpx connection pool whose SSL context is built once, that
githubkit's per-request `aclose()` leaves open, and that `GitHubApp.aclose()` really closes.
"""

from __future__ import annotations

import asyncio
import logging
import re
import urllib.request
from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any

import httpx
from githubkit import AppAuthStrategy, GitHub
from githubkit.cache.redis import AsyncRedisCache, AsyncRedisCacheStrategy
from githubkit.exception import GitHubException, RateLimitExceeded, RequestFailed
from githubkit.retry import RetryChainDecision, RetryServerError
from githubkit.typing import RetryOption
from redis.asyncio import Redis

from app.gh.models import RepoRef
from app.settings import Settings

log = logging.getLogger(__name__)

CACHE_PREFIX = "specloop:gh"
DEFAULT_REFRESH_MARGIN = timedelta(minutes=5)
MAX_INLINE_RATE_LIMIT_WAIT = timedelta(seconds=10)
# Idle connections are dropped a little before common servers' keep-alive timeouts (uvicorn's is 5 s),
# so a request is not sent down a connection the server is closing at that moment.
KEEPALIVE_EXPIRY_SECONDS = 4.0


class SharedTransport(httpx.AsyncBaseTransport):
    """One connection pool for all of an App's clients; closing a client leaves it open (see module doc)."""

    def __init__(self, *, verify: Any = True, proxy: str | None = None) -> None:
        self._verify = verify
        self._proxy = proxy
        self._pool: httpx.AsyncHTTPTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._keeper: AsyncGenerator[None, None] | None = None
        self.pools_created = 0  # how many pools (and SSL contexts) were built; one per event loop

    async def _current(self) -> httpx.AsyncHTTPTransport:
        """The pool for the running event loop (a pool's connections belong to the loop that opened them)."""
        loop = asyncio.get_running_loop()
        if self._pool is None or self._loop is not loop:
            pool = httpx.AsyncHTTPTransport(
                verify=self._verify, proxy=self._proxy,
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20,
                                    keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS),
            )
            # A pool nobody closed (a client dropped without aclose()) must not leave sockets to the
            # garbage collector: an async generator parked in the loop closes it when the loop shuts
            # down (asyncio.run / Runner call shutdown_asyncgens) or when this transport is collected.
            keeper = _close_at_loop_end(pool)
            await anext(keeper)
            # a pool from another loop is left to that loop's own shutdown; it cannot be closed from here
            self._pool, self._loop, self._keeper = pool, loop, keeper
            self.pools_created += 1
        return self._pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` over a pooled connection."""
        return await (await self._current()).handle_async_request(request)

    async def aclose(self) -> None:
        """Called by every per-request httpx client githubkit closes: keep the pool."""

    async def close_pool(self) -> None:
        """Close the pooled connections (the worker's shutdown); a later request opens a new pool."""
        keeper, loop = self._keeper, self._loop
        self._pool = self._loop = self._keeper = None
        if keeper is not None and loop is asyncio.get_running_loop():
            await keeper.aclose()


async def _close_at_loop_end(pool: httpx.AsyncHTTPTransport) -> AsyncGenerator[None, None]:
    """Wait (parked at `yield`) for the loop's shutdown or an explicit aclose(), then close `pool`."""
    try:
        yield
    finally:
        await pool.aclose()


def _env_proxy(url: str) -> str | None:
    """The proxy the environment names for `url` (httpx ignores the environment once given a transport)."""
    parsed = httpx.URL(url)
    if urllib.request.proxy_bypass(parsed.host):
        return None
    return urllib.request.getproxies().get(parsed.scheme)


class _RefreshingCache(AsyncRedisCache):
    """githubkit's Redis cache, but installation tokens expire from it early (refresh before expiry)."""

    def __init__(self, client: Redis, prefix: str | None, margin: timedelta) -> None:
        super().__init__(client, prefix)
        self.margin = margin

    async def aset(self, key: str, value: str, ex: timedelta) -> None:
        """Store `value`; installation tokens for `margin` less than githubkit asks."""
        if ":installation:" in key:
            ex = ex - self.margin
            if ex.total_seconds() < 1:
                return  # a token this close to expiry is used once and not shared
        await super().aset(key, value, ex)


class TokenCacheStrategy(AsyncRedisCacheStrategy):
    """The Redis cache strategy with the early-refresh token cache."""

    def __init__(self, client: Redis, prefix: str, margin: timedelta) -> None:
        super().__init__(client, prefix)
        self.margin = margin

    async def get_async_cache_storage(self) -> AsyncRedisCache:
        """The cache githubkit's auth flow reads and writes tokens through."""
        return _RefreshingCache(self.client, self.prefix, self.margin)


class RetryShortRateLimit:
    """Retry a rate limit inside the request only when the wait is short; else let the job defer."""

    def __init__(self, max_retry: int = 2, max_wait: timedelta = MAX_INLINE_RATE_LIMIT_WAIT) -> None:
        self.max_retry = max_retry
        self.max_wait = max_wait

    def __call__(self, exc: GitHubException, retry_count: int) -> RetryOption:
        """githubkit's retry decision protocol."""
        if retry_count < self.max_retry and isinstance(exc, RateLimitExceeded) and exc.retry_after <= self.max_wait:
            log.warning("GitHub rate limit; retrying", extra={"retry_after": exc.retry_after.total_seconds()})
            return RetryOption(True, exc.retry_after)
        return RetryOption(False)


# POSTs GitHub may have carried out before it answered 5xx, where sending them again makes a second one
# (two map comments, two check runs). Other POSTs are safe to repeat: a reaction or a label that exists
# is returned as it is, a ref or pull request that exists is a 422, git objects are content-addressed.
_CREATING_POSTS = re.compile(r"/(issues|pulls)/\d+/(comments|reviews)$|/check-runs$|/issues$")


class RetryServerErrorUnlessCreating(RetryServerError):
    """githubkit's server-error retry, except for a POST that creates a comment, review, check run or
    issue: the job's own retry runs the job afresh instead, and the job finds what was created by its
    marker (or name and commit) before creating it again."""

    def __call__(self, exc: GitHubException, retry_count: int) -> RetryOption:
        """githubkit's retry decision protocol."""
        if (isinstance(exc, RequestFailed) and exc.request.method == "POST"
                and _CREATING_POSTS.search(exc.request.url.path)):
            return RetryOption(False)
        return super().__call__(exc, retry_count)


def retry_policy() -> RetryChainDecision:
    """Short rate-limit waits (nothing was done) and server errors are retried by githubkit itself,
    except a creating POST's server error, which is left to the job's retry."""
    return RetryChainDecision(RetryShortRateLimit(), RetryServerErrorUnlessCreating(max_retry=3))


class GitHubApp:
    """The App's GitHub access: the App client and one accessor for installation clients."""

    def __init__(self, settings: Settings, redis: Redis, *, refresh_margin: timedelta = DEFAULT_REFRESH_MARGIN,
                 auto_retry: Any = None) -> None:
        pem = settings.private_key_pem()
        if settings.app_id is None or pem is None:
            raise ValueError("GitHubApp needs APP_ID and a private key (PRIVATE_KEY or PRIVATE_KEY_PATH)")
        self.settings = settings
        self.redis = redis
        self.app_id = settings.app_id
        self._auth = AppAuthStrategy(settings.app_id, pem)
        self.transport = SharedTransport(proxy=_env_proxy(settings.api_url))
        self.app = GitHub(
            self._auth,
            base_url=settings.api_url + "/",
            cache_strategy=TokenCacheStrategy(redis, CACHE_PREFIX, refresh_margin),
            # no HTTP response cache: jobs decide from GitHub's current state, never a cached copy
            http_cache=False,
            auto_retry=auto_retry if auto_retry is not None else retry_policy(),
            user_agent=f"{settings.app_slug}/specloop",
            async_transport=self.transport,  # shared by installation clients too (with_auth copies the config)
        )
        self._installations: dict[int, GitHub[Any]] = {}

    def installation(self, installation_id: int) -> GitHub[Any]:
        """The client acting as `installation_id`, reusing the App's connections (token cached on first use)."""
        client = self._installations.get(installation_id)
        if client is None:
            client = self.app.with_auth(self._auth.as_installation(installation_id))
            self._installations[installation_id] = client
        return client

    async def installation_token(self, installation_id: int, repo: RepoRef) -> str:
        """A fresh token for git over HTTPS that can only read and write `repo`'s contents.

        Asked of GitHub through githubkit's REST API with the App's JWT and narrowed to one repository
        and `contents: write`: the token a job hands to git cannot touch issues, checks or other
        repositories, whatever the installation may do. Not cached: one per clone or push.
        """
        response = await self.app.rest.apps.async_create_installation_access_token(
            installation_id, repositories=[repo.name], permissions={"contents": "write"},
        )
        token = str(response.json().get("token") or "")
        if not token:
            raise RuntimeError("GitHub gave no installation token")
        return token

    async def aclose(self) -> None:
        """Close the pooled connections; the clients stay usable and would open new ones."""
        await self.transport.close_pool()

    async def drop_installation(self, installation_id: int) -> int:
        """Forget the installation's cached tokens and client; returns how many cache entries went."""
        self._installations.pop(installation_id, None)
        pattern = f"{CACHE_PREFIX}:githubkit:auth:app:{self.app_id}:installation:{installation_id}:*"
        dropped = 0
        async for key in self.redis.scan_iter(match=pattern):
            dropped += int(await self.redis.delete(key))
        return dropped

