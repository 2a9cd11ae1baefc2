"""Draft <-> ready for review: `app.gh.pulls.set_draft` over GraphQL, and the double's two draft mutations."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from githubkit import GitHub, TokenAuthStrategy
from githubkit.exception import GraphQLFailed, RequestFailed

from app.gh.models import Pull, RepoRef
from app.gh.pulls import DRAFT_QUERY, get_pull, set_draft
from app.sandbox.github import GitHubDouble
from tests.support.github import SHOP, installation_client

SHOP_REF = RepoRef.parse(SHOP)


def open_pull(github: GitHubDouble, *, draft: bool = False, by: str = "bob") -> int:
    """A pull request from `feature` into main."""
    github.push_files(SHOP, "feature", {"notes.md": "one\n"}, "notes", by="bob")
    return github.open_pull(SHOP, "feature", "main", "Feature", by=by, draft=draft)


def error_messages(error: GraphQLFailed) -> list[str]:
    """The messages of a failed GraphQL answer."""
    return [e.message for e in error.response.errors or []]


async def test_set_draft_converts_and_marks_ready_with_a_webhook_each_time(github: GitHubDouble) -> None:
    gh = installation_client(github)
    number = open_pull(github)
    pull = await get_pull(gh, SHOP_REF, number)
    assert pull.node_id and not pull.draft

    assert await set_draft(gh, SHOP_REF, pull, True) is True
    assert github.pull(SHOP, number).draft
    assert (await get_pull(gh, SHOP_REF, number)).draft

    assert await set_draft(gh, SHOP_REF, pull, False) is False
    assert not github.pull(SHOP, number).draft
    assert not (await get_pull(gh, SHOP_REF, number)).draft

    github.wait_for_deliveries()
    converted = github.deliveries_for("pull_request", "converted_to_draft")
    ready = github.deliveries_for("pull_request", "ready_for_review")
    assert len(converted) == 1 and len(ready) == 1
    assert converted[0].payload["number"] == number and converted[0].payload["pull_request"]["draft"] is True
    assert ready[0].payload["pull_request"]["draft"] is False
    assert converted[0].payload["sender"]["login"] == "specloop[bot]"
    assert converted[0].payload["installation"]["id"] == github.installation_id
    assert [r.path for r in github.requests_to("POST", "graphql")] == ["/graphql", "/graphql"]


async def test_the_mutation_answers_the_rest_node_id_and_a_repeat_changes_nothing(github: GitHubDouble) -> None:
    gh = installation_client(github)
    number = open_pull(github, draft=True)
    pull = await get_pull(gh, SHOP_REF, number)
    data = await gh.async_graphql(DRAFT_QUERY.format(field="convertPullRequestToDraft"), {"id": pull.node_id})
    assert data == {"convertPullRequestToDraft": {"pullRequest": {"id": pull.node_id, "number": number,
                                                                  "isDraft": True}}}
    github.wait_for_deliveries()
    assert github.deliveries_for("pull_request", "converted_to_draft") == []


async def test_an_unknown_mutation_is_a_graphql_error(github: GitHubDouble) -> None:
    gh = installation_client(github)
    pull = await get_pull(gh, SHOP_REF, open_pull(github))
    with pytest.raises(GraphQLFailed) as err:
        await gh.async_graphql('mutation { closePullRequest(input: {pullRequestId: "x"}) { clientMutationId } }')
    assert error_messages(err.value) == ["Field 'closePullRequest' doesn't exist on type 'Mutation'"]
    with pytest.raises(GraphQLFailed) as err:
        await gh.async_graphql("query { viewer { login } }")
    assert error_messages(err.value) == ["Field 'viewer' doesn't exist on type 'Query'"]
    assert not github.pull(SHOP, pull.number).draft


async def test_an_unknown_node_id_is_not_found(github: GitHubDouble) -> None:
    gh = installation_client(github)
    number = open_pull(github)
    ghost = Pull(number=number, node_id="nope")
    with pytest.raises(GraphQLFailed) as err:
        await set_draft(gh, SHOP_REF, ghost, True)
    errors = err.value.response.errors or []
    assert [e.type for e in errors] == ["NOT_FOUND"]
    assert err.value.response.data == {"convertPullRequestToDraft": None}
    assert not github.pull(SHOP, number).draft


async def test_a_pull_without_node_id_is_refused_before_any_call(github: GitHubDouble) -> None:
    gh = installation_client(github)
    with pytest.raises(ValueError):
        await set_draft(gh, SHOP_REF, Pull(number=1), True)
    assert github.requests_to("POST", "graphql") == []


async def test_without_credentials_the_graphql_endpoint_answers_401(github: GitHubDouble) -> None:
    pull = await get_pull(installation_client(github), SHOP_REF, open_pull(github))
    anonymous: GitHub[Any] = GitHub(base_url=github.api_url)
    with pytest.raises(RequestFailed) as err:
        await set_draft(anonymous, SHOP_REF, pull, True)
    assert err.value.response.status_code == 401
    async with httpx.AsyncClient() as client:
        for url in (f"{github.web_url}/api/graphql", f"{github.web_url}/graphql"):
            answer = await client.post(url, json={"query": "mutation { x }"},
                                       headers={"authorization": "token ghs_forged"})
            assert answer.status_code == 401, url
    assert not github.pull(SHOP, pull.number).draft


def person(github: GitHubDouble, login: str) -> GitHub[Any]:
    """githubkit with a person's token."""
    return GitHub(TokenAuthStrategy(github.user_token(login)), base_url=github.api_url)


async def test_a_person_needs_write_access_or_authorship(github: GitHubDouble) -> None:
    # mallory has no role on the (public) repository: read access only, but she opened this pull request
    pull = await get_pull(installation_client(github), SHOP_REF, open_pull(github, by="mallory"))
    with pytest.raises(GraphQLFailed) as err:
        await set_draft(person(github, "rita"), SHOP_REF, pull, True)
    assert [e.type for e in err.value.response.errors or []] == ["FORBIDDEN"]
    assert await set_draft(person(github, "mallory"), SHOP_REF, pull, True) is True
    assert await set_draft(person(github, "bob"), SHOP_REF, pull, False) is False
    github.wait_for_deliveries()
    assert github.deliveries_for("pull_request", "converted_to_draft")[-1].payload["sender"]["login"] == "mallory"
    assert github.deliveries_for("pull_request", "ready_for_review")[-1].payload["sender"]["login"] == "bob"
