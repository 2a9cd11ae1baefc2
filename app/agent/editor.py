"""The text editor tool (`text_editor_20250728`, named `str_replace_based_edit_tool`) the agent edits with.

The model knows this tool's commands from training; Specloop executes them, in the job's checkout only:

    editor = Editor(guard, max_characters=20000, on_write=lambda path: changed.add(path))
    tools = [editor, shell]                  # sdk.beta.messages.tool_runner(tools=tools, ...)

- `view`: a file with line numbers (`view_range` [start, end], -1 for the end), or a folder's files and
  folders two levels deep, hidden ones left out; anything longer than `max_characters` is cut with a note.
- `create` (`file_text`): writes the file, making missing folders; an existing file is replaced.
- `str_replace` (`old_str`, `new_str`): `old_str` must occur exactly once.
- `insert` (`insert_line` 0..lines, `insert_text`): the text goes after that line (0: at the top).

The 20250728 tool has no `undo_edit`. Every failure is a `ToolError`, which the tool runner hands back to
the model as an `is_error` result, so the model reads why and tries again.

Every write goes through `WorkspaceGuard.writable` (app/agent/guard.py) and then through file
descriptors: each folder on the way is opened without following links, from the checkout's root down,
and the file is written to a temporary name in its folder and renamed over the target. So a link swapped
in on the way cannot redirect the write, a link or anything but a plain file is never written through,
and a hard link to a locked file is replaced rather than changed. Files are UTF-8 text, at most 2 MB.
"""

from __future__ import annotations

import asyncio
import errno
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Self

from anthropic.lib.tools import BetaAsyncBuiltinFunctionTool, ToolError
from anthropic.types.beta import BetaToolTextEditor20250728Param

from app.agent.guard import Refused, WorkspaceGuard

TOOL_TYPE: Final = "text_editor_20250728"
TOOL_NAME: Final = "str_replace_based_edit_tool"
COMMANDS = ("view", "create", "str_replace", "insert")
MAX_FILE_BYTES = 2 << 20          # the largest file the editor reads or writes
LINE_NUMBER_WIDTH = 6             # `cat -n`'s, as the reference implementation numbers lines
SNIPPET_LINES = 4                 # lines of context shown around an edit
LISTING_DEPTH = 2                 # how deep `view` lists a folder
NEW_FILE_MODE = 0o644
FOLDER_MODE = 0o755
ECHO_MAX = 200                    # how much of a long `old_str` an error message repeats

_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

Result = tuple[str, Path | None]  # the text for the model, and the file written (if any)


class Editor(BetaAsyncBuiltinFunctionTool):
    """The text editor tool over one checkout; `on_write` gets the repo-relative path of each write."""

    def __init__(
        self, guard: WorkspaceGuard, *, max_characters: int = 20000,
        on_write: Callable[[str], None] | None = None,
    ) -> None:
        self.guard = guard
        self.max_characters = max_characters
        self.on_write = on_write
        self._commands: dict[str, Callable[[str, dict[str, Any]], Result]] = {
            "view": self._view, "create": self._create, "str_replace": self._str_replace,
            "insert": self._insert,
        }

    def to_dict(self) -> BetaToolTextEditor20250728Param:
        return {"type": TOOL_TYPE, "name": TOOL_NAME, "max_characters": self.max_characters}

    async def call(self, input: object) -> str:
        """Run one command; raises `ToolError` with a message for the model when it cannot."""
        args = _arguments(input)
        command = args.get("command")
        handler = self._commands.get(command) if isinstance(command, str) else None
        if handler is None:
            raise ToolError(f"Unrecognized command `{command}`. The allowed commands for the {TOOL_NAME} "
                            f"tool are: {', '.join(COMMANDS)}.")
        path = _string(args, "path", str(command))
        text, written = await asyncio.to_thread(self._guarded, handler, path, args)
        if written is not None and self.on_write is not None:
            self.on_write(self.guard.relative(written))
        return text

    def _guarded(self, handler: Callable[[str, dict[str, Any]], Result], path: str,
                 args: dict[str, Any]) -> Result:
        """Run `handler` (in a worker thread), turning the guard's refusals into tool errors."""
        try:
            return handler(path, args)
        except Refused as refused:
            raise ToolError(str(refused)) from None

    # -- view -----------------------------------------------------------------------------------------

    def _view(self, given: str, args: dict[str, Any]) -> Result:
        real = self.guard.resolve(given)
        view_range = args.get("view_range")
        fd = _open_for_reading(real, given)
        try:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                if view_range is not None:
                    raise ToolError("The `view_range` parameter is not allowed when `path` points to a "
                                    "directory.")
                return self._clip(_listing(real, given), "folder"), None
            content = _read_text(fd, given)
        finally:
            os.close(fd)
        lines = _lines(content)
        first, last = _view_range(view_range, len(lines))
        numbered = _numbered(lines[first - 1:last], first) if lines else "(the file is empty)"
        return self._clip(f"Here's the result of running `cat -n` on {given}:\n{numbered}", "file"), None

    def _clip(self, text: str, what: str) -> str:
        """`text` cut to `max_characters` (at a line end where one is near), with a note saying so."""
        if len(text) <= self.max_characters:
            return text
        cut = text.rfind("\n", 0, self.max_characters)
        kept = text[: cut if cut > self.max_characters // 2 else self.max_characters]
        hint = ("view a smaller `view_range`, or find the lines you need with `grep -n` in the bash tool"
                if what == "file" else "view a subfolder, or list it with `find` in the bash tool")
        return (f"{kept}\n[… cut at {self.max_characters} of {len(text)} characters: the {what} is too "
                f"long to show whole; {hint} …]")

    # -- writes ---------------------------------------------------------------------------------------

    def _create(self, given: str, args: dict[str, Any]) -> Result:
        text = _string(args, "file_text", "create", empty_ok=True)
        target = self.guard.writable(given)
        with _Folder(self.guard.root, target, given, create=True) as folder:
            mode = folder.existing_mode()
            folder.replace(text, NEW_FILE_MODE if mode is None else mode)
        if mode is not None:
            return f"File overwritten successfully at: {given} (its previous content was replaced)", target
        return f"File created successfully at: {given}", target

    def _str_replace(self, given: str, args: dict[str, Any]) -> Result:
        old = _string(args, "old_str", "str_replace")
        new = _string(args, "new_str", "str_replace", empty_ok=True, default="")
        target = self.guard.writable(given)
        with _Folder(self.guard.root, target, given) as folder:
            content, mode = folder.read()
            position = _unique(content, old, given)
            updated = content[:position] + new + content[position + len(old):]
            if updated == content:
                return f"No change: `old_str` and `new_str` are the same; {given} was left as it was.", None
            folder.replace(updated, mode)
        first = content.count("\n", 0, position)
        snippet = _snippet(updated, first, first + new.count("\n"))
        return (f"The file {given} has been edited. Here's the result of running `cat -n` on a snippet of "
                f"{given}:\n{snippet}\nReview the changes and make sure they are as expected. Edit the file "
                "again if necessary."), target

    def _insert(self, given: str, args: dict[str, Any]) -> Result:
        line = args.get("insert_line")
        if not isinstance(line, int) or isinstance(line, bool):
            raise ToolError("Parameter `insert_line` (an integer: the line to insert after, 0 for the top) "
                            "is required for command: insert")
        key = "insert_text" if "insert_text" in args or "new_str" not in args else "new_str"
        text = _string(args, key, "insert", empty_ok=True)
        target = self.guard.writable(given)
        with _Folder(self.guard.root, target, given) as folder:
            content, mode = folder.read()
            lines = _lines(content)
            if not 0 <= line <= len(lines):
                raise ToolError(f"Invalid `insert_line` parameter: {line}. It should be within the range of "
                                f"lines of the file: [0, {len(lines)}]")
            added = text.removesuffix("\n").split("\n")
            ending = "\n" if content.endswith("\n") or not content else ""
            updated = "\n".join(lines[:line] + added + lines[line:]) + ending
            folder.replace(updated, mode)
        snippet = _snippet(updated, line, line + len(added) - 1)
        return (f"The file {given} has been edited. Here's the result of running `cat -n` on a snippet "
                f"of the edited file:\n{snippet}\nReview the changes and make sure they are as expected "
                "(correct indentation, no duplicate lines, etc). Edit the file again if necessary."), target


class _Folder:
    """The folder a write lands in, opened from the checkout's root one folder at a time without
    following links (and made, with `create`), and the file's name in it. Writes go to a temporary file
    renamed over the name, so they never follow a link and never change another name's content."""

    def __init__(self, root: Path, target: Path, given: str, *, create: bool = False) -> None:
        self.given = given
        parts = target.relative_to(root).parts
        self.name = parts[-1]
        self.fd = os.open(root, _FOLDER_FLAGS)
        try:
            for part in parts[:-1]:
                self._enter(part, create)
        except BaseException:
            os.close(self.fd)
            raise

    def _enter(self, part: str, create: bool) -> None:
        if create:
            try:
                os.mkdir(part, FOLDER_MODE, dir_fd=self.fd)
            except FileExistsError:
                pass
            except OSError as error:
                raise ToolError(f"Could not make the folder `{part}` for {self.given}: {error.strerror}.") \
                    from None
        try:
            inner = os.open(part, _FOLDER_FLAGS, dir_fd=self.fd)
        except FileNotFoundError:
            raise ToolError(f"The path {self.given} does not exist. Please provide a valid path.") from None
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                raise ToolError(f"Cannot write {self.given}: `{part}` on the way is not a plain folder "
                                "(a file or a symbolic link).") from None
            raise ToolError(f"Cannot open the folder `{part}` for {self.given}: {error.strerror}.") from None
        os.close(self.fd)
        self.fd = inner

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    def existing_mode(self) -> int | None:
        """The permission bits of the file there now, None if there is none; refused unless it is a
        plain file (a link, a folder, a FIFO ...)."""
        try:
            info = os.stat(self.name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        _plain_file(info.st_mode, self.given)
        return stat.S_IMODE(info.st_mode)

    def read(self) -> tuple[str, int]:
        """The file's text and permission bits; it must exist and be a plain UTF-8 file."""
        try:
            fd = os.open(self.name, _READ_FLAGS, dir_fd=self.fd)
        except OSError as error:
            raise _open_error(error, self.given) from None
        try:
            mode = os.fstat(fd).st_mode
            _plain_file(mode, self.given)
            return _read_text(fd, self.given), stat.S_IMODE(mode)
        finally:
            os.close(fd)

    def replace(self, text: str, mode: int) -> None:
        """Write `text` to a new file in this folder and rename it over the name."""
        data = text.encode("utf-8")
        if len(data) > MAX_FILE_BYTES:
            raise ToolError(f"Not written: {self.given} would be {len(data)} bytes, and the editor writes "
                            f"files of at most {MAX_FILE_BYTES} bytes.")
        temporary = f".specloop-{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=self.fd)
            try:
                _write_all(fd, data)
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
            os.rename(temporary, self.name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except OSError as error:
            _remove(temporary, self.fd)
            raise ToolError(f"Could not write {self.given}: {error.strerror}.") from None


# -- reading --------------------------------------------------------------------------------------------


def _open_for_reading(real: Path, given: str) -> int:
    try:
        return os.open(real, _READ_FLAGS)
    except OSError as error:
        raise _open_error(error, given) from None


def _open_error(error: OSError, given: str) -> ToolError:
    """What to tell the model when a file cannot be opened (never the host path, only its own words)."""
    if isinstance(error, FileNotFoundError):
        return ToolError(f"The path {given} does not exist. Please provide a valid path.")
    if error.errno == errno.ELOOP:
        return ToolError(f"{given} is a symbolic link: the editor does not read or write through links; "
                         "use the path of the file it points to.")
    return ToolError(f"Cannot open {given}: {error.strerror}.")


def _plain_file(mode: int, given: str) -> None:
    if stat.S_ISLNK(mode):
        raise ToolError(f"{given} is a symbolic link: the editor does not write through links; use the path "
                        "of the file it points to.")
    if stat.S_ISDIR(mode):
        raise ToolError(f"{given} is a directory, not a file.")
    if not stat.S_ISREG(mode):
        raise ToolError(f"{given} is not a regular file (a device, a FIFO or a socket): the editor only "
                        "handles text files.")


def _read_text(fd: int, given: str) -> str:
    """The UTF-8 text of an open regular file of at most MAX_FILE_BYTES."""
    info = os.fstat(fd)
    _plain_file(info.st_mode, given)
    if info.st_size > MAX_FILE_BYTES:
        raise ToolError(f"{given} is {info.st_size} bytes, more than the {MAX_FILE_BYTES} bytes the editor "
                        "reads; look inside it with the bash tool (`head`, `sed -n`, `grep -n`).")
    chunks = []
    total = 0
    while total <= MAX_FILE_BYTES and (chunk := os.read(fd, 1 << 20)):
        chunks.append(chunk)
        total += len(chunk)
    data = b"".join(chunks)
    if total > MAX_FILE_BYTES:
        raise ToolError(f"{given} is more than the {MAX_FILE_BYTES} bytes the editor reads.")
    try:
        if b"\0" in data:
            raise UnicodeError
        return data.decode("utf-8")
    except UnicodeError:
        raise ToolError(f"{given} is not UTF-8 text (a binary file?): the editor only reads and writes text. "
                        "Inspect it with the bash tool instead.") from None


def _listing(folder: Path, given: str) -> str:
    """The files and folders up to LISTING_DEPTH levels below `folder`, hidden ones left out, named with
    the path the model gave; links are listed but not followed."""
    base = given.rstrip("/") if given.strip() not in ("", ".", "./") else ""
    found: list[str] = [f"{base or '.'}/"]

    def walk(path: Path, prefix: str, depth: int) -> None:
        try:
            entries = sorted(os.scandir(path), key=lambda entry: entry.name)
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            shown = f"{prefix}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                found.append(f"{shown}/")
                if depth < LISTING_DEPTH:
                    walk(Path(entry.path), f"{shown}/", depth + 1)
            else:
                found.append(shown)

    walk(folder, f"{base}/" if base else "", 1)
    where = given or "."
    header = f"Here's the files and directories up to 2 levels deep in {where}, excluding hidden items:"
    return header + "\n" + "\n".join(found)


# -- text -----------------------------------------------------------------------------------------------


def _lines(content: str) -> list[str]:
    """The file's lines (split on LF, a CR kept), without the empty tail a final newline leaves."""
    lines = content.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def _numbered(lines: list[str], first: int) -> str:
    return "\n".join(f"{number:{LINE_NUMBER_WIDTH}}\t{line}" for number, line in enumerate(lines, first))


def _view_range(view_range: object, count: int) -> tuple[int, int]:
    """The first and last line (1-based, inclusive) `view_range` asks for; the whole file without one."""
    if view_range is None:
        return 1, count
    if (not isinstance(view_range, list) or len(view_range) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in view_range)):
        raise ToolError("Invalid `view_range`. It should be a list of two integers, e.g. [11, 20], or "
                        "[11, -1] for line 11 to the end.")
    first, last = view_range
    if not 1 <= first <= max(count, 1):
        raise ToolError(f"Invalid `view_range`: {view_range}. Its first element `{first}` should be within "
                        f"the range of lines of the file: [1, {count}]")
    if last == -1:
        return first, count
    if last < first:
        raise ToolError(f"Invalid `view_range`: {view_range}. Its second element `{last}` should be larger "
                        f"or equal than its first `{first}`")
    return first, min(last, count)


def _unique(content: str, old: str, given: str) -> int:
    """Where `old` occurs in `content`; refused unless it occurs exactly once (overlaps counted)."""
    positions = []
    start = content.find(old)
    while start != -1:
        positions.append(start)
        start = content.find(old, start + 1)
    shown = old if len(old) <= ECHO_MAX else old[:ECHO_MAX] + "…"
    if not positions:
        raise ToolError(f"No replacement was performed, old_str `{shown}` did not appear verbatim in "
                        f"{given}.")
    if len(positions) > 1:
        lines = sorted({content.count("\n", 0, p) + 1 for p in positions})
        raise ToolError(f"No replacement was performed. Multiple occurrences of old_str `{shown}` "
                        f"({len(positions)} of them) in lines {lines}. Please ensure it is unique: include "
                        "more of the surrounding lines.")
    return positions[0]


def _snippet(content: str, first: int, last: int) -> str:
    """Lines `first`..`last` (0-based) of `content` with SNIPPET_LINES either side, numbered."""
    lines = _lines(content)
    start = max(0, first - SNIPPET_LINES)
    end = min(len(lines), last + SNIPPET_LINES + 1)
    return _numbered(lines[start:end], start + 1)


# -- small things ---------------------------------------------------------------------------------------


def _arguments(input: object) -> dict[str, Any]:
    if not isinstance(input, dict):
        raise ToolError("The input must be an object with a `command` and a `path`.")
    return input


def _string(args: dict[str, Any], key: str, command: str, *, empty_ok: bool = False,
            default: str | None = None) -> str:
    value = args.get(key, default)
    if value is None and default is not None:
        value = default
    if not isinstance(value, str) or (not value and not empty_ok):
        raise ToolError(f"Parameter `{key}` is required for command: {command}")
    return value


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _remove(name: str, folder: int) -> None:
    try:
        os.unlink(name, dir_fd=folder)
    except OSError:
        pass
