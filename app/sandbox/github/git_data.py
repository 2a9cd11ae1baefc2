"""REST routes for git data on the real bare repos: refs, blobs, trees (with GitHub's size limit), commits."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from .calls import Call, HttpError, invalid, not_found
from .commits import after_ref_moves, signature
from .gitstore import GitError, Signature
from .hub import Hub
from .router import Routes
from .state import Repo, now

routes = Routes()


def _ref_json(hub: Hub, repo: Repo, name: str, sha: str) -> dict[str, Any]:
    return hub.shapes.ref(repo, name, sha, repo.git.object_type(sha) or "commit")


@routes.get("/repos/{owner}/{repo}/git/ref/{ref+}")
def get_ref(hub: Hub, call: Call) -> Any:
    """One ref (`heads/x`, `tags/y`)."""
    repo = hub.repo_for(call)
    name = "refs/" + call.params["ref"]
    sha = repo.git.refs(name).get(name)
    if sha is None:
        raise not_found()
    return _ref_json(hub, repo, name, sha)


@routes.get("/repos/{owner}/{repo}/git/matching-refs/{ref+}")
def matching_refs(hub: Hub, call: Call) -> Any:
    """Refs starting with a prefix."""
    repo = hub.repo_for(call)
    prefix = "refs/" + call.params["ref"]
    return [_ref_json(hub, repo, name, sha) for name, sha in sorted(repo.git.refs("refs/").items())
            if name.startswith(prefix)]


@routes.post("/repos/{owner}/{repo}/git/refs")
def create_ref(hub: Hub, call: Call) -> Any:
    """Create a ref (422 "Reference already exists")."""
    repo = hub.repo_for(call)
    data = call.json()
    name, sha = data.get("ref"), data.get("sha")
    if not isinstance(name, str) or not name.startswith("refs/") or name.count("/") < 2:
        raise invalid("Reference name must start with 'refs/' and have at least two slashes.", "ref",
                      "Reference")
    if not isinstance(sha, str) or repo.git.object_type(sha) is None:
        raise HttpError(422, "Object does not exist")
    if repo.git.refs(name).get(name):
        raise HttpError(422, "Reference already exists")
    repo.git.update_ref(name, sha)
    after_ref_moves(hub, repo, {name: (None, sha)}, call.user, wait=False)
    return 201, _ref_json(hub, repo, name, sha)


@routes.patch("/repos/{owner}/{repo}/git/refs/{ref+}")
def update_ref(hub: Hub, call: Call) -> Any:
    """Move a ref; without `force` only fast-forwards (422 "Update is not a fast forward")."""
    repo = hub.repo_for(call)
    name = "refs/" + call.params["ref"]
    old = repo.git.refs(name).get(name)
    if old is None:
        raise HttpError(422, "Reference does not exist")
    data = call.json()
    sha = data.get("sha")
    if not isinstance(sha, str) or repo.git.object_type(sha) != "commit":
        raise HttpError(422, "Object does not exist")
    if not data.get("force") and not repo.git.is_ancestor(old, sha):
        raise HttpError(422, "Update is not a fast forward")
    repo.git.update_ref(name, sha)
    repo.pushed_at = now()
    after_ref_moves(hub, repo, {name: (old, sha)}, call.user, wait=False)
    return _ref_json(hub, repo, name, sha)


@routes.delete("/repos/{owner}/{repo}/git/refs/{ref+}")
def delete_ref(hub: Hub, call: Call) -> Any:
    """Delete a ref."""
    repo = hub.repo_for(call)
    name = "refs/" + call.params["ref"]
    if repo.git.refs(name).get(name) is None:
        raise HttpError(422, "Reference does not exist")
    repo.git.delete_ref(name)
    return 204, None


@routes.post("/repos/{owner}/{repo}/git/blobs")
def create_blob(hub: Hub, call: Call) -> Any:
    """Write a blob (utf-8 or base64 content)."""
    repo = hub.repo_for(call)
    data = call.json()
    content = data.get("content")
    if not isinstance(content, str):
        raise invalid("content wasn't supplied", "content", "Blob", "missing_field")
    if data.get("encoding", "utf-8") == "base64":
        try:
            raw = base64.b64decode(content)
        except (binascii.Error, ValueError):
            raise invalid("content is not valid Base64", "content", "Blob") from None
    else:
        raw = content.encode()
    sha = repo.git.hash_blob(raw)
    return 201, {"url": f"{hub.api_url}/repos/{repo.full_name}/git/blobs/{sha}", "sha": sha}


@routes.get("/repos/{owner}/{repo}/git/blobs/{sha}")
def get_blob(hub: Hub, call: Call) -> Any:
    """A blob, base64."""
    repo = hub.repo_for(call)
    sha = call.params["sha"]
    if repo.git.object_type(sha) != "blob":
        raise not_found()
    raw = repo.git.read_blob(sha)
    return {"sha": sha, "node_id": f"B_{sha[:12]}", "size": len(raw), "encoding": "base64",
            "url": f"{hub.api_url}/repos/{repo.full_name}/git/blobs/{sha}", "content": base64.b64encode(raw).decode()}


@routes.post("/repos/{owner}/{repo}/git/trees")
def create_tree(hub: Hub, call: Call) -> Any:
    """Write a tree from entries over `base_tree`; `sha: null` deletes a path."""
    repo = hub.repo_for(call)
    data = call.json()
    entries = data.get("tree")
    if not isinstance(entries, list):
        raise invalid("tree wasn't supplied", "tree", "Tree", "missing_field")
    base_tree = data.get("base_tree")
    if base_tree is not None and repo.git.object_type(base_tree) not in ("tree", "commit"):
        raise HttpError(422, "base_tree is not a valid tree oid")
    changes: dict[str, tuple[str, str, str] | None] = {}
    for e in entries:
        path, mode = e.get("path"), e.get("mode", "100644")
        if not path:
            raise HttpError(422, "tree.path wasn't supplied")
        if "content" in e and e["content"] is not None:
            changes[path] = (mode, "blob", repo.git.hash_blob(str(e["content"]).encode()))
        elif e.get("sha") is None:
            changes[path] = None
        else:
            kind = e.get("type") or repo.git.object_type(e["sha"]) or "blob"
            if repo.git.object_type(e["sha"]) is None:
                raise HttpError(422, f"tree.sha {e['sha']} is not a valid {kind}")
            changes[path] = (mode if kind != "tree" else "040000", kind, e["sha"])
    try:
        sha = repo.git.build_tree(base_tree, changes)
    except GitError as exc:
        raise HttpError(422, f"GitRPC::BadObjectState: {exc}") from None
    return 201, hub.shapes.tree(repo, sha, repo.git.ls_tree(sha))


@routes.get("/repos/{owner}/{repo}/git/trees/{sha+}")
def get_tree(hub: Hub, call: Call) -> Any:
    """A tree, one level or (`recursive=1`) everything, cut at `state.tree_entry_limit` entries."""
    repo = hub.repo_for(call)
    ident = call.params["sha"]
    sha = ident if repo.git.object_type(ident) == "tree" else None
    if sha is None:
        commit = repo.git.resolve(ident)
        if commit is None:
            raise not_found()
        sha = repo.git.read_commit(commit).tree
    recursive = call.query.get("recursive") not in (None, "", "0", "false")
    entries = repo.git.ls_tree(sha, recursive=recursive)
    limit = hub.state.tree_entry_limit
    # past GitHub's limit the listing stops short; clients then walk subtrees one level at a time
    return hub.shapes.tree(repo, sha, entries[:limit], truncated=len(entries) > limit)


@routes.post("/repos/{owner}/{repo}/git/commits")
def create_commit(hub: Hub, call: Call) -> Any:
    """Write a commit; commits an app makes through the API are signed by GitHub (verified)."""
    repo = hub.repo_for(call)
    data = call.json()
    tree, parents, message = data.get("tree"), data.get("parents", []), data.get("message")
    if not isinstance(message, str):
        raise invalid("message wasn't supplied", "message", "Commit", "missing_field")
    if not isinstance(tree, str) or repo.git.object_type(tree) != "tree":
        raise HttpError(422, "Tree SHA does not exist")
    for p in parents or []:
        if repo.git.object_type(p) != "commit":
            raise HttpError(422, "Parent SHA does not exist or is not a commit object")
    author = signature(call.user)
    if isinstance(data.get("author"), dict):
        author = Signature(data["author"].get("name", author.name), data["author"].get("email", author.email),
                           now())
    sha = repo.git.commit_tree(tree, list(parents or []), message, author, signature(call.user))
    if call.installation is not None and "signature" not in data:
        repo.api_commits.add(sha)
    return 201, hub.shapes.git_commit(repo, repo.git.read_commit(sha))


@routes.get("/repos/{owner}/{repo}/git/commits/{sha}")
def get_git_commit(hub: Hub, call: Call) -> Any:
    """A git commit object."""
    repo = hub.repo_for(call)
    if repo.git.object_type(call.params["sha"]) != "commit":
        raise not_found()
    return hub.shapes.git_commit(repo, repo.git.read_commit(call.params["sha"]))


