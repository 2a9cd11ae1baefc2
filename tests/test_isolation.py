"""The repository-code sandbox (app/isolation/, docs/sandbox.md), with real processes running hostile code.

Each test runs what repository code might do (read the worker's secrets, write outside its workspace,
reach the worker's Redis, exhaust the machine, outlive its job) in a bubblewrap sandbox with small
limits, and checks both that the attack fails and, beside it, that the honest version of the same
thing works, so a check cannot pass because nothing ran.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import sys
import tempfile
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Self

import pytest

from app.isolation import (
    Limit,
    Limits,
    Policy,
    Sandbox,
    SandboxUnavailable,
    cgroups,
    launch,
    open_sandbox,
    python_runtime,
    sandbox_available,
)

needs_bwrap = pytest.mark.skipif(sandbox_available() is not None, reason=str(sandbox_available()))

SECRET = "whsec-do-not-leak-4f1c"
API_KEY = "sk-ant-do-not-leak-77aa"
LIMITS = Limits(cpu_seconds=2, memory_bytes=128 << 20, processes=32, open_files=256,
                file_size_bytes=8 << 20, output_bytes=64 << 10, tmp_bytes=16 << 20)
PY_PATHS, PY_ENV = python_runtime()


def policy(**changes: object) -> Policy:
    """The tests' policy: this interpreter's venv read-only, small limits."""
    fields: dict[str, object] = {"read_only": PY_PATHS, "env": PY_ENV, "limits": LIMITS, **changes}
    return Policy(**fields)  # type: ignore[arg-type]


def py(code: str) -> list[str]:
    return ["python", "-c", textwrap.dedent(code)]


def unique_seconds() -> int:
    """A sleep length no other process has (tests running side by side included): a marker to find."""
    return 10**8 + (os.getpid() * 1000 + next(_COUNTER)) % 10**8


_COUNTER = itertools.count()


def host_processes_with(marker: str) -> list[int]:
    """Pids on the host whose command line contains `marker` (bwrap's own, which name it, aside)."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                argv = Path(entry.path, "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker in b" ".join(argv).decode(errors="replace") and not argv[0].endswith(b"bwrap"):
                found.append(int(entry.name))
    return found


async def can_start_a_process() -> bool:
    """Whether the worker can still start a process (a fork bomb has not exhausted the machine)."""
    process = await asyncio.create_subprocess_exec("true")
    return await process.wait() == 0


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A job's workspace, with the worker's secrets next to it (outside it)."""
    (tmp_path / ".env").write_text(f"WEBHOOK_SECRET={SECRET}\n")
    (tmp_path / "private-key.pem").write_text(f"-----BEGIN RSA PRIVATE KEY-----\n{API_KEY}\n")
    ws = tmp_path / "workspace"
    ws.mkdir()
    (ws / "README.md").write_text("the repository\n")
    return ws


@pytest.fixture
async def box(workspace: Path) -> AsyncIterator[Sandbox]:
    async with open_sandbox(workspace, policy()) as sandbox:
        yield sandbox


# -- honest commands work -----------------------------------------------------------------------------

@needs_bwrap
async def test_a_normal_command_gets_its_output_exit_code_stdin_and_workspace(box: Sandbox) -> None:
    done = await box.run(["sh", "-c", "echo out; echo err >&2; cat README.md; exit 3"], timeout=10)
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\nthe repository\n", "err\n")
    assert done.limit is None and done.reason is None and not done.truncated and not done.timed_out

    done = await box.run(py("import sys; print(6 * 7, sys.stdin.read())"), timeout=10, stdin=b"from stdin")
    assert (done.returncode, done.stdout, done.ok) == (0, "42 from stdin\n", True)

    done = await box.run(["sh", "-c", "pwd; echo made > made.txt; echo $HOME"], timeout=10, cwd=".")
    assert done.stdout == f"{box.workspace}\n/tmp/home\n"
    assert (box.workspace / "made.txt").read_text() == "made\n"  # the workspace is the host's, read-write


@needs_bwrap
async def test_commands_started_at_once_each_get_their_own_start(box: Sandbox) -> None:
    """Each command starts from a launcher made ahead (app/isolation/launch.py); several at once each get
    one, with their own pipes and stdin."""
    app = await box.start(["sh", "-c", "echo serving; exec sleep 1000"], name="app")
    runs = [box.run(["sh", "-c", f"echo {n}; cat"], timeout=20, stdin=f"in{n}".encode()) for n in range(4)]
    done = await asyncio.gather(*runs, box.run(["cat"], timeout=20))
    assert [d.stdout for d in done] == [f"{n}\nin{n}" for n in range(4)] + [""]  # no stdin: /dev/null
    assert app.returncode is None
    await app.stop()


@needs_bwrap
async def test_a_command_holds_no_descriptor_of_the_worker_or_of_its_start(box: Sandbox) -> None:
    """The sandbox's namespaces are joined through the worker's descriptors, and the launcher reads its
    command line from a pipe: none of them, nor bwrap's info pipe, reaches the command."""
    done = await box.run(["sh", "-c", "for fd in /proc/self/fd/*; do echo \"$fd $(readlink $fd)\"; done"],
                         timeout=10)
    fds = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert fds["/proc/self/fd/0"] == "/dev/null" and fds["/proc/self/fd/1"].startswith("pipe:")
    assert set(fds) - {"/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2"} <= {"/proc/self/fd/3"}
    assert not any(target.startswith(("user:", "net:", "pipe:")) for fd, target in fds.items()
                   if fd not in ("/proc/self/fd/1", "/proc/self/fd/2")), fds  # 3: the shell's own glob, if any


@needs_bwrap
@pytest.mark.skipif(cgroups.PIDS not in cgroups.available(), reason="no pids cgroup here")
async def test_each_command_runs_in_a_cgroup_of_its_own_under_the_rlimits(box: Sandbox) -> None:
    """Seen from the host: the command's process is in a `specloop-<worker pid>-...` cgroup of its own, with
    the policy's rlimits (set from outside while its launcher waited: app/isolation/launch.py)."""
    groups = []
    for _ in range(2):
        marker = f"sleep {unique_seconds()}"
        app = await box.start(marker.split(), name="sleeper")
        for _ in range(500):
            if pids := host_processes_with(marker):
                break
            await asyncio.sleep(0.01)
        pid = pids[0]
        groups.append(next(line.split(":", 2)[2] for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
                           if line.split(":")[1] == "pids"))
        limits = Path(f"/proc/{pid}/limits").read_text()
        assert f"Max cpu time              {LIMITS.cpu_seconds}" in limits
        assert f"Max open files            {LIMITS.open_files}" in limits
        await app.stop()
    assert all(f"/specloop-{os.getpid()}-" in group for group in groups) and groups[0] != groups[1]


@needs_bwrap
async def test_etc_inside_is_the_allow_list_read_only_and_a_policy_path_under_it(workspace: Path) -> None:
    """/etc inside is a copy of the allow-listed files with the large directories bound over it
    (app/isolation/etc.py): the same content as the host's, read-only, nothing else; a read-only path
    of the policy under /etc is there too."""
    extra = Path("/etc/issue") if Path("/etc/issue").is_file() else Path("/etc/debian_version")
    async with open_sandbox(workspace, policy(read_only=(*PY_PATHS, extra))) as box:
        done = await box.run(["sh", "-c", f"""
            cat /etc/hosts; echo ---; ls /etc/ssl/certs | wc -l; echo ---; cat {extra}; echo ---
            ls /etc/shadow /etc/gitconfig; echo x >> /etc/hosts
        """], timeout=10)
    hosts, certs, seen, _ = done.stdout.split("---\n")
    assert hosts == Path("/etc/hosts").read_text()
    assert int(certs) == len(os.listdir("/etc/ssl/certs")) > 0
    assert seen == extra.read_text()
    assert "'/etc/shadow': No such file" in done.stderr and "Read-only file system" in done.stderr
    assert Path("/etc/hosts").read_text() == hosts


# -- the worker's secrets -----------------------------------------------------------------------------

@needs_bwrap
async def test_the_workers_environment_is_not_visible_in_env_or_proc(
    box: Sandbox, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    worker = os.getpid()  # the worker's pid on the host: the sandbox's parent's parent
    done = await box.run(["sh", "-c", f"""
        env; echo ---
        for f in /proc/1/environ /proc/self/environ /proc/$PPID/environ /proc/{worker}/environ; do
            echo "$f:"; tr '\\0' '\\n' < $f
        done; ls /proc
    """], timeout=10)
    assert "HOME=/tmp/home" in done.stdout  # the environment was printed: the policy's, nothing else
    everything = done.stdout + done.stderr
    assert SECRET not in everything and API_KEY not in everything
    assert "WEBHOOK_SECRET" not in everything and "ANTHROPIC_API_KEY" not in everything
    pids = [line for line in done.stdout.splitlines() if line.isdigit()]
    assert str(worker) not in pids and len(pids) <= 4  # its own pid namespace: init, sh, ls (and tr)


@needs_bwrap
async def test_files_next_to_the_workspace_and_around_the_venv_cannot_be_read(
    workspace: Path, tmp_path: Path,
) -> None:
    project = tmp_path / "project"  # a project dir with its venv inside, as in development
    (project / ".venv" / "lib").mkdir(parents=True)
    (project / ".venv" / "lib" / "site.txt").write_text("packages\n")
    (project / ".env").write_text(f"ANTHROPIC_API_KEY={API_KEY}\n")
    async with open_sandbox(workspace, policy(read_only=(*PY_PATHS, project / ".venv"))) as box:
        done = await box.run(["sh", "-c", f"""
            cat {tmp_path}/.env {tmp_path}/private-key.pem {project}/.env
            cat {project}/.venv/lib/site.txt; ls -a {tmp_path} {project}
        """], timeout=10)
        assert "packages" in done.stdout  # the bound venv is readable...
        assert SECRET not in done.stdout and API_KEY not in done.stdout  # ...what is next to it is not
        assert "No such file" in done.stderr
        assert sorted(done.stdout.split(f"{project}:")[1].split()) == [".", "..", ".venv"]

        # The real venv runs, and only the venv (and the interpreter) of the real project is visible.
        venv = Path(sys.prefix)
        listing = f"import os, yaml; print(sorted(os.listdir({str(venv.parent)!r})))"  # yaml: a site-package
        done = await box.run(py(listing), timeout=20)
        assert done.returncode == 0, done.stderr
        visible = set(eval(done.stdout))
        assert venv.name in visible and ".env" not in visible
        assert visible <= {p.name for p in PY_PATHS if p.parent == venv.parent}


@needs_bwrap
async def test_nothing_outside_the_workspace_can_be_written(box: Sandbox, tmp_path: Path) -> None:
    parent = box.workspace.parent
    targets = [parent / "escaped", Path("/usr/escaped"), Path("/etc/escaped"), Path("/escaped"),
               Path(sys.prefix) / "escaped", parent / ".env"]
    script = "".join(f"echo x > {t}; " for t in targets)
    done = await box.run(["sh", "-c", script + "echo private > /tmp/mine; cat /tmp/mine; echo ok > inside"],
                         timeout=10)
    assert done.stdout == "private\n"  # its own /tmp works...
    assert not Path("/tmp/mine").exists()  # ...and is not the host's
    assert (box.workspace / "inside").read_text() == "ok\n"
    for target in targets:
        assert not target.exists() or target.read_text() != "x\n", target
    assert (parent / ".env").read_text().startswith("WEBHOOK_SECRET=")


@needs_bwrap
async def test_no_capabilities_and_no_new_user_namespaces(box: Sandbox) -> None:
    done = await box.run(["sh", "-c", "grep CapEff /proc/self/status; unshare -U true && echo NESTED"],
                         timeout=10)
    assert "CapEff:\t0000000000000000" in done.stdout
    assert "NESTED" not in done.stdout  # no user namespace of its own, to raise privileges in


# -- the network --------------------------------------------------------------------------------------

class Listener:
    """A TCP service on the worker's loopback (stands for Redis, the GitHub double)."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> Self:
        async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"+PONG\r\n")
            await writer.drain()
            writer.close()
        self.server = await asyncio.start_server(greet, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


CONNECT = """
import socket, sys
try:
    print(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3).recv(10))
except OSError as exc:
    print("refused:", exc)
"""


@needs_bwrap
async def test_the_workers_loopback_services_are_unreachable_without_network(workspace: Path) -> None:
    async with Listener() as redis, open_sandbox(workspace, policy()) as box:
        done = await box.run(["python", "-c", CONNECT, str(redis.port)], timeout=10)
        assert done.stdout.startswith("refused:"), done.stdout + done.stderr


@needs_bwrap
async def test_with_network_allowed_the_same_connection_works(workspace: Path) -> None:
    async with Listener() as redis, open_sandbox(workspace, policy(network=True)) as box:
        done = await box.run(["python", "-c", CONNECT, str(redis.port)], timeout=10)
        assert done.stdout == "b'+PONG\\r\\n'\n", done.stdout + done.stderr


@needs_bwrap
async def test_an_app_started_in_the_sandbox_is_reachable_from_it_and_not_from_the_worker(
    box: Sandbox,
) -> None:
    with socket.socket() as probe:  # a port that is free on the host too
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = await box.start(["python", "-m", "http.server", str(port), "--bind", "127.0.0.1"], name="web")
    fetch = py(f"""
        import time, urllib.request
        for _ in range(100):
            try:
                print(urllib.request.urlopen("http://127.0.0.1:{port}/README.md").read().decode()); break
            except OSError:
                time.sleep(0.05)
    """)
    done = await box.run(fetch, timeout=10)
    assert done.stdout == "the repository\n\n", done.stderr
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert app.returncode is None
    await app.stop()
    assert "GET /README.md" in app.stderr_log.read_text()


@needs_bwrap
async def test_a_started_commands_stdout_reaches_on_stdout_as_it_is_printed(box: Sandbox) -> None:
    heard = bytearray()
    first = asyncio.Event()

    def hear(chunk: bytes) -> None:
        heard.extend(chunk)
        if b"one\n" in heard:
            first.set()
    app = await box.start(["sh", "-c", "echo one; sleep 5; echo two"], name="chatty", on_stdout=hear)
    await asyncio.wait_for(first.wait(), 3)  # while the command still runs
    assert app.returncode is None and bytes(heard) == b"one\n"
    await app.stop()
    assert app.stdout_log.read_text() == "one\n"  # the log gets the same


# -- exhausting the machine ---------------------------------------------------------------------------

@needs_bwrap
async def test_a_fork_bomb_is_bounded_and_its_processes_die_with_it(box: Sandbox) -> None:
    marker = unique_seconds()
    bomb = py(f"""
        import os, time
        children = 0
        for _ in range(200):  # bounded, so that a missing limit fails the test and not the machine
            try:
                if os.fork() == 0:
                    time.sleep({marker})
                    os._exit(0)
                children += 1
            except OSError:
                break
        print("children", children, flush=True)
        while True:
            try:
                if os.fork() == 0:
                    os._exit(0)
            except OSError:
                pass
    """)
    started = time.monotonic()
    done = await box.run(bomb, timeout=3)
    assert time.monotonic() - started < 10
    assert done.limit in (Limit.WALL_TIME, Limit.CPU_TIME) and "killed" in (done.reason or "")
    children = int(done.stdout.split()[1])
    assert 5 < children < LIMITS.processes
    assert host_processes_with(str(marker)) == []
    assert await can_start_a_process()  # the machine is healthy


@needs_bwrap
@pytest.mark.skipif(cgroups.PIDS not in cgroups.available(), reason="no pids cgroup: the bomb is unbounded")
async def test_a_real_shell_fork_bomb_ends_at_the_wall_limit(box: Sandbox) -> None:
    done = await box.run(["sh", "-c", "b() { b | b & }; b; sleep 1000"], timeout=2)
    assert "Cannot fork" in done.stderr  # it met the process limit...
    # ...and ended: at the wall limit, or earlier when its own `sleep` could not be forked either
    assert done.duration_s < 5 and (done.timed_out or done.returncode != 0)
    assert await can_start_a_process()


@needs_bwrap
async def test_allocating_without_bound_is_killed_and_said_to_be_memory(box: Sandbox) -> None:
    done = await box.run(py("""
        hoard = []
        while True:
            hoard.append(b"x" * (8 << 20))
    """), timeout=20)
    assert done.returncode != 0 and done.limit is Limit.MEMORY
    assert "memory" in (done.reason or "") and "128 MB" in (done.reason or "")
    # a modest allocation is fine
    assert (await box.run(py("x = b'x' * (32 << 20); print(len(x))"), timeout=20)).stdout == f"{32 << 20}\n"


@needs_bwrap
async def test_a_busy_loop_is_killed_at_the_cpu_limit(workspace: Path) -> None:
    limits = Limits(**{**LIMITS.__dict__, "cpu_seconds": 1})
    async with open_sandbox(workspace, policy(limits=limits)) as box:
        done = await box.run(py("while True: pass"), timeout=30)
    assert done.limit is Limit.CPU_TIME and done.reason == "killed: it used more than 1 s of CPU time"
    assert not done.timed_out


@needs_bwrap
async def test_a_command_that_waits_forever_is_killed_at_the_wall_limit(box: Sandbox) -> None:
    marker = unique_seconds()
    done = await box.run(["sleep", str(marker)], timeout=1)
    assert done.timed_out and done.limit is Limit.WALL_TIME
    assert done.reason == "killed: it ran longer than 1 s (wall time)"
    assert done.duration_s < 3
    assert host_processes_with(f"sleep {marker}") == []


@needs_bwrap
async def test_a_gigabyte_of_output_is_cut_and_the_command_killed(box: Sandbox) -> None:
    started = time.monotonic()
    done = await box.run(["head", "-c", str(1 << 30), "/dev/zero"], timeout=30)
    assert done.truncated and done.limit is Limit.OUTPUT
    assert done.reason == "killed: it wrote more than 64 KB to stdout"
    assert len(done.stdout) == LIMITS.output_bytes
    assert time.monotonic() - started < 5  # killed, not read to the end


@needs_bwrap
async def test_a_file_larger_than_the_limit_cannot_be_written(box: Sandbox) -> None:
    done = await box.run(["sh", "-c", f"head -c {64 << 20} /dev/zero > big"], timeout=10)
    assert done.limit is Limit.FILE_SIZE and "8 MB" in (done.reason or "")
    assert (box.workspace / "big").stat().st_size <= LIMITS.file_size_bytes


# -- nothing outlives the job -------------------------------------------------------------------------

@needs_bwrap
async def test_daemons_are_gone_after_run_returns_and_after_close(workspace: Path) -> None:
    daemonise = 'setsid sh -c "exec sleep {0}" </dev/null >/dev/null 2>&1 & echo started'
    box = open_sandbox(workspace, policy())
    first, second, server = unique_seconds(), unique_seconds(), unique_seconds()
    done = await box.run(["sh", "-c", daemonise.format(first)], timeout=10)
    assert done.stdout == "started\n"
    assert host_processes_with(f"sleep {first}") == []  # its pid namespace ended with the command

    app = await box.start(["sh", "-c", daemonise.format(second) + f"; exec sleep {server}"], name="server")
    for _ in range(200):  # the daemon really runs (the check below is not vacuous)
        if host_processes_with(f"sleep {second}"):
            break
        await asyncio.sleep(0.01)
    assert host_processes_with(f"sleep {second}") and app.returncode is None
    await box.close()
    assert host_processes_with(f"sleep {second}") == [] and host_processes_with(f"sleep {server}") == []
    assert app.returncode is not None and app.reason == "stopped"
    await box.close()  # idempotent


@needs_bwrap
async def test_closing_leaves_no_launcher_cgroup_or_etc_copy(workspace: Path) -> None:
    """What a sandbox makes ahead or once (the next command's launcher and cgroup, its /etc copy) goes with
    `close()`, as the commands' own cgroups go once they end."""
    mine = f"specloop-{os.getpid()}-"
    bases = {controller.base for controller in cgroups.available().values()}
    box = open_sandbox(workspace, policy())
    for _ in range(3):
        assert (await box.run(["true"], timeout=10)).ok
    await asyncio.sleep(0)
    assert [p for p in host_processes_with("mapfile -d") if _parent(p) == os.getpid()]  # one made ahead
    assert list(Path(tempfile.gettempdir()).glob(f"specloop-etc-{os.getpid()}-*"))
    await box.close()
    assert [p for p in host_processes_with("mapfile -d") if _parent(p) == os.getpid()] == []
    assert list(Path(tempfile.gettempdir()).glob(f"specloop-etc-{os.getpid()}-*")) == []
    assert [d for base in bases for d in base.iterdir() if d.name.startswith(mine)] == []


@needs_bwrap
@pytest.mark.parametrize("whole", [True, False])
def test_a_launcher_runs_its_command_line_only_when_it_arrived_whole(tmp_path: Path, whole: bool) -> None:
    """A launcher (app/isolation/launch.py) whose worker died while writing its command line (no end
    marker) runs nothing; the same command line whole runs."""
    launcher = launch.prepare(namespace_fds=(), rlimits=[], cgroup=None)
    ran = tmp_path / "ran"
    argv = ["/bin/sh", "-c", f"echo yes > {ran}"]
    try:
        if whole:
            launcher.exec(argv, stdin=False)
        else:
            os.write(launcher.argv_write, b"".join(f"{word}\0".encode() for word in ["devnull", *argv]))
            os.close(launcher.argv_write)
        assert launcher.popen.wait(timeout=20) == (0 if whole else 125)
    finally:
        os.close(launcher.info_read)
        for file in (launcher.popen.stdin, launcher.popen.stdout, launcher.popen.stderr):
            if file is not None:
                file.close()
    assert ran.exists() == whole


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


@needs_bwrap
async def test_a_cancelled_run_kills_its_command(box: Sandbox) -> None:
    """A job cancelled mid-command (arq's job timeout, a shutdown) leaves nothing running."""
    marker = f"sleep {unique_seconds()}"
    running = asyncio.ensure_future(box.run(marker.split(), timeout=60))
    for _ in range(200):
        if host_processes_with(marker):
            break
        await asyncio.sleep(0.01)
    assert host_processes_with(marker)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert host_processes_with(marker) == []


@needs_bwrap
async def test_a_started_commands_logs_are_capped_and_a_planted_link_is_not_followed(
    box: Sandbox, tmp_path: Path,
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("the worker's file\n")
    (box.workspace / ".sandbox").mkdir()
    (box.workspace / ".sandbox" / "chatty.stdout.log").symlink_to(outside)
    chatty = "head -c 1000000 /dev/zero | tr '\\0' x; exec sleep 1000"
    app = await box.start(["sh", "-c", chatty], name="chatty")
    for _ in range(500):
        if app.stdout_log.read_text().endswith("[sandbox: log cut at 64 KB]\n"):
            break
        await asyncio.sleep(0.01)
    assert outside.read_text() == "the worker's file\n"
    log = app.stdout_log.read_text()
    assert log == "x" * LIMITS.output_bytes + "\n[sandbox: log cut at 64 KB]\n"
    assert app.returncode is None  # a chatty server is not killed for it
    assert await app.stop() != 0


# -- availability ---------------------------------------------------------------------------------------

def test_without_bwrap_on_path_the_message_names_bubblewrap(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    message = sandbox_available()
    assert message is not None and "bubblewrap" in message and "apt-get install bubblewrap" in message
    with pytest.raises(SandboxUnavailable, match="bubblewrap"):
        open_sandbox(tmp_path, Policy())
