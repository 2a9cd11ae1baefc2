"""Repository, contents and git data (refs, blobs, trees, commits, compare), all on the real bare repo."""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Any

from .gitstore import GitError, Signature
from .router import Call, HttpError, Routes, invalid, not_found
from .state import Repo, User, now

if TYPE_CHECKING:
    from .double import GitHubDouble

routes = Routes()
SHA = re.compile(r"^[0-9a-f]{40}$")


class GitDataMixin:
    """Commits made by people and ref moves, with the webhooks they cause."""

    # Methods type `self` as the GitHubDouble this is mixed into, so their bodies are checked against it;
    # mypy accepts only a supertype (or a Protocol) as a self-type, hence `ignore[misc]` on each def.

    def _signature(self: GitHubDouble, actor: User) -> Signature:  # type: ignore[misc]
        return Signature(actor.login, f"{actor.id}+{actor.login}@users.noreply.github.com", now())

    def resolve(self: GitHubDouble, repo: Repo, ref: str) -> str | None:  # type: ignore[misc]
        """A branch, tag, `refs/...` or sha to a commit sha."""
        for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
            sha = repo.git.rev_parse(candidate)
            if sha:
                return sha
        return None

    def commit_files(self: GitHubDouble, repo: Repo, branch: str, files: dict[str, str | bytes | None],  # type: ignore[misc]
                     message: str, actor: User, *, wait: bool = True, via_api: bool = False) -> str:
        """Commit file changes on a branch (None deletes; the branch is created from the default branch)."""
        with self.state.lock:
            git = repo.git
            old = git.rev_parse(f"refs/heads/{branch}")
            parent = old or git.rev_parse(f"refs/heads/{repo.default_branch}")
            base_tree = git.read_commit(parent).tree if parent else None
            changes: dict[str, tuple[str, str, str] | None] = {}
            for path, content in files.items():
                if content is None:
                    changes[path] = None
                else:
                    data = content.encode() if isinstance(content, str) else content
                    changes[path] = ("100644", "blob", git.hash_blob(data))
            tree = git.build_tree(base_tree, changes)
            sha = git.commit_tree(tree, [parent] if parent else [], message, self._signature(actor))
            if via_api:
                repo.api_commits.add(sha)
            git.update_ref(f"refs/heads/{branch}", sha)
            repo.pushed_at = now()
        self.after_ref_moves(repo, {f"refs/heads/{branch}": (old, sha)}, actor, wait=wait)
        return sha

    def push_files(self: GitHubDouble, repo: str, branch: str, files: dict[str, str | bytes | None],  # type: ignore[misc]
                   message: str = "Update files", by: str = "alice") -> str:
        """A person's commit pushed to `branch` -> sha; open PRs from that branch get `synchronize`."""
        return self.commit_files(self.repo(repo), branch, files, message, self.state.user(by))

    def create_branch(self: GitHubDouble, repo: str, branch: str, from_ref: str | None = None) -> str:  # type: ignore[misc]
        """Create a branch (no webhook: the app does not subscribe to `create`)."""
        r = self.repo(repo)
        sha = self.resolve(r, from_ref or r.default_branch)
        assert sha, f"unknown ref {from_ref}"
        r.git.update_ref(f"refs/heads/{branch}", sha)
        return sha

    def after_ref_moves(self: GitHubDouble, repo: Repo, moves: dict[str, tuple[str | None, str | None]],  # type: ignore[misc]
                        pusher: User, *, wait: bool = True) -> None:
        """React to moved branches like GitHub: PR heads follow (`synchronize`), stale approvals may go."""
        for ref, (old, new) in moves.items():
            if not ref.startswith("refs/heads/") or old == new:
                continue
            branch = ref[len("refs/heads/"):]
            self.git_pushes.append({"repo": repo.full_name, "ref": ref, "before": old, "after": new,
                                    "pusher": pusher.login})
            for pull in list(repo.pulls.values()):
                issue = repo.issues[pull.number]
                if pull.fork or issue.state != "open":
                    continue
                if pull.head_ref == branch and new:
                    self.sync_pull(repo, pull, new, pusher, before=old, wait=wait)
                elif pull.base_ref == branch and new:
                    pull.base_sha = new


# -- routes -------------------------------------------------------------------------------------

@routes.get("/repos/{owner}/{repo}")
def get_repo(d: GitHubDouble, call: Call) -> Any:
    """A full repository."""
    return d.shapes.repo(d.repo_for(call))


def _ref_param(d: GitHubDouble, repo: Repo, call: Call) -> tuple[str, str]:
    ref = call.query.get("ref") or repo.default_branch
    sha = d.resolve(repo, ref)
    if sha is None:
        raise HttpError(404, f"No commit found for the ref {ref}")
    return ref, sha


@routes.get("/repos/{owner}/{repo}/contents")
@routes.get("/repos/{owner}/{repo}/contents/")
@routes.get("/repos/{owner}/{repo}/contents/{path+}")
def get_contents(d: GitHubDouble, call: Call) -> Any:
    """A file (base64) or a directory listing at `ref` (default branch)."""
    repo = d.repo_for(call)
    ref, sha = _ref_param(d, repo, call)
    path = call.params.get("path", "").strip("/")
    entry = repo.git.entry_at(sha, path)
    if entry is None:
        raise not_found()
    if entry.type == "tree":
        items = repo.git.ls_tree(entry.sha)
        for item in items:
            item.path = f"{path}/{item.path}" if path else item.path
        return [d.shapes.content_item(repo, ref, e, repo.git, False) for e in items]
    entry.path = path
    return d.shapes.content_item(repo, ref, entry, repo.git, True)


@routes.put("/repos/{owner}/{repo}/contents/{path+}")
def put_contents(d: GitHubDouble, call: Call) -> Any:
    """Create or update one file with a commit (sha required when the file exists, like GitHub)."""
    repo = d.repo_for(call)
    data = call.json()
    path = call.params["path"].strip("/")
    branch = data.get("branch") or repo.default_branch
    try:
        content = base64.b64decode(data.get("content", ""), validate=False)
    except (binascii.Error, ValueError):
        raise invalid("content is not valid Base64", "content", "Content") from None
    if not data.get("message"):
        raise invalid("message wasn't supplied", "message", "Content", "missing_field")
    current = repo.git.entry_at(f"refs/heads/{branch}", path) if repo.git.rev_parse(f"refs/heads/{branch}") else None
    if current is not None and data.get("sha") != current.sha:
        raise HttpError(409 if data.get("sha") else 422, f"{path} does not match {data.get('sha')}"
                        if data.get("sha") else "Invalid request.\n\n\"sha\" wasn't supplied.")
    sha = d.commit_files(repo, branch, {path: content}, data["message"], call.actor,  # type: ignore[arg-type]
                         wait=False, via_api=call.installation is not None)
    entry = repo.git.entry_at(sha, path)
    assert entry is not None
    entry.path = path
    return (200 if current else 201), {"content": d.shapes.content_item(repo, branch, entry, repo.git, False),
                                       "commit": d.shapes.git_commit(repo, repo.git.read_commit(sha))}


@routes.get("/repos/{owner}/{repo}/branches/{branch+}")
def get_branch(d: GitHubDouble, call: Call) -> Any:
    """A branch with its head commit."""
    repo = d.repo_for(call)
    name = call.params["branch"]
    sha = repo.git.rev_parse(f"refs/heads/{name}")
    if sha is None:
        raise HttpError(404, "Branch not found")
    base = f"{d.api_url}/repos/{repo.full_name}/branches/{name}"
    return {"name": name, "commit": d.shapes.commit(repo, repo.git.read_commit(sha), users=d.state.users),
            "_links": {"self": base, "html": f"{d.web_url}/{repo.full_name}/tree/{name}"},
            "protected": repo.dismiss_stale_reviews,
            "protection": {"enabled": repo.dismiss_stale_reviews,
                           "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []}},
            "protection_url": f"{base}/protection"}


@routes.get("/repos/{owner}/{repo}/branches")
def list_branches(d: GitHubDouble, call: Call) -> Any:
    """Branches with their head shas."""
    repo = d.repo_for(call)
    return [{"name": ref[len("refs/heads/"):], "commit": {"sha": sha, "url": f"{d.api_url}/repos/{repo.full_name}/commits/{sha}"},
             "protected": False} for ref, sha in repo.git.refs("refs/heads/").items()]


def _ref_json(d: GitHubDouble, repo: Repo, name: str, sha: str) -> dict[str, Any]:
    return d.shapes.ref(repo, name, sha, repo.git.object_type(sha) or "commit")


@routes.get("/repos/{owner}/{repo}/git/ref/{ref+}")
def get_ref(d: GitHubDouble, call: Call) -> Any:
    """One ref (`heads/x`, `tags/y`)."""
    repo = d.repo_for(call)
    name = "refs/" + call.params["ref"]
    sha = repo.git.refs(name).get(name)
    if sha is None:
        raise not_found()
    return _ref_json(d, repo, name, sha)


@routes.get("/repos/{owner}/{repo}/git/matching-refs/{ref+}")
def matching_refs(d: GitHubDouble, call: Call) -> Any:
    """Refs starting with a prefix."""
    repo = d.repo_for(call)
    prefix = "refs/" + call.params["ref"]
    return [_ref_json(d, repo, name, sha) for name, sha in sorted(repo.git.refs("refs/").items())
            if name.startswith(prefix)]


@routes.post("/repos/{owner}/{repo}/git/refs")
def create_ref(d: GitHubDouble, call: Call) -> Any:
    """Create a ref (422 "Reference already exists")."""
    repo = d.repo_for(call)
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
    d.after_ref_moves(repo, {name: (None, sha)}, call.actor, wait=False)  # type: ignore[arg-type]
    return 201, _ref_json(d, repo, name, sha)


@routes.patch("/repos/{owner}/{repo}/git/refs/{ref+}")
def update_ref(d: GitHubDouble, call: Call) -> Any:
    """Move a ref; without `force` only fast-forwards (422 "Update is not a fast forward")."""
    repo = d.repo_for(call)
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
    d.after_ref_moves(repo, {name: (old, sha)}, call.actor, wait=False)  # type: ignore[arg-type]
    return _ref_json(d, repo, name, sha)


@routes.delete("/repos/{owner}/{repo}/git/refs/{ref+}")
def delete_ref(d: GitHubDouble, call: Call) -> Any:
    """Delete a ref."""
    repo = d.repo_for(call)
    name = "refs/" + call.params["ref"]
    if repo.git.refs(name).get(name) is None:
        raise HttpError(422, "Reference does not exist")
    repo.git.delete_ref(name)
    return 204, None


@routes.post("/repos/{owner}/{repo}/git/blobs")
def create_blob(d: GitHubDouble, call: Call) -> Any:
    """Write a blob (utf-8 or base64 content)."""
    repo = d.repo_for(call)
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
    return 201, {"url": f"{d.api_url}/repos/{repo.full_name}/git/blobs/{sha}", "sha": sha}


@routes.get("/repos/{owner}/{repo}/git/blobs/{sha}")
def get_blob(d: GitHubDouble, call: Call) -> Any:
    """A blob, base64."""
    repo = d.repo_for(call)
    sha = call.params["sha"]
    if repo.git.object_type(sha) != "blob":
        raise not_found()
    raw = repo.git.read_blob(sha)
    return {"sha": sha, "node_id": f"B_{sha[:12]}", "size": len(raw), "encoding": "base64",
            "url": f"{d.api_url}/repos/{repo.full_name}/git/blobs/{sha}", "content": base64.b64encode(raw).decode()}


@routes.post("/repos/{owner}/{repo}/git/trees")
def create_tree(d: GitHubDouble, call: Call) -> Any:
    """Write a tree from entries over `base_tree`; `sha: null` deletes a path."""
    repo = d.repo_for(call)
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
    return 201, d.shapes.tree(repo, sha, repo.git.ls_tree(sha))


@routes.get("/repos/{owner}/{repo}/git/trees/{sha+}")
def get_tree(d: GitHubDouble, call: Call) -> Any:
    """A tree (`recursive=1` lists everything)."""
    repo = d.repo_for(call)
    ident = call.params["sha"]
    sha = ident if repo.git.object_type(ident) == "tree" else None
    if sha is None:
        commit = d.resolve(repo, ident)
        if commit is None:
            raise not_found()
        sha = repo.git.read_commit(commit).tree
    recursive = call.query.get("recursive") not in (None, "", "0", "false")
    return d.shapes.tree(repo, sha, repo.git.ls_tree(sha, recursive=recursive))


@routes.post("/repos/{owner}/{repo}/git/commits")
def create_commit(d: GitHubDouble, call: Call) -> Any:
    """Write a commit; commits an app makes through the API are signed by GitHub (verified)."""
    repo = d.repo_for(call)
    data = call.json()
    tree, parents, message = data.get("tree"), data.get("parents", []), data.get("message")
    if not isinstance(message, str):
        raise invalid("message wasn't supplied", "message", "Commit", "missing_field")
    if not isinstance(tree, str) or repo.git.object_type(tree) != "tree":
        raise HttpError(422, "Tree SHA does not exist")
    for p in parents or []:
        if repo.git.object_type(p) != "commit":
            raise HttpError(422, "Parent SHA does not exist or is not a commit object")
    author = d._signature(call.actor)  # type: ignore[arg-type]
    if isinstance(data.get("author"), dict):
        author = Signature(data["author"].get("name", author.name), data["author"].get("email", author.email),
                           now())
    sha = repo.git.commit_tree(tree, list(parents or []), message, author, d._signature(call.actor))  # type: ignore[arg-type]
    if call.installation is not None and "signature" not in data:
        repo.api_commits.add(sha)
    return 201, d.shapes.git_commit(repo, repo.git.read_commit(sha))


@routes.get("/repos/{owner}/{repo}/git/commits/{sha}")
def get_git_commit(d: GitHubDouble, call: Call) -> Any:
    """A git commit object."""
    repo = d.repo_for(call)
    if repo.git.object_type(call.params["sha"]) != "commit":
        raise not_found()
    return d.shapes.git_commit(repo, repo.git.read_commit(call.params["sha"]))


@routes.get("/repos/{owner}/{repo}/commits/{ref+}")
def get_commit(d: GitHubDouble, call: Call) -> Any:
    """A commit with its files (diff against the first parent)."""
    repo = d.repo_for(call)
    ref = call.params["ref"]
    if ref.endswith(("/check-runs", "/check-suites", "/status")):
        raise not_found()
    sha = d.resolve(repo, ref)
    if sha is None:
        raise HttpError(422, f"No commit found for SHA: {ref}")
    info = repo.git.read_commit(sha)
    from .gitstore import EMPTY_TREE
    files = repo.git.diff(info.parents[0] if info.parents else EMPTY_TREE, sha)
    return d.shapes.commit(repo, info, files, users=d.state.users)


@routes.get("/repos/{owner}/{repo}/commits")
def list_commits(d: GitHubDouble, call: Call) -> Any:
    """Commits reachable from `sha` (default branch), newest first."""
    repo = d.repo_for(call)
    sha = d.resolve(repo, call.query.get("sha") or repo.default_branch)
    if sha is None:
        raise not_found()
    shas = list(reversed(repo.git.log(sha, limit=100)))
    return [d.shapes.commit(repo, repo.git.read_commit(s), users=d.state.users) for s in shas]


@routes.get("/repos/{owner}/{repo}/compare/{spec+}")
def compare(d: GitHubDouble, call: Call) -> Any:
    """`base...head`: commits ahead/behind and changed files with patches."""
    repo = d.repo_for(call)
    spec = call.params["spec"]
    if "..." not in spec:
        raise not_found()
    base_ref, head_ref = spec.split("...", 1)
    base, head = d.resolve(repo, base_ref), d.resolve(repo, head_ref)
    if base is None or head is None:
        raise not_found()
    merge_base = repo.git.merge_base(base, head) or base
    ahead = repo.git.log(f"{merge_base}..{head}")
    behind = repo.git.log(f"{merge_base}..{base}")
    status = "identical" if base == head else "ahead" if not behind else "behind" if not ahead else "diverged"
    files = repo.git.diff(merge_base, head)
    html = f"{d.web_url}/{repo.full_name}/compare/{spec}"
    return {
        "url": f"{d.api_url}/repos/{repo.full_name}/compare/{spec}", "html_url": html,
        "permalink_url": html, "diff_url": f"{html}.diff", "patch_url": f"{html}.patch",
        "base_commit": d.shapes.commit(repo, repo.git.read_commit(base), users=d.state.users),
        "merge_base_commit": d.shapes.commit(repo, repo.git.read_commit(merge_base), users=d.state.users),
        "status": status, "ahead_by": len(ahead), "behind_by": len(behind), "total_commits": len(ahead),
        "commits": [d.shapes.commit(repo, repo.git.read_commit(s), users=d.state.users) for s in ahead],
        "files": [d.shapes.file_change(repo, f, head) for f in files],
    }
