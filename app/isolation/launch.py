"""Starting a sandboxed command fast: a launcher process, made ahead, that already sits in the command's
cgroup, under its rlimits and in the sandbox's namespaces, and execs bwrap once told its command line.

What a command's start used to cost, and why it is done this way:

- CPython's `subprocess` forks with vfork() only when there is no `preexec_fn`; with one it makes a full
  fork of the worker (page tables copied, then copy-on-write faults on both sides): 15 to 25 ms per
  command in a worker that has imported the whole app. So nothing runs between fork and exec: the child
  execs a small bash script (the launcher) at once, and the worker sets up the rest from outside.
- Moving a process into a cgroup waits for the kernel (a few ms, tens under load: other workers fork and
  move processes too). The worker moves the launcher while it waits for its command line, and sets its
  rlimits with prlimit(2); it is the worker's own child, not yet reaped, so its pid cannot name another
  process. bwrap, the sandbox's init and the command are born in that cgroup, under those limits.
- Joining the sandbox's user and network namespaces needs setns(2) in the process that becomes bwrap:
  `nsenter` (util-linux, which Debian marks Essential) does it before it execs the launcher. It opens them
  through the worker's own descriptors (`/proc/<worker pid>/fd/N`), so no descriptor is handed down
  (bwrap would pass it on into the sandbox) and no pid of a process that may have died is trusted.

`Spare` keeps one launcher ready per sandbox, made in a thread while the previous command runs (or the
model thinks), so a command's start is one pipe write and bwrap's own work. A launcher runs nothing of
the repository: it reads the NUL-separated command line the worker writes, then `exec -c` (an empty
environment) of bwrap, which applies the sandbox as before. If the worker dies first, the launcher reads a
command line without its end marker and exits, running nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import resource
import shutil
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from app.isolation import cgroups

# (rlimit, (soft, hard)), as `resource.prlimit` takes them
Rlimits = list[tuple[int, tuple[int, int]]]

# The launcher: read the command line (NUL-separated, to EOF) from fd {fd}, close it, then exec the command
# with an empty environment. Its first word says whether the command gets the stdin pipe or /dev/null; its
# last must be `_END`, so that a command line cut short (the worker died writing it) runs nothing.
_END = "--specloop-launch-end--"
_SCRIPT = ('mapfile -d "" -t argv <&{fd} || exit 125; exec {fd}<&-; '
           '[ "${{#argv[@]}}" -ge 3 ] && [ "${{argv[-1]}}" = ' + _END + ' ] || exit 125; unset "argv[-1]"; '
           '[ "${{argv[0]}}" = stdin ] || exec <>/dev/null; exec -c -- "${{argv[@]:1}}"')


class LaunchError(OSError):
    """A launcher could not be made, or put under its limits (it was killed then)."""


@dataclass
class Launcher:
    """A launcher waiting for its command line: its process (stdin, stdout and stderr are pipes), the pipe
    it reads the command line from, the `--info-fd` pipe for bwrap (`info_fd` is its number in the launcher),
    and the command's cgroup."""

    popen: subprocess.Popen[bytes]
    argv_write: int
    info_read: int
    info_fd: int
    cgroup: cgroups.CommandCgroup | None

    def exec(self, argv: Sequence[str], *, stdin: bool) -> None:
        """Have it exec `argv` (bwrap's command line); without `stdin` the command reads /dev/null."""
        data = b"".join(f"{word}\0".encode() for word in ["stdin" if stdin else "devnull", *argv, _END])
        try:
            with contextlib.suppress(BrokenPipeError):  # it died first (nsenter could not join): its stderr says
                while data:
                    data = data[os.write(self.argv_write, data):]
        finally:
            os.close(self.argv_write)
        if not stdin and self.popen.stdin is not None:
            self.popen.stdin.close()

    def discard(self) -> None:
        """Kill it unused and free what it holds (blocking, briefly)."""
        with contextlib.suppress(ProcessLookupError):
            self.popen.kill()
        self.popen.wait()
        for fd in (self.argv_write, self.info_read):
            with contextlib.suppress(OSError):
                os.close(fd)
        for file in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            if file is not None:
                file.close()
        if self.cgroup is not None:
            self.cgroup.remove()


@functools.cache
def _tool(name: str) -> str:
    """Where `name` is (looked up once; the host's tools do not move)."""
    return shutil.which(name) or f"/usr/bin/{name}"


def nsenter_prefix(namespace_fds: Sequence[int]) -> list[str]:
    """The `nsenter` command line that joins the namespaces behind the worker's descriptors (user, then
    net, as `namespace_fds` lists them), keeping the worker's uid and gid, then execs the rest."""
    if not namespace_fds:
        return []
    nsenter = _tool("nsenter")
    fd_dir = f"/proc/{os.getpid()}/fd"
    kinds = ("--user", "--net")
    return [nsenter, *(f"{kind}={fd_dir}/{fd}" for kind, fd in zip(kinds, namespace_fds, strict=True)),
            "--preserve-credentials", "--"]


def prepare(*, namespace_fds: Sequence[int], rlimits: Rlimits, cgroup: cgroups.CommandCgroup | None) -> Launcher:
    """Start a launcher in `cgroup` (which it takes over) under `rlimits`, joining `namespace_fds`.
    Raises `LaunchError`. Blocking (a fork, writes to cgroup files): call it off the event loop."""
    argv_read, argv_write = os.pipe()
    info_read, info_write = os.pipe()
    bash = _tool("bash")
    try:
        popen = subprocess.Popen(
            [*nsenter_prefix(namespace_fds), bash, "--norc", "--noprofile", "-c", _SCRIPT.format(fd=argv_read)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={}, cwd="/",
            close_fds=True, pass_fds=(argv_read, info_write),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        for fd in (argv_write, info_read):
            os.close(fd)
        if cgroup is not None:
            cgroup.remove()
        raise LaunchError(f"could not start bubblewrap's launcher: {exc}") from exc
    finally:
        os.close(argv_read)
        os.close(info_write)
    launcher = Launcher(popen, argv_write, info_read, info_write, cgroup)
    try:
        if cgroup is not None:
            cgroup.add(popen.pid)
        for which, value in rlimits:
            resource.prlimit(popen.pid, which, value)
    except ProcessLookupError:
        pass  # it exited already (nsenter could not join, say): its stderr says why when it is used
    except OSError as exc:
        launcher.discard()
        raise LaunchError(f"could not put the command under its limits: {exc}") from exc
    return launcher


class Spare:
    """One launcher made ahead, in `executor`, by `make`: `take()` hands it over (waiting for it when it is
    not ready yet) and starts making the next. Used from one event loop."""

    def __init__(self, make: Callable[[], Launcher], executor: Executor) -> None:
        self._make, self._executor = make, executor
        self._next: asyncio.Future[Launcher] | None = None
        self._closed = False

    def _ahead(self) -> None:
        if self._next is None and not self._closed:
            self._next = asyncio.get_running_loop().run_in_executor(self._executor, self._make)

    async def take(self) -> Launcher:
        """A launcher for the next command. Raises `LaunchError` when none could be made, and
        `asyncio.CancelledError` as usual (the one being made then stays for the next caller)."""
        self._ahead()
        made, self._next = self._next, None
        if made is None:
            raise LaunchError("the sandbox is closed")
        try:
            launcher = await asyncio.shield(made)
        except asyncio.CancelledError:
            if self._next is None and not self._closed:
                self._next = made
            else:
                made.add_done_callback(discard_made)
            raise
        finally:
            self._ahead()
        return launcher

    async def close(self) -> None:
        """Make no more, and discard the one made ahead."""
        self._closed = True
        made, self._next = self._next, None
        if made is not None:
            with contextlib.suppress(Exception):
                launcher = await made
                await asyncio.to_thread(launcher.discard)


def discard_made(made: asyncio.Future[Launcher]) -> None:
    """A done callback for a launcher being made that nobody will use: discard it once it is made."""
    if not made.cancelled() and made.exception() is None:
        asyncio.get_running_loop().run_in_executor(None, made.result().discard)
