"""The bash tool (`bash_20250124`, named `bash`) the agent runs commands with, in the repository-code
sandbox (app/isolation/, docs/sandbox.md).

    shell = Shell(box, checkout, timeout=120, on_command=lambda cmd, code, why: ...)

Each command is `bash -c <command>` run by `Sandbox.run` with the checkout as its working folder: it sees
the workspace read-write and nothing of the worker (no environment, no `.env`, no network but the
sandbox's own loopback), under the sandbox's limits and `timeout` seconds of wall time.

Unlike the shell the model may expect, commands do not share a live session: each starts in the
repository root with a fresh environment, so a `cd` or an `export` does not carry over to the next
command (chain them with `&&`); files written to the workspace do. `restart` therefore has nothing to
reset and says so. A failed command is a normal result (its output and `exit code: N`); a `ToolError` is
only for a call without a command, or a sandbox that could not start it.

The shell does not stop a command from writing locked files: the sandbox keeps it inside the workspace,
and the job recomputes the approved fingerprint over the workspace and refuses to push if it changed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Final

from anthropic.lib.tools import BetaAsyncBuiltinFunctionTool, ToolError
from anthropic.types.beta import BetaToolBash20250124Param

from app.isolation import Completed, Sandbox, SandboxError

TOOL_TYPE: Final = "bash_20250124"
TOOL_NAME: Final = "bash"

FRESH_SHELL = ("Each command runs in a fresh shell (`bash -c`) in the repository root with a clean "
               "environment: a `cd`, an `export` or a variable does not carry over to the next command, so "
               "chain them with `&&` in one command. Files written in the workspace stay.")
RESTARTED = "The shell has been restarted. " + FRESH_SHELL + " There was no session to reset."

# A command that only changes the shell's own state, which is gone when it ends.
_STATE_ONLY = re.compile(r"^\s*(cd|export|source|\.|alias|unset|set|pushd|popd)(\s[^;&|\n]*)?\s*$")


class Shell(BetaAsyncBuiltinFunctionTool):
    """The bash tool over one sandbox; `on_command(command, exit code, limit reason)` after each run."""

    def __init__(
        self, box: Sandbox, cwd: Path, *, timeout: float = 120.0, max_output: int = 30000,
        on_command: Callable[[str, int | None, str | None], None] | None = None,
    ) -> None:
        self.box = box
        self.cwd = Path(cwd)
        self.timeout = timeout
        self.max_output = max_output
        self.on_command = on_command

    def to_dict(self) -> BetaToolBash20250124Param:
        return {"type": TOOL_TYPE, "name": TOOL_NAME}

    async def call(self, input: object) -> str:
        """Run the command in the sandbox; its output, then `exit code: N`."""
        if not isinstance(input, dict):
            raise ToolError("The input must be an object with a `command` (or `restart: true`).")
        if input.get("restart") is True:
            return RESTARTED
        command = input.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ToolError("Parameter `command` is required (the bash command to run), unless `restart` is "
                            "true.")
        try:
            done = await self.box.run(["bash", "-c", command], cwd=self.cwd, timeout=self.timeout)
        except SandboxError as error:
            raise ToolError(f"The command could not be started in the sandbox: {error}") from None
        if self.on_command is not None:
            self.on_command(command, done.returncode, done.reason)
        return self._report(command, done)

    def _report(self, command: str, done: Completed) -> str:
        """stdout, then stderr under a label, cut to `max_output`; then why a limit stopped it, if one
        did, and the exit code on the last line."""
        text = done.stdout
        if done.stderr:
            text += ("\n" if text and not text.endswith("\n") else "") + "[stderr]\n" + done.stderr
        parts = [_cut(text, self.max_output).rstrip("\n") or "(no output)"]
        if done.reason:
            parts.append(f"[stopped by a sandbox limit: {done.reason}]" if done.limit else f"[{done.reason}]")
        elif done.truncated:
            parts.append("[the output went past the sandbox's cap and was cut there]")
        if done.returncode == 0 and _STATE_ONLY.match(command):
            parts.append(f"[note: {FRESH_SHELL}]")
        parts.append(f"exit code: {done.returncode}")
        return "\n".join(parts)


def _cut(text: str, limit: int) -> str:
    """`text` at most about `limit` characters: its head and its tail, with a line saying how much of the
    middle was cut (the start of a failure and its last lines are what the model needs)."""
    if len(text) <= limit:
        return text
    head = limit // 2
    tail = limit - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n[… {cut} characters cut …]\n{text[-tail:]}"
