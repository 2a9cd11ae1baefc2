"""The `reply` job: answers `/specloop help`, `/specloop status` and unknown commands in the thread."""

from __future__ import annotations

from typing import Any

from app.comments import find_comment
from app.comments import reply as post_reply
from app.context import deps
from app.permissions import DEFAULT_TABLE, describe
from app.render import replies
from app.render.map_comment import KIND, read_map_state, readiness_lines, status_chain
from app.repo_config import load_repo_config


async def reply(ctx: dict[str, Any], *, installation_id: int, repo: str, number: int, actor: str | None,
                kind: str, detail: str | None = None, delivery: str | None = None) -> dict[str, Any]:
    """Post the reply of `kind` (help / status / unknown_command / refusal) on issue or PR `number`."""
    d = deps(ctx)
    gh = d.github.installation(int(installation_id))
    owner, name = repo.split("/", 1)
    config = await load_repo_config(gh, owner, name)
    table = config.permission_table
    who_may = {action: describe(action, table).removeprefix("people with ") for action in DEFAULT_TABLE}
    if kind == "help":
        body = replies.help_reply(actor, story_label=config.labels.story, who_may=who_may)
    elif kind == "unknown_command":
        body = replies.unknown_command_reply(actor, detail, who_may=who_may)
    elif kind == "status":
        found = await find_comment(gh, repo, number, KIND, bot_login=d.settings.bot_login)
        state = read_map_state(found.body) if found else None
        if found is None or state is None or state.map is None:
            body = replies.status_reply(actor, chain=None, readiness=None, revision=None)
        else:
            verdict = readiness_lines(state.map, state.map.readiness(state.max_rules), state.max_rules,
                                      auto_spec=state.auto_spec, status=state.status)
            body = replies.status_reply(actor, chain=status_chain(state.status, state.revision),
                                        readiness="\n".join(verdict), revision=state.revision, map_url=found.url)
    elif kind == "refusal":
        action = detail or "map"
        body = replies.refusal(actor or "someone", action, describe(action, table))
    else:
        return {"status": "ignored", "reason": f"unknown reply kind {kind!r}"}
    comment_id = await post_reply(gh, repo, number, body)
    return {"status": "replied", "kind": kind, "comment_id": comment_id}
