"""`issue_comment` events: slash commands, conversation on a story, ticks in the map comment."""

from __future__ import annotations

from typing import Literal

from app.commands import Command, parse_commands, valid_command_name
from app.domain.markers import has_marker
from app.events import IssueCommentEvent
from app.job_args import GenerateCode, MapStory, Reply, ReviseSpec, RunQa, WriteSpec
from app.queue import JobRequest
from handlers.base import HandlerContext, JobTarget, Router, job

router = Router()

ISSUE_COMMANDS = {"map", "spec", "help", "status"}
MAX_INSTRUCTIONS = 2000  # characters of `/specloop code <instructions>` passed on
PR_COMMANDS = {"revise", "qa", "code", "help"}
UNKNOWN_NAME = "?"  # stands for a name not fit to echo (see app.commands.valid_command_name)
MAX_UNKNOWN_LISTED = 5  # a comment full of made-up commands gets one short reply, not a long echo


def _common(event: IssueCommentEvent) -> JobTarget:
    """The target every command's job shares: installation, repository, issue and who asked."""
    assert event.repository is not None and event.installation is not None
    return {
        "installation_id": event.installation.id,
        "repo": event.repository.full_name,
        "number": event.issue.number,
        "actor": event.sender.login if event.sender else None,
    }


def _known(name: str, on_pr: bool) -> bool:
    """Whether `name` is a command that works where it was written."""
    return name in (PR_COMMANDS if on_pr else ISSUE_COMMANDS)


def _unknown_job(names: list[str], event: IssueCommentEvent, ctx: HandlerContext) -> JobRequest:
    """One reply for every unknown or misplaced command in a comment, however many it holds.

    It carries the `help` permission so that the worker answers only people with a role on the
    repository (and, for an unknown command, refuses silently): a stranger's comment full of
    `/specloop x@someone` lines must not turn into bot comments mentioning someone.
    """
    listed: list[str] = []
    for name in names:
        shown = name if valid_command_name(name) else UNKNOWN_NAME
        if shown not in listed:
            listed.append(shown)
    if len(listed) > MAX_UNKNOWN_LISTED:
        listed = [*listed[:MAX_UNKNOWN_LISTED], UNKNOWN_NAME]
    return job(Reply(**_common(event), kind="unknown_command", detail="\n".join(listed)), ctx,
               permission="help", key="unknown")


def _command_job(command: Command, event: IssueCommentEvent, ctx: HandlerContext) -> JobRequest:
    """The job a known command asks for, on an issue or on a pull request."""
    common = _common(event)
    name = command.name
    on_pr = event.issue.is_pull_request
    if on_pr and name == "revise":
        return job(ReviseSpec(**common), ctx, permission="revise")
    if on_pr and name == "qa":
        return job(RunQa(**common), ctx, permission="qa")
    if on_pr and name == "code":
        # the rest of the line is for the agent (a person with write access asked); capped like a title
        instructions = " ".join(command.args)[:MAX_INSTRUCTIONS] or None
        return job(GenerateCode(**common, instructions=instructions), ctx, permission="code")
    if not on_pr and name == "map":
        return job(MapStory(**common, trigger="command"), ctx, permission="map")
    if not on_pr and name == "spec":
        return job(WriteSpec(**common, regenerate="--regenerate" in command.args), ctx, permission="spec")
    # help, or status on an issue (the only commands left that _known lets through)
    # two replies from one comment are their own requests (they merge only with the same command)
    kind: Literal["help", "status"] = "help" if name == "help" else "status"
    return job(Reply(**common, kind=kind, detail=" ".join(command.args) or None), ctx, permission=name,
               key=name)


def _conversation(event: IssueCommentEvent, ctx: HandlerContext) -> JobRequest:
    """A debounced re-map of the story (the job does nothing unless the issue is a mapped story)."""
    assert event.repository is not None and event.installation is not None
    args = MapStory(installation_id=event.installation.id, repo=event.repository.full_name,
                    number=event.issue.number, actor=event.sender.login if event.sender else None,
                    trigger="conversation")
    return job(args, ctx, debounce=ctx.debounce_seconds)


@router.on("issue_comment", "created")
def obey_commands_or_listen(event: IssueCommentEvent, ctx: HandlerContext) -> list[JobRequest]:
    """Commands become their jobs; a plain comment on an issue re-maps the story (debounced)."""
    if event.repository is None:
        return []
    commands = parse_commands(event.comment.body)
    if commands:
        on_pr = event.issue.is_pull_request
        seen: set[str] = set()
        jobs = []
        unknown: list[str] = []
        for command in commands:
            if not _known(command.name, on_pr):
                unknown.append(command.name)
            elif command.name not in seen:  # "/specloop map" twice in one comment is one request
                seen.add(command.name)
                jobs.append(_command_job(command, event, ctx))
        if unknown:
            jobs.append(_unknown_job(unknown, event, ctx))
        return jobs
    if event.issue.is_pull_request:
        return []
    # The job does nothing unless the issue is a mapped story; the handler cannot know that offline.
    return [_conversation(event, ctx)]


@router.on("issue_comment", "edited")
def remap_when_map_comment_ticked(event: IssueCommentEvent, ctx: HandlerContext) -> list[JobRequest]:
    """A person editing the bot's map comment (ticking a question) re-maps the story, debounced."""
    author = event.comment.user.login if event.comment.user else ""
    if event.repository is None or event.issue.is_pull_request:
        return []
    if author != ctx.bot_login or not has_marker(event.comment.body, "map"):
        return []
    return [_conversation(event, ctx)]
