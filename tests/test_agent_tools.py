"""The code-generation agent's tools (app/agent/): the text editor over the workspace guard, and bash in the
repository-code sandbox, with real files, the real bubblewrap sandbox and no mocks.

Beside every refusal is the honest version of the same call, which works, so a refusal cannot pass
because nothing could be written at all. Each hostile write also checks that nothing changed anywhere
under the test's folder (inside the checkout and outside it).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from anthropic import AsyncAnthropic
from anthropic.lib.tools import ToolError

from app.agent.editor import Editor
from app.agent.guard import Refused, WorkspaceGuard
from app.agent.shell import Shell
from app.isolation import Limits, Policy, Sandbox, open_sandbox, python_runtime, sandbox_available
from app.sandbox.messages_api import ApiError, Text, ToolCalls, ToolUse, check_schema, validate

needs_bwrap = pytest.mark.skipif(sandbox_available() is not None, reason=str(sandbox_available()))

SECRET = "whsec-agent-do-not-leak-91b3"
FEATURE = "Feature: Sign up\n  Scenario: a visitor signs up\n    Given a visitor\n"
STEPS = "from behave import given\n"
APP = "def main():\n    return 1\n\n\ndef other():\n    return 1\n"
LIMITS = Limits(cpu_seconds=10, memory_bytes=512 << 20, processes=64, open_files=256,
                file_size_bytes=8 << 20, output_bytes=256 << 10, tmp_bytes=16 << 20)
OUTSIDE_ETC = Path("/etc/specloop-agent-test-x")


# -- the workspace ------------------------------------------------------------------------------------


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A code-generation workspace as the job lays it out (`<job>/work/repo`, git kept in `<job>/git`),
    with the worker's secrets and other host files around it."""
    (tmp_path / ".env").write_text(f"WEBHOOK_SECRET={SECRET}\n")
    (tmp_path / "outside.txt").write_text("host file\n")
    (tmp_path / "outside_dir").mkdir()
    (tmp_path / "outside_dir" / "host.txt").write_text("host file\n")
    job = tmp_path / "job"
    (job / "git").mkdir(parents=True)
    (job / "git" / "config").write_text(f"[http]\n\textraheader = token {SECRET}\n")
    repo = job / "work" / "repo"
    (tmp_path / "outside_dir" / "back.md").symlink_to(repo / "README.md")  # leads back in, from outside
    files = {
        "README.md": "the repository\n",
        "src/app.py": APP,
        "src/pkg/mod.py": "x = 1\n",
        "src/pkg/deep/too_deep.py": "y = 2\n",
        "features/signup.feature": FEATURE,
        "features/steps/web.py": STEPS,
        "features/README.md": "about the features\n",
        ".github/workflows/ci.yml": "on: push\n",
        ".git/config": "[core]\n",
        ".hidden/secret.txt": "hidden\n",
        "secrets/prod.env": "KEY=1\n",
        "db/migrations/001.sql": "create table t();\n",
    }
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    (repo / "escape.txt").symlink_to(tmp_path / "outside.txt")        # a link to a host file
    (repo / "linkdir").symlink_to(tmp_path / "outside_dir")           # a link to a host folder
    (repo / "notes.txt").symlink_to("features/signup.feature")        # a link to a locked file, inside
    (repo / "readme-link.md").symlink_to("README.md")                 # a link to a plain file, inside
    (repo / "lib").symlink_to("src")                                  # a linked folder, inside
    os.link(repo / "features/signup.feature", repo / "src/hard.feature.txt")  # a hard link to it
    os.mkfifo(repo / "pipe")
    return repo


@pytest.fixture
def guard(checkout: Path) -> WorkspaceGuard:
    return WorkspaceGuard(checkout, locked=["features/signup.feature"],
                          protected=["secrets/*", "db/migrations"])


@pytest.fixture
def written() -> list[str]:
    return []


@pytest.fixture
def editor(guard: WorkspaceGuard, written: list[str]) -> Editor:
    return Editor(guard, on_write=written.append)


def snapshot(root: Path) -> dict[str, tuple[str, bytes]]:
    """Every entry under `root` (links not followed) with its kind and content."""
    found: dict[str, tuple[str, bytes]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            key = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[key] = ("link", os.readlink(path).encode())
            elif path.is_dir():
                found[key] = ("dir", b"")
            elif path.is_file():
                found[key] = ("file", path.read_bytes())
            else:
                found[key] = ("other", b"")
    return found


@pytest.fixture
def unchanged(tmp_path: Path, checkout: Path) -> Iterator[None]:
    """Asserts, after the test, that nothing under the test's folder (or at OUTSIDE_ETC) changed."""
    before = snapshot(tmp_path)
    yield
    created = OUTSIDE_ETC.exists()
    if created:
        OUTSIDE_ETC.unlink()
    assert not created, f"{OUTSIDE_ETC} was written"
    assert snapshot(tmp_path) == before


# -- the editor: view -----------------------------------------------------------------------------------


async def test_view_numbers_a_files_lines_and_honours_view_range(editor: Editor) -> None:
    whole = await editor.call({"command": "view", "path": "src/app.py"})
    assert whole.startswith("Here's the result of running `cat -n` on src/app.py:\n")
    assert "     1\tdef main():\n     2\t    return 1\n" in whole
    assert "     6\t    return 1" in whole and "     7" not in whole

    part = await editor.call({"command": "view", "path": "src/app.py", "view_range": [2, 3]})
    assert part.splitlines()[1:] == ["     2\t    return 1", "     3\t"]

    tail = await editor.call({"command": "view", "path": "src/app.py", "view_range": [5, -1]})
    assert tail.splitlines()[1:] == ["     5\tdef other():", "     6\t    return 1"]

    with pytest.raises(ToolError, match=r"first element `9` should be within the range .* file: \[1, 6\]"):
        await editor.call({"command": "view", "path": "src/app.py", "view_range": [9, 10]})
    with pytest.raises(ToolError, match="list of two integers"):
        await editor.call({"command": "view", "path": "src/app.py", "view_range": [1]})


async def test_view_lists_a_folder_two_levels_deep_without_hidden_entries(
    editor: Editor, checkout: Path,
) -> None:
    listing = (await editor.call({"command": "view", "path": "."})).splitlines()
    assert listing[0] == "Here's the files and directories up to 2 levels deep in ., excluding hidden items:"
    for entry in ("README.md", "src/", "src/app.py", "src/pkg/", "features/signup.feature",
                  "features/steps/"):
        assert entry in listing
    assert "src/pkg/mod.py" not in listing and "src/pkg/deep/" not in listing  # a third level
    assert not [line for line in listing if line.startswith((".git", ".github", ".hidden"))]
    assert "linkdir" in listing and not [line for line in listing if "host.txt" in line]  # links not followed

    absolute = await editor.call({"command": "view", "path": str(checkout / "src")})
    assert f"{checkout}/src/pkg/mod.py" in absolute.splitlines()
    with pytest.raises(ToolError, match="not allowed when `path` points to a directory"):
        await editor.call({"command": "view", "path": "src", "view_range": [1, 2]})


async def test_view_cuts_long_output_at_max_characters_with_a_note(
    guard: WorkspaceGuard, checkout: Path,
) -> None:
    (checkout / "long.txt").write_text("".join(f"line {n}\n" for n in range(1, 2001)))
    short = Editor(guard, max_characters=300)
    shown = await short.call({"command": "view", "path": "long.txt"})
    body, note = shown.rsplit("\n", 1)
    assert len(body) <= 300
    assert "line 1\n" in body and "line 2000" not in body
    assert note.startswith("[… cut at 300 of ") and "view_range" in note

    # a range small enough is shown whole
    part = await short.call({"command": "view", "path": "long.txt", "view_range": [1999, -1]})
    assert part.splitlines()[1:] == ["  1999\tline 1999", "  2000\tline 2000"]


async def test_view_refuses_binary_files_and_paths_outside(editor: Editor, checkout: Path) -> None:
    (checkout / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff")
    with pytest.raises(ToolError, match="not UTF-8 text"):
        await editor.call({"command": "view", "path": "logo.png"})
    for path in ("../../../.env", "escape.txt", "linkdir/host.txt", ".git/config"):
        with pytest.raises(ToolError) as refused:
            await editor.call({"command": "view", "path": path})
        assert SECRET not in str(refused.value) and "host file" not in str(refused.value)
    with pytest.raises(ToolError, match="does not exist"):
        await editor.call({"command": "view", "path": "src/missing.py"})
    # the approved spec is readable: only writing it is refused
    spec = await editor.call({"command": "view", "path": "features/signup.feature"})
    assert "Scenario: a visitor signs up" in spec


# -- the editor: writes -----------------------------------------------------------------------------------


async def test_create_writes_the_file_and_its_folders(
    editor: Editor, checkout: Path, written: list[str],
) -> None:
    result = await editor.call({"command": "create", "path": "src/new/pkg/mod.py", "file_text": "z = 3\n"})
    assert result == "File created successfully at: src/new/pkg/mod.py"
    assert (checkout / "src/new/pkg/mod.py").read_text() == "z = 3\n"
    assert written == ["src/new/pkg/mod.py"]

    os.chmod(checkout / "src/app.py", 0o755)
    replaced = await editor.call({"command": "create", "path": "src/app.py", "file_text": "print(1)\n"})
    assert "overwritten" in replaced and (checkout / "src/app.py").read_text() == "print(1)\n"
    assert os.stat(checkout / "src/app.py").st_mode & 0o777 == 0o755  # its mode is kept
    assert not [p for p in (checkout / "src").iterdir() if p.name.startswith(".specloop-")]  # no temp left
    with pytest.raises(ToolError, match="Parameter `file_text` is required"):
        await editor.call({"command": "create", "path": "src/x.py"})


async def test_str_replace_needs_exactly_one_occurrence(
    editor: Editor, checkout: Path, written: list[str],
) -> None:
    app = checkout / "src/app.py"
    replace = {"command": "str_replace", "path": "src/app.py", "new_str": "x"}
    with pytest.raises(ToolError, match=r"occurrences of old_str `return 1` \(2 of them\) in lines \[2, 6\]"):
        await editor.call({**replace, "old_str": "return 1"})
    with pytest.raises(ToolError, match="did not appear verbatim in src/app.py"):
        await editor.call({**replace, "old_str": "return 9"})
    assert app.read_text() == APP and written == []

    result = await editor.call({**replace, "old_str": "def other():\n    return 1",
                                "new_str": "def other():\n    return 2"})
    assert app.read_text() == APP.replace("return 1\n", "return 2\n").replace("return 2\n", "return 1\n", 1)
    assert "     6\t    return 2" in result and result.startswith("The file src/app.py has been edited.")
    assert written == ["src/app.py"]

    await editor.call({"command": "str_replace", "path": "src/app.py", "old_str": "def main():\n"})
    assert not app.read_text().startswith("def main")


async def test_insert_puts_text_after_the_given_line(editor: Editor, checkout: Path) -> None:
    path = checkout / "README.md"
    insert = {"command": "insert", "path": "README.md"}
    await editor.call({**insert, "insert_line": 0, "insert_text": "# Title\n"})
    await editor.call({**insert, "insert_line": 2, "insert_text": "end"})
    result = await editor.call({**insert, "insert_line": 1, "insert_text": "\n"})
    assert path.read_text() == "# Title\n\nthe repository\nend\n"
    assert "     2\t\n" in result
    with pytest.raises(ToolError, match=r"Invalid `insert_line` parameter: 9. .*\[0, 4\]"):
        await editor.call({"command": "insert", "path": "README.md", "insert_line": 9, "insert_text": "x"})
    assert path.read_text() == "# Title\n\nthe repository\nend\n"


async def test_unknown_commands_and_bad_input_are_tool_errors(editor: Editor) -> None:
    with pytest.raises(ToolError, match="allowed commands .* are: view, create, str_replace, insert"):
        await editor.call({"command": "undo_edit", "path": "src/app.py"})
    with pytest.raises(ToolError, match="Parameter `path` is required"):
        await editor.call({"command": "view"})
    with pytest.raises(ToolError):
        await editor.call("view src/app.py")


# -- hostile writes: refused, and nothing written -----------------------------------------------------------

HOSTILE: list[tuple[dict[str, Any], str]] = [
    ({"command": "create", "path": "../x", "file_text": "x"}, "`../x` is outside the repository."),
    ({"command": "create", "path": "../../../outside.txt", "file_text": "x"}, "outside the repository"),
    ({"command": "create", "path": str(OUTSIDE_ETC), "file_text": "x"}, "outside the repository"),
    ({"command": "create", "path": ".git/config", "file_text": "x"}, "git's own folder"),
    ({"command": "create", "path": ".git/hooks/pre-commit", "file_text": "x"}, "git's own folder"),
    ({"command": "create", "path": "src/.git/config", "file_text": "x"}, "git's own folder"),
    ({"command": "create", "path": ".github/workflows/x.yml", "file_text": "x"},
     "`.github/workflows/x.yml` is a CI workflow; Specloop never writes workflows."),
    ({"command": "str_replace", "path": ".github/workflows/ci.yml", "old_str": "push", "new_str": "pr"},
     "CI workflow"),
    ({"command": "create", "path": ".github/workflows", "file_text": "x"}, "CI workflow"),
    ({"command": "create", "path": "features/signup.feature", "file_text": "x"},
     ("`features/signup.feature` is part of the approved specification, which is locked: implement the "
     "code so its scenarios pass instead of changing them.")),
    ({"command": "str_replace", "path": "features/signup.feature", "old_str": "visitor", "new_str": "x"},
     "approved specification"),
    ({"command": "insert", "path": "features/signup.feature", "insert_line": 0, "insert_text": "x"},
     "approved specification"),
    ({"command": "create", "path": "features/new.feature", "file_text": "Feature: x\n"}, "feature file"),
    ({"command": "create", "path": "features/sub/new.feature", "file_text": "Feature: x\n"}, "feature file"),
    ({"command": "create", "path": "features/steps/x.py", "file_text": "x"},
     ("`features/steps/x.py`: step definitions are part of the approved test; a step nothing defines needs "
     "a person's step definition.")),
    ({"command": "str_replace", "path": "features/steps/web.py", "old_str": "behave", "new_str": "x"},
     "step definitions"),
    ({"command": "create", "path": "features/steps/helpers/util.py", "file_text": "x"}, "step definitions"),
    ({"command": "create", "path": "escape.txt", "file_text": "x"},
     "outside the repository through a symbolic link"),
    ({"command": "str_replace", "path": "escape.txt", "old_str": "host", "new_str": "x"}, "symbolic link"),
    ({"command": "create", "path": "linkdir/host.txt", "file_text": "x"}, "through a symbolic link"),
    ({"command": "create", "path": "linkdir/new.txt", "file_text": "x"}, "through a symbolic link"),
    ({"command": "create", "path": "linkdir/back.md", "file_text": "x"}, "through a symbolic link"),
    ({"command": "str_replace", "path": "notes.txt", "old_str": "visitor", "new_str": "x"},
     "`notes.txt` (which leads to `features/signup.feature`) is part of the approved specification"),
    ({"command": "create", "path": "readme-link.md", "file_text": "x"}, "is a symbolic link"),
    ({"command": "create", "path": "pipe", "file_text": "x"}, "not a regular file"),
    ({"command": "create", "path": "src", "file_text": "x"}, "is a directory"),
    ({"command": "create", "path": "README.md/x", "file_text": "x"}, "not a plain folder"),
    ({"command": "create", "path": "secrets/prod.env", "file_text": "x"},
     "matches `secrets/*` in the repository's `protected_paths`"),
    ({"command": "create", "path": "db/migrations/002.sql", "file_text": "x"}, "matches `db/migrations`"),
    ({"command": "create", "path": ".", "file_text": "x"}, "the repository's folder itself"),
]


@pytest.mark.parametrize(("call", "message"), HOSTILE,
                         ids=[f"{call['command']}:{call['path']}" for call, _ in HOSTILE])
@pytest.mark.usefixtures("unchanged")
async def test_a_hostile_write_is_refused_and_nothing_is_written(
    editor: Editor, written: list[str], tmp_path: Path, call: dict[str, Any], message: str,
) -> None:
    with pytest.raises(ToolError) as refused:
        await editor.call(call)
    assert message in str(refused.value)
    assert str(tmp_path) not in str(refused.value) or call["path"].startswith(str(tmp_path))
    assert written == []


@pytest.mark.usefixtures("unchanged")
async def test_absolute_paths_inside_the_workspace_refused_like_relative_ones(
    editor: Editor, checkout: Path,
) -> None:
    with pytest.raises(ToolError, match="approved specification"):
        await editor.call({"command": "create", "path": str(checkout / "features/signup.feature"),
                           "file_text": "x"})
    with pytest.raises(ToolError, match="outside the repository"):
        await editor.call({"command": "create", "path": f"{checkout}/../../../outside.txt", "file_text": "x"})


async def test_the_honest_versions_of_those_writes_work(
    editor: Editor, checkout: Path, written: list[str],
) -> None:
    calls = [
        {"command": "create", "path": str(checkout / "src/abs.py"), "file_text": "a = 1\n"},
        {"command": "create", "path": "./src/../src/normal.py", "file_text": "b = 1\n"},
        {"command": "create", "path": ".github/dependabot.yml", "file_text": "version: 2\n"},
        {"command": "create", "path": "features/support/notes.md", "file_text": "notes\n"},
        {"command": "create", "path": "secretsfile.txt", "file_text": "ok\n"},
        {"command": "create", "path": ".gitignore", "file_text": "node_modules/\n"},
        {"command": "create", "path": "db/schema.sql", "file_text": "ok\n"},
        {"command": "create", "path": "lib/through_link.py", "file_text": "c = 1\n"},
        {"command": "str_replace", "path": "README.md", "old_str": "the repository", "new_str": "the repo"},
        # a hard link to the locked file is a name of its own: the edit replaces it, the spec stays as it was
        {"command": "str_replace", "path": "src/hard.feature.txt", "old_str": "a visitor\n",
         "new_str": "x\n"},
    ]
    for call in calls:
        await editor.call(call)
    assert (checkout / "src/abs.py").read_text() == "a = 1\n"
    assert (checkout / "src/normal.py").read_text() == "b = 1\n"
    assert (checkout / ".github/dependabot.yml").exists()
    assert (checkout / "features/support/notes.md").exists()
    assert (checkout / "src/through_link.py").read_text() == "c = 1\n"  # `lib` is a link to `src`
    assert (checkout / "README.md").read_text() == "the repo\n"
    assert (checkout / "features/signup.feature").read_text() == FEATURE
    assert "x\n" in (checkout / "src/hard.feature.txt").read_text()
    assert written == ["src/abs.py", "src/normal.py", ".github/dependabot.yml", "features/support/notes.md",
                       "secretsfile.txt", ".gitignore", "db/schema.sql", "src/through_link.py", "README.md",
                       "src/hard.feature.txt"]


def test_the_guard_alone(guard: WorkspaceGuard, checkout: Path) -> None:
    assert guard.root == checkout.resolve()
    assert guard.resolve("src/app.py") == checkout / "src/app.py"
    assert guard.resolve("lib/app.py") == checkout / "src/app.py"  # reads follow links inside
    assert guard.writable("lib/new.py") == checkout / "src/new.py"
    assert guard.relative(checkout / "src/app.py") == "src/app.py"
    with pytest.raises(Refused, match="outside the repository"):
        guard.resolve("escape.txt")
    with pytest.raises(Refused, match="inside `.git`"):
        guard.resolve(".git")
    other = WorkspaceGuard(checkout, features_dir="spec/features/")
    with pytest.raises(Refused, match="feature file"):
        other.writable("spec/features/a.feature")
    with pytest.raises(Refused, match="step definitions"):
        other.writable("spec/features/steps/x.py")
    assert other.writable("features/new.feature") == checkout / "features/new.feature"  # not its spec folder
    # a root given through a link: absolute paths spelled either way are inside it
    (checkout.parent / "alias").symlink_to(checkout)
    aliased = WorkspaceGuard(checkout.parent / "alias")
    assert aliased.root == checkout
    assert aliased.writable(str(checkout.parent / "alias" / "src/x.py")) == checkout / "src/x.py"
    assert aliased.writable(str(checkout / "src/x.py")) == checkout / "src/x.py"
    with pytest.raises(Refused, match="outside the repository"):
        aliased.writable(str(checkout.parent / "alias" / ".." / "x.py"))


# -- the shell ------------------------------------------------------------------------------------------


@pytest.fixture
async def box(checkout: Path) -> AsyncIterator[Sandbox]:
    paths, env = python_runtime()
    async with open_sandbox(checkout.parent, Policy(read_only=paths, env=env, limits=LIMITS)) as sandbox:
        yield sandbox


@pytest.fixture
def shell(box: Sandbox, checkout: Path) -> Shell:
    return Shell(box, checkout, timeout=30)


@needs_bwrap
async def test_a_command_gives_its_output_and_exit_code(box: Sandbox, checkout: Path) -> None:
    seen: list[tuple[str, int | None, str | None]] = []
    shell = Shell(box, checkout, on_command=lambda *args: seen.append(args))
    assert await shell.call({"command": "pwd; cat README.md"}) == f"{checkout}\nthe repository\nexit code: 0"
    assert seen == [("pwd; cat README.md", 0, None)]

    failed = await shell.call({"command": "echo before; exit 3"})  # a failure is a result, not an error
    assert failed == "before\nexit code: 3"
    labelled = await shell.call({"command": "echo out; echo oops >&2; false"})
    assert labelled == "out\n[stderr]\noops\nexit code: 1"
    assert await shell.call({"command": "true"}) == "(no output)\nexit code: 0"


@needs_bwrap
async def test_long_output_keeps_its_head_and_tail(box: Sandbox, checkout: Path) -> None:
    shell = Shell(box, checkout, max_output=1000)
    result = await shell.call({"command": "printf START; head -c 5000 /dev/zero | tr '\\0' x; printf END"})
    assert result.startswith("START") and result.endswith("END\nexit code: 0")
    assert "\n[… 4008 characters cut …]\n" in result
    assert len(result) < 1100


@needs_bwrap
async def test_a_command_past_the_timeout_is_stopped_and_says_so(box: Sandbox, checkout: Path) -> None:
    seen: list[tuple[str, int | None, str | None]] = []
    shell = Shell(box, checkout, timeout=1, on_command=lambda *args: seen.append(args))
    started = time.monotonic()
    result = await shell.call({"command": "echo started; sleep 60"})
    assert time.monotonic() - started < 20
    assert result.startswith("started\n")
    assert "[stopped by a sandbox limit: killed: it ran longer than 1 s (wall time)]" in result
    assert result.endswith("exit code: -9")
    assert seen[0][2] is not None and "wall time" in seen[0][2]


@needs_bwrap
async def test_no_secret_of_the_worker_reaches_a_command(
    shell: Shell, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret-x")
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_secret_token_y")
    result = await shell.call({"command": "env; cat /proc/1/environ /proc/self/environ | tr '\\0' '\\n'"})
    assert "HOME=/tmp/home" in result and "PATH=" in result  # the honest environment is there
    assert "sk-ant-secret-x" not in result and "ghs_secret_token_y" not in result


@needs_bwrap
async def test_files_outside_the_workspace_cannot_be_read(shell: Shell, tmp_path: Path) -> None:
    assert await shell.call({"command": "cat src/pkg/mod.py"}) == "x = 1\nexit code: 0"
    for command in ("cat /etc/shadow", f"cat {tmp_path}/.env", "cat ../../.env", "cat ../../git/config",
                    "cat escape.txt"):
        result = await shell.call({"command": command})
        assert not result.endswith("exit code: 0"), command
        assert SECRET not in result and "host file" not in result and "root:" not in result


@needs_bwrap
async def test_writing_outside_the_workspace_does_not_reach_the_host(
    shell: Shell, checkout: Path, tmp_path: Path,
) -> None:
    result = await shell.call({"command": f"echo x > ../../outside-new.txt; echo y > {tmp_path}/new.txt; "
                                          "echo z > escape.txt"})
    assert not (tmp_path / "job" / "outside-new.txt").exists() and not (tmp_path / "new.txt").exists()
    assert (tmp_path / "outside.txt").read_text() == "host file\n"
    assert SECRET not in result
    # where the checkout sits under /tmp, its parents are the sandbox's own throwaway /tmp: such a write
    # lands there and is gone with the command
    again = await shell.call({"command": "cat ../../outside-new.txt"})
    assert not again.endswith("exit code: 0")
    # the honest version: the checkout is the command's to write
    assert await shell.call({"command": "echo made > made.txt && cat made.txt"}) == "made\nexit code: 0"
    assert (checkout / "made.txt").read_text() == "made\n"


@needs_bwrap
async def test_restart_says_commands_share_no_session(shell: Shell, checkout: Path) -> None:
    restarted = await shell.call({"restart": True})
    assert "fresh shell" in restarted and "`cd`" in restarted
    moved = await shell.call({"command": "cd src"})
    assert "does not carry over" in moved and moved.endswith("exit code: 0")
    assert await shell.call({"command": "pwd"}) == f"{checkout}\nexit code: 0"
    assert await shell.call({"command": "cd src && pwd"}) == f"{checkout}/src\nexit code: 0"


@needs_bwrap
async def test_bad_input_and_a_closed_sandbox_are_tool_errors(shell: Shell, box: Sandbox) -> None:
    for bad in ({}, {"command": ""}, {"command": "   "}, {"restart": False}, "ls"):
        with pytest.raises(ToolError, match="command"):
            await shell.call(bad)
    await box.close()
    with pytest.raises(ToolError, match="could not be started in the sandbox"):
        await shell.call({"command": "true"})


# -- the tool definitions -------------------------------------------------------------------------------


@needs_bwrap
def test_both_tool_definitions_are_what_the_messages_api_accepts(editor: Editor, shell: Shell) -> None:
    assert editor.to_dict() == {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool",
                                "max_characters": 20000}
    assert shell.to_dict() == {"type": "bash_20250124", "name": "bash"}
    assert editor.name == "str_replace_based_edit_tool" and shell.name == "bash"
    body = {"model": "claude-sonnet-4-6", "max_tokens": 1024, "messages": [{"role": "user", "content": "go"}],
            "tools": [editor.to_dict(), shell.to_dict()]}
    check_schema(body, beta=True)
    validate(body, beta=True)
    # the check is real: a misspelt definition is refused
    with pytest.raises(ApiError):
        check_schema({**body, "tools": [{**editor.to_dict(), "name": "text_editor"}]}, beta=True)
    with pytest.raises(ApiError):
        check_schema({**body, "tools": [{**shell.to_dict(), "restart": True}]}, beta=True)


@needs_bwrap
async def test_the_sdks_tool_runner_runs_both_tools_and_hands_refusals_back_as_errors(
    llm: Any, editor: Editor, shell: Shell, checkout: Path,
) -> None:
    """A scripted agent turn through `sdk.beta.messages.tool_runner`: a write, a refused write (an
    `is_error` result the model reads), a failing command (a plain result) and a passing one."""
    llm.script(
        ToolCalls(ToolUse({"command": "create", "path": "src/signup.py", "file_text": "OK = True\n"},
                          name="str_replace_based_edit_tool"),
                  ToolUse({"command": "str_replace", "path": "features/signup.feature", "old_str": "visitor",
                           "new_str": "user"}, name="str_replace_based_edit_tool")),
        ToolCalls(ToolUse({"command": "python3 -c 'import signup'"}, name="bash"),
                  ToolUse({"command": "cd src && python3 -c 'import signup; print(signup.OK)'"},
                          name="bash")),
        Text("Done."),
    )
    sdk = AsyncAnthropic(api_key="test", base_url=llm.base_url, max_retries=0)
    try:
        runner = sdk.beta.messages.tool_runner(
            model="claude-sonnet-4-6", max_tokens=4096, tools=[editor, shell],
            messages=[{"role": "user", "content": "implement the story"}])
        final = await runner.until_done()
    finally:
        await sdk.close()
    assert final.content[-1].type == "text" and final.content[-1].text == "Done."
    sent = [tool["type"] for tool in llm.requests[0].body["tools"]]
    assert sent == ["text_editor_20250728", "bash_20250124"]

    def results(request: int) -> list[tuple[str, bool]]:
        content = llm.requests[request].body["messages"][-1]["content"]
        blocks = [b for b in content if b["type"] == "tool_result"]
        return [(b["content"] if isinstance(b["content"], str) else b["content"][0]["text"],
                 bool(b.get("is_error"))) for b in blocks]

    (created, ok), (refused, error) = results(1)
    assert created == "File created successfully at: src/signup.py" and not ok
    assert "approved specification, which is locked" in refused and error
    (failed, failed_error), (passed, passed_error) = results(2)
    assert "ModuleNotFoundError" in failed and failed.endswith("exit code: 1") and not failed_error
    assert passed == "True\nexit code: 0" and not passed_error
    assert (checkout / "features/signup.feature").read_text() == FEATURE
