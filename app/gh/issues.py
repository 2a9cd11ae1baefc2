"""Issues, their comments, reactions and labels."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from githubkit import GitHub
from githubkit.exception import RequestFailed

from app.gh import VERSION_HEADERS
from app.gh.models import Comment, Issue, Label, RepoRef, read, read_list

GH = GitHub[Any]
Reaction = Literal["+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"]

PER_PAGE = 100
MAX_COMMENTS = 3_000  # beyond that an issue is not a story anyone is mapping


async def get_issue(gh: GH, repo: RepoRef, number: int) -> Issue:
    """Issue (or pull request) `number` as GitHub has it now."""
    return read(Issue, await gh.rest.issues.async_get(repo.owner, repo.name, number))


async def is_open(gh: GH, repo: RepoRef, number: int) -> bool:
    """Whether issue or PR `number` is still open; closed stories get no work."""
    return (await get_issue(gh, repo, number)).is_open


async def list_comments(gh: GH, repo: RepoRef, number: int) -> list[Comment]:
    """The conversation of issue or PR `number`, oldest first (every page, up to MAX_COMMENTS)."""
    comments: list[Comment] = []
    async for comment in gh.rest.paginate(
        gh.rest.issues.async_list_comments, map_func=read_list(Comment), owner=repo.owner, repo=repo.name,
        issue_number=number, per_page=PER_PAGE, headers=VERSION_HEADERS,
    ):
        comments.append(comment)
        if len(comments) >= MAX_COMMENTS:
            break
    return comments


async def create_comment(gh: GH, repo: RepoRef, number: int, body: str) -> Comment:
    """Post a comment on issue or PR `number`."""
    return read(Comment, await gh.rest.issues.async_create_comment(repo.owner, repo.name, number, body=body))


async def update_comment(gh: GH, repo: RepoRef, comment_id: int, body: str) -> Comment:
    """Replace a comment's body."""
    return read(Comment, await gh.rest.issues.async_update_comment(repo.owner, repo.name, comment_id, body=body))


async def delete_comment(gh: GH, repo: RepoRef, comment_id: int) -> None:
    """Delete a comment."""
    await gh.rest.issues.async_delete_comment(repo.owner, repo.name, comment_id)


async def react(gh: GH, repo: RepoRef, number: int, content: Reaction = "eyes", *,
                comment_id: int | None = None) -> None:
    """React on the issue, or on one of its comments."""
    if comment_id:
        await gh.rest.reactions.async_create_for_issue_comment(repo.owner, repo.name, comment_id, content=content)
    else:
        await gh.rest.reactions.async_create_for_issue(repo.owner, repo.name, number, content=content)


async def repo_label_names(gh: GH, repo: RepoRef) -> set[str]:
    """Every label of the repository, lower-cased (GitHub compares label names case-insensitively)."""
    names: set[str] = set()
    async for label in gh.rest.paginate(
        gh.rest.issues.async_list_labels_for_repo, map_func=read_list(Label), owner=repo.owner, repo=repo.name,
        per_page=PER_PAGE, headers=VERSION_HEADERS,
    ):
        names.add(label.name.lower())
    return names


async def create_label(gh: GH, repo: RepoRef, name: str, color: str, description: str) -> bool:
    """Create a label; False when it exists already (someone created it meanwhile: GitHub answers 422)."""
    try:
        await gh.rest.issues.async_create_label(repo.owner, repo.name, name=name, color=color.lstrip("#"),
                                                description=description[:100])
    except RequestFailed as error:
        if error.response.status_code != 422:
            raise
        return False
    return True


async def issue_label_names(gh: GH, repo: RepoRef, number: int) -> list[str]:
    """The names of the labels on issue `number`."""
    return [label.name async for label in gh.rest.paginate(
        gh.rest.issues.async_list_labels_on_issue, map_func=read_list(Label), owner=repo.owner, repo=repo.name,
        issue_number=number, per_page=PER_PAGE, headers=VERSION_HEADERS,
    )]


async def add_labels(gh: GH, repo: RepoRef, number: int, names: list[str]) -> None:
    """Add labels to issue `number` (labels it has already are kept)."""
    await gh.rest.issues.async_add_labels(repo.owner, repo.name, number, labels=names)


async def remove_label(gh: GH, repo: RepoRef, number: int, name: str) -> bool:
    """Remove a label from issue `number`; False when it was not there (404)."""
    try:
        # githubkit puts path parameters into the URL as they are: a label may hold `/`, `?` or `#`
        await gh.rest.issues.async_remove_label(repo.owner, repo.name, number, quote(name, safe=""))
    except RequestFailed as error:
        if error.response.status_code != 404:
            raise
        return False
    return True
