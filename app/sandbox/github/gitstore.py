"""Real bare git repositories for the GitHub double, read and written with git plumbing only."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


class GitError(Exception):
    """A git plumbing command failed (bad object, missing ref...)."""


@dataclass
class Signature:
    """Author or committer of a commit."""

    name: str
    email: str
    date: datetime


@dataclass
class CommitInfo:
    """A commit object as read back from the repository."""

    sha: str
    tree: str
    parents: list[str]
    author: Signature
    committer: Signature
    message: str


@dataclass
class TreeEntry:
    """One entry of a tree object."""

    mode: str
    type: str
    sha: str
    path: str
    size: int | None = None


@dataclass
class FileChange:
    """One file of a diff between two commits (status like GitHub's: added, modified, removed, renamed)."""

    filename: str
    status: str
    additions: int
    deletions: int
    patch: str
    sha: str
    previous_filename: str | None = None


_STATUS = {"A": "added", "M": "modified", "D": "removed", "R": "renamed", "C": "copied", "T": "changed"}


def _parse_sig(text: str) -> Signature:
    """Parse `Name <email> 1700000000 +0000` into a Signature."""
    head, _, rest = text.rpartition(">")
    name, _, email = head.partition("<")
    stamp = rest.split()[0]
    return Signature(name.strip(), email.strip(), datetime.fromtimestamp(int(stamp), UTC))


class GitRepo:
    """A bare repository on disk; every method runs plain git plumbing in it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    # -- low level -------------------------------------------------------------------------
    def git(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> bytes:
        """Run git in the bare repository and return stdout; GitError on failure."""
        full_env = {**os.environ, "GIT_DIR": str(self.path), "GIT_CONFIG_NOSYSTEM": "1",
                    "GIT_TERMINAL_PROMPT": "0", **(env or {})}
        proc = subprocess.run(["git", *args], input=input, capture_output=True, env=full_env, check=False)
        if proc.returncode != 0:
            raise GitError(proc.stderr.decode(errors="replace").strip() or f"git {args[0]} failed")
        return proc.stdout

    @classmethod
    def init(cls, path: Path, default_branch: str = "main") -> GitRepo:
        """Create an empty bare repository whose HEAD points at `default_branch`."""
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "--bare", "-q", f"--initial-branch={default_branch}", str(path)],
                       check=True, capture_output=True)
        repo = cls(path)
        # http-backend refuses receive-pack for anonymous users unless enabled; the double does auth itself.
        repo.git("config", "http.receivepack", "true")
        repo.git("config", "uploadpack.allowAnySHA1InWant", "true")
        return repo

    # -- objects ---------------------------------------------------------------------------
    def hash_blob(self, content: bytes) -> str:
        """Write a blob and return its sha."""
        return self.git("hash-object", "-w", "--stdin", input=content).decode().strip()

    def object_type(self, sha: str) -> str | None:
        """`blob`/`tree`/`commit`/`tag`, or None when the object does not exist."""
        try:
            return self.git("cat-file", "-t", sha).decode().strip()
        except GitError:
            return None

    def read_blob(self, sha: str) -> bytes:
        """Raw bytes of a blob."""
        return self.git("cat-file", "blob", sha)

    def mktree(self, entries: list[TreeEntry]) -> str:
        """Write one tree level from entries (paths without slashes)."""
        lines = "".join(f"{e.mode} {e.type} {e.sha}\t{e.path}\n" for e in entries)
        return self.git("mktree", "--missing", input=lines.encode()).decode().strip()

    def ls_tree(self, treeish: str, recursive: bool = False, path: str | None = None) -> list[TreeEntry]:
        """Entries of a tree (optionally recursive, optionally limited to one path)."""
        args = ["ls-tree", "-l", "-z"]
        if recursive:
            args += ["-r", "-t"]
        args.append(treeish)
        if path:
            args += ["--", path]
        out = self.git(*args).decode()
        entries = []
        for rec in out.split("\0"):
            if not rec:
                continue
            meta, _, name = rec.partition("\t")
            mode, typ, sha, size = meta.split()
            entries.append(TreeEntry(mode, typ, sha, name, None if size == "-" else int(size)))
        return entries

    def build_tree(self, base_tree: str | None, changes: dict[str, tuple[str, str, str] | None]) -> str:
        """Apply `{path: (mode, type, sha) | None}` to `base_tree` (None deletes) and return the new tree."""
        files: dict[str, tuple[str, str, str]] = {}
        if base_tree:
            for e in self.ls_tree(base_tree, recursive=True):
                if e.type != "tree":
                    files[e.path] = (e.mode, e.type, e.sha)
        for path, entry in changes.items():
            path = path.strip("/")
            if entry is None:
                files.pop(path, None)
                # deleting a folder path removes everything under it, like GitHub's tree API
                for p in [p for p in files if p.startswith(path + "/")]:
                    files.pop(p)
            elif entry[1] == "tree":
                for e in self.ls_tree(entry[2], recursive=True):
                    if e.type != "tree":
                        files[f"{path}/{e.path}"] = (e.mode, e.type, e.sha)
            else:
                files[path] = entry
        return self._write_nested(files)

    def _write_nested(self, files: dict[str, tuple[str, str, str]]) -> str:
        """Write nested trees bottom-up from a flat `{path: (mode, type, sha)}` map."""
        children: dict[str, dict[str, tuple[str, str, str]]] = {}
        subdirs: dict[str, dict[str, tuple[str, str, str]]] = {}
        for path, entry in files.items():
            head, sep, rest = path.partition("/")
            if sep:
                subdirs.setdefault(head, {})[rest] = entry
            else:
                children.setdefault("", {})[head] = entry
        entries = [TreeEntry(m, t, s, name) for name, (m, t, s) in children.get("", {}).items()]
        for name, sub in subdirs.items():
            entries.append(TreeEntry("040000", "tree", self._write_nested(sub), name))
        # mktree with no entries writes the empty tree object, so a commit of "nothing" still works
        return self.mktree(entries)

    def commit_tree(self, tree: str, parents: list[str], message: str, author: Signature,
                    committer: Signature | None = None) -> str:
        """Write a commit object and return its sha."""
        committer = committer or author
        env = {
            "GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email,
            "GIT_AUTHOR_DATE": f"{int(author.date.timestamp())} +0000",
            "GIT_COMMITTER_NAME": committer.name, "GIT_COMMITTER_EMAIL": committer.email,
            "GIT_COMMITTER_DATE": f"{int(committer.date.timestamp())} +0000",
        }
        args = ["commit-tree", tree]
        for p in parents:
            args += ["-p", p]
        return self.git(*args, input=message.encode(), env=env).decode().strip()

    def read_commit(self, sha: str) -> CommitInfo:
        """Parse a commit object."""
        raw = self.git("cat-file", "commit", sha).decode(errors="replace")
        header, _, message = raw.partition("\n\n")
        tree, parents, author, committer = "", [], None, None
        for line in header.splitlines():
            key, _, value = line.partition(" ")
            if key == "tree":
                tree = value
            elif key == "parent":
                parents.append(value)
            elif key == "author":
                author = _parse_sig(value)
            elif key == "committer":
                committer = _parse_sig(value)
        full = self.rev_parse(sha) or sha
        assert author and committer
        return CommitInfo(full, tree, parents, author, committer, message)

    # -- refs ------------------------------------------------------------------------------
    def rev_parse(self, rev: str) -> str | None:
        """Full sha for a rev (branch, tag, sha, `refs/...`), or None."""
        try:
            return self.git("rev-parse", "--verify", "-q", f"{rev}^{{commit}}").decode().strip() or None
        except GitError:
            return None

    def resolve(self, ref: str) -> str | None:
        """A branch, tag, `refs/...` or sha to a commit sha, as GitHub resolves `{ref}` in paths."""
        for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
            sha = self.rev_parse(candidate)
            if sha:
                return sha
        return None

    def refs(self, prefix: str = "refs/") -> dict[str, str]:
        """All refs under a prefix as `{refname: sha}`."""
        out = self.git("for-each-ref", "--format=%(refname) %(objectname)", prefix).decode()
        refs: dict[str, str] = {}
        for line in out.splitlines():
            name, _, sha = line.partition(" ")
            if name:
                refs[name] = sha
        return refs

    def update_ref(self, ref: str, sha: str, old: str | None = None) -> None:
        """Point a ref at a sha (compare-and-swap on `old` when given)."""
        args = ["update-ref", ref, sha]
        if old is not None:
            args.append(old)
        self.git(*args)

    def delete_ref(self, ref: str) -> None:
        """Remove a ref."""
        self.git("update-ref", "-d", ref)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """True when `ancestor` is reachable from `descendant` (a fast-forward)."""
        try:
            self.git("merge-base", "--is-ancestor", ancestor, descendant)
            return True
        except GitError:
            return False

    def merge_base(self, a: str, b: str) -> str | None:
        """Best common ancestor of two commits."""
        try:
            return self.git("merge-base", a, b).decode().strip() or None
        except GitError:
            return None

    def log(self, rev_range: str, limit: int = 250) -> list[str]:
        """Commit shas in a range, oldest first (as GitHub's compare and PR commits list them)."""
        out = self.git("rev-list", "--reverse", f"--max-count={limit}", rev_range).decode()
        return [line for line in out.splitlines() if line]

    # -- files -----------------------------------------------------------------------------
    def entry_at(self, ref: str, path: str) -> TreeEntry | None:
        """The tree entry for `path` at `ref`, or None."""
        path = path.strip("/")
        if not path:
            commit = self.rev_parse(ref)
            if not commit:
                return None
            return TreeEntry("040000", "tree", self.read_commit(commit).tree, "")
        try:
            entries = self.ls_tree(ref, path=path)
        except GitError:
            return None
        for e in entries:
            if e.path == path:
                return e
        return None

    def file_at(self, ref: str, path: str) -> bytes | None:
        """File content at a ref, or None when missing."""
        entry = self.entry_at(ref, path)
        if entry is None or entry.type != "blob":
            return None
        return self.read_blob(entry.sha)

    def diff(self, base: str, head: str) -> list[FileChange]:
        """Files changed between two commits, with unified patches like GitHub's `patch` field."""
        out = self.git("diff", "--raw", "--numstat", "-z", "-M", "--no-abbrev", base, head).decode()
        parts = out.split("\0")
        raw: list[tuple[str, str, str | None, str]] = []  # status, path, old path, new sha
        stats: dict[str, tuple[int, int]] = {}
        i = 0
        while i < len(parts):
            token = parts[i]
            if token.startswith(":"):
                fields = token[1:].split()
                status = fields[4][0]
                if status in "RC":
                    raw.append((status, parts[i + 2], parts[i + 1], fields[3]))
                    i += 3
                else:
                    raw.append((status, parts[i + 1], None, fields[3]))
                    i += 2
            elif token:
                added, deleted, name = (token.split("\t") + ["", ""])[:3]
                if name == "":  # rename: the names follow as two fields
                    name = parts[i + 2]
                    i += 3
                else:
                    i += 1
                stats[name] = (int(added) if added.isdigit() else 0, int(deleted) if deleted.isdigit() else 0)
            else:
                i += 1
        changes = []
        for status, path, old, sha in raw:
            patch_args = ["diff", "-M", base, head, "--", path] + ([old] if old else [])
            patch = self.git(*patch_args).decode(errors="replace")
            hunk_at = patch.find("\n@@")
            patch = patch[hunk_at + 1:] if hunk_at >= 0 else ""
            add, dele = stats.get(path, (0, 0))
            changes.append(FileChange(path, _STATUS.get(status, "modified"), add, dele, patch.rstrip("\n"),
                                      sha if status != "D" else "0" * 40, old))
        return changes
