"""git over HTTPS with the installation token passed per command, never stored.

The token goes in an `http.extraHeader` given through the environment (`GIT_CONFIG_COUNT`/`KEY`/`VALUE`)
of each command that talks to the remote: not on the command line (any local user can read
`/proc/<pid>/cmdline`; the environment is readable only by the same user), not in `.git/config`, not in
the remote URL and not in any credential helper. A later `git fetch` without it fails to authenticate.
"""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

from app.logs import redact_text


class GitError(Exception):
    """A git command failed; the message carries git's output with any secret redacted."""


def _auth_env(token: str | None) -> dict[str, str]:
    """Environment config giving `http.extraHeader` for `token` (Basic x-access-token, as GitHub's actions do)."""
    if not token:
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }


def _env(token: str | None = None) -> dict[str, str]:
    """An environment in which git never prompts, reads no user or system config and sends `token`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({
        "GIT_TERMINAL_PROMPT": "0",  # fail instead of waiting for a password on a terminal
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,  # a developer's credential helper must not capture the token
        "GCM_INTERACTIVE": "never",
    })
    env.update(_auth_env(token))
    return env


async def run_git(*args: str, cwd: Path | None = None, token: str | None = None) -> str:
    """Run `git args...` (with the token header when given); raises GitError with redacted output."""
    process = await asyncio.create_subprocess_exec(
        "git", "-c", "credential.helper=", *args,
        cwd=str(cwd) if cwd else None, env=_env(token),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        text = (err or out).decode(errors="replace").strip()
        if token:
            text = text.replace(token, "[redacted]")
        # name only the subcommand: arguments may hold URLs or paths not worth echoing
        raise GitError(f"git {args[0]} failed: {redact_text(text)[-2000:]}")
    return out.decode(errors="replace")


async def clone(url: str, dest: Path | str, token: str | None, branch: str | None = None,
                depth: int | None = None, *, no_checkout: bool = False) -> Path:
    """Clone `url` into `dest` (optionally one branch, optionally shallow, optionally with no files checked out)."""
    dest = Path(dest)
    args = ["clone", "--no-tags"]
    if no_checkout:
        args.append("--no-checkout")
    if branch:
        args += ["--branch", branch]
    if depth:
        args += ["--depth", str(depth)]
    await run_git(*args, "--", url, str(dest), token=token)
    return dest


async def commit_all(dest: Path | str, message: str, author: str) -> str | None:
    """Stage everything and commit as `author` ("Name <email>"); the new SHA, or None if nothing changed."""
    dest = Path(dest)
    await run_git("add", "--all", cwd=dest)
    status = await run_git("status", "--porcelain", cwd=dest)
    if not status.strip():
        return None
    name, _, email = author.partition("<")
    identity = ["-c", f"user.name={name.strip() or 'specloop'}", "-c", f"user.email={email.rstrip('>').strip()}"]
    await run_git(*identity, "commit", "--quiet", "--no-verify", f"--author={author}", "-m", message, cwd=dest)
    return (await run_git("rev-parse", "HEAD", cwd=dest)).strip()


async def push(dest: Path | str, token: str | None, branch: str, *, force: bool = False) -> None:
    """Push HEAD to `branch` on origin."""
    args = ["push", "--quiet"]
    if force:
        args.append("--force-with-lease")
    await run_git(*args, "origin", f"HEAD:refs/heads/{branch}", cwd=Path(dest), token=token)


async def checkout_new_branch(dest: Path | str, branch: str) -> None:
    """Create and switch to `branch` at HEAD."""
    await run_git("checkout", "--quiet", "-B", branch, cwd=Path(dest))
