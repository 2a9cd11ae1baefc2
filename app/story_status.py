"""The story's map comment as the jobs read it, and its status chain, advanced in place.

    await update_story_status(gh, repo, 7, bot_login=login, spec_pr=12, spec_pr_url=url)

reads the map comment's marker, merges the changes into its status, and re-renders the same comment from
the map stored in the marker, so the issue always shows where the story stands.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from githubkit import GitHub
from githubkit.exception import RequestFailed

from app.comments import FoundComment, pick_comment, upsert_comment
from app.domain.example_map import ExampleMap
from app.domain.story import StoryStatus
from app.gh import issues
from app.gh.models import Comment, RepoRef
from app.render.map_comment import KIND, MapState, read_map_state, render_map_comment

log = logging.getLogger(__name__)


@dataclass
class StoryMap:
    """The bot's map comment on a story and what its marker holds."""

    comment: FoundComment
    state: MapState

    @property
    def map(self) -> ExampleMap | None:
        """The example map (None when the marker holds none)."""
        return self.state.map


async def find_map(gh: GitHub[Any], repo: RepoRef, number: int, *, bot_login: str | None,
                   comments: Sequence[Comment] | None = None) -> StoryMap | None:
    """The bot's map comment on issue `number`, read; None when there is none (or its marker is broken).

    Markers in other people's comments are ignored: anyone can paste one.
    """
    listed = comments if comments is not None else await issues.list_comments(gh, repo, number)
    found = pick_comment(listed, KIND, bot_login=bot_login)
    state = read_map_state(found.body) if found is not None else None
    if found is None or state is None:
        return None
    return StoryMap(found, state)


async def update_story_status(gh: GitHub[Any], repo: RepoRef, issue_number: int, *, bot_login: str | None = None,
                              **changes: Any) -> StoryStatus | None:
    """Merge `changes` (StoryStatus fields) into the map comment's status; None when there is no map."""
    unknown = set(changes) - set(StoryStatus.model_fields)
    if unknown:
        raise TypeError(f"unknown story status fields: {sorted(unknown)}")
    found = await find_map(gh, repo, issue_number, bot_login=bot_login)
    if found is None or found.map is None:
        log.info("no map comment to update", extra={"repo": str(repo), "number": issue_number})
        return None
    state = found.state
    status = state.status.model_copy(update=changes)
    if status == state.status:
        return status
    await upsert_comment(gh, repo, issue_number, KIND, render_map_comment(replace(state, status=status)),
                         existing=found.comment)
    return status


async def advance_status(gh: GitHub[Any], repo: RepoRef, issue_number: int | None, *, bot_login: str,
                         **changes: Any) -> None:
    """`update_story_status`, best effort: the chain is a view of the story, not its state, so a failure
    to redraw it (GitHub refusing the edit) is logged and never fails the job that moved the story on."""
    if not issue_number:
        return
    try:
        await update_story_status(gh, repo, int(issue_number), bot_login=bot_login, **changes)
    except RequestFailed as error:
        log.warning("could not update the story status", extra={"error": repr(error)})
