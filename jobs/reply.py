"""The `reply` job: answers `/specloop help`, `/specloop status` and unknown commands in the thread."""

from __future__ import annotations

from typing import Any

from app.comments import upsert_comment
from app.context import JobScope
from app.job_args import Reply
from app.permissions import DEFAULT_TABLE, describe
from app.render import replies
from app.render.map_comment import readiness_lines
from app.render.status_chain import status_chain
from app.story_status import find_map


async def _status(scope: JobScope, args: Reply) -> str:
    """Where the story stands, from its map comment."""
    found = await find_map(scope.gh, scope.repo, args.number, bot_login=scope.bot_login)
    if found is None or found.map is None:
        return replies.status_reply(args.actor, chain=None, readiness=None, revision=None, request=scope.job_id)
    state = found.state
    verdict = readiness_lines(found.map, found.map.readiness(state.max_rules), state.max_rules,
                              auto_spec=state.auto_spec, status=state.status)
    return replies.status_reply(args.actor, chain=status_chain(state.status, state.revision),
                                readiness="\n".join(verdict), revision=state.revision, map_url=found.comment.url,
                                request=scope.job_id)


async def reply(scope: JobScope, args: Reply) -> dict[str, Any]:
    """Post the reply of `kind` (help / status / unknown_command / refusal) on issue or PR `number`.

    The reply's marker names this request (the job's id, which arq's retry keeps), so a retry of a run
    that died after GitHub took the comment edits that one instead of posting a second.
    """
    config = await scope.config()
    table = config.permission_table
    who_may = {action: describe(action, table).removeprefix("people with ") for action in DEFAULT_TABLE}
    if args.kind == "help":
        body = replies.help_reply(args.actor, story_label=config.labels.story, who_may=who_may,
                                  request=scope.job_id)
    elif args.kind == "unknown_command":
        body = replies.unknown_command_reply(args.actor, args.detail, who_may=who_may, request=scope.job_id)
    elif args.kind == "status":
        body = await _status(scope, args)
    else:  # refusal
        action = args.detail or "map"
        body = replies.refusal(args.actor or "someone", action, describe(action, table), request=scope.job_id)
    comment = await upsert_comment(scope.gh, scope.repo, args.number, "reply", body, bot_login=scope.bot_login,
                                   match={"request": scope.job_id})
    return {"status": "replied", "kind": args.kind, "comment_id": comment.id}
