"""Commits made on the real bare repos and branch moves, with the PR bookkeeping and webhooks they cause."""

from __future__ import annotations

from .gitstore import Signature
from .hub import Hub
from .pulls import sync_pull
from .state import Repo, User, now


def signature(actor: User) -> Signature:
    """Author/committer line GitHub writes for an account (its noreply address)."""
    return Signature(actor.login, f"{actor.id}+{actor.login}@users.noreply.github.com", now())


def commit_files(hub: Hub, repo: Repo, branch: str, files: dict[str, str | bytes | None], message: str,
                 actor: User, *, wait: bool = True, via_api: bool = False) -> str:
    """Commit file changes on a branch (None deletes; the branch is created from the default branch)."""
    with hub.state.lock:
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
        sha = git.commit_tree(tree, [parent] if parent else [], message, signature(actor))
        if via_api:
            repo.api_commits.add(sha)
        git.update_ref(f"refs/heads/{branch}", sha)
        repo.pushed_at = now()
    after_ref_moves(hub, repo, {f"refs/heads/{branch}": (old, sha)}, actor, wait=wait)
    return sha


def after_ref_moves(hub: Hub, repo: Repo, moves: dict[str, tuple[str | None, str | None]], pusher: User, *,
                    wait: bool = True) -> None:
    """React to moved branches like GitHub: PR heads follow (`synchronize`), stale approvals may go."""
    for ref, (old, new) in moves.items():
        if not ref.startswith("refs/heads/") or old == new:
            continue
        branch = ref[len("refs/heads/"):]
        hub.state.git_pushes.append({"repo": repo.full_name, "ref": ref, "before": old, "after": new,
                                     "pusher": pusher.login})
        for pull in list(repo.pulls.values()):
            issue = repo.issues[pull.number]
            if pull.fork or issue.state != "open":
                continue
            if pull.head_ref == branch and new:
                sync_pull(hub, repo, pull, new, pusher, before=old, wait=wait)
            elif pull.base_ref == branch and new:
                pull.base_sha = new
