"""Git Data: branches (refs), the files of a folder at a commit, and commits made without a clone."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from githubkit import GitHub
from githubkit.exception import RequestFailed
from githubkit_schemas.latest.types import ReposOwnerRepoGitTreesPostBodyPropTreeItemsType as TreeItem

from app.gh.models import Blob, GitCommit, Ref, RepoRef, Tree, read, read_list

GH = GitHub[Any]


def _ref_path(branch: str) -> str:
    """`heads/<branch>` for a URL: githubkit puts path parameters in as they are, and a branch may hold `#`."""
    return "heads/" + quote(branch, safe="/")


async def branch_sha(gh: GH, repo: RepoRef, branch: str) -> str | None:
    """The commit `branch` points at, None when there is no such branch."""
    try:
        response = await gh.rest.git.async_get_ref(repo.owner, repo.name, _ref_path(branch))
    except RequestFailed as error:
        if error.response.status_code == 404:
            return None
        raise
    return read(Ref, response).object.sha


async def branches_with_prefix(gh: GH, repo: RepoRef, prefix: str) -> list[str]:
    """The names of the branches starting with `prefix`."""
    response = await gh.rest.git.async_list_matching_refs(repo.owner, repo.name, _ref_path(prefix))
    return [ref.ref.removeprefix("refs/heads/") for ref in read_list(Ref)(response)]


async def _tree(gh: GH, repo: RepoRef, sha: str, *, recursive: bool) -> Tree:
    if recursive:
        response = await gh.rest.git.async_get_tree(repo.owner, repo.name, sha, recursive="1")
    else:
        response = await gh.rest.git.async_get_tree(repo.owner, repo.name, sha)
    return read(Tree, response)


async def _folder_tree_sha(gh: GH, repo: RepoRef, sha: str, folder: str) -> str | None:
    """The tree of `folder` at commit `sha`, walking one level per path part (None when it is absent)."""
    tree_sha = sha
    for part in [p for p in folder.strip("/").split("/") if p]:
        level = await _tree(gh, repo, tree_sha, recursive=False)
        entry = next((e for e in level.tree if e.path == part and e.type == "tree"), None)
        if entry is None:
            return None
        tree_sha = entry.sha
    return tree_sha


async def _blob_paths(gh: GH, repo: RepoRef, tree_sha: str, prefix: str) -> list[tuple[str, str]]:
    """(path, blob sha) of every file below a tree; one recursive listing, level by level if it is truncated.

    GitHub truncates a recursive listing past its limit (100,000 entries or 7 MB); then the only way to
    see every file is to list each folder on its own.
    """
    listing = await _tree(gh, repo, tree_sha, recursive=True)
    if not listing.truncated:
        return [(prefix + e.path, e.sha) for e in listing.tree if e.type == "blob"]
    found: list[tuple[str, str]] = []
    folders = [(tree_sha, prefix)]
    while folders:
        sha, at = folders.pop()
        for entry in (await _tree(gh, repo, sha, recursive=False)).tree:
            if entry.type == "blob":
                found.append((at + entry.path, entry.sha))
            elif entry.type == "tree":
                folders.append((entry.sha, f"{at}{entry.path}/"))
    return found


async def blob_text(gh: GH, repo: RepoRef, blob_sha: str) -> str:
    """A blob's content as text (invalid UTF-8 replaced, as a reviewer's editor would show it)."""
    blob = read(Blob, await gh.rest.git.async_get_blob(repo.owner, repo.name, blob_sha))
    raw = base64.b64decode(blob.content) if blob.encoding == "base64" else blob.content.encode("utf-8")
    return raw.decode("utf-8", errors="replace")


async def files_under(gh: GH, repo: RepoRef, sha: str, folder: str, keep: Callable[[str], bool]) -> dict[str, str]:
    """The files below `folder` at commit `sha` that `keep(path)` accepts: repository path -> text."""
    tree_sha = await _folder_tree_sha(gh, repo, sha, folder)
    if tree_sha is None:
        return {}
    prefix = folder.strip("/") + "/" if folder.strip("/") else ""
    files: dict[str, str] = {}
    for path, blob_sha in await _blob_paths(gh, repo, tree_sha, prefix):
        if keep(path):
            files[path] = await blob_text(gh, repo, blob_sha)
    return files


async def commit_files(gh: GH, repo: RepoRef, *, branch: str, parent: str, files: dict[str, str], message: str,
                       create_branch: bool) -> str:
    """One commit of `files` on top of `parent`, then `branch` moved to it (or created); returns its SHA.

    No author or committer is given, so GitHub signs the commit as the App and shows it as verified.
    The branch moves without force: if someone pushed meanwhile, GitHub refuses (422) and the job
    retries on fresh state.
    """
    base_tree = read(GitCommit, await gh.rest.git.async_get_commit(repo.owner, repo.name, parent)).tree.sha
    entries: list[TreeItem] = []
    for path, text in sorted(files.items()):
        blob = await gh.rest.git.async_create_blob(repo.owner, repo.name, content=text, encoding="utf-8")
        entries.append({"path": path, "mode": "100644", "type": "blob", "sha": str(blob.json()["sha"])})
    tree = await gh.rest.git.async_create_tree(repo.owner, repo.name, base_tree=base_tree, tree=entries)
    commit = await gh.rest.git.async_create_commit(repo.owner, repo.name, message=message,
                                                   tree=str(tree.json()["sha"]), parents=[parent])
    sha = str(commit.json()["sha"])
    if create_branch:
        await gh.rest.git.async_create_ref(repo.owner, repo.name, ref=f"refs/heads/{branch}", sha=sha)
    else:
        await gh.rest.git.async_update_ref(repo.owner, repo.name, _ref_path(branch), sha=sha, force=False)
    return sha


async def head_commit_message(gh: GH, repo: RepoRef, sha: str) -> str:
    """The message of commit `sha`."""
    response = await gh.rest.git.async_get_commit(repo.owner, repo.name, sha)
    return str(response.json().get("message") or "")


async def commit_changes(gh: GH, repo: RepoRef, *, branch: str, parent: str,
                         files: dict[str, tuple[bytes | None, str]], message: str) -> str:
    """One commit on top of `parent` that sets each path to (content, git mode), or deletes it (None), then
    `branch` moved to it without force; returns its SHA.

    Content goes up as base64 blobs (binary files too). No author or committer is given, so GitHub signs
    the commit as the App (verified). Without force GitHub moves the branch only if `parent` is still an
    ancestor of its head... so the caller first checks that the head IS `parent`: a person's push in
    between is never built upon or overwritten (GitHub answers 422 to a move that is not a fast-forward).
    """
    base_tree = read(GitCommit, await gh.rest.git.async_get_commit(repo.owner, repo.name, parent)).tree.sha
    entries: list[TreeItem] = []
    for path, (content, mode) in sorted(files.items()):
        if content is None:
            entries.append({"path": path, "mode": "100644", "type": "blob", "sha": None})
            continue
        blob = await gh.rest.git.async_create_blob(repo.owner, repo.name, content=base64.b64encode(content).decode(),
                                                   encoding="base64")
        entries.append({"path": path, "mode": mode, "type": "blob",  # type: ignore[typeddict-item]
                        "sha": str(blob.json()["sha"])})
    tree = await gh.rest.git.async_create_tree(repo.owner, repo.name, base_tree=base_tree, tree=entries)
    commit = await gh.rest.git.async_create_commit(repo.owner, repo.name, message=message,
                                                   tree=str(tree.json()["sha"]), parents=[parent])
    sha = str(commit.json()["sha"])
    await gh.rest.git.async_update_ref(repo.owner, repo.name, _ref_path(branch), sha=sha, force=False)
    return sha
