"""The bubblewrap backend: each command in its own namespaces, under rlimits and (where possible) a cgroup.

Inside, a command sees a read-only system (`/usr` and the `/bin`, `/lib*` links; from `/etc` only an
allow-list: resolver, users, certificates, linker cache, fonts; a copy made once per sandbox,
`app/isolation/etc.py`), its own `/proc` and `/dev`, a private
size-capped `/tmp` with `HOME=/tmp/home`, the policy's read-only paths and the workspace read-write,
each at its host path. Everything else of the host, the worker's project directory, `.env`, `DATA_DIR`
and private key included, is simply not there. The environment is `--clearenv` plus the policy's.

Namespaces: a new user (root inside maps to the worker's uid; no capabilities; no further user
namespaces), pid (bwrap's init is pid 1: when it dies the kernel kills everything left), ipc, uts and
cgroup namespace. Without `policy.network`, the commands of one sandbox share one network namespace
that has only its own loopback: a "holder" process made at first use keeps it, and each command joins it
(`nsenter` before bwrap starts), so an app started with `start()` is reachable from `run()` and from
nothing else. With `policy.network` the host's network is shared, loopback services included.

Limits: rlimits set on the process that becomes bwrap before it execs it (inherited by everything
inside): CPU time, open files, file size, no core files, and, where no cgroup holds them, address space
(for memory) and, for a non-root worker, processes. Where a cgroup can be made (`app/isolation/cgroups.py`)
it holds processes and memory for the command's processes together. Wall time and output size are
watched here: over either, bwrap and the sandbox's init are killed, which takes the whole pid namespace
along.

Starting: each command execs bwrap from a launcher made ahead, while the previous command ran, already
in the command's cgroup, under its rlimits and in the sandbox's namespaces (`app/isolation/launch.py`
says why: a fork with a `preexec_fn` and a cgroup move cost most of a command's start).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from app.isolation import cgroups, launch
from app.isolation.base import (
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
from app.isolation.etc import EtcCopy, copy_etc
from app.isolation.processes import Capture, LogFile, Pipe, Process, human_bytes

INSTALL_HINT = (
    "install the Debian package `bubblewrap` (`apt-get install bubblewrap`; `make system` does it)"
)
# Host directories every command sees read-only (a merged-/usr system has only links besides /usr).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# From /etc only what programs need to start, resolve names, verify TLS and draw text. Not the whole of
# /etc: inside, the sandbox's uid maps to the worker's, so root-only files such as /etc/shadow,
# /etc/ssl/private or /etc/ssh/*_key would be readable by their owner, and /etc/gitconfig or npmrc can
# hold tokens.
ETC_ALLOWED = (
    "passwd", "group", "hosts", "host.conf", "nsswitch.conf", "resolv.conf", "gai.conf",
    "services", "protocols", "localtime", "timezone", "ld.so.cache", "ld.so.conf", "ld.so.conf.d",
    "alternatives", "ssl/certs", "ssl/openssl.cnf", "ca-certificates", "ca-certificates.conf",
    "pki/tls/certs", "pki/ca-trust", "mime.types", "fonts", "os-release", "debian_version",
    "chromium", "chromium.d",
)
LOG_DIR = ".sandbox"  # in the workspace: the logs of commands started with start()
_LOG_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")

# Launchers are made off the event loop (`launch.prepare`). These threads live as long as the worker:
# bwrap's --die-with-parent is a parent-death signal, sent when the *thread* that forked it ends.
_SPAWNER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sandbox-spawn")

_MEMORY_WORDS = ("MemoryError", "Cannot allocate memory", "out of memory", "bad_alloc", "heap out of memory")


@functools.cache
def _usr_args() -> tuple[str, ...]:
    """The read-only system directories (computed once: the host's layout does not change)."""
    args: list[str] = []
    for directory in SYSTEM_DIRS:
        path = Path(directory)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), directory]
        elif path.is_dir():
            args += ["--ro-bind", directory, directory]
    return tuple(args)


def _etc_bind_args() -> list[str]:
    """The allow-listed part of /etc, one bind each (where a sandbox has no copy of it: `etc.py`)."""
    return [arg for name in ETC_ALLOWED for arg in ("--ro-bind-try", f"/etc/{name}", f"/etc/{name}")]


def _system_args() -> tuple[str, ...]:
    """The read-only system: the system directories and the allow-listed part of /etc."""
    return (*_usr_args(), *_etc_bind_args())


def _namespace_args(*, network: bool, joined: bool) -> list[str]:
    args = ["--unshare-user", "--disable-userns", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try"]
    if not network and not joined:  # joined: already in the sandbox's own network namespace
        args.append("--unshare-net")
    return args + ["--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "sandbox"]


@functools.cache
def _probe(bwrap: str) -> str | None:
    """Run `true` in the namespaces every command uses; None when that works, else what is wrong."""
    argv = [bwrap, *_namespace_args(network=False, joined=False), *_system_args(),
            "--proc", "/proc", "--dev", "/dev", "--", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, env={}, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap ({bwrap}) could not be run: {exc}"
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        return (f"bubblewrap is installed ({bwrap}) but could not make a sandbox: {detail}. It needs user "
                "namespaces: allow them (sysctl user.max_user_namespaces > 0, "
                "kernel.unprivileged_userns_clone=1, or on Ubuntu "
                "kernel.apparmor_restrict_unprivileged_userns=0), or, in a container, a seccomp and "
                "AppArmor profile that permits them")
    return None


def sandbox_available() -> str | None:
    """None when bubblewrap sandboxes work here; else a message saying what to install or allow.

    The probe (`bwrap` with every namespace a command gets, running `true`) runs once per bwrap found.
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return f"bubblewrap is not installed (no `bwrap` on PATH): {INSTALL_HINT}"
    return _probe(bwrap)


def _tasks_of(uid: int) -> int:
    """How many tasks (processes and threads) `uid` has now: what RLIMIT_NPROC counts."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
    return count


def _tee(*sinks: Callable[[bytes], None]) -> Callable[[bytes], None]:
    def feed(chunk: bytes) -> None:
        for sink in sinks:
            sink(chunk)
    return feed


class _Started(Running):
    """A command started with `BubblewrapSandbox.start()`."""

    def __init__(self, sandbox: BubblewrapSandbox, process: Process, argv: tuple[str, ...],
                 logs: tuple[Path, Path], files: tuple[LogFile, LogFile], pipes: list[Pipe],
                 timeout: float | None) -> None:
        self._sandbox, self._process, self.argv = sandbox, process, argv
        self.stdout_log, self.stderr_log = logs
        self._files, self._pipes, self._timeout = files, pipes, timeout
        self._timer = (None if timeout is None else
                       asyncio.get_running_loop().call_later(timeout, process.kill, Limit.WALL_TIME))
        self._done = asyncio.ensure_future(self._until_done())

    async def _until_done(self) -> int:
        code = await self._process.finish()
        for pipe in self._pipes:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(pipe.done), 1.0)
            pipe.close()
        for file in self._files:
            file.close()
        if self._timer is not None:
            self._timer.cancel()
        return code

    @property
    def returncode(self) -> int | None:
        return self._done.result() if self._done.done() else None

    def _classified(self) -> tuple[Limit | None, str | None]:
        if not self._done.done():
            return None, None
        return self._sandbox._classify(self._process, self._done.result(), "", self._timeout)

    @property
    def limit(self) -> Limit | None:
        return self._classified()[0]

    @property
    def reason(self) -> str | None:
        return self._classified()[1]

    async def wait(self, timeout: float | None = None) -> int | None:
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(asyncio.shield(self._done), timeout)
        return None

    async def stop(self) -> int:
        self._process.kill()
        return await asyncio.shield(self._done)


class BubblewrapSandbox(Sandbox):
    """A `Sandbox` made of bubblewrap namespaces (docs/sandbox.md). Raises `SandboxUnavailable` when
    bubblewrap cannot make one here (`sandbox_available()` says why)."""

    def __init__(self, workspace: Path, policy: Policy | None = None) -> None:
        super().__init__(workspace, policy)
        if self.workspace == Path("/"):
            raise SandboxError("the workspace cannot be /")
        for path in self.policy.read_only:
            if not Path(path).is_absolute() or not Path(path).exists():
                raise SandboxError(f"a read-only path must be absolute and exist: {path}")
        problem = sandbox_available()
        if problem is not None:
            raise SandboxUnavailable(problem)
        self._bwrap = shutil.which("bwrap") or "bwrap"
        self._processes: set[Process] = set()
        self._holder: Process | None = None
        self._namespaces: list[int] = []
        self._holder_lock = asyncio.Lock()
        self._holder_pipe: Pipe | None = None
        self._started: set[_Started] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._spare = launch.Spare(functools.partial(self._prepare, command=True), _SPAWNER)
        self._etc: asyncio.Future[EtcCopy | None] | None = None  # made at first use
        self._closed = False

    # -- what is enforced how, here -------------------------------------------------------------------

    @property
    def enforcement(self) -> dict[str, str]:
        """How each limit is enforced on this machine, in words (for logs and docs/sandbox.md)."""
        usable = cgroups.available()
        kinds = {name: f"cgroup v{c.version}" for name, c in usable.items()}
        root = os.geteuid() == 0
        return {
            "wall_time": "watched by the worker: the sandbox's init and bwrap are killed",
            "cpu_time": "RLIMIT_CPU per process (SIGXCPU, SIGKILL 2 s later)",
            "memory": (f"{kinds['memory']} memory limit, all its processes together" if "memory" in kinds
                       else "RLIMIT_AS per process (address space, not resident memory)"),
            "processes": (f"{kinds['pids']} pids.max, all its processes together" if "pids" in kinds
                          else "none: RLIMIT_NPROC does not apply to root" if root
                          else "RLIMIT_NPROC: every process of the worker's uid together"),
            "open_files": "RLIMIT_NOFILE per process",
            "file_size": "RLIMIT_FSIZE per file (SIGXFSZ)",
            "output": "read by the worker: run() kills past the cap, start() stops logging",
        }

    # -- starting a command ---------------------------------------------------------------------------

    def _cwd(self, cwd: str | Path | None) -> str:
        if cwd is None:
            return str(self.workspace)
        path = Path(cwd)
        return str(path if path.is_absolute() else self.workspace / path)

    def _copy_etc(self) -> EtcCopy | None:
        """This sandbox's /etc (`etc.py`); None when it cannot be copied (then each part is bound)."""
        under_etc = [Path(p) for p in self.policy.read_only if Path(p).is_relative_to("/etc")]
        try:
            return copy_etc(ETC_ALLOWED, under_etc)
        except OSError:
            return None

    def _mounts(self, etc: EtcCopy | None) -> list[str]:
        tmp = str(self.policy.limits.tmp_bytes)
        system = [*_usr_args(), *(etc.args() if etc is not None else _etc_bind_args())]
        args = [*system, "--proc", "/proc", "--dev", "/dev", "--size", tmp, "--tmpfs", "/dev/shm",
                "--remount-ro", "/dev", "--size", tmp, "--tmpfs", "/tmp", "--dir", SANDBOX_HOME]
        workspace = str(self.workspace)
        inside = [p for p in self.policy.read_only if Path(p).is_relative_to(self.workspace)]
        for path in [p for p in self.policy.read_only if p not in inside]:
            args += ["--ro-bind", str(path), str(path)]
        args += ["--bind", workspace, workspace]
        for path in inside:  # read-only parts of the workspace, over its read-write bind
            args += ["--ro-bind", str(path), str(path)]
        return args + ["--remount-ro", "/"]

    def _rlimits(self, group: cgroups.CommandCgroup | None) -> list[tuple[int, tuple[int, int]]]:
        limits: Limits = self.policy.limits
        held = group.limits if group is not None else set()
        wanted = [
            (resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 2),
            (resource.RLIMIT_NOFILE, limits.open_files, limits.open_files),
            (resource.RLIMIT_FSIZE, limits.file_size_bytes, limits.file_size_bytes),
            (resource.RLIMIT_CORE, 0, 0),
        ]
        if cgroups.MEMORY not in held:
            wanted.append((resource.RLIMIT_AS, limits.memory_bytes, limits.memory_bytes))
        if cgroups.PIDS not in held and os.geteuid() != 0:
            # counts every task of the worker's uid, the worker's own included
            allowed = _tasks_of(os.getuid()) + limits.processes
            wanted.append((resource.RLIMIT_NPROC, allowed, allowed))
        out = []
        for which, soft, hard in wanted:
            _, current = resource.getrlimit(which)
            if current != resource.RLIM_INFINITY:
                soft, hard = min(soft, current), min(hard, current)
            out.append((which, (soft, hard)))
        return out

    async def _join_namespaces(self) -> list[int]:
        """The user and network namespaces every command of this sandbox joins (made at first use)."""
        if self.policy.network:
            return []
        async with self._holder_lock:
            if self._holder is None:
                # no --disable-userns here: that would put its init in a nested user namespace, which
                # has no say over the network namespace the commands join
                made = asyncio.get_running_loop().run_in_executor(
                    _SPAWNER, functools.partial(self._prepare, command=False))
                try:
                    launcher = await asyncio.shield(made)
                except asyncio.CancelledError:
                    made.add_done_callback(launch.discard_made)
                    raise
                except launch.LaunchError as exc:
                    raise SandboxError(str(exc)) from exc
                if self._closed:
                    await asyncio.to_thread(launcher.discard)
                    raise SandboxError("this sandbox is closed")
                holder = self._start(
                    launcher,
                    ["--unshare-user", "--unshare-net", "--unshare-pid", "--die-with-parent", "--new-session",
                     "--cap-drop", "ALL", *_system_args(), "--proc", "/proc", "--dev", "/dev"],
                    ["sh", "-c", "echo ready && exec sleep infinity"], stdin=False)
                self._holder = holder
                # Joining before bwrap has written the namespace's uid map would leave a command unmapped
                # (and unable to make its own user namespace): wait until the holder's command runs.
                said = bytearray()
                ready = asyncio.get_running_loop().create_future()

                def heard(chunk: bytes) -> None:
                    said.extend(chunk)
                    if b"ready" in said and not ready.done():
                        ready.set_result(None)
                assert holder.popen.stdout is not None
                self._holder_pipe = Pipe(holder.popen.stdout, heard)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ready, 10)
                if not ready.done() or holder.init_pid is None or self._closed:
                    holder.kill()
                    raise SandboxError("this sandbox is closed" if self._closed else
                                       "could not make the sandbox's network namespace")
                for kind in ("user", "net"):  # the order nsenter joins them in (`launch.nsenter_prefix`)
                    self._namespaces.append(os.open(f"/proc/{holder.init_pid}/ns/{kind}", os.O_RDONLY))
            return self._namespaces

    def _new_cgroup(self) -> cgroups.CommandCgroup | None:
        """A cgroup for one command with the policy's limits; None where none can be made (rlimits only)."""
        if not cgroups.available():
            return None
        limits = self.policy.limits
        with contextlib.suppress(OSError):
            return cgroups.CommandCgroup.create(processes=limits.processes + 2,  # + bwrap and its init
                                                memory_bytes=limits.memory_bytes)
        return None

    def _prepare(self, *, command: bool) -> launch.Launcher:
        """A launcher (`app/isolation/launch.py`) for a command (in its own cgroup, in the sandbox's
        namespaces) or for the holder (neither). Blocking: runs in a thread."""
        group = self._new_cgroup() if command else None
        return launch.prepare(namespace_fds=tuple(self._namespaces) if command else (),
                              rlimits=self._rlimits(group), cgroup=group)

    def _start(self, launcher: launch.Launcher, bwrap_args: list[str], argv: Sequence[str], *,
               stdin: bool) -> Process:
        """Have `launcher` exec bwrap for `argv`; the process is ours from then on (`close()` kills it)."""
        launcher.exec([self._bwrap, *bwrap_args, "--info-fd", str(launcher.info_fd), "--", *argv], stdin=stdin)
        info = os.fdopen(launcher.info_read, "rb", buffering=0)
        process = Process(launcher.popen, info, launcher.cgroup, self._background)
        self._processes.add(process)
        return process

    async def _spawn(self, argv: Sequence[str], *, cwd: str | Path | None, env: Mapping[str, str] | None,
                     stdin: bool) -> Process:
        if self._closed:
            raise SandboxError("this sandbox is closed")
        if not argv:
            raise SandboxError("nothing to run: argv is empty")
        if self._etc is None:  # copied while the holder starts
            self._etc = asyncio.get_running_loop().run_in_executor(_SPAWNER, self._copy_etc)
        namespaces = await self._join_namespaces()
        etc = await asyncio.shield(self._etc)
        try:
            launcher = await self._spare.take()  # made while the previous command ran
        except launch.LaunchError as exc:
            raise SandboxError(str(exc)) from exc
        if self._closed:  # closed while it was waited for
            await asyncio.to_thread(launcher.discard)
            raise SandboxError("this sandbox is closed")
        args = [*_namespace_args(network=self.policy.network, joined=bool(namespaces)), *self._mounts(etc),
                "--chdir", self._cwd(cwd), "--clearenv"]
        for key, value in self.policy.environment(env).items():
            args += ["--setenv", key, value]
        return self._start(launcher, args, argv, stdin=stdin)

    async def _setup_failure(self, process: Process, stderr: str) -> None:
        """Raise when bwrap exited without ever starting the command (a bad path, say)."""
        await process.finish()
        if process.init_pid is None and process.killed_for is None and not process.stopped:
            raise SandboxError(f"bubblewrap could not start the command: {stderr.strip()[-500:]}")

    # -- the interface --------------------------------------------------------------------------------

    async def run(
        self, argv: Sequence[str], *, timeout: float, stdin: bytes | None = None,
        cwd: str | Path | None = None, env: Mapping[str, str] | None = None,
    ) -> Completed:
        process = await self._spawn(argv, cwd=cwd, env=env, stdin=stdin is not None)
        cap = self.policy.limits.output_bytes
        streams = {name: Capture(cap, functools.partial(process.kill, Limit.OUTPUT))
                   for name in ("stdout", "stderr")}
        assert process.popen.stdout is not None and process.popen.stderr is not None
        pipes = [Pipe(process.popen.stdout, streams["stdout"].feed),
                 Pipe(process.popen.stderr, streams["stderr"].feed)]
        writer = self._feed_stdin(process, stdin) if stdin is not None else None
        try:
            try:
                await asyncio.wait_for(asyncio.shield(process.exited), timeout)
            except TimeoutError:
                process.kill(Limit.WALL_TIME)
            code = await process.finish()
            for pipe in pipes:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(pipe.done), 1.0)
        finally:
            process.kill()
            await process.finish()
            for pipe in pipes:
                pipe.close()
            if writer is not None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await writer
            if process.popen.stdin is not None and not process.popen.stdin.closed:
                process.popen.stdin.close()
            self._processes.discard(process)
        await self._setup_failure(process, streams["stderr"].text())
        over = next((name for name, s in streams.items() if s.truncated), None)
        limit, reason = self._classify(process, code, streams["stderr"].text(), timeout, over)
        return Completed(
            argv=tuple(argv), returncode=code, stdout=streams["stdout"].text(),
            stderr=streams["stderr"].text(), truncated=over is not None,
            timed_out=process.killed_for is Limit.WALL_TIME, limit=limit, reason=reason,
            duration_s=time.monotonic() - process.started, cpu_s=process.cpu_s,
        )

    def _feed_stdin(self, process: Process, data: bytes) -> asyncio.Task[None]:
        assert process.popen.stdin is not None
        pipe = process.popen.stdin

        async def feed() -> None:
            loop = asyncio.get_running_loop()
            transport, _ = await loop.connect_write_pipe(asyncio.Protocol, pipe)
            try:
                transport.write(data)
                transport.write_eof()
            finally:
                await process.exited
                transport.close()
        return asyncio.ensure_future(feed())

    async def start(
        self, argv: Sequence[str], *, name: str = "app", cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None, timeout: float | None = None,
        on_stdout: Callable[[bytes], None] | None = None,
    ) -> Running:
        if not _LOG_NAME.fullmatch(name):
            raise SandboxError(f"a log name is letters, digits, '.', '_' and '-' only: {name!r}")
        logs, fds = self._open_logs(name)
        try:
            process = await self._spawn(argv, cwd=cwd, env=env, stdin=False)
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        cap = self.policy.limits.output_bytes
        files = (LogFile(fds[0], cap), LogFile(fds[1], cap))
        assert process.popen.stdout is not None and process.popen.stderr is not None
        stdout_sink = files[0].feed if on_stdout is None else _tee(files[0].feed, on_stdout)
        pipes = [Pipe(process.popen.stdout, stdout_sink), Pipe(process.popen.stderr, files[1].feed)]
        started = _Started(self, process, tuple(argv), logs, files, pipes, timeout)
        self._started.add(started)
        return started

    def _open_logs(self, name: str) -> tuple[tuple[Path, Path], tuple[int, int]]:
        """Make `<workspace>/.sandbox/<name>.std{out,err}.log` afresh, never following a link left there."""
        directory = self.workspace / LOG_DIR
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o755)
        try:
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError as exc:
            raise SandboxError(f"{directory} is not a plain directory: {exc}") from exc
        paths, fds = [], []
        try:
            for stream in ("stdout", "stderr"):
                file = f"{name}.{stream}.log"
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(file, dir_fd=dir_fd)
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                fd = os.open(file, flags, 0o644, dir_fd=dir_fd)
                fds.append(fd)
                paths.append(directory / file)
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise SandboxError(f"{directory / file} is not a regular file")
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            raise SandboxError(f"could not create the log {name} in {directory}: {exc}") from exc
        finally:
            os.close(dir_fd)
        return (paths[0], paths[1]), (fds[0], fds[1])

    def _classify(self, process: Process, code: int, stderr: str, timeout: float | None,
                  over: str | None = None) -> tuple[Limit | None, str | None]:
        """Which limit stopped the command, and why in words; (None, None) when none did."""
        limits = self.policy.limits
        if process.killed_for is Limit.WALL_TIME:
            took = f"{timeout:g} s" if timeout is not None else "its time limit"
            return Limit.WALL_TIME, f"killed: it ran longer than {took} (wall time)"
        if process.killed_for is Limit.OUTPUT:
            cap = human_bytes(limits.output_bytes)
            return Limit.OUTPUT, f"killed: it wrote more than {cap} to {over or 'its output'}"
        # what a fork bomb meets: the pids cgroup refused its new processes
        processes = (Limit.PROCESSES, (f"it reached the limit of {limits.processes} processes "
                                       f"({process.forks_refused} refused)"))
        if process.stopped:
            return processes if process.forks_refused else (None, "stopped")
        if code == 0:
            return None, None
        memory = human_bytes(limits.memory_bytes)
        if process.oom:
            return Limit.MEMORY, f"killed: its processes used more than {memory} of memory"
        if code == 128 + signal.SIGXCPU or (
                code == 128 + signal.SIGKILL and process.cpu_s >= 0.9 * limits.cpu_seconds):
            return Limit.CPU_TIME, f"killed: it used more than {limits.cpu_seconds} s of CPU time"
        if code == 128 + signal.SIGXFSZ:
            largest = human_bytes(limits.file_size_bytes)
            return Limit.FILE_SIZE, f"killed: it wrote a file larger than {largest}"
        if process.forks_refused:
            return processes
        cgroup_memory = process.cgroup is not None and cgroups.MEMORY in process.cgroup.limits
        if not cgroup_memory and any(word in stderr[-4096:] for word in _MEMORY_WORDS):
            return Limit.MEMORY, f"stopped: it ran out of memory under the {memory} limit (address space)"
        return None, None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        holder, self._holder = self._holder, None
        commands = [p for p in self._processes if p is not holder]
        for process in commands:
            process.kill()
        await asyncio.gather(*(p.finish() for p in commands), return_exceptions=True)
        await asyncio.gather(*(s._done for s in self._started), return_exceptions=True)  # logs closed
        if holder is not None:
            holder.kill()
            await holder.finish()
        if self._holder_pipe is not None:
            self._holder_pipe.close()
        await self._spare.close()
        await asyncio.gather(*self._background, return_exceptions=True)
        # every launcher has exited by now: none will open these through /proc/<worker>/fd any more
        for fd in self._namespaces:
            os.close(fd)
        self._namespaces.clear()
        if self._etc is not None and (etc := await self._etc) is not None:
            await asyncio.to_thread(etc.remove)
        for process in list(self._processes):
            for file in (process.popen.stdin, process.popen.stdout, process.popen.stderr):
                if file is not None:
                    with contextlib.suppress(OSError, ValueError):
                        file.close()
        self._processes.clear()


