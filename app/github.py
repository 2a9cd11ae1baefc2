"""The GitHub App client: one githubkit App client, installation clients, tokens cached in Redis.

Installation tokens live an hour. githubkit caches them through its cache strategy; with the Redis
strategy every worker shares them, and the cache entry expires `refresh_margin` before the token does,
so a job never starts with a token about to lapse. Retries: githubkit's own, for 5xx and short rate-limit
waits; a long `retry-after` is raised instead, so the worker defers the job rather than blocking.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import httpx
from githubkit import AppAuthStrategy, GitHub
from githubkit.cache.redis import AsyncRedisCache, AsyncRedisCacheStrategy
from githubkit.exception import GitHubException, RateLimitExceeded
from githubkit.retry import RetryChainDecision, RetryServerError
from githubkit.typing import RetryOption
from redis.asyncio import Redis

from app.settings import Settings

log = logging.getLogger(__name__)

CACHE_PREFIX = "specloop:gh"
DEFAULT_REFRESH_MARGIN = timedelta(minutes=5)
MAX_INLINE_RATE_LIMIT_WAIT = timedelta(seconds=10)


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


def retry_policy() -> RetryChainDecision:
    """Short rate-limit waits and server errors are retried by githubkit itself."""
    return RetryChainDecision(RetryShortRateLimit(), RetryServerError(max_retry=3))


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
        self.app = GitHub(
            self._auth,
            base_url=settings.api_url + "/",
            cache_strategy=TokenCacheStrategy(redis, CACHE_PREFIX, refresh_margin),
            # no HTTP response cache: jobs decide from GitHub's current state, never a cached copy
            http_cache=False,
            auto_retry=auto_retry if auto_retry is not None else retry_policy(),
            user_agent=f"{settings.app_slug}/specloop",
        )
        self._installations: dict[int, GitHub[Any]] = {}

    def installation(self, installation_id: int) -> GitHub[Any]:
        """The client acting as `installation_id` (its token is fetched and cached on first use)."""
        client = self._installations.get(installation_id)
        if client is None:
            client = self.app.with_auth(self._auth.as_installation(installation_id))
            self._installations[installation_id] = client
        return client

    async def installation_token(self, installation_id: int) -> str:
        """A current installation token (from the shared cache when fresh), e.g. for git over HTTPS."""
        client = self.installation(installation_id)
        auth = client.auth.get_auth_flow(client)
        probe = httpx.Request("GET", client.config.base_url.join("installation/repositories"))
        # Drive githubkit's own auth flow: it reads the cache or fetches and caches a token, then
        # signs the request; we keep the signature and never send the probe itself.
        flow = auth.async_auth_flow(probe)
        request = await flow.__anext__()
        async with httpx.AsyncClient(timeout=client.config.timeout) as http:
            while request is not probe:
                response = await http.send(request)
                request = await flow.asend(response)
        await flow.aclose()
        header = probe.headers.get("Authorization", "")
        if not header.startswith("token "):
            raise RuntimeError("could not obtain an installation token")
        return header.removeprefix("token ")

    async def drop_installation(self, installation_id: int) -> int:
        """Forget the installation's cached tokens and client; returns how many cache entries went."""
        self._installations.pop(installation_id, None)
        pattern = f"{CACHE_PREFIX}:githubkit:auth:app:{self.app_id}:installation:{installation_id}:*"
        dropped = 0
        async for key in self.redis.scan_iter(match=pattern):
            dropped += int(await self.redis.delete(key))
        return dropped


async def story_is_open(gh: GitHub[Any], repo: str, number: int) -> bool:
    """Whether issue or PR `number` in `repo` ("owner/name") is still open; closed stories get no work."""
    data = (await gh.arequest("GET", f"/repos/{repo}/issues/{number}")).json()
    return str(data.get("state", "open")).lower() == "open"


async def post_comment(gh: GitHub[Any], repo: str, number: int, body: str) -> int:
    """Post a comment on issue or PR `number`; returns the comment id."""
    response = await gh.arequest("POST", f"/repos/{repo}/issues/{number}/comments", json={"body": body})
    return int(response.json()["id"])
