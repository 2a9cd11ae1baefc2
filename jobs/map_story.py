"""The `map_story` job: read the issue as a story, build its example map, and keep the one map comment current.

Triggers: the story label (maps at once, after an eyes reaction), `/specloop map`, and the conversation
(replies, body edits, ticks in the map comment; debounced by the queue). The `ready-for-spec` label added
by a person enqueues `write_spec` instead. Everything is re-read from GitHub, so the job is idempotent:
the map comment is found by its marker and edited in place, labels change only when the state does.
"""

from __future__ import annotations

import logging
from typing import Any

from app.comments import (
    ensure_labels,
    find_comment,
    list_comments,
    react,
    set_state_labels,
    upsert_comment,
)
from app.context import deps
from app.domain.example_map import ExampleMap, Readiness
from app.domain.map_revision import apply_answers, revise
from app.domain.offline_mapper import build_map, suggest_split, ticked_question_ids, unticked_question_ids
from app.domain.story import Comment, read_story
from app.model.client import BudgetExceeded, ModelError
from app.model.mapper import model_map
from app.model.usage import Budget
from app.permissions import describe, may, role_of
from app.queue import JobRequest, enqueue, story_of
from app.render import replies
from app.render.map_comment import KIND, MapState, read_map_state, render_map_comment
from app.render.markers import has_marker
from app.repo_config import RepoConfig, load_repo_config

log = logging.getLogger(__name__)


def _comments_as_thread(raw: list[dict[str, Any]], bot_login: str) -> list[Comment]:
    """The people's comments (the bot's own and other bots' are not part of the discussion)."""
    thread = []
    for item in raw:
        user = item.get("user") or {}
        login = str(user.get("login") or "")
        is_bot = login.lower() == bot_login.lower() or user.get("type") == "Bot" or has_marker(item.get("body"), KIND)
        thread.append(Comment(author=login, body=str(item.get("body") or ""), id=item.get("id"), is_bot=is_bot))
    return thread


async def _refuse(gh: Any, repo: str, number: int, actor: str, action: str, config: RepoConfig) -> dict[str, str]:
    body = replies.refusal(actor, action, describe(action, config.permission_table))
    await gh.arequest("POST", f"/repos/{repo}/issues/{number}/comments", json={"body": body})
    return {"status": "refused"}


async def map_story(ctx: dict[str, Any], *, installation_id: int, repo: str, number: int, actor: str | None,
                    trigger: str, delivery: str | None = None, label: str | None = None) -> dict[str, Any]:
    """Map (or re-map) issue `number` of `repo` as a story; see the module docstring."""
    d = deps(ctx)
    gh = d.github.installation(int(installation_id))
    owner, name = repo.split("/", 1)
    bot_login = d.settings.bot_login
    issue = (await gh.arequest("GET", f"/repos/{repo}/issues/{number}")).json()
    if issue.get("pull_request") or str(issue.get("state", "open")) != "open":
        return {"status": "ignored", "reason": "not an open issue"}
    config = await load_repo_config(gh, owner, name)
    labels = [str(item["name"]) for item in issue.get("labels") or [] if isinstance(item, dict)]
    story_label = config.labels.story

    if trigger == "label":
        if label is not None and label.lower() == config.labels.ready_for_spec.lower():
            return await _ready_label(d, repo, number, actor, delivery, installation_id)
        if label is None or label.lower() != story_label.lower():
            return {"status": "ignored", "reason": f"label {label!r} is not the story label"}
        # Labels carry no permission in the handler (the label name is config); check here.
        if actor and not may(await role_of(gh, owner, name, actor), "map", config.permission_table):
            return await _refuse(gh, repo, number, actor, "map", config)
        await react(gh, repo, number, "eyes")

    raw_comments = await list_comments(gh, repo, number)
    found = await find_comment(gh, repo, number, KIND, bot_login=bot_login, comments=raw_comments)
    state = read_map_state(found.body) if found else None
    if trigger == "conversation" and (found is None or story_label.lower() not in {x.lower() for x in labels}):
        return {"status": "ignored", "reason": "not a mapped story"}

    thread = _comments_as_thread(raw_comments, bot_login)
    story = read_story(number, str(issue.get("title") or ""), issue.get("body"), thread)
    ticked = ticked_question_ids(found.body if found else None)
    # answered questions a person unticked in the comment (the bot renders answered ones ticked)
    unticked = unticked_question_ids(found.body if found else None) & {
        q.id for q in (state.map.questions if state and state.map else []) if q.answered}
    max_rules = config.map.max_rules
    previous = state.map if state else None

    usage: Any = None
    model_name: str | None = None
    try:
        if d.model is not None:
            model_name = config.model.name or d.model.model
            budget = Budget(story_cap_usd=config.budget.story_usd, daily_usd=config.budget.installation_daily_usd)
            new_map, usage = await model_map(
                d.model, story, previous=previous, ticked=ticked, max_rules=max_rules,
                story=story_of(repo, number), installation_id=int(installation_id),
                max_tokens=config.model.max_tokens, model_name=model_name, budget=budget,
            )
            # A tick is a person's explicit "resolved": honour it whatever the model made of it.
            new_map = _apply_ticks(new_map, previous, ticked)
        else:
            new_map = build_map(story, previous=previous, ticked=ticked, max_rules=max_rules)
    except (ModelError, BudgetExceeded) as error:
        log.warning("mapping failed", extra={"error": str(error)[:300]})
        body = replies.map_failed(str(error), budget=isinstance(error, BudgetExceeded), has_map=found is not None)
        await upsert_comment(gh, repo, number, "reply", body, bot_login=bot_login, match={"kind": "map_failed"})
        return {"status": "model failed", "reason": str(error)}

    if len(new_map.rules) > max_rules and not new_map.split_suggestion:
        new_map.split_suggestion = suggest_split(new_map, max_rules)
    result = _revise(state, new_map, reopened=unticked)
    readiness = result.map.readiness(max_rules)
    status = state.status if state else None
    body = render_map_comment(
        result.map, revision=result.revision, changes=result.changes, status=status, readiness=readiness,
        max_rules=max_rules, usage=usage, model_name=model_name, offline=d.model is None, counters=result.counters, auto_spec=config.spec.auto,
    )
    comment = await upsert_comment(gh, repo, number, KIND, body, bot_login=bot_login, existing=found)
    # An earlier "could not update the map" reply is stale now; remove it rather than leave noise.
    stale = await find_comment(gh, repo, number, "reply", bot_login=bot_login, match={"kind": "map_failed"},
                               comments=raw_comments)
    if stale is not None:
        await gh.arequest("DELETE", f"/repos/{repo}/issues/comments/{stale.id}")
    await _sync_labels(gh, repo, number, config, readiness, labels, add_story=trigger == "command")
    queued = await _maybe_write_spec(d, repo, number, actor, delivery, installation_id, config, readiness,
                                     state, result.changes)
    return {"status": "mapped", "revision": result.revision, "readiness": readiness.value,
            "comment_id": comment.id, "write_spec": queued}


def _apply_ticks(new_map: ExampleMap, previous: ExampleMap | None, ticked: set[str]) -> ExampleMap:
    """Questions ticked in the comment are answered, matched through the previous revision's text."""
    if not ticked or previous is None:
        return new_map
    from app.domain.map_revision import similarity

    answers: dict[str, str] = {}
    for old in previous.questions:
        if old.id not in ticked:
            continue
        best = max(new_map.questions, key=lambda q: similarity(q.text, old.text), default=None)
        if best is not None and similarity(best.text, old.text) >= 0.6:
            answers[best.id] = best.answer or old.answer or ""
    result = apply_answers(new_map, answers)
    for question in result.questions:
        if question.answered and not question.answer:
            question.answer = None
    return result


def _revise(state: MapState | None, new_map: ExampleMap, *, reopened: set[str]) -> Any:
    """Stable ids and changes; an unchanged map keeps its revision number (no churn in the thread)."""
    if state is None or state.map is None:
        return revise(None, new_map)
    result = revise(state.map, new_map, previous_revision=state.revision, counters=state.counters,
                    reopened=reopened)
    if not result.changes and result.map == state.map:
        result.revision = state.revision
        result.changes = state.changes
    return result


async def _sync_labels(gh: Any, repo: str, number: int, config: RepoConfig, readiness: Readiness,
                       current: list[str], *, add_story: bool) -> None:
    """`needs-answers` while questions are open, `ready-for-spec` when ready (labels created when missing)."""
    names = config.labels
    wanted = []
    if readiness is Readiness.OPEN_QUESTIONS:
        wanted.append(names.needs_answers)
    elif readiness is Readiness.READY:
        wanted.append(names.ready_for_spec)
    if add_story:
        wanted.append(names.story)
    needed = [entry for entry in names.all() if entry[0] in wanted]
    if needed:
        await ensure_labels(gh, repo, needed)
    await set_state_labels(gh, repo, number, wanted=wanted, managed=[names.needs_answers, names.ready_for_spec],
                           current=current)


def _write_spec_request(repo: str, number: int, actor: str | None, delivery: str | None, installation_id: int,
                        *, permission: str | None, key: str | None = None) -> JobRequest:
    return JobRequest(function="write_spec", queue="light", story=story_of(repo, number), permission=permission,
                      key=key, kwargs={"installation_id": int(installation_id), "repo": repo, "number": number,
                                       "actor": actor, "regenerate": False, "delivery": delivery})


async def _maybe_write_spec(d: Any, repo: str, number: int, actor: str | None, delivery: str | None,
                            installation_id: int, config: RepoConfig, readiness: Readiness,
                            state: MapState | None, changes: list[Any]) -> bool:
    """With `spec.auto`, a ready map goes on to the spec: first time, or when the map changed since."""
    if not config.spec.auto or readiness is not Readiness.READY:
        return False
    first_spec = state is None or state.status.spec_pr is None
    if not first_spec and not changes:
        return False
    request = _write_spec_request(repo, number, actor, delivery, installation_id, permission=None, key="auto")
    return await enqueue(d.redis, request)


async def _ready_label(d: Any, repo: str, number: int, actor: str | None, delivery: str | None,
                       installation_id: int) -> dict[str, Any]:
    """A person added `ready-for-spec`: write the spec (the worker checks their `spec` permission)."""
    request = _write_spec_request(repo, number, actor, delivery, installation_id, permission="spec", key="label")
    queued = await enqueue(d.redis, request)
    return {"status": "write_spec requested", "write_spec": queued}

