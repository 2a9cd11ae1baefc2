"""Sticky comments found by marker, replies, reactions, and labels that follow the story's state.

The bot keeps state where people see it: its comments carry a hidden marker, so a later job finds and
edits the same comment instead of posting a second one. Only comments written by the app itself are
trusted (anyone can paste a marker into their own comment).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from githubkit.exception import RequestFailed

from app.render.markers import find_marker

log = logging.getLogger(__name__)

PER_PAGE = 100
MAX_PAGES = 30  # 3,000 comments: beyond that an issue is not a story anyone is mapping


@dataclass
class FoundComment:
    """A comment of ours, its marker data and body."""

    id: int
    body: str
    data: dict[str, Any]
    url: str | None = None


async def list_comments(gh: Any, repo: str, number: int) -> list[dict[str, Any]]:
    """Every comment of issue or PR `number`, oldest first (paginated)."""
    comments: list[dict[str, Any]] = []
    for page in range(1, MAX_PAGES + 1):
        response = await gh.arequest("GET", f"/repos/{repo}/issues/{number}/comments",
                                     params={"per_page": PER_PAGE, "page": page})
        batch = response.json()
        comments.extend(batch)
        if len(batch) < PER_PAGE:
            break
    return comments


def is_ours(comment: Mapping[str, Any], bot_login: str | None) -> bool:
    """Whether the app wrote `comment` (when the bot's login is known; else trust the marker alone)."""
    if bot_login is None:
        return True
    user = comment.get("user") or {}
    return str(user.get("login", "")).lower() == bot_login.lower()


def _matches(data: dict[str, Any], match: Mapping[str, Any] | None) -> bool:
    return all(data.get(k) == v for k, v in (match or {}).items())


async def find_comment(gh: Any, repo: str, number: int, kind: str, *, bot_login: str | None = None,
                       match: Mapping[str, Any] | None = None,
                       comments: list[dict[str, Any]] | None = None) -> FoundComment | None:
    """The bot's first comment on `number` carrying a `kind` marker (whose data includes `match`)."""
    for comment in comments if comments is not None else await list_comments(gh, repo, number):
        if not is_ours(comment, bot_login):
            continue
        data = find_marker(comment.get("body"), kind)
        if data is not None and _matches(data, match):
            return FoundComment(id=int(comment["id"]), body=str(comment.get("body") or ""), data=data,
                                url=comment.get("html_url"))
    return None


async def upsert_comment(gh: Any, repo: str, number: int, kind: str, body: str, *, bot_login: str | None = None,
                         match: Mapping[str, Any] | None = None,
                         existing: FoundComment | None = None) -> FoundComment:
    """Edit the bot's `kind` comment in place, or post it when there is none (never a second one)."""
    found = existing or await find_comment(gh, repo, number, kind, bot_login=bot_login, match=match)
    if found is not None:
        if found.body != body:  # an unchanged body is not re-sent: no "edited" noise in the thread
            response = await gh.arequest("PATCH", f"/repos/{repo}/issues/comments/{found.id}", json={"body": body})
            return FoundComment(id=found.id, body=body, data=find_marker(body, kind) or {},
                                url=response.json().get("html_url", found.url))
        return found
    response = await gh.arequest("POST", f"/repos/{repo}/issues/{number}/comments", json={"body": body})
    data = response.json()
    return FoundComment(id=int(data["id"]), body=body, data=find_marker(body, kind) or {}, url=data.get("html_url"))


async def reply(gh: Any, repo: str, number: int, body: str) -> int:
    """Post a new comment (a reply in the thread); returns its id."""
    response = await gh.arequest("POST", f"/repos/{repo}/issues/{number}/comments", json={"body": body})
    return int(response.json()["id"])


async def react(gh: Any, repo: str, number: int, content: str = "eyes", *, comment_id: int | None = None) -> None:
    """React on the issue (or one of its comments): the "seen it, working on it" signal."""
    path = (f"/repos/{repo}/issues/comments/{comment_id}/reactions" if comment_id
            else f"/repos/{repo}/issues/{number}/reactions")
    await gh.arequest("POST", path, json={"content": content})


async def ensure_labels(gh: Any, repo: str, labels: Iterable[tuple[str, str, str]]) -> list[str]:
    """Create the labels (name, colour, description) the repository lacks; returns the names created."""
    existing: set[str] = set()
    for page in range(1, MAX_PAGES + 1):
        batch = (await gh.arequest("GET", f"/repos/{repo}/labels",
                                   params={"per_page": PER_PAGE, "page": page})).json()
        existing |= {str(label["name"]).lower() for label in batch}
        if len(batch) < PER_PAGE:
            break
    created = []
    for name, color, description in labels:
        if name.lower() in existing:
            continue
        try:
            await gh.arequest("POST", f"/repos/{repo}/labels",
                              json={"name": name, "color": color.lstrip("#"), "description": description[:100]})
            created.append(name)
        except RequestFailed as error:
            if error.response.status_code != 422:  # 422: someone created it meanwhile
                raise
    return created


async def ensure_label(gh: Any, repo: str, name: str, color: str, description: str) -> bool:
    """Create one label when missing; True if it was created."""
    return bool(await ensure_labels(gh, repo, [(name, color, description)]))


async def issue_labels(gh: Any, repo: str, number: int) -> list[str]:
    """The names of the labels on issue `number`."""
    data = (await gh.arequest("GET", f"/repos/{repo}/issues/{number}/labels", params={"per_page": 100})).json()
    return [str(label["name"]) for label in data]


async def set_state_labels(gh: Any, repo: str, number: int, *, wanted: Iterable[str], managed: Iterable[str],
                           current: Iterable[str] | None = None) -> tuple[list[str], list[str]]:
    """Make the issue carry exactly `wanted` among the `managed` state labels; returns (added, removed).

    Only labels that change are touched, so a re-run that changes nothing makes no API calls (and
    GitHub sends no `labeled` events the handlers would have to ignore).
    """
    have = {name.lower(): name for name in (current if current is not None else await issue_labels(gh, repo, number))}
    wanted_set = {name.lower() for name in wanted}
    add = [name for name in wanted if name.lower() not in have]
    remove = [have[name.lower()] for name in managed if name.lower() in have and name.lower() not in wanted_set]
    if add:
        await gh.arequest("POST", f"/repos/{repo}/issues/{number}/labels", json={"labels": add})
    for name in remove:
        try:
            await gh.arequest("DELETE", f"/repos/{repo}/issues/{number}/labels/{quote(name, safe='')}")
        except RequestFailed as error:
            if error.response.status_code != 404:  # already gone: that is what we wanted
                raise
    return add, remove
