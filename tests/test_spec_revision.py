"""The model-backed spec: written from the map with one parser-guided repair, revised from reviews."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from app.context import DEPS_KEY, deps
from app.domain.gherkin import ParsedFeature, parse_feature
from app.job_args import ReviseSpec, WriteSpec
from app.model.client import ModelClient
from app.render.spec_pr import NEEDS_MODEL
from jobs.worker import run_job
from tests.support.service import settings_for
from tests.support.spec import PATH, SHOP, mapped_issue, spec_check, spec_pulls

GOOD = """\
Feature: Sign in with email
  Rule: A correct password signs you in
    Example: the one where Ana uses s3cret
      Given I am on "/login"
      When I press "Sign in"
      Then I should see "Welcome, Ana"
"""
BROKEN = "Feature: Sign in\n  Scenario: x\n    Given a\n    | a | b |\n    | c |\n"


@pytest.fixture
async def model_deps(
    core_deps: Any, llm: Any, github: Any, redis_url: str, tmp_path: Path
) -> AsyncIterator[Any]:
    """The jobs' Deps with a real model client talking to the LLM double."""
    settings = settings_for(
        github,
        redis_url,
        tmp_path / "model",
        anthropic_api_key="sk-ant-test",
        anthropic_base_url=llm.base_url,
        model="claude-sonnet-4-6",
    )
    model = ModelClient.from_settings(settings, core_deps.redis)
    yield replace(core_deps, settings=settings, model=model)
    await model.close()


def installation(github: Any) -> int:
    return int(github.installation_for(github.repo(SHOP)).id)


async def test_the_model_writes_the_spec_and_a_broken_file_is_repaired_once_with_the_errors(
    github: Any, llm: Any, model_deps: Any
) -> None:
    llm.script({"feature": BROKEN}, {"feature": GOOD})
    issue = mapped_issue(github)
    result = await run_job(model_deps, WriteSpec(installation_id=installation(github),
                                                                   repo=SHOP, number=issue, actor="alice"))
    assert result["status"] == "written"
    (pull,) = spec_pulls(github, issue)
    text = github.file(SHOP, PATH, ref=pull.head_ref)
    assert isinstance(parse_feature(text, PATH), ParsedFeature)
    assert text.startswith(f"@issue-{issue}\n")  # the issue tag is added when the model leaves it out
    assert len(llm.answered) == 2
    assert (
        "inconsistent cell count" in llm.answered[1].user_text and "line 6:5" in llm.answered[1].user_text
    )  # the tagged file


async def test_a_model_file_that_still_does_not_parse_is_reported_on_the_issue(
    github: Any, llm: Any, model_deps: Any
) -> None:
    llm.script({"feature": BROKEN}, {"feature": BROKEN})
    issue = mapped_issue(github)
    result = await run_job(model_deps, WriteSpec(installation_id=installation(github),
                                                                   repo=SHOP, number=issue, actor="alice"))
    assert result["status"] == "invalid feature"
    assert spec_pulls(github, issue) == []
    assert any(
        "did not parse" in c.body and "inconsistent cell count" in c.body
        for c in github.comments(SHOP, issue)
    )


async def written_pr(github: Any, llm: Any, model_deps: Any) -> Any:
    llm.script({"feature": GOOD})
    issue = mapped_issue(github)
    await run_job(model_deps, WriteSpec(installation_id=installation(github), repo=SHOP,
                                                          number=issue, actor="alice"))
    (pull,) = spec_pulls(github, issue)
    return pull


async def test_changes_requested_lead_to_one_revision_commit_that_answers_them(
    github: Any, llm: Any, model_deps: Any
) -> None:
    pull = await written_pr(github, llm, model_deps)
    before = pull.head_sha
    review_id = github.submit_review(
        SHOP,
        pull.number,
        "REQUEST_CHANGES",
        by="bob",
        body="Greet by full name",
        comments=[{"path": PATH, "line": 6, "body": "Say Welcome, Ana Lima"}],
    )
    revised = GOOD.replace("Welcome, Ana", "Welcome, Ana Lima")
    llm.script(
        {"feature": revised, "answers": ["Greets by full name", "Done"], "summary": "Full name greeting."}
    )
    ctx = {DEPS_KEY: model_deps}
    for _ in range(2):  # the same request twice, as with "d-review" and "d-review-again"  # the second run finds the revision commit and stops
        await run_job(deps(ctx), ReviseSpec(installation_id=installation(github), repo=SHOP,
                                            number=pull.number, actor="bob", review_id=review_id))
    head = github.pull(SHOP, pull.number).head_sha
    assert len(github.repo(SHOP).git.log(f"{before}..{head}")) == 1
    assert "Welcome, Ana Lima" in github.file(SHOP, PATH, ref=pull.head_ref)
    assert (
        "Say Welcome, Ana Lima" in llm.answered[-1].user_text
        and "Greet by full name" in llm.answered[-1].user_text
    )
    assert spec_check(github, head).conclusion == "action_required"
    replies = [c.body for c in github.comments(SHOP, pull.number) if "to answer the review" in c.body]
    assert len(replies) == 1 and "Greets by full name" in replies[0]


async def test_without_a_model_a_revision_request_gets_a_clear_reply(github: Any, core_deps: Any) -> None:
    issue = mapped_issue(github)
    ctx = {DEPS_KEY: core_deps}
    await run_job(deps(ctx), WriteSpec(installation_id=installation(github), repo=SHOP, number=issue,
                                       actor="alice"))
    (pull,) = spec_pulls(github, issue)
    review_id = github.submit_review(SHOP, pull.number, "REQUEST_CHANGES", by="bob", body="Rename the rule")
    result = await run_job(deps(ctx), ReviseSpec(installation_id=installation(github), repo=SHOP,
                                                 number=pull.number, actor="bob", review_id=review_id))
    assert result["status"] == "needs a model"
    assert github.pull(SHOP, pull.number).head_sha == pull.head_sha
    assert any(NEEDS_MODEL in c.body for c in github.comments(SHOP, pull.number))


async def test_a_revise_command_on_the_pr_answers_the_review_comments_in_one_commit(
    github: Any, llm: Any, service: Any
) -> None:
    # the service runs with a model key (the llm fixture): the spec and its revision come from the model
    llm.script({"feature": GOOD})
    issue = mapped_issue(github)
    github.comment(SHOP, issue, "/specloop spec", by="alice")
    assert (await service.drain())["failed"] == 0
    (pull,) = spec_pulls(github, issue)
    before = pull.head_sha  # the double's pull object is live: keep the SHA the spec was written at
    # a plain review comment revises nothing by itself; the command asks for it
    github.submit_review(SHOP, pull.number, "COMMENTED", by="bob",
                         comments=[{"path": PATH, "line": 6, "body": "Say Welcome, Ana Lima"}])
    assert (await service.drain())["failed"] == 0
    assert github.pull(SHOP, pull.number).head_sha == before
    llm.script({"feature": GOOD.replace("Welcome, Ana", "Welcome, Ana Lima"),
                "answers": ["Greets by full name"], "summary": "Full name greeting."})
    github.comment(SHOP, pull.number, "/specloop revise", by="bob")
    assert (await service.drain())["failed"] == 0
    head = github.pull(SHOP, pull.number).head_sha
    assert len(github.repo(SHOP).git.log(f"{before}..{head}")) == 1
    assert "Welcome, Ana Lima" in github.file(SHOP, PATH, ref=pull.head_ref)
    assert "Say Welcome, Ana Lima" in llm.answered[-1].user_text
