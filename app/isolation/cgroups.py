"""A cgroup for each sandboxed command, where the worker may make one: processes and memory counted
for the command's processes together, an out-of-memory kill that can be told apart, and a last sweep
that kills whatever is left.

cgroup v1 (a `pids` and a `memory` hierarchy, as on this project's VMs) and cgroup v2 (a delegated
cgroup whose `cgroup.subtree_control` already enables `pids`/`memory`) are both read from
`/proc/self/mountinfo` and `/proc/self/cgroup`; each controller is probed once (make a child, write
its limit, remove it). Where none can be made (a non-root worker in a container, usually) `available()`
is empty and the caller falls back to per-process rlimits; docs/sandbox.md says what that loses.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

PIDS = "pids"
MEMORY = "memory"
CPUACCT = "cpuacct"  # v1 only: CPU time of the command's processes together (v2 has cpu.stat everywhere)


@dataclass(frozen=True)
class Controller:
    """Where the worker's own cgroup is in one controller's hierarchy."""

    name: str
    base: Path
    version: int


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(mount root, mount point, fs type, super options) of every cgroup mount."""
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            fields, tail = left.split(), right.split()
            if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
                found.append((fields[3], fields[4], tail[0], set(tail[2].split(","))))
    return found


def _own_paths() -> dict[str, str]:
    """The worker's cgroup path per v1 controller, and under "" its v2 path."""
    paths: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                paths[name] = path
    return paths


def _under(mount_root: str, mount_point: str, own: str) -> Path | None:
    """The directory of cgroup `own` in a hierarchy mounted at `mount_point` (root `mount_root`)."""
    if mount_root != "/" and not (own == mount_root or own.startswith(mount_root + "/")):
        return None
    relative = own[len(mount_root):] if mount_root != "/" else own
    return Path(mount_point) / relative.lstrip("/")


def _find(name: str) -> Controller | None:
    mounts, own = _mounts(), _own_paths()
    for root, point, fstype, _options in mounts:  # v2 first: a controller enabled for our children
        if fstype == "cgroup2" and "" in own:
            base = _under(root, point, own[""])
            with contextlib.suppress(OSError):
                if base is not None and name in (base / "cgroup.subtree_control").read_text().split():
                    return Controller(name, base, 2)
    for root, point, fstype, options in mounts:
        if fstype == "cgroup" and name in options and name in own:
            base = _under(root, point, own[name])
            if base is not None:
                return Controller(name, base, 1)
    return None


def _limit_file(controller: Controller) -> str | None:
    if controller.name == PIDS:
        return "pids.max"
    if controller.name == MEMORY:
        return "memory.max" if controller.version == 2 else "memory.limit_in_bytes"
    return None


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


@functools.cache
def available() -> dict[str, Controller]:
    """The controllers (`pids`, `memory`, `cpuacct`) a command's cgroup can be made in, probed once."""
    usable = {}
    for name in (PIDS, MEMORY, CPUACCT):
        controller = _find(name)
        if controller is None:
            continue
        probe = controller.base / f"specloop-probe-{os.getpid()}-{secrets.token_hex(3)}"
        limit = _limit_file(controller)
        try:
            probe.mkdir()
            try:
                if limit is not None:
                    _write(probe / limit, "64" if name == PIDS else str(64 << 20))
            finally:
                probe.rmdir()
        except OSError:
            continue
        usable[name] = controller
        _sweep(controller.base)
    return usable


def _sweep(base: Path) -> None:
    """Remove the empty cgroups of workers that died without removing theirs (`specloop-<pid>-...`)."""
    with contextlib.suppress(OSError):
        for entry in base.iterdir():
            parts = entry.name.split("-")
            if len(parts) != 3 or parts[0] != "specloop" or not parts[1].isdigit():
                continue
            with contextlib.suppress(OSError):  # a young one may be a worker's in another pid namespace
                if time.time() - entry.stat().st_mtime < 600:
                    continue
            try:
                os.kill(int(parts[1]), 0)
                continue  # its worker lives
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
            with contextlib.suppress(OSError):  # not empty: something still runs there; leave it
                entry.rmdir()


@dataclass
class CommandCgroup:
    """One command's cgroup directories (one per v1 hierarchy, or one v2 directory)."""

    dirs: dict[Path, Controller] = field(default_factory=dict)
    limits: set[str] = field(default_factory=set)  # which of `pids` and `memory` it holds

    @classmethod
    def create(cls, *, processes: int, memory_bytes: int) -> CommandCgroup:
        """A new cgroup for one command with these limits, in whichever controllers are usable."""
        group = cls()
        name = f"specloop-{os.getpid()}-{secrets.token_hex(6)}"
        try:
            for controller in available().values():
                path = controller.base / name
                if path not in group.dirs:
                    path.mkdir()
                group.dirs.setdefault(path, controller)
                group.limits.add(controller.name)
                limit = _limit_file(controller)
                if controller.name == PIDS and limit is not None:
                    _write(path / limit, str(processes))
                elif controller.name == MEMORY and limit is not None:
                    _write(path / limit, str(memory_bytes))
                    swap = "memory.swap.max" if controller.version == 2 else "memory.memsw.limit_in_bytes"
                    with contextlib.suppress(OSError):  # no swap accounting: nothing to cap
                        _write(path / swap, "0" if controller.version == 2 else str(memory_bytes))
        except OSError:
            group.remove()
            raise
        return group

    def add(self, pid: int) -> None:
        """Move process `pid` into it (what it starts from then on is born in it)."""
        for path in self.dirs:
            _write(path / "cgroup.procs", str(pid))

    def oom_killed(self) -> bool:
        """Whether the kernel killed one of its processes for going over the memory limit."""
        for path, controller in self.dirs.items():
            name = "memory.events" if controller.version == 2 else "memory.oom_control"
            with contextlib.suppress(OSError, ValueError):
                for line in (path / name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and int(value) > 0:
                        return True
        return False

    def forks_refused(self) -> int:
        """How many times a process in it could not start because the `pids` limit was reached."""
        for path, controller in self.dirs.items():
            if controller.name != PIDS:
                continue
            with contextlib.suppress(OSError, ValueError):
                for line in (path / "pids.events").read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "max":
                        return int(value)
        return 0

    def cpu_seconds(self) -> float | None:
        """CPU time its processes have used, together (None when no cgroup accounts for it)."""
        for path, controller in self.dirs.items():
            with contextlib.suppress(OSError, ValueError):
                if controller.version == 2:
                    for line in (path / "cpu.stat").read_text().splitlines():
                        if line.startswith("usage_usec "):
                            return int(line.split()[1]) / 1e6
                elif controller.name == CPUACCT:
                    return int((path / "cpuacct.usage").read_text()) / 1e9
        return None

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.dirs:
            with contextlib.suppress(OSError, ValueError):
                found.update(int(p) for p in (path / "cgroup.procs").read_text().split())
        return found

    def kill_all(self) -> None:
        """SIGKILL every process still in it (v2: `cgroup.kill`; v1: each listed pid until none is left)."""
        for path, controller in self.dirs.items():
            if controller.version == 2:
                with contextlib.suppress(OSError):
                    _write(path / "cgroup.kill", "1")
        deadline = time.monotonic() + 2.0
        while (left := self.pids()) and time.monotonic() < deadline:
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def remove(self) -> None:
        """Remove its directories (after its processes are gone; a busy one is retried briefly)."""
        for path in list(self.dirs):
            deadline = time.monotonic() + 2.0
            while True:
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.005)
            self.dirs.pop(path, None)
