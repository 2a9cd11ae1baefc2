"""Every model-backed job sends requests the real API takes: captured from the jobs run by the service
(map_story, write_spec's feature writer, revise_spec) and checked against the SDK's own
`MessageCreateParams` with unknown keys refused, each with its job's `max_tokens` and structured outputs."""

from __future__ import annotations

from typing import Any

from anthropic import transform_schema
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming

from app.model import catalog
from app.model.prompts import MapDraft
from app.model.request_schema import check
from app.model.spec_prompts import FEATURE_MAX_TOKENS, REVISION_MAX_TOKENS, FeatureDraft, FeatureRevision
from tests.support.spec import PATH, SHOP, mapped_issue, spec_pulls
from tests.test_map_story_job import draft, open_story
from tests.test_spec_revision import GOOD


def job_of(request: Any) -> str:
    system = request.system_text
    if "Example Mapping session" in system:
        return "map_story"
    if "You write executable specifications" in system:
        return "write_spec"
    if "You revise an executable specification" in system:
        return "revise_spec"
    return "?"


async def test_requests_from_every_model_backed_job_fit_the_sdks_message_create_params(
    github: Any, llm: Any, service: Any
) -> None:
    # map_story with the model
    llm.script(draft())  # an open question: no spec is written for this one automatically
    number = open_story(github, "save-cart.md")
    github.label_issue(SHOP, number, "story")
    assert (await service.drain())["failed"] == 0
    # write_spec's feature writer, then a revision asked for on the PR
    llm.script({"feature": GOOD})
    issue = mapped_issue(github)
    github.comment(SHOP, issue, "/specloop spec", by="alice")
    assert (await service.drain())["failed"] == 0
    (pull,) = spec_pulls(github, issue)
    github.submit_review(SHOP, pull.number, "COMMENTED", by="bob",
                         comments=[{"path": PATH, "line": 6, "body": "Say Welcome, Ana Lima"}])
    assert (await service.drain())["failed"] == 0
    llm.script({"feature": GOOD.replace("Welcome, Ana", "Welcome, Ana Lima"),
                "answers": ["Greets by full name"], "summary": "Full name greeting."})
    github.comment(SHOP, pull.number, "/specloop revise", by="bob")
    assert (await service.drain())["failed"] == 0

    by_job = {job_of(r): r for r in llm.requests}
    assert sorted(by_job) == ["map_story", "revise_spec", "write_spec"] and len(llm.requests) == 3
    for job, request in by_job.items():
        assert request.status == 200, job
        assert check(request.body, MessageCreateParamsNonStreaming) is None, job
        assert request.body["model"] == catalog.DEFAULT_MODEL
        assert "tools" not in request.body and "tool_choice" not in request.body  # structured outputs
    expected = {"map_story": (MapDraft, 8192), "write_spec": (FeatureDraft, FEATURE_MAX_TOKENS),
                "revise_spec": (FeatureRevision, REVISION_MAX_TOKENS)}
    for job, (schema, max_tokens) in expected.items():
        body = by_job[job].body
        assert body["max_tokens"] == max_tokens, job
        assert body["output_config"] == {"format": {"type": "json_schema", "schema": transform_schema(schema)}}


async def test_a_repository_that_raises_model_max_tokens_raises_the_spec_calls_budget_too(
    github: Any, llm: Any, service: Any
) -> None:
    # the advice a cut-off answer gives ("raise `model.max_tokens`") must reach the spec writer as well
    raised = FEATURE_MAX_TOKENS + 8_000
    github.push_files(SHOP, "main", {".github/specloop.yml": f"model:\n  max_tokens: {raised}\n"}, by="alice")
    llm.script({"feature": GOOD})
    issue = mapped_issue(github)
    github.comment(SHOP, issue, "/specloop spec", by="alice")
    assert (await service.drain())["failed"] == 0
    [request] = [r for r in llm.requests if job_of(r) == "write_spec"]
    limit = catalog.lookup(catalog.DEFAULT_MODEL).max_output
    assert request.body["max_tokens"] == min(raised, limit)
