"""The repository itself: its default branch, a file's text on a branch, and a person's role."""

from __future__ import annotations

import base64
from typing import Any

from githubkit import GitHub
from githubkit.exception import RequestFailed

from app.gh.models import RepoRef, Repository, read

GH = GitHub[Any]

# Before `role_name` existed GitHub only said admin/write/read/none; custom roles need role_name.
_LEGACY_ROLES = {"admin": "admin", "write": "write", "read": "read", "none": "none"}


async def get_repository(gh: GH, repo: RepoRef) -> Repository:
    """The repository (its default branch)."""
    return read(Repository, await gh.rest.repos.async_get(repo.owner, repo.name))


async def file_text(gh: GH, repo: RepoRef, path: str, ref: str | None = None) -> str | None:
    """A file's text at `ref` (default branch when None), or None when the repository or file is absent."""
    try:
        if ref:
            response = await gh.rest.repos.async_get_content(repo.owner, repo.name, path, ref=ref)
        else:
            response = await gh.rest.repos.async_get_content(repo.owner, repo.name, path)
    except RequestFailed as error:
        if error.response.status_code == 404:
            return None
        raise
    data: Any = response.json()
    if not isinstance(data, dict) or data.get("type") not in (None, "file"):
        return None  # a folder named like the file is not the file
    return base64.b64decode(data.get("content") or "").decode("utf-8")


async def collaborator_role(gh: GH, repo: RepoRef, login: str) -> str:
    """`login`'s role on the repository ("none" for people who are not collaborators)."""
    try:
        response = await gh.rest.repos.async_get_collaborator_permission_level(repo.owner, repo.name, login)
    except RequestFailed as error:
        if error.response.status_code == 404:  # not a collaborator (or no such user)
            return "none"
        raise
    data = response.json()
    role = data.get("role_name") or _LEGACY_ROLES.get(str(data.get("permission")), "none")
    return str(role).lower()
