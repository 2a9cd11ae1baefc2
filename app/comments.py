"""Sticky comments found by marker, and labels that follow the story's state.

The bot keeps state where people see it: its comments carry a hidden marker, so a later job finds and
edits the same comment instead of posting a second one. Only comments written by the App itself are
trusted (anyone can paste a marker into their own comment).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from githubkit import GitHub

from app.domain.markers import find_marker
from app.gh import issues
from app.gh.models import Comment, RepoRef

log = logging.getLogger(__name__)

GH = GitHub[Any]


@dataclass
class FoundComment:
    """A comment of ours, its marker data and body."""

    id: int
    body: str
    data: dict[str, Any]
    url: str | None = None


def is_ours(comment: Comment, bot_login: str | None) -> bool:
    """Whether the App wrote `comment` (when the bot's login is known; else trust the marker alone)."""
    if bot_login is None:
        return True
    login = comment.user.login if comment.user else ""
    return login.lower() == bot_login.lower()


def _matches(data: dict[str, Any], match: Mapping[str, Any] | None) -> bool:
    return all(data.get(k) == v for k, v in (match or {}).items())


def pick_comment(comments: Sequence[Comment], kind: str, *, bot_login: str | None,
                 match: Mapping[str, Any] | None = None) -> FoundComment | None:
    """The bot's first comment among `comments` carrying a `kind` marker (whose data includes `match`)."""
    for comment in comments:
        if not is_ours(comment, bot_login):
            continue
        data = find_marker(comment.body, kind)
        if data is not None and _matches(data, match):
            return FoundComment(id=comment.id, body=comment.body or "", data=data, url=comment.html_url)
    return None


async def find_comment(gh: GH, repo: RepoRef, number: int, kind: str, *, bot_login: str | None = None,
                       match: Mapping[str, Any] | None = None) -> FoundComment | None:
    """The bot's first comment on `number` carrying a `kind` marker (whose data includes `match`)."""
    return pick_comment(await issues.list_comments(gh, repo, number), kind, bot_login=bot_login, match=match)


async def upsert_comment(gh: GH, repo: RepoRef, number: int, kind: str, body: str, *, bot_login: str | None = None,
                         match: Mapping[str, Any] | None = None, existing: FoundComment | None = None,
                         comments: Sequence[Comment] | None = None) -> FoundComment:
    """Edit the bot's `kind` comment in place, or post it when there is none (never a second one).

    `existing` is the comment already found; `comments` the thread already listed (no second listing).
    """
    found = existing
    if found is None:
        listed = comments if comments is not None else await issues.list_comments(gh, repo, number)
        found = pick_comment(listed, kind, bot_login=bot_login, match=match)
    if found is not None:
        if found.body == body:  # an unchanged body is not re-sent: no "edited" noise in the thread
            return found
        edited = await issues.update_comment(gh, repo, found.id, body)
        return FoundComment(id=found.id, body=body, data=find_marker(body, kind) or {},
                            url=edited.html_url or found.url)
    posted = await issues.create_comment(gh, repo, number, body)
    return FoundComment(id=posted.id, body=body, data=find_marker(body, kind) or {}, url=posted.html_url)


async def ensure_labels(gh: GH, repo: RepoRef, labels: Iterable[tuple[str, str, str]]) -> list[str]:
    """Create the labels (name, colour, description) the repository lacks; returns the names created."""
    existing = await issues.repo_label_names(gh, repo)
    return [name for name, color, description in labels
            if name.lower() not in existing and await issues.create_label(gh, repo, name, color, description)]


async def set_state_labels(gh: GH, repo: RepoRef, number: int, *, wanted: Iterable[str], managed: Iterable[str],
                           current: Iterable[str] | None = None) -> tuple[list[str], list[str]]:
    """Make the issue carry exactly `wanted` among the `managed` state labels; returns (added, removed).

    Only labels that change are touched, so a re-run that changes nothing makes no API calls (and
    GitHub sends no `labeled` events the handlers would have to ignore).
    """
    names = current if current is not None else await issues.issue_label_names(gh, repo, number)
    have = {name.lower(): name for name in names}
    wanted_set = {name.lower() for name in wanted}
    add = [name for name in wanted if name.lower() not in have]
    remove = [have[name.lower()] for name in managed if name.lower() in have and name.lower() not in wanted_set]
    if add:
        await issues.add_labels(gh, repo, number, add)
    for name in remove:
        await issues.remove_label(gh, repo, number, name)  # already gone (404) is what we wanted
    return add, remove
