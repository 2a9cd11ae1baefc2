"""The App client against the GitHub double: shared, early-refreshed installation tokens and retries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from githubkit.exception import RateLimitExceeded, RequestFailed
from redis.asyncio import Redis

from app.gh import issues
from app.gh.client import CACHE_PREFIX, GitHubApp
from app.gh.models import Issue, RepoRef
from tests.support.service import install_shop

ISSUE = r"^/repos/octo-org/shop/issues/1$"


async def token_keys(redis: Redis) -> list[bytes]:
    return [key async for key in redis.scan_iter(match=f"{CACHE_PREFIX}:*:installation:*")]


SHOP_REF = RepoRef("octo-org", "shop")


async def get_issue(app: GitHubApp, installation_id: int) -> Issue:
    return await issues.get_issue(app.installation(installation_id), SHOP_REF, 1)


async def test_installation_tokens_are_shared_between_workers_through_redis(github: Any, core_deps: Any) -> None:
    shop = install_shop(github)
    github.open_issue(shop.repo, "A story")
    other_worker = GitHubApp(core_deps.settings, core_deps.redis)
    await get_issue(core_deps.github, shop.installation_id)
    await get_issue(other_worker, shop.installation_id)
    assert github.tokens_issued == 1


async def test_a_cached_token_leaves_the_cache_minutes_before_it_expires(github: Any, core_deps: Any) -> None:
    shop = install_shop(github)
    github.open_issue(shop.repo, "A story")
    await get_issue(core_deps.github, shop.installation_id)
    [key] = await token_keys(core_deps.redis)
    ttl = await core_deps.redis.ttl(key)
    assert 0 < ttl <= github.token_lifetime.total_seconds() - 5 * 60


async def test_when_the_cache_entry_expires_a_new_token_is_fetched(github: Any, core_deps: Any) -> None:
    shop = install_shop(github)
    github.open_issue(shop.repo, "A story")
    await get_issue(core_deps.github, shop.installation_id)
    for key in await token_keys(core_deps.redis):
        await core_deps.redis.delete(key)  # what the TTL does, minutes before the token's expiry
    assert (await get_issue(core_deps.github, shop.installation_id)).number == 1
    assert github.tokens_issued == 2


async def test_a_token_too_close_to_expiry_is_never_reused(github: Any, core_deps: Any) -> None:
    shop = install_shop(github)
    github.open_issue(shop.repo, "A story")
    github.token_lifetime = timedelta(minutes=5)  # inside the refresh margin
    await get_issue(core_deps.github, shop.installation_id)
    await get_issue(core_deps.github, shop.installation_id)
    assert github.tokens_issued == 2 and await token_keys(core_deps.redis) == []


async def test_the_token_for_git_can_only_write_the_one_repositorys_contents(github: Any, core_deps: Any) -> None:
    shop = install_shop(github)
    token = await core_deps.github.installation_token(shop.installation_id, SHOP_REF)
    [asked] = github.requests_to("POST", rf"^/app/installations/{shop.installation_id}/access_tokens$")
    assert asked.json == {"repositories": ["shop"], "permissions": {"contents": "write"}}
    assert token and await token_keys(core_deps.redis) == []  # fresh for each clone, never the shared one


async def test_dropping_an_installation_forgets_its_tokens(github: Any, core_deps: Any) -> None:
    shop = install_shop(github)
    github.open_issue(shop.repo, "A story")
    await get_issue(core_deps.github, shop.installation_id)
    assert await core_deps.github.drop_installation(shop.installation_id) == 1
    assert await token_keys(core_deps.redis) == []


async def test_a_502_is_retried(github: Any, core_deps: Any) -> None:
    shop = install_shop(github)
    github.open_issue(shop.repo, "A story")
    fault = github.fault("GET", ISSUE, status=502, times=1)
    assert (await get_issue(core_deps.github, shop.installation_id)).title == "A story"
    assert fault.hits == 1 and len(github.requests_to("GET", ISSUE)) >= 1


async def test_a_502_to_a_creating_post_is_left_to_the_job_and_a_safe_post_is_retried(
        github: Any, core_deps: Any) -> None:
    # GitHub may have made the comment before the 502: sending it again would make a second one
    shop = install_shop(github)
    github.open_issue(shop.repo, "A story")
    gh = core_deps.github.installation(shop.installation_id)
    comments = github.fault("POST", r"/issues/1/comments$", status=502, applied=True, times=1)
    with pytest.raises(RequestFailed):
        await issues.create_comment(gh, SHOP_REF, 1, "hello")
    assert comments.hits == 1 and len(github.comments(shop.repo, 1)) == 1  # made once, never twice
    # a reaction that exists is returned as it is: repeating the POST is safe, so it is retried
    reactions = github.fault("POST", r"/issues/1/reactions$", status=502, times=1)
    await issues.react(gh, SHOP_REF, 1)
    assert reactions.hits == 1


async def test_a_secondary_rate_limit_is_retried_after_its_retry_after(github: Any, core_deps: Any) -> None:
    shop = install_shop(github)
    github.open_issue(shop.repo, "A story")
    fault = github.fault("GET", ISSUE, status=403, retry_after=1, rate_limit=True, times=1)
    assert (await get_issue(core_deps.github, shop.installation_id)).title == "A story"
    assert fault.hits == 1


async def test_a_long_rate_limit_wait_is_raised_for_the_worker_to_defer(github: Any, core_deps: Any) -> None:
    shop = install_shop(github)
    github.open_issue(shop.repo, "A story")
    github.fault("GET", ISSUE, status=403, retry_after=120, rate_limit=True, times=1)
    with pytest.raises(RateLimitExceeded) as caught:
        await get_issue(core_deps.github, shop.installation_id)
    assert caught.value.retry_after == timedelta(seconds=120)


async def test_is_open_follows_the_issue_state(github: Any, core_deps: Any) -> None:
    shop = install_shop(github)
    number = github.open_issue(shop.repo, "A story")
    gh = core_deps.github.installation(shop.installation_id)
    assert await issues.is_open(gh, SHOP_REF, number)
    github.close_issue(shop.repo, number)
    assert not await issues.is_open(gh, SHOP_REF, number)


async def test_the_app_and_its_installation_clients_share_one_connection_pool(github: Any, core_deps: Any) -> None:
    shop = install_shop(github)
    github.open_issue(shop.repo, "A story")
    other = github.install("octo-other", [])
    app = core_deps.github
    await get_issue(app, shop.installation_id)
    await get_issue(app, shop.installation_id)
    await app.installation_token(other, RepoRef("octo-other", "none"))
    await app.app.rest.apps.async_get_authenticated()
    # one pool (and one SSL context) for every client, not one per request
    assert app.transport.pools_created == 1


async def test_a_closed_app_client_opens_a_new_pool_when_used_again(github: Any, core_deps: Any) -> None:
    shop = install_shop(github)
    github.open_issue(shop.repo, "A story")
    await get_issue(core_deps.github, shop.installation_id)
    await core_deps.github.aclose()
    assert (await get_issue(core_deps.github, shop.installation_id)).title == "A story"
    assert core_deps.github.transport.pools_created == 2
