"""The GitHub double as the app's typed githubkit calls see it: paging, filters and GitHub's finer rules.

Each test drives githubkit's generated `rest.*` methods (what `app.gh` calls) and reads `.parsed_data`,
so a payload githubkit's models refuse fails here first. Accuracy points covered: `Link` paging,
`head=owner:branch`, check runs owned by the App that created them (`app_id` filter, 403 on another
App's run), truncated recursive trees, and the `X-GitHub-Api-Version` header.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from githubkit.exception import RequestFailed

from app.sandbox.github import GitHubDouble
from tests.support.github import (
    SHOP,
    Client,
    app_client,
    collect,
    installation_client,
    installation_id,
    items,
)

OWNER, REPO = SHOP.split("/")


@pytest.fixture
async def inst(github: GitHubDouble) -> AsyncIterator[Client]:
    """An installation client of the double's app."""
    yield installation_client(github, auto_retry=False)


def pages_requested(github: GitHubDouble, path_regex: str) -> list[str | None]:
    """The `page` query parameter of each recorded GET to a path."""
    return [r.query.get("page") for r in github.requests_to("GET", path_regex)]


# -- issues, comments, labels ---------------------------------------------------------------------

async def test_comments_and_labels_page_through_link_headers(github: GitHubDouble, inst: Client) -> None:
    number = github.open_issue(SHOP, "Checkout", "As a shopper...", by="alice")
    for i in range(5):
        github.comment(SHOP, number, f"comment {i}", by="bob")
    bodies = [c.body for c in await collect(inst.rest.paginate(
        inst.rest.issues.async_list_comments, owner=OWNER, repo=REPO, issue_number=number, per_page=2))]
    assert bodies == [f"comment {i}" for i in range(5)]
    assert pages_requested(github, rf"/issues/{number}/comments$") == [None, "2", "3"]
    first = await inst.rest.issues.async_list_comments(OWNER, REPO, number, per_page=2)
    assert 'rel="next"' in first.headers["link"] and 'rel="last"' in first.headers["link"]
    last = await inst.rest.issues.async_list_comments(OWNER, REPO, number, per_page=2, page=3)
    assert 'rel="next"' not in last.headers["link"] and 'rel="prev"' in last.headers["link"]

    for name in ("story", "spec", "qa"):
        made = (await inst.rest.issues.async_create_label(OWNER, REPO, name=name, color="0e8a16",
                                                          description=f"{name} label")).parsed_data
        assert made.name == name and made.color == "0e8a16" and made.default is False
    with pytest.raises(RequestFailed) as err:
        await inst.rest.issues.async_create_label(OWNER, REPO, name="Story")
    assert err.value.response.status_code == 422  # names are case-insensitive on GitHub
    names = [lab.name for lab in await collect(inst.rest.paginate(
        inst.rest.issues.async_list_labels_for_repo, owner=OWNER, repo=REPO, per_page=2))]
    assert names == ["bug", "documentation", "enhancement", "story", "spec", "qa"]
    await inst.rest.issues.async_add_labels(OWNER, REPO, number, labels=["story", "qa"])
    on_issue = (await inst.rest.issues.async_list_labels_on_issue(OWNER, REPO, number)).parsed_data
    assert [lab.name for lab in items(on_issue)] == ["story", "qa"]
    left = (await inst.rest.issues.async_remove_label(OWNER, REPO, number, "story")).parsed_data
    assert [lab.name for lab in items(left)] == ["qa"]


async def test_issue_edits_and_comment_deletion_send_their_webhooks(github: GitHubDouble, inst: Client) -> None:
    number = github.open_issue(SHOP, "Checkout", by="alice")
    issue = (await inst.rest.issues.async_update(OWNER, REPO, number, title="Guest checkout",
                                                 state="closed")).parsed_data
    assert (issue.title, issue.state, issue.state_reason) == ("Guest checkout", "closed", "completed")
    comment = (await inst.rest.issues.async_create_comment(OWNER, REPO, number, body="bye")).parsed_data
    await inst.rest.issues.async_delete_comment(OWNER, REPO, comment.id)
    github.wait_for_deliveries()
    assert github.comments(SHOP, number) == []
    assert [d.action for d in github.deliveries_for("issue_comment")] == ["created", "deleted"]
    assert [d.action for d in github.deliveries_for("issues")] == ["opened", "edited", "closed"]
    with pytest.raises(RequestFailed) as err:
        await inst.rest.issues.async_delete_comment(OWNER, REPO, comment.id)
    assert err.value.response.status_code == 404


# -- pull requests and reviews ----------------------------------------------------------------------

async def test_pulls_filter_by_head_owner_and_branch(github: GitHubDouble, inst: Client) -> None:
    github.push_files(SHOP, "feature", {"a.txt": "a\n"}, "a", by="bob")
    ours = github.open_pull(SHOP, "feature", "main", "Ours", by="bob")
    theirs = github.open_pull(SHOP, "feature", "main", "From a fork", by="mallory", fork=True)

    async def numbers(**query: Any) -> list[int]:
        return [p.number for p in items((await inst.rest.pulls.async_list(OWNER, REPO, **query)).parsed_data)]

    assert await numbers(head="octo-org:feature") == [ours]
    assert await numbers(head="Octo-Org:feature") == [ours]  # the owner is case-insensitive
    assert await numbers(head="mallory:feature") == [theirs]
    assert await numbers(head="octo-org:Feature") == []  # branch names are not
    assert await numbers(head="octo-org:other") == []
    assert await numbers(head="octo-org:feature", state="closed") == []
    assert await numbers(state="all") == [theirs, ours]
    pr = (await inst.rest.pulls.async_get(OWNER, REPO, theirs)).parsed_data
    assert pr.head.label == "mallory:feature" and pr.head.repo and pr.head.repo.fork


async def test_reviews_page_and_pulls_for_a_commit(github: GitHubDouble, inst: Client) -> None:
    sha = github.push_files(SHOP, "feature", {"a.txt": "a\n"}, "a", by="bob")
    number = github.open_pull(SHOP, "feature", "main", "Feature", by="bob")
    for state in ("COMMENTED", "CHANGES_REQUESTED", "APPROVED"):
        github.submit_review(SHOP, number, state, by="alice")
    states = [r.state for r in await collect(inst.rest.paginate(
        inst.rest.pulls.async_list_reviews, owner=OWNER, repo=REPO, pull_number=number, per_page=2))]
    assert states == ["COMMENTED", "CHANGES_REQUESTED", "APPROVED"]
    assert pages_requested(github, rf"/pulls/{number}/reviews$") == [None, "2"]
    found = (await inst.rest.repos.async_list_pull_requests_associated_with_commit(OWNER, REPO, sha)).parsed_data
    assert [p.number for p in found] == [number]
    main = github.ref(SHOP, "main")
    assert main is not None
    assert (await inst.rest.repos.async_list_pull_requests_associated_with_commit(OWNER, REPO, main)).parsed_data == []
    github.close_issue(SHOP, number, by="bob")
    assert (await inst.rest.repos.async_list_pull_requests_associated_with_commit(OWNER, REPO, sha)).parsed_data == []


# -- git data ---------------------------------------------------------------------------------------

async def test_recursive_tree_is_truncated_past_the_limit_and_subtrees_can_be_walked(
        github: GitHubDouble, inst: Client) -> None:
    files: dict[str, str | bytes | None] = {f"features/f{i}.feature": f"Feature: {i}\n" for i in range(3)}
    files["docs/guide.md"] = "# Guide\n"
    sha = github.push_files(SHOP, "main", files, "many files", by="alice")
    full = (await inst.rest.git.async_get_tree(OWNER, REPO, sha, recursive="1")).parsed_data
    assert full.truncated is False
    assert {e.path for e in full.tree} == {"README.md", "app.py", "docs", "docs/guide.md", "features",
                                           *(f"features/f{i}.feature" for i in range(3))}
    github.tree_entry_limit = 4
    cut = (await inst.rest.git.async_get_tree(OWNER, REPO, sha, recursive="1")).parsed_data
    assert cut.truncated is True and len(cut.tree) == 4
    root = (await inst.rest.git.async_get_tree(OWNER, REPO, full.sha)).parsed_data  # one level, by tree sha
    assert root.truncated is False and sorted(e.path for e in root.tree) == ["README.md", "app.py", "docs",
                                                                             "features"]
    features = next(e for e in root.tree if e.path == "features")
    assert features.type == "tree" and features.sha
    sub = (await inst.rest.git.async_get_tree(OWNER, REPO, features.sha)).parsed_data
    assert sorted(e.path for e in sub.tree) == ["f0.feature", "f1.feature", "f2.feature"]
    blob_sha = next(e.sha for e in sub.tree if e.path == "f1.feature")
    assert blob_sha
    blob = (await inst.rest.git.async_get_blob(OWNER, REPO, blob_sha)).parsed_data
    assert base64.b64decode(blob.content).decode() == "Feature: 1\n" and blob.encoding == "base64"
    github.tree_entry_limit = 3
    assert (await inst.rest.git.async_get_tree(OWNER, REPO, sub.sha)).parsed_data.truncated is False
    github.tree_entry_limit = 2
    assert (await inst.rest.git.async_get_tree(OWNER, REPO, sub.sha)).parsed_data.truncated is True


# -- checks -------------------------------------------------------------------------------------------

async def test_check_runs_belong_to_the_app_that_created_them(github: GitHubDouble, inst: Client) -> None:
    sha = github.ref(SHOP, "main")
    assert sha is not None
    ours = (await inst.rest.checks.async_create(OWNER, REPO, name="specloop/qa", head_sha=sha,
                                                status="in_progress")).parsed_data
    foreign = github.add_foreign_check_run(SHOP, sha, "specloop/qa", conclusion="failure")
    other_app = github.apps[foreign.app_id]
    assert other_app.id != github.app_id and other_app.slug == "other-ci"

    async def listed(**query: Any) -> list[int]:
        runs = (await inst.rest.checks.async_list_for_ref(OWNER, REPO, sha, **query)).parsed_data
        return [r.id for r in runs.check_runs]

    assert await listed(check_name="specloop/qa") == [foreign.id, ours.id]
    assert await listed(check_name="specloop/qa", app_id=github.app_id) == [ours.id]
    assert await listed(check_name="specloop/qa", app_id=other_app.id) == [foreign.id]
    again = (await inst.rest.checks.async_create(OWNER, REPO, name="specloop/qa", head_sha=sha)).parsed_data
    assert await listed(check_name="specloop/qa", app_id=github.app_id) == [again.id]  # filter=latest
    assert await listed(check_name="specloop/qa", app_id=github.app_id, filter_="all") == [again.id, ours.id]
    got = (await inst.rest.checks.async_get(OWNER, REPO, foreign.id)).parsed_data
    assert got.app and got.app.id == other_app.id and got.conclusion == "failure"
    with pytest.raises(RequestFailed) as err:
        await inst.rest.checks.async_update(OWNER, REPO, foreign.id, status="completed", conclusion="success")
    assert err.value.response.status_code == 403
    assert "can only be modified by the GitHub App that created it" in err.value.response.json()["message"]
    assert github.check_runs(SHOP, sha, "specloop/qa")[1].conclusion == "failure"
    # GitHub tells every App with checks:write about other Apps' runs: the app must filter by app id
    github.wait_for_deliveries()
    created = github.deliveries_for("check_run", "created")
    assert [d.payload["check_run"]["app"]["id"] for d in created] == [github.app_id, other_app.id, github.app_id]
    assert github.rerequest_check_run(SHOP, foreign.id) is None  # re-runs only reach the run's own App


async def test_a_token_of_another_app_creates_runs_the_app_cannot_update(github: GitHubDouble,
                                                                        inst: Client) -> None:
    sha = github.ref(SHOP, "main")
    assert sha is not None
    other = github.add_app("other-ci", "Other CI")
    as_other = app_client(github, other.id, auto_retry=False)  # githubkit's namespaces hold their client weakly: keep it
    token = (await as_other.rest.apps.async_create_installation_access_token(
        installation_id(github))).parsed_data
    assert token.token.startswith("ghs_") and token.expires_at
    other_inst = installation_client(github, other.id, auto_retry=False)
    theirs = (await other_inst.rest.checks.async_create(OWNER, REPO, name="ci", head_sha=sha,
                                                        status="queued")).parsed_data
    assert theirs.app and theirs.app.id == other.id
    assert github.requests[-1].actor == "other-ci[bot]"
    with pytest.raises(RequestFailed) as err:
        await inst.rest.checks.async_update(OWNER, REPO, theirs.id, status="in_progress")
    assert err.value.response.status_code == 403
    suites = (await inst.rest.checks.async_list_suites_for_ref(OWNER, REPO, sha, app_id=other.id)).parsed_data
    assert [s.app.id for s in suites.check_suites if s.app] == [other.id]


# -- apps and the API version --------------------------------------------------------------------------

async def test_app_calls_parse(github: GitHubDouble) -> None:
    gh = app_client(github, auto_retry=False)
    me = (await gh.rest.apps.async_get_authenticated()).parsed_data
    assert me and me.id == github.app_id and me.slug == github.slug
    token = (await gh.rest.apps.async_create_installation_access_token(installation_id(github))).parsed_data
    assert token.permissions and token.permissions.checks == "write"
    assert [r.full_name for r in token.repositories or []] == [SHOP]
    assert github.tokens_issued == 1
    found = (await gh.rest.apps.async_get_repo_installation(OWNER, REPO)).parsed_data
    assert found.id == github.installation_id
    for i in range(3):
        github.open_issue(SHOP, f"issue {i}", by="alice")  # no webhook URL: failed attempts, still listed
    github.wait_for_deliveries()
    listed = await collect(gh.rest.paginate(gh.rest.apps.async_list_webhook_deliveries, per_page=2))
    assert [d.event for d in listed] == ["issues"] * 3 and len({d.id for d in listed}) == 3
    cursors = [r.query.get("cursor") for r in github.requests_to("GET", "/app/hook/deliveries$")]
    assert cursors[0] is None and cursors[1] == str(listed[1].id)
    await gh.rest.apps.async_redeliver_webhook_delivery(listed[-1].id)
    github.wait_for_deliveries()
    assert github.deliveries[-1].redelivery and github.deliveries[-1].guid == listed[-1].guid


async def test_the_api_version_header_is_recorded_and_checked(github: GitHubDouble, inst: Client) -> None:
    await inst.rest.repos.async_get(OWNER, REPO, headers={"X-GitHub-Api-Version": "2022-11-28"})
    assert github.requests[-1].headers["x-github-api-version"] == "2022-11-28"
    assert "authorization" not in github.requests[-1].headers
    await inst.rest.repos.async_get(OWNER, REPO)  # githubkit's generated methods pin their own version
    assert github.requests[-1].headers["x-github-api-version"] in github.state.api_versions
    with pytest.raises(RequestFailed) as err:
        await inst.rest.repos.async_get(OWNER, REPO, headers={"X-GitHub-Api-Version": "2021-01-01"})
    assert err.value.response.status_code == 400
    body = err.value.response.json()
    assert '"2021-01-01", is not a supported version' in body["message"] and '"2022-11-28"' in body["message"]
    assert github.requests[-1].status == 400
    github.state.api_versions = ("2022-11-28",)  # a GitHub that knows only the first calendar version
    ok = await inst.rest.issues.async_list_for_repo(OWNER, REPO, headers={"X-GitHub-Api-Version": "2022-11-28"})
    assert ok.status_code == 200
    with pytest.raises(RequestFailed) as err:
        await inst.rest.repos.async_get(OWNER, REPO, headers={"X-GitHub-Api-Version": "2026-03-10"})
    assert err.value.response.status_code == 400


def test_requests_are_recorded_with_query_headers_and_actor(github: GitHubDouble) -> None:
    token = github.issue_token(installation_id(github)).value
    httpx.get(f"{github.api_url}/repos/{SHOP}/pulls?head=octo-org%3Afeature&state=all",
              headers={"Authorization": f"token {token}", "X-GitHub-Api-Version": "2022-11-28"})
    [recorded] = github.requests_to("GET", "/pulls$")
    assert recorded.query == {"head": "octo-org:feature", "state": "all"} and recorded.status == 200
    assert recorded.headers["x-github-api-version"] == "2022-11-28" and recorded.actor == "specloop[bot]"
