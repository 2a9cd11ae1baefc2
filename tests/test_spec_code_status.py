"""The story's status on its map comment from spec PR to code: where to review, who approved, why no code."""

from __future__ import annotations

from typing import Any

import pytest

from app.context import DEPS_KEY, deps
from app.domain.markers import find_marker
from app.job_args import GenerateCode, WriteSpec
from app.render.map_comment import read_map_state
from jobs.worker import run_job
from tests.support.spec import SHOP, approve, mapped_issue, spec_pulls


@pytest.fixture
async def story(github: Any, core_deps: Any) -> dict[str, Any]:
    """A mapped issue whose spec PR the write_spec job opened (jobs called directly, no web service)."""
    ctx = {DEPS_KEY: core_deps}
    installation_id = github.installation_for(github.repo(SHOP)).id
    issue = mapped_issue(github)
    await run_job(deps(ctx), WriteSpec(installation_id=installation_id, repo=SHOP, number=issue,
                                       actor="alice", regenerate=False))
    (pull,) = spec_pulls(github, issue)
    return {"ctx": ctx, "installation_id": installation_id, "issue": issue, "number": pull.number}


def map_body(github: Any, issue: int) -> str:
    (comment,) = [c for c in github.comments(SHOP, issue) if find_marker(c.body, "map") is not None]
    return str(comment.body)


async def run_generate_code(story: dict[str, Any], delivery: str) -> dict[str, Any]:
    return await run_job(deps(story["ctx"]), GenerateCode(installation_id=story["installation_id"], repo=SHOP,
                                                          number=story["number"], sha=None))


async def test_the_map_sends_reviewers_to_the_spec_pr_once_it_exists(github: Any, story: dict[str, Any]) -> None:
    body = map_body(github, story["issue"])
    pr_url = f"{github.web_url}/{SHOP}/pull/{story['number']}"
    assert f"The spec is in [#{story['number']}]({pr_url}) — review and approve it there." in body
    assert "opens the spec pull request next" not in body


async def test_after_approval_the_map_names_the_approver_and_the_next_steps(
    github: Any, story: dict[str, Any]
) -> None:
    head = github.pull(SHOP, story["number"]).head_sha
    await approve(github, story)
    body = map_body(github, story["issue"])
    assert f"is approved by @bob on `{head[:7]}`; next: code, then QA." in body
    assert "review and approve it there" not in body


async def test_code_generation_that_cannot_run_shows_in_the_chain_with_its_check_run(
    github: Any, story: dict[str, Any]
) -> None:
    head = github.pull(SHOP, story["number"]).head_sha
    await approve(github, story)
    first = await run_generate_code(story, "d-code-1")
    (check,) = github.check_runs(SHOP, head_sha=head, name="specloop/code")
    run_url = f"{github.web_url}/{SHOP}/runs/{check.id}"
    status = read_map_state(map_body(github, story["issue"])).status  # type: ignore[union-attr]
    assert first["status"] == "refused" and "ANTHROPIC_API_KEY" in first["reason"]
    assert (check.conclusion, check.output["title"]) == ("neutral", "Code generation could not run")
    assert (status.code_state, status.code_url) == ("could not run", run_url)
    assert f"💻 code: [could not run]({run_url})" in map_body(github, story["issue"])