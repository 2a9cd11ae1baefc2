"""What the code-generation agent may read and write in its workspace, decided in one place.

The agent works in a checkout of the repository (`root`). The guard turns a path the model gave (absolute,
or relative to the checkout) into a host path, and refuses what it must not touch, with a message the
model reads as a tool error:

- anything that resolves outside the checkout (`..`, an absolute path elsewhere, a symbolic link that
  leads out, as the file itself or as a folder on the way), and git's own `.git` folder;
- for writes also: CI workflows (`.github/workflows/`), the approved specification (every file of the
  approved fingerprint, `locked`, and every spec file: a `.feature` under the features folder, new ones
  included), everything under `<features>/steps/` (step definitions are the test), and the repository's
  `protected_paths` globs.

The rules hold for the path as given and for where it really leads, so a link inside the checkout to a
locked file is refused like the locked file itself. The editor (`app/agent/editor.py`) calls `writable`
before every write; the job re-checks the fingerprint over the whole workspace afterwards in any case,
since the shell can write files the guard never sees.

Messages name only what the model gave or paths inside the checkout, never a host path outside it.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

from app.domain.fingerprint import is_spec_file

WORKFLOWS = ".github/workflows"


class Refused(Exception):
    """A write or read the guard refuses; str() is the message shown to the model as a tool error."""


class WorkspaceGuard:
    """The checkout at `root`, and which of its paths the agent may read (`resolve`) or write (`writable`)."""

    def __init__(
        self, root: Path, *, features_dir: str = "features", locked: Iterable[str] = (),
        protected: Iterable[str] = (),
    ) -> None:
        self.root = Path(root).resolve()
        self._spelled = Path(os.path.normpath(Path(root).absolute()))  # the root as given, links unresolved
        self.features_dir = features_dir.strip().strip("/") or "features"
        self.locked = frozenset(_normal(path) for path in locked)
        self.protected = tuple(pattern.strip() for pattern in protected if pattern.strip())

    # -- reading --------------------------------------------------------------------------------------

    def resolve(self, given: str) -> Path:
        """The real host path of `given` (symbolic links followed), for reading; refused when it is outside
        the checkout or in `.git`."""
        candidate = self._candidate(given)
        self._inside(Path(os.path.normpath(candidate)), given)
        real = Path(os.path.realpath(candidate))
        self._inside(real, given, through_link=True)
        self._not_git(self.relative(real), given)
        return real

    # -- writing --------------------------------------------------------------------------------------

    def writable(self, given: str) -> Path:
        """Where a write to `given` lands: its parent folder resolved, its last part not (the editor opens
        it without following links). Refused unless the agent may change that file."""
        lexical = Path(os.path.normpath(self._candidate(given)))
        self._inside(lexical, given)
        if lexical == self.root:
            raise Refused(f"`{given}` is the repository's folder itself, not a file.")
        parent = Path(os.path.realpath(lexical.parent))
        self._inside(parent, given, through_link=True)
        target = parent / lexical.name
        real = Path(os.path.realpath(target))
        self._inside(real, given, through_link=True)
        shown = self.relative(lexical)
        for path in dict.fromkeys((lexical, target, real)):
            relative = self.relative(path)
            label = f"`{shown}`" if relative == shown else f"`{shown}` (which leads to `{relative}`)"
            self._check_write(relative, label, given)
        return target

    def relative(self, path: Path) -> str:
        """`path` relative to the checkout, in posix form ("." for the checkout itself)."""
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            raise Refused("That path is outside the repository.") from None

    # -- the rules ------------------------------------------------------------------------------------

    def _candidate(self, given: str) -> Path:
        if not isinstance(given, str):
            raise Refused("The path must be a string.")
        if "\0" in given:
            raise Refused("The path contains a NUL character.")
        path = Path(given)
        if not path.is_absolute():
            return self.root / path
        if self._spelled != self.root and path.is_relative_to(self._spelled):
            return self.root / path.relative_to(self._spelled)  # the root spelled through a link
        return path

    def _inside(self, path: Path, given: str, *, through_link: bool = False) -> None:
        if path == self.root or path.is_relative_to(self.root):
            return
        how = " through a symbolic link" if through_link else ""
        raise Refused(f"`{given}` is outside the repository{how}.")

    def _not_git(self, relative: str, given: str) -> None:
        if ".git" in relative.split("/"):
            raise Refused(GIT_REFUSAL.format(given=given))

    def _check_write(self, relative: str, named: str, given: str) -> None:
        """Refuse a write to `relative`; `named` is how the message names it (the path inside the
        checkout, and where it leads when a link is on the way)."""
        rule = write_rule(relative, features_dir=self.features_dir, locked=self.locked, protected=self.protected)
        if rule is None:
            return
        kind, pattern = rule
        raise Refused({
            "git": GIT_REFUSAL.format(given=given),
            "workflow": f"{named} is a CI workflow; Specloop never writes workflows.",
            "steps": f"{named}: step definitions are part of the approved test; a step nothing defines needs a "
                     "person's step definition.",
            "locked": f"{named} is part of the approved specification, which is locked: implement the code so its "
                      "scenarios pass instead of changing them.",
            "spec": f"{named} would be a feature file, and the specification is written and approved on the spec "
                    "pull request, not by the code agent: implement the approved scenarios instead.",
            "protected": f"{named} matches `{pattern}` in the repository's `protected_paths`; Specloop does not "
                         "change it.",
        }[kind])


GIT_REFUSAL = ("`{given}` is inside `.git`, git's own folder: Specloop keeps the repository's history itself, "
               "so work on the files of the checkout only.")
WriteRule = tuple[str, str]  # (kind: git | workflow | steps | locked | spec | protected, the protected glob)


def write_rule(relative: str, *, features_dir: str, locked: Collection[str],
               protected: Sequence[str]) -> WriteRule | None:
    """Which rule forbids generated code to write repo-relative `relative`, or None: the one list the
    editor's guard refuses by and the job judges the finished change by (app/agent/review.py)."""
    if ".git" in relative.split("/"):
        return ("git", "")
    if relative == WORKFLOWS or relative.startswith(WORKFLOWS + "/"):
        return ("workflow", "")
    steps = f"{features_dir}/steps"
    if relative == steps or relative.startswith(steps + "/"):
        return ("steps", "")
    if relative in locked:
        return ("locked", "")
    if is_spec_file(relative, features_dir):
        return ("spec", "")
    pattern = protected_by(relative, protected)
    return ("protected", pattern) if pattern is not None else None


def protected_by(relative: str, protected: Sequence[str]) -> str | None:
    """The `protected_paths` glob that covers `relative` (the path itself or a folder it is in)."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    for pattern in protected:
        clean = pattern.strip("/")
        if any(fnmatch.fnmatchcase(prefix, clean) for prefix in prefixes):
            return pattern
    return None


def _normal(path: str) -> str:
    """A repo-relative path as the guard compares it: posix, no `./`, no leading or trailing slash."""
    return posixpath.normpath(path.strip().strip("/")).removeprefix("./")
