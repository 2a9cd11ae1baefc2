"""The GitHub double answers githubkit's REST calls with bodies its models parse (the schema check)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from githubkit.exception import RequestFailed

from app.sandbox.github import GitHubDouble
from tests.support.github import SHOP, Client, app_client, installation_client, items

OWNER, REPO = SHOP.split("/")


@pytest.fixture
async def inst(github: GitHubDouble) -> AsyncIterator[Client]:
    """An installation client for octo-org."""
    yield installation_client(github, auto_retry=False)


async def test_app_endpoints_parse(github: GitHubDouble) -> None:
    gh = app_client(github, auto_retry=False)
    app = (await gh.rest.apps.async_get_authenticated()).parsed_data
    assert app and app.slug == "specloop" and app.id == github.app_id
    installs = (await gh.rest.apps.async_list_installations()).parsed_data
    assert [i.id for i in items(installs)] == [github.installation_id]
    repo_inst = (await gh.rest.apps.async_get_repo_installation(OWNER, REPO)).parsed_data
    assert repo_inst.account and getattr(repo_inst.account, "login", None) == "octo-org"


async def test_issue_comment_label_reaction_round_trip(github: GitHubDouble, inst: Client) -> None:
    number = github.open_issue(SHOP, "Checkout", "As a shopper...", by="alice")
    issue = (await inst.rest.issues.async_get(OWNER, REPO, number)).parsed_data
    assert issue.title == "Checkout" and issue.user and issue.user.login == "alice"
    comment = (await inst.rest.issues.async_create_comment(OWNER, REPO, number, body="hello")).parsed_data
    assert comment.user and comment.user.login == "specloop[bot]" and comment.user.type == "Bot"
    assert comment.performed_via_github_app and comment.performed_via_github_app.id == github.app_id
    edited = (await inst.rest.issues.async_update_comment(OWNER, REPO, comment.id, body="hello again")).parsed_data
    assert edited.body == "hello again"
    listed = (await inst.rest.issues.async_list_comments(OWNER, REPO, number)).parsed_data
    assert [c.body for c in items(listed)] == ["hello again"]
    labels = (await inst.rest.issues.async_add_labels(OWNER, REPO, number, labels=["story"])).parsed_data
    assert [lab.name for lab in items(labels)] == ["story"]
    assert (await inst.rest.issues.async_get_label(OWNER, REPO, "story")).parsed_data.color == "ededed"
    reaction = (await inst.rest.reactions.async_create_for_issue(OWNER, REPO, number, content="eyes")).parsed_data
    assert reaction.content == "eyes" and github.reactions(SHOP, number) == ["eyes"]
    await inst.rest.reactions.async_create_for_issue_comment(OWNER, REPO, comment.id, content="+1")
    assert github.reactions(SHOP, comment_id=comment.id) == ["+1"]
    await inst.rest.issues.async_remove_label(OWNER, REPO, number, "story")
    assert github.labels(SHOP, number) == []
    updated = (await inst.rest.issues.async_update(OWNER, REPO, number, body="new body")).parsed_data
    assert updated.body == "new body"


async def test_removing_a_label_the_issue_lacks_is_a_404(github: GitHubDouble, inst: Client) -> None:
    number = github.open_issue(SHOP, "x", by="alice")
    with pytest.raises(RequestFailed) as err:
        await inst.rest.issues.async_remove_label(OWNER, REPO, number, "nope")
    assert err.value.response.status_code == 404


async def test_comment_longer_than_github_allows_is_refused(github: GitHubDouble, inst: Client) -> None:
    number = github.open_issue(SHOP, "x", by="alice")
    with pytest.raises(RequestFailed) as err:
        await inst.rest.issues.async_create_comment(OWNER, REPO, number, body="x" * 65537)
    assert err.value.response.status_code == 422
    assert github.comments(SHOP, number) == []


async def test_permission_reports_triage_as_read_with_the_real_role_name(github: GitHubDouble, inst: Client) -> None:
    seen = {}
    for login in ("alice", "bob", "tina", "rita", "mallory"):
        perm = (await inst.rest.repos.async_get_collaborator_permission_level(OWNER, REPO, login)).parsed_data
        seen[login] = (perm.permission, perm.role_name)
    assert seen == {"alice": ("admin", "admin"), "bob": ("write", "write"), "tina": ("read", "triage"),
                    "rita": ("read", "read"), "mallory": ("read", "read")}


async def test_contents_branches_and_git_data(github: GitHubDouble, inst: Client) -> None:
    repo = (await inst.rest.repos.async_get(OWNER, REPO)).parsed_data
    assert repo.default_branch == "main" and repo.fork is False
    readme = (await inst.rest.repos.async_get_content(OWNER, REPO, "README.md")).parsed_data
    assert base64.b64decode(getattr(readme, "content", "")).decode().startswith("# Shop")
    listing = (await inst.rest.repos.async_get_content(OWNER, REPO, "")).parsed_data
    assert sorted(item.name for item in items(listing)) == ["README.md", "app.py"]
    with pytest.raises(RequestFailed) as err:
        await inst.rest.repos.async_get_content(OWNER, REPO, "missing.txt")
    assert err.value.response.status_code == 404
    branch = (await inst.rest.repos.async_get_branch(OWNER, REPO, "main")).parsed_data
    main_sha = branch.commit.sha
    assert main_sha == github.ref(SHOP, "main")
    ref = (await inst.rest.git.async_get_ref(OWNER, REPO, "heads/main")).parsed_data
    assert ref.object_.sha == main_sha
    blob = (await inst.rest.git.async_create_blob(OWNER, REPO, content="Feature: x\n")).parsed_data
    base_tree = (await inst.rest.git.async_get_commit(OWNER, REPO, main_sha)).parsed_data.tree.sha
    tree = (await inst.rest.git.async_create_tree(OWNER, REPO, base_tree=base_tree, tree=[
        {"path": "features/x.feature", "mode": "100644", "type": "blob", "sha": blob.sha},
        {"path": "app.py", "mode": "100644", "type": "blob", "sha": None},
    ])).parsed_data
    commit = (await inst.rest.git.async_create_commit(OWNER, REPO, message="Add spec", tree=tree.sha,
                                                      parents=[main_sha])).parsed_data
    assert commit.verification.verified is True
    new_ref = (await inst.rest.git.async_create_ref(OWNER, REPO, ref="refs/heads/specloop/1-x",
                                                    sha=commit.sha)).parsed_data
    assert new_ref.ref == "refs/heads/specloop/1-x"
    assert github.file(SHOP, "features/x.feature", "specloop/1-x") == "Feature: x\n"
    assert github.file(SHOP, "app.py", "specloop/1-x") is None
    matching = (await inst.rest.git.async_list_matching_refs(OWNER, REPO, "heads/specloop/")).parsed_data
    assert [m.ref for m in matching] == ["refs/heads/specloop/1-x"]
    full = (await inst.rest.repos.async_get_commit(OWNER, REPO, commit.sha)).parsed_data
    assert sorted((f.filename, f.status) for f in full.files or []) == [("app.py", "removed"),
                                                                         ("features/x.feature", "added")]
    cmp = (await inst.rest.repos.async_compare_commits(OWNER, REPO, "main...specloop/1-x")).parsed_data
    assert cmp.ahead_by == 1 and cmp.status == "ahead"
    assert any(f.patch and "+Feature: x" in f.patch for f in cmp.files or [])
    with pytest.raises(RequestFailed) as err:
        await inst.rest.git.async_update_ref(OWNER, REPO, "heads/specloop/1-x", sha=main_sha)
    assert err.value.response.status_code == 422  # not a fast-forward without force
    moved = (await inst.rest.git.async_update_ref(OWNER, REPO, "heads/specloop/1-x", sha=main_sha,
                                                  force=True)).parsed_data
    assert moved.object_.sha == main_sha
    await inst.rest.git.async_delete_ref(OWNER, REPO, "heads/specloop/1-x")
    assert github.ref(SHOP, "specloop/1-x") is None


async def test_pulls_and_reviews(github: GitHubDouble, inst: Client) -> None:
    github.push_files(SHOP, "feature", {"features/a.feature": "Feature: a\n"}, "spec", by="bob")
    pr = (await inst.rest.pulls.async_create(OWNER, REPO, head="feature", base="main", title="Spec",
                                             body="Closes #1")).parsed_data
    assert pr.head.ref == "feature" and pr.head.sha == github.ref(SHOP, "feature") and pr.head.repo
    assert pr.head.repo.fork is False and pr.user and pr.user.login == "specloop[bot]"
    got = (await inst.rest.pulls.async_get(OWNER, REPO, pr.number)).parsed_data
    assert got.changed_files == 1
    listed = (await inst.rest.pulls.async_list(OWNER, REPO, head="octo-org:feature", state="open")).parsed_data
    assert [p.number for p in items(listed)] == [pr.number]
    files = (await inst.rest.pulls.async_list_files(OWNER, REPO, pr.number)).parsed_data
    assert [f.filename for f in items(files)] == ["features/a.feature"]
    commits = (await inst.rest.pulls.async_list_commits(OWNER, REPO, pr.number)).parsed_data
    assert len(commits) == 1
    review_id = github.submit_review(SHOP, pr.number, "APPROVED", by="alice",
                                     comments=[{"path": "features/a.feature", "line": 1, "body": "nice"}])
    reviews = (await inst.rest.pulls.async_list_reviews(OWNER, REPO, pr.number)).parsed_data
    assert [(r.id, r.state, r.commit_id) for r in items(reviews)] == [(review_id, "APPROVED", pr.head.sha)]
    one = (await inst.rest.pulls.async_get_review(OWNER, REPO, pr.number, review_id)).parsed_data
    assert one.user and one.user.login == "alice"
    comments = (await inst.rest.pulls.async_list_comments_for_review(OWNER, REPO, pr.number, review_id)).parsed_data
    assert [c.body for c in items(comments)] == ["nice"]
    all_comments = (await inst.rest.pulls.async_list_review_comments(OWNER, REPO, pr.number)).parsed_data
    assert [c.path for c in items(all_comments)] == ["features/a.feature"]
    await inst.rest.pulls.async_request_reviewers(OWNER, REPO, pr.number, reviewers=["bob"])
    dismissed = (await inst.rest.pulls.async_dismiss_review(OWNER, REPO, pr.number, review_id,
                                                            message="spec changed")).parsed_data
    assert dismissed.state == "DISMISSED"
    closed = (await inst.rest.pulls.async_update(OWNER, REPO, pr.number, state="closed")).parsed_data
    assert closed.state == "closed"


async def test_check_runs_append_annotations_and_validate(github: GitHubDouble, inst: Client) -> None:
    sha = github.ref(SHOP, "main")
    assert sha is not None
    ann: dict[str, Any] = {"path": "app.py", "start_line": 1, "end_line": 1, "annotation_level": "warning",
                           "message": "m"}
    first: Any = {"title": "t", "summary": "s", "annotations": [ann]}  # githubkit's TypedDicts, loosely
    run = (await inst.rest.checks.async_create(
        OWNER, REPO, name="specloop/spec", head_sha=sha, status="in_progress", output=first,
        actions=[{"label": "Re-run QA", "identifier": "rerun-qa", "description": "Run the scenarios again"}],
    )).parsed_data
    assert run.status == "in_progress" and run.app and run.app.id == github.app_id
    second: Any = {"title": "t2", "summary": "s2", "annotations": [dict(ann, message="m2")],
                   "images": [{"alt": "shot", "image_url": "http://x/y.png"}]}
    done = (await inst.rest.checks.async_update(
        OWNER, REPO, run.id, status="completed", conclusion="failure", output=second)).parsed_data
    assert done.conclusion == "failure" and done.output.annotations_count == 2 and done.completed_at
    anns = (await inst.rest.checks.async_list_annotations(OWNER, REPO, run.id)).parsed_data
    assert [a.message for a in items(anns)] == ["m", "m2"]
    stored = github.check_runs(SHOP, sha)[0]
    assert stored.images == [{"alt": "shot", "image_url": "http://x/y.png"}] and len(stored.actions) == 1
    runs = (await inst.rest.checks.async_list_for_ref(OWNER, REPO, sha, check_name="specloop/spec")).parsed_data
    assert [r.id for r in runs.check_runs] == [run.id]
    assert run.check_suite is not None
    suite = (await inst.rest.checks.async_get_suite(OWNER, REPO, run.check_suite.id)).parsed_data
    assert suite.head_sha == sha and suite.conclusion == "failure"
    bad: list[dict[str, Any]] = [
        {"output": {"title": "t", "summary": "x" * 65536}},
        {"output": {"summary": "no title"}},
        {"output": {"title": "t", "summary": "s", "annotations": [dict(ann) for _ in range(51)]}},
        {"output": {"title": "t", "summary": "s", "annotations": [dict(ann, annotation_level="error")]}},
        {"output": {"title": "t", "summary": "s",
                    "annotations": [dict(ann, end_line=2, start_column=1, end_column=2)]}},
        {"status": "completed"},
        {"actions": [{"label": "a label that is too long", "identifier": "x", "description": "d"}]},
        {"actions": [{"label": "l", "identifier": "x", "description": "d"}] * 4},
    ]
    for fields in bad:
        # raw requests: githubkit validates bodies itself, the double must refuse them on its own too
        with pytest.raises(RequestFailed) as err:
            await inst.arequest("POST", f"/repos/{SHOP}/check-runs", json={"name": "n", "head_sha": sha, **fields})
        assert err.value.response.status_code == 422, fields


async def test_deployments_and_statuses(github: GitHubDouble, inst: Client) -> None:
    sha = github.ref(SHOP, "main")
    assert sha is not None
    dep_id = github.create_deployment(SHOP, sha, "staging")
    github.deployment_status(SHOP, dep_id, "success", environment_url="http://staging.local", by="alice")
    deps = (await inst.rest.repos.async_list_deployments(OWNER, REPO, sha=sha)).parsed_data
    assert [d.id for d in deps] == [dep_id]
    statuses = (await inst.rest.repos.async_list_deployment_statuses(OWNER, REPO, dep_id)).parsed_data
    assert [(s.state, s.environment_url) for s in statuses] == [("success", "http://staging.local")]


async def test_hook_deliveries_list_and_redeliver(github: GitHubDouble) -> None:
    github.open_issue(SHOP, "x", by="alice")  # no webhook URL: recorded as a failed attempt
    gh = app_client(github, auto_retry=False)
    items = (await gh.rest.apps.async_list_webhook_deliveries()).parsed_data
    assert items[0].event == "issues" and items[0].action == "opened"
    await gh.rest.apps.async_redeliver_webhook_delivery(items[0].id)
    github.wait_for_deliveries()
    assert github.deliveries[-1].guid == items[0].guid and github.deliveries[-1].redelivery


async def test_installation_token_expires_and_is_refreshed(github: GitHubDouble) -> None:
    # githubkit caches a token until a minute before it expires: ten minutes keep it cached however slow the
    # machine, so the second call really sends the token the server has since expired
    github.token_lifetime = timedelta(minutes=10)
    gh = app_client(github, auto_retry=False)
    client = gh.with_auth(gh.auth.as_installation(github.installation_id))
    await client.rest.repos.async_get(OWNER, REPO)
    github.expire_tokens()
    with pytest.raises(RequestFailed) as err:
        # the cached token is now dead on the server side: 401 like GitHub
        await client.rest.repos.async_get(OWNER, REPO)
    assert err.value.response.status_code == 401
    assert github.tokens_issued >= 1
