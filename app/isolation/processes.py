"""The plumbing under a sandboxed command: its pipes read on the event loop, its exit seen through a
pidfd (with its rusage), its sandbox's init killed and waited for through another, and its cgroup freed.

Nothing here knows bubblewrap's options; `app/isolation/bubblewrap.py` builds the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import IO

from app.isolation import cgroups
from app.isolation.base import Limit


def human_bytes(n: int) -> str:
    """A byte count in plain words: 1 MB, 512 KB, 3 GB."""
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


class Pipe:
    """Reads one of a child's pipes on the event loop, handing each chunk to `sink`, until EOF."""

    def __init__(self, file: IO[bytes], sink: Callable[[bytes], None],
                 on_eof: Callable[[], None] | None = None) -> None:
        self._file, self._sink, self._on_eof = file, sink, on_eof
        self._fd = file.fileno()
        self._loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = self._loop.create_future()
        os.set_blocking(self._fd, False)
        self._loop.add_reader(self._fd, self._read)

    def _read(self) -> None:
        try:
            data = os.read(self._fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._sink(data)
        else:
            self.close()

    def close(self) -> None:
        if not self.done.done():
            self._loop.remove_reader(self._fd)
            self._file.close()
            self.done.set_result(None)
            if self._on_eof is not None:
                self._on_eof()


class Capture:
    """One stream of a `run()`: kept up to `cap` bytes; past it, `over` is called once."""

    def __init__(self, cap: int, over: Callable[[], None]) -> None:
        self.cap, self.over = cap, over
        self.data = bytearray()
        self.truncated = False

    def feed(self, chunk: bytes) -> None:
        room = self.cap - len(self.data)
        if len(chunk) > room:
            self.data += chunk[:max(room, 0)]
            if not self.truncated:
                self.truncated = True
                self.over()
        else:
            self.data += chunk

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


class LogFile:
    """One stream of a `start()`ed command, written to a log file up to `cap` bytes, then dropped."""

    def __init__(self, fd: int, cap: int) -> None:
        self.fd, self.cap, self.written, self.truncated = fd, cap, 0, False

    def feed(self, chunk: bytes) -> None:
        if self.truncated:
            return
        room = self.cap - self.written
        with contextlib.suppress(OSError):
            os.write(self.fd, chunk[:room])
            if len(chunk) > room:
                self.truncated = True
                os.write(self.fd, f"\n[sandbox: log cut at {human_bytes(self.cap)}]\n".encode())
        self.written += min(len(chunk), room)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class Process:
    """One bwrap process and what belongs to it: its exit, its sandbox's init, its cgroup."""

    def __init__(self, popen: subprocess.Popen[bytes], info: IO[bytes],
                 cgroup: cgroups.CommandCgroup | None, background: set[asyncio.Task[None]]) -> None:
        self.popen, self.cgroup = popen, cgroup
        self._background = background  # the sandbox's: where freeing the cgroup goes, awaited by its close()
        self.pid = popen.pid
        self.started = time.monotonic()
        self.killed_for: Limit | None = None
        self.stopped = False
        self.reaped = False
        self.cpu_s = 0.0
        self.oom = False
        self.forks_refused = 0  # new processes the pids limit refused (cgroup), read at exit
        self.init_pid: int | None = None
        self._init_fd: int | None = None  # a pidfd: signals reach that process even if its pid is reused
        self._loop = asyncio.get_running_loop()
        self.exited: asyncio.Future[int] = self._loop.create_future()
        self._info = bytearray()
        self.info = Pipe(info, self._info_chunk, self._read_info)
        self._finished: asyncio.Task[int] | None = None
        self._watch_exit()

    def _info_chunk(self, chunk: bytes) -> None:
        # the sandbox's processes may hold the pipe open (no EOF until they end): read the JSON as it comes
        self._info.extend(chunk)
        self._read_info()

    def _read_info(self) -> None:
        """bwrap's `--info-fd` JSON: the host pid of the sandbox's init, opened as a pidfd at once."""
        if self.init_pid is not None:
            return
        with contextlib.suppress(ValueError, TypeError, KeyError):
            self.init_pid = int(json.loads(bytes(self._info).decode())["child-pid"])
        if self.init_pid is not None:
            with contextlib.suppress(OSError, AttributeError):
                self._init_fd = os.pidfd_open(self.init_pid)
            if self.killed_for is not None or self.stopped:
                self.kill()

    def _watch_exit(self) -> None:
        try:
            pidfd = os.pidfd_open(self.pid)
        except (OSError, AttributeError):  # no pidfd (kernel < 5.3): a thread waits instead
            threading.Thread(target=self._reap, args=(0, True), daemon=True).start()
            return

        def readable() -> None:
            if self._reap(os.WNOHANG):
                self._loop.remove_reader(pidfd)
                os.close(pidfd)
        self._loop.add_reader(pidfd, readable)

    def _reap(self, flags: int, threadsafe: bool = False) -> bool:
        try:
            pid, status, usage = os.wait4(self.pid, flags)
        except ChildProcessError:  # reaped elsewhere: the exit code is lost
            pid, status, usage = self.pid, 255 << 8, None
        if pid == 0:
            return False
        self.reaped = True
        code = os.waitstatus_to_exitcode(status)
        self.popen.returncode = code  # so Popen neither waits nor warns
        if usage is not None:
            self.cpu_s = usage.ru_utime + usage.ru_stime
        if threadsafe:
            self._loop.call_soon_threadsafe(self._set_exit, code)
        else:
            self._set_exit(code)
        return True

    def _set_exit(self, code: int) -> None:
        if not self.exited.done():
            self.exited.set_result(code)

    def kill(self, limit: Limit | None = None) -> None:
        """SIGKILL the sandbox's init (its whole pid namespace goes with it) and bwrap. Asynchronous."""
        if self.killed_for is None and not self.stopped and not self.exited.done():
            self.killed_for = limit
            self.stopped = limit is None
        if self._init_fd is not None:
            with contextlib.suppress(ProcessLookupError, OSError):
                signal.pidfd_send_signal(self._init_fd, signal.SIGKILL)
        if not self.reaped:  # our child, not reaped: its pid cannot have been reused
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, signal.SIGKILL)

    def finish(self) -> asyncio.Task[int]:
        """Wait for the exit, then for the sandbox's pid namespace to be gone, then free its cgroup."""
        if self._finished is None:
            self._finished = asyncio.ensure_future(self._finish())
        return self._finished

    async def _finish(self) -> int:
        code = await self.exited
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.info.done), 1.0)
        self.info.close()
        namespace_gone = False
        if self._init_fd is not None:
            # The init exits only after every other process of its namespace is gone (the kernel waits
            # for them); after a kill, bwrap may be reaped before that, so wait for the init itself.
            gone: asyncio.Future[None] = self._loop.create_future()
            fd = self._init_fd

            def exited() -> None:
                if not gone.done():
                    gone.set_result(None)
            self._loop.add_reader(fd, exited)
            try:
                await asyncio.wait_for(gone, 5.0)
                namespace_gone = True
            except TimeoutError:
                pass
            finally:
                self._loop.remove_reader(fd)
                os.close(fd)
                self._init_fd = None
        if self.cgroup is not None:
            self.oom = self.cgroup.oom_killed()
            self.forks_refused = self.cgroup.forks_refused()
            self.cpu_s = self.cgroup.cpu_seconds() or self.cpu_s
            freeing = asyncio.ensure_future(asyncio.to_thread(self._free_cgroup, self.cgroup))
            if namespace_gone:
                # Nothing of the command is left to kill (bwrap is reaped, its namespace empty): the sweep
                # and the rmdir need not hold up the caller. The sandbox's close() waits for them.
                self._background.add(freeing)
                freeing.add_done_callback(self._background.discard)
            else:
                await freeing
        return code

    @staticmethod
    def _free_cgroup(group: cgroups.CommandCgroup) -> None:
        group.kill_all()
        group.remove()
