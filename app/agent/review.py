"""What Specloop checks in the agent's change before anything is pushed (plain Python, no I/O).

However a file was changed (the editor, a bash command, a script the app ran), the change is judged here
as a whole: paths no generated change may touch (the approved spec and its step definitions, `.git`, CI
workflows, the repository's `protected_paths`), links that point out of the repository and embedded
repositories, and the existing tests the change deletes or weakens.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from app.agent.guard import write_rule

_TEST_PATH = re.compile(
    r"(^|/)(tests?|spec|__tests__)/"          # a tests folder
    r"|(^|/)test_[^/]+\.py$|_test\.(py|go)$"     # pytest / go
    r"|\.(test|spec)\.[cm]?[jt]sx?$"             # jest, vitest, mocha
    r"|_spec\.rb$|Test\.java$|Tests?\.cs$"
)
# What counts as one test or one assertion, in the languages teams bring (a rough but honest count).
_TESTS = re.compile(r"^\s*(async\s+)?def\s+test|^\s*(it|test|describe)\s*\(|@Test\b|^\s*func\s+Test", re.MULTILINE)
_ASSERTS = re.compile(r"\bassert\w*\b|\bexpect\s*\(|\.should\b|\bt\.(Error|Fatal)|\bassertThat\b|\bself\.assert")


def is_test_file(path: str) -> bool:
    """Whether `path` looks like a test file (by the conventions of common test runners)."""
    return _TEST_PATH.search(path) is not None


def test_weight(text: str) -> tuple[int, int]:
    """(tests, assertions) in a test file's text."""
    return len(_TESTS.findall(text)), len(_ASSERTS.findall(text))


def weakened(before: str, after: str) -> bool:
    """Whether a test file lost tests or assertions, or gained skips."""
    tests_before, asserts_before = test_weight(before)
    tests_after, asserts_after = test_weight(after)
    skips = len(re.findall(r"\bskip\b|\.skip\(|xfail|@Disabled|\bxit\(", after)) > \
        len(re.findall(r"\bskip\b|\.skip\(|xfail|@Disabled|\bxit\(", before))
    return tests_after < tests_before or asserts_after < asserts_before or skips


@dataclass
class Verdict:
    """Why the change may not be pushed (`blocked`), and what the people reviewing it must hear."""

    blocked: list[str] = field(default_factory=list)  # one sentence per reason; empty: it may be pushed
    tests_removed: list[str] = field(default_factory=list)
    tests_weakened: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.blocked


# What each of the guard's rules is, as the judgement of a finished change names it.
RULE_WORDS = {
    "git": "git's own folder",
    "workflow": "a CI workflow",
    "locked": "the approved specification",
    "steps": "the specification (feature files and step definitions are the approved test)",
    "spec": "the specification (feature files and step definitions are the approved test)",
}


def protected_reason(path: str, *, features_dir: str, locked: Iterable[str], protected: Sequence[str]) -> str | None:
    """Why no generated change may touch `path` (the editor's guard's rules, `write_rule`), or None."""
    rule = write_rule(path, features_dir=features_dir, locked=set(locked), protected=protected)
    if rule is None:
        return None
    kind, pattern = rule
    return f"a protected path (`{pattern}` in `protected_paths`)" if kind == "protected" else RULE_WORDS[kind]


def link_escapes(path: str, target: str) -> bool:
    """Whether a symbolic link at `path` pointing to `target` leaves the repository (or is absolute)."""
    if target.startswith("/"):
        return True
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    return joined == ".." or joined.startswith("../")


def review_change(changes: Sequence[tuple[str, str, str, bytes | None, str | None]], *, features_dir: str,
                  locked: Iterable[str], protected: Sequence[str], allow_test_deletion: bool) -> Verdict:
    """Judge a change: each entry is (path, status A/M/D, git mode, content now, the text at the start)."""
    verdict = Verdict()
    locked = list(locked)
    for path, status, mode, content, before in changes:
        reason = protected_reason(path, features_dir=features_dir, locked=locked, protected=protected)
        if reason is not None:
            verdict.blocked.append(f"`{path}` is {reason}, which generated code may not change")
            continue
        if mode == "160000":
            verdict.blocked.append(f"`{path}` is an embedded git repository, which Specloop does not push")
            continue
        if mode == "120000" and content is not None and link_escapes(path, content.decode("utf-8", "replace")):
            verdict.blocked.append(f"`{path}` is a link pointing outside the repository")
            continue
        if status == "M" and content is None and mode != "000000":
            verdict.blocked.append(f"`{path}` is not a plain file Specloop can read (or is over 10 MB)")
            continue
        if not is_test_file(path):
            continue
        if status == "D":
            verdict.tests_removed.append(path)
        elif status == "M" and before is not None and content is not None and \
                weakened(before, content.decode("utf-8", "replace")):
            verdict.tests_weakened.append(path)
    if verdict.tests_removed and not allow_test_deletion:
        verdict.blocked.append("the change deletes existing tests (" + ", ".join(f"`{p}`" for p in verdict.tests_removed)
                               + "), which needs `code.allow_test_deletion: true`")
    return verdict
