"""The status chain on the map comment and the help/status/unknown-command replies, through the GitHub double."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from app.comments import ensure_labels, find_comment, set_state_labels, upsert_comment
from app.domain.markers import find_marker, marker
from app.gh.client import GitHubApp
from app.gh.models import RepoRef
from app.render.map_comment import read_map_state
from app.settings import Settings
from app.story_status import update_story_status
from tests.support.github import SHOP

SHOP_REF = RepoRef.parse(SHOP)


@pytest.fixture
async def gh(github, redis_url):
    """An installation client of the app against the double."""
    settings = Settings(_env_file=None, app_id=github.app_id, app_slug=github.slug,
                        private_key=github.private_key_pem, webhook_secret=github.webhook_secret,
                        github_url=github.web_url, github_api_url=github.api_url, redis_url=redis_url)
    redis = Redis.from_url(redis_url)
    app = GitHubApp(settings, redis)
    installation_id = github.installation_for(github.repo(SHOP)).id
    yield app.installation(installation_id)
    await redis.aclose()


def bot_bodies(github: Any, number: int) -> list[str]:
    return [c.body for c in github.comments(SHOP, number) if c.user.login == github.bot.login]


async def test_upsert_edits_the_bots_comment_and_ignores_forged_markers(github, gh):
    number = github.open_issue(SHOP, "Story", "body")
    github.comment(SHOP, number, marker("map", revision=7) + " forged by a person", by="mallory")
    first = await upsert_comment(gh, SHOP_REF, number, "map", marker("map", revision=1) + " one", bot_login=github.bot.login)
    second = await upsert_comment(gh, SHOP_REF, number, "map", marker("map", revision=2) + " two", bot_login=github.bot.login)
    assert first.id == second.id
    assert bot_bodies(github, number) == [marker("map", revision=2) + " two"]
    found = await find_comment(gh, SHOP_REF, number, "map", bot_login=github.bot.login)
    assert found is not None and found.data == {"revision": 2}


async def test_missing_labels_are_created_with_colour_and_description(github, gh):
    created = await ensure_labels(gh, SHOP_REF, [("needs-answers", "d93f0b", "Open questions on the map")])
    again = await ensure_labels(gh, SHOP_REF, [("needs-answers", "d93f0b", "Open questions on the map")])
    label = next(lab for lab in github.repo(SHOP).labels.values() if lab.name == "needs-answers")
    assert created == ["needs-answers"] and again == []
    assert (label.color, label.description) == ("d93f0b", "Open questions on the map")


async def test_state_labels_follow_the_state_and_leave_other_labels_alone(github, gh):
    number = github.open_issue(SHOP, "Story", "body", labels=["story", "needs-answers", "bug"])
    added, removed = await set_state_labels(gh, SHOP_REF, number, wanted=["ready-for-spec"],
                                            managed=["needs-answers", "ready-for-spec"])
    assert (added, removed) == (["ready-for-spec"], ["needs-answers"])
    assert sorted(github.labels(SHOP, number)) == ["bug", "ready-for-spec", "story"]
    assert await set_state_labels(gh, SHOP_REF, number, wanted=["ready-for-spec"],
                                  managed=["needs-answers", "ready-for-spec"]) == ([], [])


async def test_update_story_status_rewrites_the_chain_in_place(service, github, gh):
    number = github.open_issue(SHOP, "Visitors can subscribe", "## Acceptance criteria\n- Signing up with \"eve@example.com\" works\n")
    github.label_issue(SHOP, number, "story")
    await service.drain()
    before = [c for c in github.comments(SHOP, number) if find_marker(c.body, "map")]
    status = await update_story_status(gh, SHOP_REF, number, bot_login=github.bot.login, spec_pr=12,
                                       spec_pr_url="http://example/pull/12", approved_by="bob",
                                       approved_sha="0123456789abcdef")
    after = [c for c in github.comments(SHOP, number) if find_marker(c.body, "map")]
    assert status is not None and [c.id for c in after] == [c.id for c in before]
    state = read_map_state(after[0].body)
    assert state is not None and state.status.spec_pr == 12 and state.revision == 1
    assert state.map == read_map_state(before[0].body).map
    assert "approved by @bob on `0123456`" in after[0].body
    assert "[#12](http://example/pull/12)" in after[0].body


async def test_update_story_status_without_a_map_does_nothing(github, gh):
    number = github.open_issue(SHOP, "No map", "body")
    assert await update_story_status(gh, SHOP_REF, number, spec_pr=3) is None
    with pytest.raises(TypeError):
        await update_story_status(gh, SHOP_REF, number, nonsense=1)


async def test_help_unknown_command_and_status_replies(service, github):
    number = github.open_issue(SHOP, "Visitors can subscribe", "## Acceptance criteria\n- Signing up works\n")
    # one at a time: replies for one story share its lock, and the queue merges waiting runs per function
    for command in ("/specloop help", "/specloop frobnicate", "/specloop status"):
        github.comment(SHOP, number, command, by="tina")
        await service.drain()
    bodies = bot_bodies(github, number)
    kinds = {find_marker(b, "reply").get("kind"): b for b in bodies if find_marker(b, "reply")}
    assert "`/specloop map`" in kinds["help"] and "triage access or higher" in kinds["help"]
    assert "`/specloop frobnicate` is not a command" in kinds["unknown_command"]
    assert "has no example map yet" in kinds["status"]
