"""Running code Specloop did not write (`qa.start`, project step files, an agent's shell commands) in a
sandbox: the interface in `base.py`, the bubblewrap backend in `bubblewrap.py`, docs/sandbox.md.

    problem = sandbox_available()            # None, or what to install / allow
    async with open_sandbox(workspace, Policy(read_only=paths, env=env)) as box:
        app = await box.start(["npm", "start"], name="app")
        done = await box.run(["python", "-m", "app.qa.child_entry", ...], timeout=600)
"""

from __future__ import annotations

from pathlib import Path

from app.isolation.base import (
    BASE_ENV,
    SANDBOX_HOME,
    Completed,
    Limit,
    Limits,
    Policy,
    Running,
    Sandbox,
    SandboxError,
    SandboxUnavailable,
)
from app.isolation.bubblewrap import BubblewrapSandbox, sandbox_available
from app.isolation.runtime import python_runtime

__all__ = [
    "BASE_ENV", "SANDBOX_HOME", "BubblewrapSandbox", "Completed", "Limit", "Limits", "Policy", "Running",
    "Sandbox", "SandboxError", "SandboxUnavailable", "open_sandbox", "python_runtime", "sandbox_available",
]


def open_sandbox(workspace: Path, policy: Policy | None = None) -> Sandbox:
    """The sandbox this machine can make for `workspace` (bubblewrap today; a container backend would be
    chosen here). Raises `SandboxUnavailable`, whose message says what to install, when there is none."""
    return BubblewrapSandbox(workspace, policy)
