"""The story's status chain on its map comment, updated in place by the spec, approval, code and QA jobs.

    await update_story_status(gh, "acme", "shop", 7, spec_pr=12, spec_pr_url=url)

reads the map comment's marker, merges the changes into its status, and re-renders the same comment from
the map stored in the marker, so the issue always shows where the story stands.
"""

from __future__ import annotations

import logging
from typing import Any

from app.comments import find_comment, upsert_comment
from app.domain.story import StoryStatus
from app.render.map_comment import KIND, read_map_state, render_map_comment

__all__ = ["StoryStatus", "update_story_status"]

log = logging.getLogger(__name__)


async def update_story_status(gh: Any, owner: str, repo: str, issue_number: int, *, bot_login: str | None = None,
                              **changes: Any) -> StoryStatus | None:
    """Merge `changes` (StoryStatus fields) into the map comment's status; None when there is no map."""
    unknown = set(changes) - set(StoryStatus.model_fields)
    if unknown:
        raise TypeError(f"unknown story status fields: {sorted(unknown)}")
    full = f"{owner}/{repo}"
    found = await find_comment(gh, full, issue_number, KIND, bot_login=bot_login)
    state = read_map_state(found.body) if found else None
    if found is None or state is None or state.map is None:
        log.info("no map comment to update", extra={"repo": full, "number": issue_number})
        return None
    status = state.status.model_copy(update=changes)
    if status == state.status:
        return status
    body = render_map_comment(state.map, revision=state.revision, changes=state.changes, status=status,
                              max_rules=state.max_rules, usage=state.usage, model_name=state.model_name,
                              offline=state.offline, counters=state.counters,
                              auto_spec=state.auto_spec)
    await upsert_comment(gh, full, issue_number, KIND, body, existing=found)
    return status
