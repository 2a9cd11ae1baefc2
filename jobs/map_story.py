"""The `map_story` job: read the issue as a story, build its example map, and keep the one map comment current.

Triggers: the story label (maps at once, after an eyes reaction), `/specloop map`, and the conversation
(replies, body edits, ticks in the map comment; debounced by the queue). The `ready-for-spec` label added
by a person enqueues `write_spec` instead. Everything is re-read from GitHub, so the job is idempotent:
the map comment is found by its marker and edited in place, labels change only when the state does.
"""

from __future__ import annotations

import logging
from typing import Any

from app.comments import ensure_labels, pick_comment, set_state_labels, upsert_comment
from app.context import Deps, JobScope
from app.domain.example_map import ExampleMap, Readiness
from app.domain.map_revision import Revised, apply_answers, revise, similarity
from app.domain.markers import has_marker
from app.domain.offline_mapper import build_map, suggest_split
from app.domain.story import Comment, StoryStatus, read_story
from app.gh import issues
from app.gh.models import Comment as GitHubComment
from app.gh.repos import collaborator_role
from app.job_args import MapStory, WriteSpec
from app.model.client import BudgetExceeded, ModelError
from app.model.mapper import model_map
from app.model.usage import Budget, Usage
from app.permissions import describe, may
from app.queue import JobRequest, enqueue
from app.render import replies
from app.render.map_comment import KIND, MapState, render_map_comment
from app.repo_config import RepoConfig
from app.story_status import StoryMap, find_map

log = logging.getLogger(__name__)


def _comments_as_thread(raw: list[GitHubComment], bot_login: str) -> list[Comment]:
    """The people's comments (the bot's own and other bots' are not part of the discussion)."""
    thread = []
    for item in raw:
        login = item.user.login if item.user else ""
        is_bot = login.lower() == bot_login.lower() or (item.user is not None and item.user.type == "Bot") \
            or has_marker(item.body, KIND)
        thread.append(Comment(author=login, body=item.body or "", id=item.id, is_bot=is_bot))
    return thread


async def _refuse(scope: JobScope, number: int, actor: str, action: str, config: RepoConfig) -> dict[str, str]:
    body = replies.refusal(actor, action, describe(action, config.permission_table))
    await issues.create_comment(scope.gh, scope.repo, number, body)
    return {"status": "refused"}


async def _build(scope: JobScope, args: MapStory, config: RepoConfig, story: Any, previous: ExampleMap | None,
                 ticked: set[str]) -> tuple[ExampleMap, Usage | None, str | None]:
    """The new map, from the model or (offline) from the issue's structure; (map, usage, model name)."""
    model = scope.deps.model
    max_rules = config.map.max_rules
    if model is None:
        return build_map(story, previous=previous, ticked=ticked, max_rules=max_rules), None, None
    model_name = config.model.name or model.model
    budget = Budget(story_cap_usd=config.budget.story_usd, daily_usd=config.budget.installation_daily_usd)
    new_map, usage = await model_map(
        model, story, previous=previous, ticked=ticked, max_rules=max_rules, story=args.story,
        installation_id=args.installation_id, max_tokens=config.model.max_tokens, model_name=model_name,
        budget=budget,
    )
    # A tick is a person's explicit "resolved": honour it whatever the model made of it.
    return _apply_ticks(new_map, previous, ticked), usage, model_name


async def map_story(scope: JobScope, args: MapStory) -> dict[str, Any]:
    """Map (or re-map) the issue as a story; see the module docstring."""
    gh, repo, number = scope.gh, scope.repo, args.number
    issue = await issues.get_issue(gh, repo, number)
    if issue.pull_request or not issue.is_open:
        return {"status": "ignored", "reason": "not an open issue"}
    config = await scope.config()
    labels = issue.label_names
    story_label = config.labels.story

    if args.trigger == "label":
        label = args.label
        if label is not None and label.lower() == config.labels.ready_for_spec.lower():
            return await _ready_label(scope.deps, args)
        if label is None or label.lower() != story_label.lower():
            return {"status": "ignored", "reason": f"label {label!r} is not the story label"}
        # Labels carry no permission in the handler (the label name is config); check here.
        if args.actor and not may(await collaborator_role(gh, repo, args.actor), "map", config.permission_table):
            return await _refuse(scope, number, args.actor, "map", config)
        await issues.react(gh, repo, number, "eyes")

    raw_comments = await issues.list_comments(gh, repo, number)
    found = await find_map(gh, repo, number, bot_login=scope.bot_login, comments=raw_comments)
    if args.trigger == "conversation" and (found is None or story_label.lower() not in {x.lower() for x in labels}):
        return {"status": "ignored", "reason": "not a mapped story"}

    state = found.state if found else None
    story = read_story(number, issue.title, issue.body, _comments_as_thread(raw_comments, scope.bot_login))
    ticked = state.ticked if state else set()
    # answered questions a person unticked in the comment (the bot renders answered ones ticked)
    unticked = (state.unticked if state else set()) & {
        q.id for q in (state.map.questions if state and state.map else []) if q.answered}
    max_rules = config.map.max_rules
    try:
        new_map, usage, model_name = await _build(scope, args, config, story, state.map if state else None, ticked)
    except (ModelError, BudgetExceeded) as error:
        log.warning("mapping failed", extra={"error": str(error)[:300]})
        body = replies.map_failed(str(error), budget=isinstance(error, BudgetExceeded), has_map=found is not None)
        await upsert_comment(gh, repo, number, "reply", body, bot_login=scope.bot_login, match={"kind": "map_failed"},
                             comments=raw_comments)
        return {"status": "model failed", "reason": str(error)}

    if len(new_map.rules) > max_rules and not new_map.split_suggestion:
        new_map.split_suggestion = suggest_split(new_map, max_rules)
    result = _revise(state, new_map, reopened=unticked)
    readiness = result.map.readiness(max_rules)
    shown = MapState(revision=result.revision, map=result.map, status=state.status if state else StoryStatus(),
                     counters=result.counters, offline=scope.deps.model is None, max_rules=max_rules,
                     usage=usage.as_dict() if usage is not None else None, model_name=model_name,
                     changes=result.changes, auto_spec=config.spec.auto)
    comment = await upsert_comment(gh, repo, number, KIND, render_map_comment(shown, readiness),
                                   bot_login=scope.bot_login, existing=found.comment if found else None,
                                   comments=raw_comments)
    # An earlier "could not update the map" reply is stale now; remove it rather than leave noise.
    stale = pick_comment(raw_comments, "reply", bot_login=scope.bot_login, match={"kind": "map_failed"})
    if stale is not None:
        await issues.delete_comment(gh, repo, stale.id)
    await _sync_labels(scope, number, config, readiness, labels, add_story=args.trigger == "command")
    queued = await _maybe_write_spec(scope.deps, args, config, readiness, found, result.changes)
    return {"status": "mapped", "revision": result.revision, "readiness": readiness.value,
            "comment_id": comment.id, "write_spec": queued}


def _apply_ticks(new_map: ExampleMap, previous: ExampleMap | None, ticked: set[str]) -> ExampleMap:
    """Questions ticked in the comment are answered, matched through the previous revision's text."""
    if not ticked or previous is None:
        return new_map
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


def _revise(state: MapState | None, new_map: ExampleMap, *, reopened: set[str]) -> Revised:
    """Stable ids and changes; an unchanged map keeps its revision number (no churn in the thread)."""
    if state is None or state.map is None:
        return revise(None, new_map)
    result = revise(state.map, new_map, previous_revision=state.revision, counters=state.counters,
                    reopened=reopened)
    if not result.changes and result.map == state.map:
        result.revision = state.revision
        result.changes = state.changes
    return result


async def _sync_labels(scope: JobScope, number: int, config: RepoConfig, readiness: Readiness,
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
        await ensure_labels(scope.gh, scope.repo, needed)
    await set_state_labels(scope.gh, scope.repo, number, wanted=wanted,
                           managed=[names.needs_answers, names.ready_for_spec], current=current)


def _write_spec_request(args: MapStory, *, permission: str | None, key: str) -> JobRequest:
    spec = WriteSpec(installation_id=args.installation_id, repo=args.repo, number=args.number, actor=args.actor)
    return JobRequest.of(spec, permission=permission, key=key)


async def _maybe_write_spec(d: Deps, args: MapStory, config: RepoConfig, readiness: Readiness,
                            found: StoryMap | None, changes: list[Any]) -> bool:
    """With `spec.auto`, a ready map goes on to the spec: first time, or when the map changed since."""
    if not config.spec.auto or readiness is not Readiness.READY:
        return False
    first_spec = found is None or found.state.status.spec_pr is None
    if not first_spec and not changes:
        return False
    return await enqueue(d.redis, _write_spec_request(args, permission=None, key="auto"))


async def _ready_label(d: Deps, args: MapStory) -> dict[str, Any]:
    """A person added `ready-for-spec`: write the spec (the worker checks their `spec` permission)."""
    queued = await enqueue(d.redis, _write_spec_request(args, permission="spec", key="label"))
    return {"status": "write_spec requested", "write_spec": queued}
