"""The sandbox interface: what a job may ask of the place that runs code Specloop did not write.

A `Sandbox` is made for one job's workspace with a `Policy`. It runs commands to completion (`run`) or
starts long-running ones (`start`, for an app server), each under the policy's limits, and `close()`
kills everything it started. Backends implement it (`app/isolation/bubblewrap.py` today; a container
backend would plug in behind the same methods, see docs/sandbox.md). Nothing here imports a backend.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

# Inside every sandbox: the home directory and temp dir are private (a size-capped tmpfs), never the
# worker's, and nothing of the worker's environment is inherited.
SANDBOX_HOME = "/tmp/home"
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
BASE_ENV: Mapping[str, str] = {
    "PATH": DEFAULT_PATH, "HOME": SANDBOX_HOME, "TMPDIR": "/tmp", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
}


class SandboxError(RuntimeError):
    """A command could not be started in the sandbox (not: the command failed; that is a `Completed`)."""


class SandboxUnavailable(SandboxError):
    """No sandbox can be made on this machine; the message says what to install or allow."""


class Limit(enum.StrEnum):
    """Which limit stopped a command."""

    WALL_TIME = "wall_time"
    CPU_TIME = "cpu_time"
    MEMORY = "memory"
    OUTPUT = "output"
    FILE_SIZE = "file_size"
    PROCESSES = "processes"


@dataclass(frozen=True)
class Limits:
    """What one command (with everything it starts) may use. Wall time is the `timeout` of each call.

    How each is enforced depends on the machine (`BubblewrapSandbox.enforcement` says; docs/sandbox.md):
    `memory_bytes` and `processes` hold for the command's processes together when a cgroup can be made,
    else per process (memory, as address space) or per user (processes, non-root workers only).
    """

    cpu_seconds: int = 60           # CPU time of each process (RLIMIT_CPU): SIGXCPU, then SIGKILL
    memory_bytes: int = 1 << 30     # the command's processes together (cgroup), else RLIMIT_AS each
    processes: int = 256            # processes and threads at once (cgroup pids.max), else RLIMIT_NPROC
    open_files: int = 1024          # file descriptors of each process (RLIMIT_NOFILE)
    file_size_bytes: int = 1 << 30  # largest file a process may write (RLIMIT_FSIZE): SIGXFSZ
    output_bytes: int = 1 << 20     # stdout and stderr each: run() kills past it, start() stops logging
    tmp_bytes: int = 256 << 20      # size of the private /tmp (HOME is in it), and of /dev/shm


@dataclass(frozen=True)
class Policy:
    """What a sandbox may see and do besides its workspace (always read-write, at its own path)."""

    read_only: tuple[Path, ...] = ()      # extra host paths visible read-only, each at the same path
    network: bool = False                 # False: only the sandbox's own loopback; True: the host's network
    env: Mapping[str, str] = field(default_factory=dict)  # over BASE_ENV; the worker's env never reaches it
    limits: Limits = field(default_factory=Limits)

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The whole environment of a command: `BASE_ENV`, then the policy's, then the call's."""
        return {**BASE_ENV, **self.env, **(extra or {})}


@dataclass(frozen=True)
class Completed:
    """A finished command. `limit` and `reason` say when a limit stopped it (then `ok` is False)."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    truncated: bool = False               # stdout or stderr went past `Limits.output_bytes` and was cut
    timed_out: bool = False               # killed at the wall-time limit
    limit: Limit | None = None
    reason: str | None = None             # plain English, e.g. "killed: it ran longer than 5 s (wall time)"
    duration_s: float = 0.0
    cpu_s: float = 0.0                    # CPU time of its processes together (cgroup), else a lower bound

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.limit is None


class Running(ABC):
    """A long-running command (an app server). Its stdout and stderr go to capped log files."""

    argv: tuple[str, ...]
    stdout_log: Path
    stderr_log: Path

    @property
    @abstractmethod
    def returncode(self) -> int | None:
        """None while it runs."""

    @property
    @abstractmethod
    def limit(self) -> Limit | None:
        """The limit that stopped it, once it has stopped."""

    @property
    @abstractmethod
    def reason(self) -> str | None:
        """Why it stopped, in plain English, when a limit (or `stop()`) stopped it."""

    @abstractmethod
    async def wait(self, timeout: float | None = None) -> int | None:
        """Its exit code once it exits; None if it is still running after `timeout` seconds."""

    @abstractmethod
    async def stop(self) -> int:
        """Kill it and everything it started (daemons included); its exit code. Idempotent."""


class Sandbox(ABC):
    """One job's sandbox: commands see `workspace` read-write and what `policy` allows, nothing else."""

    def __init__(self, workspace: Path, policy: Policy | None = None) -> None:
        self.workspace = Path(workspace).resolve()
        self.policy = policy or Policy()
        if not self.workspace.is_dir():
            raise SandboxError(f"the workspace {self.workspace} is not a directory")

    @abstractmethod
    async def run(
        self, argv: Sequence[str], *, timeout: float, stdin: bytes | None = None,
        cwd: str | Path | None = None, env: Mapping[str, str] | None = None,
    ) -> Completed:
        """Run `argv` to completion (at most `timeout` seconds of wall time); never raises for what it does.

        `cwd` (default the workspace; a relative one is taken in the workspace) and `env` (over the
        policy's) are per call. Output past the cap is cut and the command killed; see `Completed`.
        """

    @abstractmethod
    async def start(
        self, argv: Sequence[str], *, name: str = "app", cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None, timeout: float | None = None,
        on_stdout: Callable[[bytes], None] | None = None,
    ) -> Running:
        """Start a long-running `argv`; stdout and stderr go to `<workspace>/.sandbox/<name>.stdout.log`
        and `.stderr.log` (capped at `Limits.output_bytes` each). `on_stdout`, if given, also gets every
        chunk of stdout as it arrives, uncapped, on the event loop (progress lines; read from the pipe, never
        from the log file, which the command could replace). Killed at `timeout` if given, and by
        `close()` in any case. Commands of one sandbox share its loopback network (an app started here is
        reachable from `run()` on 127.0.0.1, never from the worker)."""

    @abstractmethod
    async def close(self) -> None:
        """Kill everything this sandbox started and free what it holds. Idempotent."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None,
    ) -> None:
        await self.close()
