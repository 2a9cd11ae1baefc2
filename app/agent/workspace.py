"""The code-generation workspace: a work tree the agent may change, with its git folder kept out of reach.

    ws = await Workspace.fetch(root, clone_url, token, branch="specloop/7-signup", sha=head)
    ...                                   # the agent edits ws.tree (in the sandbox)
    changes = await ws.changes()          # what it changed, as git sees it (.gitignore honoured)

The repository is cloned into `<root>/git` (the worker's side: the sandbox never sees it), and its files
are checked out into `<root>/work/repo`, a work tree with no `.git` in it. So nothing the agent does can
plant a hook or a `core.fsmonitor` command for the worker's own git to run, and the installation token
(given to the clone in its environment, see app/git.py) is in no file the sandbox can read. Changes are
read with the worker's git over that work tree (`--git-dir`, `--work-tree`): only what the index would
take, with the repository's `.gitignore` honoured, so a `node_modules/` that `code.install` made is not
part of the change.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from app.git import clone, run_git

WORK = "work"  # the sandbox's workspace (read-write): the checkout is `repo` inside it
TREE = "repo"
GIT = "git"
MAX_FILE_BYTES = 10 << 20
# Left behind by running Python or Node in the checkout (bytecode, caches): excluded from every change.
BUILD_LEFTOVERS = ("__pycache__/", "*.py[co]", ".pytest_cache/", ".mypy_cache/", ".ruff_cache/")  # a file larger than this is not pushed through the API (said so)


@dataclass(frozen=True)
class FileChange:
    """One path the agent changed: "A"dded, "M"odified or "D"eleted, with its git mode when it exists."""

    path: str
    status: str  # "A" | "M" | "D"
    mode: str = "100644"  # "100644" | "100755" | "120000" (a link) | "160000" (an embedded repository)
    added_lines: int = 0
    removed_lines: int = 0


@dataclass
class Changes:
    """Everything the agent changed in the work tree, relative to the commit it started from."""

    files: list[FileChange] = field(default_factory=list)

    @property
    def paths(self) -> list[str]:
        return [change.path for change in self.files]

    def __bool__(self) -> bool:
        return bool(self.files)


@dataclass
class Workspace:
    """The folders of one code-generation run (removed by the job, also on failure)."""

    root: Path
    sha: str  # the commit the run started from

    @property
    def work(self) -> Path:
        """The sandbox's workspace."""
        return self.root / WORK

    @property
    def tree(self) -> Path:
        """The checkout the agent changes."""
        return self.root / WORK / TREE

    @property
    def git_dir(self) -> Path:
        return self.root / GIT / ".git"

    @classmethod
    async def fetch(cls, root: Path, url: str, token: str | None, *, branch: str, sha: str) -> Workspace:
        """Clone `branch` (without a checkout) and check commit `sha` out into the work tree."""
        ws = cls(root, sha)
        ws.tree.mkdir(parents=True)
        await clone(url, root / GIT, token, branch=branch, no_checkout=True)
        # what running the project leaves behind is never part of the change, even without a .gitignore
        (ws.git_dir / "info").mkdir(exist_ok=True)
        (ws.git_dir / "info" / "exclude").write_text("".join(f"{p}\n" for p in BUILD_LEFTOVERS))
        await ws.git("checkout", "--quiet", "--force", "--detach", sha)
        return ws

    async def git(self, *args: str) -> str:
        """The worker's git on this work tree (never configured by anything in it)."""
        return await run_git(f"--git-dir={self.git_dir}", f"--work-tree={self.tree}", *args, cwd=self.tree)

    async def changes(self) -> Changes:
        """What differs from the starting commit, as `git add --all` would stage it."""
        await self.git("add", "--all")
        raw = await self.git("diff", "--cached", "--no-renames", "--raw", "-z", self.sha)
        numstat = await self.git("diff", "--cached", "--no-renames", "--numstat", "-z", self.sha)
        counts = _numstat(numstat)
        found: list[FileChange] = []
        parts = raw.split("\0")
        for index in range(0, len(parts) - 1, 2):
            meta, path = parts[index], parts[index + 1]
            if not meta.startswith(":"):
                continue
            _old_mode, new_mode, _old, _new, status = meta[1:].split()
            letter = status[0]
            if letter not in "AMDT":
                continue
            added, removed = counts.get(path, (0, 0))
            mode = new_mode if letter != "D" else "000000"
            found.append(FileChange(path, "M" if letter == "T" else letter, mode, added, removed))
        return Changes(sorted(found, key=lambda change: change.path))

    async def original(self, path: str) -> str | None:
        """A file's text at the starting commit (None when it did not exist there)."""
        try:
            return await run_git(f"--git-dir={self.git_dir}", "show", f"{self.sha}:{path}")
        except Exception:  # noqa: BLE001 - absent at that commit (or not text): nothing to compare
            return None

    def read(self, path: str) -> bytes | None:
        """A changed file's content as the agent left it: a plain file's bytes, a link's target; None when
        it is neither (a FIFO, a device), or too large."""
        full = self.tree / path
        try:
            info = os.lstat(full)
        except OSError:
            return None
        if stat.S_ISLNK(info.st_mode):
            return os.readlink(full).encode()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            return None
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            return os.read(fd, MAX_FILE_BYTES + 1)
        finally:
            os.close(fd)

    def spec_files(self, features_dir: str) -> dict[str, bytes]:
        """Every plain file under the features folder as it is now (the fingerprint is recomputed over it)."""
        folder = self.tree / features_dir
        files: dict[str, bytes] = {}
        if not folder.is_dir() or folder.is_symlink():
            return files
        for current, dirs, names in os.walk(folder, followlinks=False):
            for name in names:
                full = Path(current) / name
                relative = full.relative_to(self.tree).as_posix()
                content = self.read(relative)
                files[relative] = content if content is not None else b"\0unreadable"
            dirs[:] = [d for d in dirs if not (Path(current) / d).is_symlink()]
        return files


def _numstat(text: str) -> dict[str, tuple[int, int]]:
    """`git diff --numstat -z` -> path -> (added, removed); binary files count 0."""
    counts: dict[str, tuple[int, int]] = {}
    for record in text.split("\0"):
        match = re.match(r"^(\d+|-)\t(\d+|-)\t(.+)$", record, re.DOTALL)
        if match:
            added, removed, path = match.groups()
            counts[path] = (int(added) if added != "-" else 0, int(removed) if removed != "-" else 0)
    return counts
