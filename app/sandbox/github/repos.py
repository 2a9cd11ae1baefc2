"""REST routes for a repository: metadata, contents, branches, commits, compare, collaborator permission."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from .calls import Call, HttpError, invalid, not_found
from .commits import commit_files
from .gitstore import EMPTY_TREE
from .hub import Hub
from .pulls import pull_json
from .router import Routes, paginate
from .state import CLASSIC_PERMISSION, Repo

routes = Routes()


@routes.get("/repos/{owner}/{repo}")
def get_repo(hub: Hub, call: Call) -> Any:
    """A full repository."""
    return hub.shapes.repo(hub.repo_for(call))


def _ref_param(repo: Repo, call: Call) -> tuple[str, str]:
    ref = call.query.get("ref") or repo.default_branch
    sha = repo.git.resolve(ref)
    if sha is None:
        raise HttpError(404, f"No commit found for the ref {ref}")
    return ref, sha


@routes.get("/repos/{owner}/{repo}/contents")
@routes.get("/repos/{owner}/{repo}/contents/")
@routes.get("/repos/{owner}/{repo}/contents/{path+}")
def get_contents(hub: Hub, call: Call) -> Any:
    """A file (base64) or a directory listing at `ref` (default branch)."""
    repo = hub.repo_for(call)
    ref, sha = _ref_param(repo, call)
    path = call.params.get("path", "").strip("/")
    entry = repo.git.entry_at(sha, path)
    if entry is None:
        raise not_found()
    if entry.type == "tree":
        items = repo.git.ls_tree(entry.sha)
        for item in items:
            item.path = f"{path}/{item.path}" if path else item.path
        return [hub.shapes.content_item(repo, ref, e, repo.git, False) for e in items]
    entry.path = path
    return hub.shapes.content_item(repo, ref, entry, repo.git, True)


@routes.put("/repos/{owner}/{repo}/contents/{path+}")
def put_contents(hub: Hub, call: Call) -> Any:
    """Create or update one file with a commit (sha required when the file exists, like GitHub)."""
    repo = hub.repo_for(call)
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
    sha = commit_files(hub, repo, branch, {path: content}, data["message"], call.user,
                       wait=False, via_api=call.installation is not None)
    entry = repo.git.entry_at(sha, path)
    assert entry is not None
    entry.path = path
    return (200 if current else 201), {"content": hub.shapes.content_item(repo, branch, entry, repo.git, False),
                                       "commit": hub.shapes.git_commit(repo, repo.git.read_commit(sha))}


@routes.get("/repos/{owner}/{repo}/branches/{branch+}")
def get_branch(hub: Hub, call: Call) -> Any:
    """A branch with its head commit."""
    repo = hub.repo_for(call)
    name = call.params["branch"]
    sha = repo.git.rev_parse(f"refs/heads/{name}")
    if sha is None:
        raise HttpError(404, "Branch not found")
    base = f"{hub.api_url}/repos/{repo.full_name}/branches/{name}"
    return {"name": name, "commit": hub.shapes.commit(repo, repo.git.read_commit(sha), users=hub.state.users),
            "_links": {"self": base, "html": f"{hub.web_url}/{repo.full_name}/tree/{name}"},
            "protected": repo.dismiss_stale_reviews,
            "protection": {"enabled": repo.dismiss_stale_reviews,
                           "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []}},
            "protection_url": f"{base}/protection"}


@routes.get("/repos/{owner}/{repo}/branches")
def list_branches(hub: Hub, call: Call) -> Any:
    """Branches with their head shas."""
    repo = hub.repo_for(call)
    api = f"{hub.api_url}/repos/{repo.full_name}"
    return [{"name": ref[len("refs/heads/"):], "commit": {"sha": sha, "url": f"{api}/commits/{sha}"},
             "protected": False} for ref, sha in repo.git.refs("refs/heads/").items()]


@routes.get("/repos/{owner}/{repo}/commits/{sha}/pulls")
def pulls_for_commit(hub: Hub, call: Call) -> Any:
    """PRs bringing in a commit: open ones whose commits include it (merged ones too), newest first."""
    repo = hub.repo_for(call)
    sha = repo.git.resolve(call.params["sha"])
    if sha is None:
        raise HttpError(422, f"No commit found for SHA: {call.params['sha']}")
    found = []
    for pull in sorted(repo.pulls.values(), key=lambda p: -p.number):
        if pull.fork or (repo.issues[pull.number].state != "open" and not pull.merged):
            continue
        base = repo.git.merge_base(pull.base_sha, pull.head_sha) or pull.base_sha
        if pull.head_sha == sha or sha in repo.git.log(f"{base}..{pull.head_sha}"):
            found.append(pull)
    return paginate(hub, call, [pull_json(hub, repo, p, full=False) for p in found])


@routes.get("/repos/{owner}/{repo}/commits/{ref+}")
def get_commit(hub: Hub, call: Call) -> Any:
    """A commit with its files (diff against the first parent)."""
    repo = hub.repo_for(call)
    ref = call.params["ref"]
    if ref.endswith(("/check-runs", "/check-suites", "/status", "/pulls")):
        raise not_found()
    sha = repo.git.resolve(ref)
    if sha is None:
        raise HttpError(422, f"No commit found for SHA: {ref}")
    info = repo.git.read_commit(sha)
    files = repo.git.diff(info.parents[0] if info.parents else EMPTY_TREE, sha)
    return hub.shapes.commit(repo, info, files, users=hub.state.users)


@routes.get("/repos/{owner}/{repo}/commits")
def list_commits(hub: Hub, call: Call) -> Any:
    """Commits reachable from `sha` (default branch), newest first."""
    repo = hub.repo_for(call)
    sha = repo.git.resolve(call.query.get("sha") or repo.default_branch)
    if sha is None:
        raise not_found()
    shas = list(reversed(repo.git.log(sha, limit=100)))
    return [hub.shapes.commit(repo, repo.git.read_commit(s), users=hub.state.users) for s in shas]


@routes.get("/repos/{owner}/{repo}/compare/{spec+}")
def compare(hub: Hub, call: Call) -> Any:
    """`base...head`: commits ahead/behind and changed files with patches."""
    repo = hub.repo_for(call)
    spec = call.params["spec"]
    if "..." not in spec:
        raise not_found()
    base_ref, head_ref = spec.split("...", 1)
    base, head = repo.git.resolve(base_ref), repo.git.resolve(head_ref)
    if base is None or head is None:
        raise not_found()
    merge_base = repo.git.merge_base(base, head) or base
    ahead = repo.git.log(f"{merge_base}..{head}")
    behind = repo.git.log(f"{merge_base}..{base}")
    status = "identical" if base == head else "ahead" if not behind else "behind" if not ahead else "diverged"
    files = repo.git.diff(merge_base, head)
    html = f"{hub.web_url}/{repo.full_name}/compare/{spec}"
    users = hub.state.users
    return {
        "url": f"{hub.api_url}/repos/{repo.full_name}/compare/{spec}", "html_url": html,
        "permalink_url": html, "diff_url": f"{html}.diff", "patch_url": f"{html}.patch",
        "base_commit": hub.shapes.commit(repo, repo.git.read_commit(base), users=users),
        "merge_base_commit": hub.shapes.commit(repo, repo.git.read_commit(merge_base), users=users),
        "status": status, "ahead_by": len(ahead), "behind_by": len(behind), "total_commits": len(ahead),
        "commits": [hub.shapes.commit(repo, repo.git.read_commit(s), users=users) for s in ahead],
        "files": [hub.shapes.file_change(repo, f, head) for f in files],
    }


@routes.get("/repos/{owner}/{repo}/collaborators/{user}/permission")
def collaborator_permission(hub: Hub, call: Call) -> Any:
    """`permission` folds triage into read and maintain into write; `role_name` is the real role."""
    repo = hub.repo_for(call)
    login = call.params["user"]
    if login.lower() not in hub.state.users:
        raise not_found()
    user = hub.state.users[login.lower()]
    role = hub.state.role(repo, user.login)
    shaped = hub.shapes.user(user) or {}
    if role is not None:
        shaped["permissions"] = {"admin": role == "admin", "maintain": role in ("maintain", "admin"),
                                 "push": role in ("write", "maintain", "admin"),
                                 "triage": role != "read", "pull": True}
        shaped["role_name"] = role
    return {"permission": CLASSIC_PERMISSION.get(role or "", "none"), "role_name": role or "none", "user": shaped}
