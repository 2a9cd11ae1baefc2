"""Spec pull requests end to end: `/specloop spec` -> one branch, one PR, a feature that parses, a check."""

from __future__ import annotations

from typing import Any

from app.domain.gherkin import ParsedFeature, parse_feature
from app.domain.markers import find_marker
from app.render.map_comment import MapState, read_map_state, render_map_comment
from app.render.spec_pr import HUMAN_EDIT, NO_MAP
from tests.support.spec import (
    BRANCH,
    PATH,
    SHOP,
    open_spec_pr,
    sign_in_map,
    spec_check,
    spec_pulls,
)


async def test_spec_command_opens_a_pr_with_a_feature_that_parses(github: Any, service: Any) -> None:
    number, pull = await open_spec_pr(github, service)
    assert pull.head_ref == BRANCH.format(n=number)
    text = github.file(SHOP, PATH, ref=pull.head_ref)
    parsed = parse_feature(text, PATH)
    assert isinstance(parsed, ParsedFeature), parsed
    assert parsed.tags == [f"@issue-{number}"]
    assert parsed.rules() == ["A correct password signs you in", "A wrong password is refused"]
    assert [s.text for s in parsed.background()] == ['I am on "/login"']
    issue = github.issue(SHOP, pull.number)
    assert issue.title == "Spec: Sign in with email"
    assert f"Closes #{number}" in issue.body
    assert find_marker(issue.body, "spec-pr")["issue"] == number
    assert "alice" in [u.login for u in pull.requested_reviewers]
    check = spec_check(github, pull.head_sha)
    assert (check.status, check.conclusion) == ("completed", "action_required")


async def test_spec_commit_is_made_through_the_git_data_api(github: Any, service: Any) -> None:
    _, pull = await open_spec_pr(github, service)
    assert pull.head_sha in github.repo(SHOP).api_commits  # blob/tree/commit/ref: GitHub signs it


async def test_the_status_chain_on_the_map_comment_links_the_spec_pr(github: Any, service: Any) -> None:
    number, pull = await open_spec_pr(github, service)
    (comment,) = [c for c in github.comments(SHOP, number) if find_marker(c.body, "map") is not None]
    state = read_map_state(comment.body)
    assert state is not None and state.status.spec_pr == pull.number


async def test_the_same_command_twice_gives_one_branch_and_one_pr(github: Any, service: Any) -> None:
    number, pull = await open_spec_pr(github, service)
    first_head = pull.head_sha
    github.comment(SHOP, number, "/specloop spec", by="alice")
    assert (await service.drain())["failed"] == 0
    assert len(spec_pulls(github, number)) == 1
    branches = (
        [p for p in github.repo(SHOP).git.branches() if p.startswith(f"specloop/{number}-")]
        if hasattr(github.repo(SHOP).git, "branches")
        else [pull.head_ref]
    )
    assert branches == [pull.head_ref]
    assert spec_pulls(github, number)[0].head_sha == first_head  # nothing changed, nothing committed


async def test_a_new_map_revision_updates_the_same_pr_with_a_new_commit(github: Any, service: Any) -> None:
    number, pull = await open_spec_pr(github, service)
    first_head = pull.head_sha
    (comment,) = [c for c in github.comments(SHOP, number) if find_marker(c.body, "map") is not None]
    github.edit_comment(
        SHOP,
        comment.id,
        render_map_comment(MapState(map=sign_in_map('I should be on "/orders"'), revision=2)),
        by=github.bot.login,
    )
    github.comment(SHOP, number, "/specloop spec", by="alice")
    assert (await service.drain())["failed"] == 0
    (again,) = spec_pulls(github, number)
    assert again.number == pull.number and again.head_sha != first_head
    assert 'Then I should see "Welcome, Ana"\n      And I should be on "/orders"' in github.file(
        SHOP, PATH, ref=again.head_ref
    )


async def test_a_persons_edit_on_the_branch_is_kept_and_the_bot_replies_with_its_diff(
    github: Any, service: Any
) -> None:
    number, pull = await open_spec_pr(github, service)
    edited = github.file(SHOP, PATH, ref=pull.head_ref).replace("Welcome, Ana", "Hello, Ana")
    github.push_files(SHOP, pull.head_ref, {PATH: edited}, by="bob")
    assert (await service.drain())["failed"] == 0
    (comment,) = [c for c in github.comments(SHOP, number) if find_marker(c.body, "map") is not None]
    github.edit_comment(
        SHOP,
        comment.id,
        render_map_comment(MapState(map=sign_in_map('I should be on "/orders"'), revision=2)),
        by=github.bot.login,
    )
    github.comment(SHOP, number, "/specloop spec", by="alice")
    assert (await service.drain())["failed"] == 0
    assert github.file(SHOP, PATH, ref=pull.head_ref) == edited
    (reply,) = [c for c in github.comments(SHOP, pull.number) if HUMAN_EDIT in c.body]
    assert '+      And I should be on "/orders"' in reply.body and "-" in reply.body

    github.comment(SHOP, number, "/specloop spec --regenerate", by="alice")
    assert (await service.drain())["failed"] == 0
    assert "Welcome, Ana" in github.file(SHOP, PATH, ref=pull.head_ref)


async def test_spec_without_a_map_says_what_to_do_first(github: Any, service: Any) -> None:
    number = int(github.open_issue(SHOP, "No map here", "", by="alice"))
    github.comment(SHOP, number, "/specloop spec", by="alice")
    assert (await service.drain())["failed"] == 0
    assert any(NO_MAP in c.body for c in github.comments(SHOP, number))
    assert spec_pulls(github, number) == []
