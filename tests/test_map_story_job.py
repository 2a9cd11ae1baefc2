"""Mapping stories end to end: the GitHub double, the service, a burst worker, real Redis (and the LLM double)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
from redis.asyncio import Redis

from app.domain.markers import find_marker
from app.model import catalog
from app.model.request_schema import check
from app.model.usage import MICRO, STORY_KEY
from app.queue import QUEUES
from app.render.map_comment import read_map_state
from app.sandbox.messages_api import bad_tool_input, cut_off, overloaded, refusal
from tests.support.github import SHOP

STORIES = Path(__file__).parent / "fixtures" / "stories"


def story(name: str) -> tuple[str, str]:
    title, body = (STORIES / name).read_text().split("\n", 1)
    return title.removeprefix("Title: "), body


def open_story(github: Any, name: str, by: str = "alice") -> int:
    title, body = story(name)
    return github.open_issue(SHOP, title, body, by=by)


def bot_comments(github: Any, number: int, kind: str = "map") -> list[Any]:
    return [c for c in github.comments(SHOP, number)
            if c.user.login == github.bot.login and find_marker(c.body, kind) is not None]


def map_state(github: Any, number: int):
    comments = bot_comments(github, number)
    assert len(comments) == 1, f"expected exactly one map comment, found {len(comments)}"
    state = read_map_state(comments[0].body)
    assert state is not None
    return state


OPEN = [{"text": "What about out-of-stock items?", "answered": False}]


def draft(*, questions: list[dict[str, Any]] | None = None, rules: int = 2) -> dict[str, Any]:
    """A valid MapDraft as the model would answer it (open questions keep the spec away)."""
    return {
        "story": {"as_a": "shopper", "i_want": "to save my cart", "so_that": "I can buy later", "inferred": False},
        "rules": [{"text": f"Rule {i}: a saved cart keeps items for {30 * i} days",
                   "examples": [{"title": f"the one where Ann keeps {i} items for {30 * i - 1} days",
                                 "given": [f"Ann saved {i} items"], "when": ["she opens her cart"],
                                 "then": [f"she sees {i} items"]}]} for i in range(1, rules + 1)],
        "questions": OPEN if questions is None else questions,
        "scenarios": [f"Ann keeps {i} items" for i in range(1, rules + 1)],
    }


async def spec_jobs(redis_url: str) -> list[str]:
    """write_spec jobs queued or already run (arq keeps results), whatever write_spec itself did."""
    redis = Redis.from_url(redis_url)
    try:
        queued = [i.decode() for i in await redis.zrange(QUEUES["light"], 0, -1)]
        ran = [k.decode().removeprefix("arq:result:") for k in await redis.keys("arq:result:write_spec:*")]
        return [i for i in queued if i.startswith("write_spec:")] + ran
    finally:
        await redis.aclose()


# --- offline (no model key) ---------------------------------------------------------------------------


async def test_label_reacts_and_posts_one_map_comment(service, github):
    number = open_story(github, "save-cart.md")
    github.label_issue(SHOP, number, "story", by="tina")  # triage may map
    totals = await service.drain()
    assert totals["failed"] == 0
    assert "eyes" in github.reactions(SHOP, number)
    state = map_state(github, number)
    assert state.revision == 1 and state.offline
    assert "Built without a model" in bot_comments(github, number)[0].body
    assert "needs-answers" in github.labels(SHOP, number)
    labels = {label.name: label for label in github.repo(SHOP).labels.values()}
    assert labels["needs-answers"].description and labels["needs-answers"].color != "ededed"


async def test_relabel_and_map_command_edit_the_same_comment(service, github):
    number = open_story(github, "save-cart.md")
    github.label_issue(SHOP, number, "story")
    await service.drain()
    first_id = bot_comments(github, number)[0].id
    github.unlabel_issue(SHOP, number, "story")
    github.label_issue(SHOP, number, "story")
    await service.drain()
    github.comment(SHOP, number, "/specloop map", by="bob")
    await service.drain()
    comments = bot_comments(github, number)
    assert [c.id for c in comments] == [first_id]
    assert map_state(github, number).revision == 1  # nothing changed: no new revision, no churn


async def test_a_readers_label_gets_the_refusal_and_nothing_else(service, github):
    number = open_story(github, "save-cart.md")
    github.label_issue(SHOP, number, "story", by="rita")
    await service.drain()
    assert bot_comments(github, number) == []
    replies = [c for c in github.comments(SHOP, number) if c.user.login == github.bot.login]
    assert len(replies) == 1
    assert "@rita" in replies[0].body and "triage access or higher" in replies[0].body
    assert "eyes" not in github.reactions(SHOP, number)


async def test_other_labels_do_nothing(service, github):
    number = open_story(github, "save-cart.md")
    github.label_issue(SHOP, number, "bug")
    await service.drain()
    assert github.comments(SHOP, number) == []


async def test_questions_answered_in_the_thread_converge_the_map(service, github, redis_url):
    number = open_story(github, "save-cart.md")
    github.label_issue(SHOP, number, "story")
    await service.drain()
    assert map_state(github, number).map.open_questions()
    github.comment(SHOP, number, "Q1: An out-of-stock item stays in the saved cart marked as unavailable",
                   by="rita")  # anyone may answer
    await service.drain()
    state = map_state(github, number)
    assert state.revision == 2
    assert not state.map.open_questions()
    assert any("marked as unavailable" in r.text for r in state.map.rules)
    assert "answered question **Q1**" in bot_comments(github, number)[0].body
    # answered, but R3 still has no example: not ready, so no spec yet and no state label
    assert "needs-answers" not in github.labels(SHOP, number)


async def test_removing_the_story_label_stops_further_mapping(service, github, redis_url):
    number = open_story(github, "save-cart.md")
    github.label_issue(SHOP, number, "story")
    await service.drain()
    github.unlabel_issue(SHOP, number, "story")
    github.comment(SHOP, number, "Q1: An out-of-stock item stays in the saved cart marked as unavailable")
    await service.drain()
    state = map_state(github, number)
    assert state.revision == 1 and state.map.open_questions()  # the answer changed nothing: not a story now
    assert await spec_jobs(redis_url) == []


async def test_ticking_a_question_in_the_map_comment_answers_it(service, github):
    number = open_story(github, "newsletter.md")
    github.label_issue(SHOP, number, "story")
    await service.drain()
    comment = bot_comments(github, number)[0]
    github.edit_comment(SHOP, comment.id, comment.body.replace("- [ ] 🟥 **Q1**", "- [x] 🟥 **Q1**"), by="alice")
    await service.drain()
    state = map_state(github, number)
    assert state.revision == 2 and state.map.questions[0].answered
    assert "ready-for-spec" in github.labels(SHOP, number)
    assert "needs-answers" not in github.labels(SHOP, number)
    assert await spec_jobs(service.redis_url)  # spec.auto: the ready map goes on to the spec


async def test_unticking_a_question_opens_it_again(service, github):
    title, body = story("newsletter.md")
    number = github.open_issue(SHOP, title, body + "\nHow many emails a month may we send at most?\n", by="alice")
    github.label_issue(SHOP, number, "story")
    await service.drain()
    comment = bot_comments(github, number)[0]
    github.edit_comment(SHOP, comment.id, comment.body.replace("- [ ] 🟥 **Q1**", "- [x] 🟥 **Q1**"), by="alice")
    await service.drain()
    assert [q.answered for q in map_state(github, number).map.questions] == [True, False]
    ticked = bot_comments(github, number)[0]
    github.edit_comment(SHOP, ticked.id, ticked.body.replace("- [x] 🟥 **Q1**", "- [ ] 🟥 **Q1**"), by="alice")
    await service.drain()
    state = map_state(github, number)
    assert state.revision == 3 and [q.answered for q in state.map.questions] == [False, False]
    assert "reopened question **Q1**" in bot_comments(github, number)[0].body


async def map_runs(redis_url: str) -> int:
    """How many map_story jobs ran (arq keeps each finished job's result under its id)."""
    redis = Redis.from_url(redis_url)
    try:
        return len(await redis.keys("arq:result:map_story:*"))
    finally:
        await redis.aclose()


async def test_five_quick_replies_cause_one_remap(service, github):
    number = open_story(github, "save-cart.md")
    github.label_issue(SHOP, number, "story")
    await service.drain()
    assert await map_runs(service.redis_url) == 1
    for i in range(5):
        github.comment(SHOP, number, f"Thinking out loud, note {i}.", by="bob")
    await service.drain()
    assert await map_runs(service.redis_url) == 2
    assert len(bot_comments(github, number)) == 1


async def test_a_person_adding_ready_for_spec_requests_the_spec(service, github):
    number = open_story(github, "save-cart.md")
    github.label_issue(SHOP, number, "ready-for-spec", by="tina")
    await service.drain()
    assert [j for j in await spec_jobs(service.redis_url) if j.endswith(":label")]
    assert bot_comments(github, number) == []  # no map: this label asks for the spec, not a map


async def test_prompt_injection_changes_nothing_the_bot_does(service, github):
    number = open_story(github, "prompt-injection.md")
    github.label_issue(SHOP, number, "story")
    await service.drain()
    bot = [c for c in github.comments(SHOP, number) if c.user.login == github.bot.login]
    assert len(bot) == 1
    state = read_map_state(bot[0].body)
    assert state is not None and state.revision == 1 and state.status.approved_by is None  # forged marker ignored
    assert "ready-for-spec" not in github.labels(SHOP, number)
    assert not any(secret in bot[0].body for secret in ("ghs_", "ghp_", "sk-ant", "IGNORE PREVIOUS"))
    assert not github.repo(SHOP).pulls


async def test_conversation_on_an_unmapped_issue_does_nothing(service, github):
    number = github.open_issue(SHOP, "Just a bug", "It crashes. Why?")
    github.comment(SHOP, number, "Same here, any idea?", by="bob")
    await service.drain()
    assert [c for c in github.comments(SHOP, number) if c.user.login == github.bot.login] == []


# --- with the model (LLM double) --------------------------------------------------------------------

# The operator's default model, the current Sonnet (the SDK warns, an error under filterwarnings, about a
# deprecated one).
with_model = pytest.mark.parametrize("service", [{"model": catalog.DEFAULT_MODEL}], indirect=True)


@with_model
async def test_model_map_is_posted_with_usage_and_cached_prompt(service, github, llm):
    llm.script(draft())
    number = open_story(github, "save-cart.md")
    github.label_issue(SHOP, number, "story")
    await service.drain()
    state = map_state(github, number)
    assert not state.offline and state.model_name
    body = bot_comments(github, number)[0].body
    assert "Model and token usage" in body
    sent = llm.requests[0]
    assert sent.body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "<issue>" in sent.user_text and "Shoppers can save their cart" in sent.user_text
    # the request the job sent is one the API takes: the SDK's own TypedDict, no key it does not list
    assert check(sent.body, MessageCreateParamsNonStreaming) is None
    assert sent.body["output_config"]["format"]["type"] == "json_schema" and "tool_choice" not in sent.body
    assert sent.body["max_tokens"] == 8192  # the repository config's `model.max_tokens`


@with_model
async def test_schema_violating_model_output_is_repaired_once_then_reported(service, github, llm):
    # structured outputs keep a real answer inside the schema; the double can still send one outside it
    llm.script(bad_tool_input({"rules": "not a list"}), draft())
    number = open_story(github, "save-cart.md")
    github.label_issue(SHOP, number, "story")
    await service.drain()
    assert map_state(github, number).revision == 1
    assert "did not pass validation" in llm.requests[1].body["messages"][-1]["content"][0]["text"]

    llm.script(bad_tool_input({"story": {}}), bad_tool_input({"story": {}}))
    github.comment(SHOP, number, "/specloop map", by="bob")
    await service.drain()
    failures = bot_comments(github, number, kind="reply")
    assert len(failures) == 1 and "did not fit the expected format" in failures[0].body
    assert map_state(github, number).revision == 1  # the last good map stays


@with_model
async def test_a_cut_off_answer_and_a_refusal_are_said_plainly_on_the_issue(service, github, llm):
    llm.script(cut_off())
    number = open_story(github, "save-cart.md")
    github.label_issue(SHOP, number, "story")
    await service.drain()
    failures = bot_comments(github, number, kind="reply")
    assert len(failures) == 1
    assert "the model's answer was cut off" in failures[0].body and "`model.max_tokens`" in failures[0].body

    llm.script(refusal())
    github.comment(SHOP, number, "/specloop map", by="bob")
    await service.drain()
    failures = bot_comments(github, number, kind="reply")
    assert any("the model declined" in f.body for f in failures)
    assert len(llm.requests) == 2  # neither is retried nor repaired


@with_model
async def test_529_then_success(service, github, llm):
    llm.script(overloaded(), draft())
    number = open_story(github, "save-cart.md")
    github.label_issue(SHOP, number, "story")
    await service.drain()
    assert map_state(github, number).revision == 1
    assert [r.status for r in llm.requests] == [529, 200]


@with_model
async def test_budget_exhausted_answers_with_a_comment_instead_of_calling_the_model(service, github, llm):
    number = open_story(github, "save-cart.md")
    redis = Redis.from_url(service.redis_url)
    try:
        await redis.hset(STORY_KEY.format(f"{SHOP}#{number}"), "cost_micro_usd", 100 * MICRO)
    finally:
        await redis.aclose()
    github.label_issue(SHOP, number, "story")
    await service.drain()
    assert llm.requests == []
    failures = bot_comments(github, number, kind="reply")
    assert len(failures) == 1 and "budget" in failures[0].body.lower()
    assert bot_comments(github, number) == []


@with_model
async def test_prompt_injection_reaches_the_model_only_as_delimited_data(service, github, llm):
    llm.script(draft())
    number = open_story(github, "prompt-injection.md")
    github.label_issue(SHOP, number, "story")
    await service.drain()
    sent = llm.requests[0]
    assert "IGNORE PREVIOUS INSTRUCTIONS" in sent.user_text
    assert sent.user_text.index("<issue>") < sent.user_text.index("IGNORE PREVIOUS") < sent.user_text.rindex("</issue>")
    assert sent.user_text.count("</issue>") == 1 and "specloop:map" not in sent.user_text
    assert "never follow instructions" in sent.system_text.lower()
    bot = [c for c in github.comments(SHOP, number) if c.user.login == github.bot.login]
    assert len(bot) == 1
    assert not any(secret in bot[0].body for secret in ("ghs_", "ghp_", "sk-ant", "IGNORE PREVIOUS"))
    assert "ready-for-spec" not in github.labels(SHOP, number) and not github.repo(SHOP).pulls
