"""A QA run in the repository-code sandbox: the QA child (`app.qa.child`: Playwright, Chromium, the
project's step files) runs inside the same sandbox as the app `qa.start` started, so the browser reaches
the app on the sandbox's private loopback and nothing of the worker (docs/sandbox.md).

    box = open_sandbox(workspace, qa_policy(chromium))
    app = await box.start(["sh", "-c", qa.start], name="app", cwd=checkout, env={"PORT": "3000"})
    problem = await wait_until_ready(box, app, "http://127.0.0.1:3000/", timeout=60)
    result = await run_in_sandbox(box, features, base_url, options, root=checkout, progress=...)

or, with the child's start-up (its imports, Chromium's launch) overlapping the app's, as
`RepoApp.run_started_app` does: `run_in_sandbox(..., ready=start_the_app)` starts the child first, awaits
`ready()`, and only then puts the child's request in place (the child waits for it); when `ready()` raises,
the sandbox is closed, the waiting child with it.

`run_in_sandbox` closes the sandbox (the app too) before it reads what the child left: nothing inside can
change the result, or the evidence it names, while the worker reads them. The result is repository code's
output all the same, so every screenshot and trace it names must be a plain file inside the run's evidence
folder (`confine_evidence`): a hostile result naming the worker's `.env` uploads nothing.

For an app outside the sandbox (`qa.base_url`, a deployment), `run_in_sandbox(..., egress=confinement)`
runs the worker's `EgressRelay` (`app/qa/network.py`) on `<workspace>/.qa/egress.sock` for as long as
the child runs: the sandbox still has no network but its own loopback, and the child's fences connect
through the relay, which reaches only what `confinement` allows. For an app `qa.start` runs in the sandbox
(`confinement.private_app`) with `qa.allowed_origins`, the relay opens only the listed origins: the
child's fences connect to the app directly, on the sandbox's loopback, and only other endpoints go through
the relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path

from app.domain.origins import Confinement
from app.domain.qa_results import Progress, RunResult
from app.isolation import Limits, Policy, Running, Sandbox, python_runtime
from app.isolation.runtime import needs_bind
from app.qa.child import CHILD_MODULE, child_browser, failed_run
from app.qa.network import EGRESS_ENV, EgressRelay
from app.qa.options import RunOptions
from app.qa.result_check import read_result, report_progress

APP_PORT = 3000  # the app's PORT: the sandbox's loopback is its own, so any port is free
REQUEST_DIR = ".qa"  # in the workspace: the child's request and result files
REQUEST, RESULT = "request.json", "result.json"  # in REQUEST_DIR
# The longest progress line kept (the child's are a few hundred bytes; anything longer is not one).
PROGRESS_LINE_MAX = 1 << 20
EGRESS_SOCKET = "egress.sock"  # in REQUEST_DIR: the worker's egress relay (an app outside, or listed origins)
RESULT_MAX_BYTES = 64 << 20

# What QA may use inside the sandbox: Chromium is many processes and threads (the pids cgroup counts
# threads), reserves far more address space than it uses, and wants a roomy /dev/shm.
QA_LIMITS = Limits(
    cpu_seconds=3600, memory_bytes=4 << 30, processes=4096, open_files=8192, file_size_bytes=1 << 30,
    output_bytes=32 << 20, tmp_bytes=1 << 30,
)

# Polls a URL from inside the sandbox until it answers below 500; exit 0 then, 1 at the deadline.
_READY_PROBE = """
import sys, time, urllib.error, urllib.request
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            if answer.status < 500:
                sys.exit(0)
    except urllib.error.HTTPError as error:
        if error.code < 500:
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.05)
sys.exit(1)
"""


def qa_policy(chromium: str | None = None, *, limits: Limits = QA_LIMITS) -> Policy:
    """The sandbox QA runs in: this worker's Python (venv, interpreter, `app`), the browser read-only
    (the system's is under /usr already; Playwright's own download is bound), no network but its own."""
    paths, env = python_runtime("app")
    extra: list[Path] = []
    if chromium:
        real = Path(chromium).resolve()
        folder = real.parent
        if needs_bind(folder) and not any(folder.is_relative_to(p) for p in paths):
            extra.append(folder)
    return Policy(read_only=(*paths, *extra), env=env, network=False, limits=limits)


async def wait_until_ready(box: Sandbox, app: Running, url: str, *, timeout: float) -> str | None:
    """Wait until `url` answers inside the sandbox; None when it does, else why not (in words). An app
    that exits first ends the wait at once."""
    probe = asyncio.ensure_future(
        box.run([sys.executable, "-P", "-c", _READY_PROBE, url, str(timeout)], timeout=timeout + 10))
    exited = asyncio.ensure_future(app.wait())
    try:
        await asyncio.wait({probe, exited}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (probe, exited):
            if not task.done():
                task.cancel()  # a cancelled run() kills its command
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    if probe.done() and not probe.cancelled() and probe.result().ok:
        return None
    code = app.returncode if app.returncode is not None else await app.wait(0.5)
    if code is not None:
        return f"exited with code {code}" + (f" ({app.reason})" if app.reason else "")
    return f"did not answer at {url} within {timeout:g} s"


def log_tail(app: Running, lines: int = 30) -> str:
    """The last lines of what a started command printed (stdout, then stderr), for a check run."""
    found: list[str] = []
    for log in (app.stdout_log, app.stderr_log):
        text = _read_regular(log, 1 << 20)
        if text:
            found += text.decode("utf-8", "replace").rstrip("\n").splitlines()
    return "\n".join(found[-lines:])


def _read_regular(path: Path, cap: int) -> bytes | None:
    """At most `cap` bytes of `path` when it is a plain file (not a link, FIFO or device); else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        size = os.fstat(fd).st_size
        start = max(0, size - cap)
        os.lseek(fd, start, os.SEEK_SET)
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _inside(path: str, folder: Path) -> bool:
    """Whether `path` is a plain file inside `folder` with no link on the way."""
    candidate = Path(path)
    if not candidate.is_absolute():
        return False
    if os.path.realpath(candidate) != os.path.normpath(candidate):
        return False  # a link somewhere on the way (or `..`)
    if not Path(os.path.normpath(candidate)).is_relative_to(folder):
        return False
    try:
        return stat.S_ISREG(os.lstat(candidate).st_mode)
    except OSError:
        return False


def confine_evidence(result: RunResult, out_dir: Path) -> RunResult:
    """Drop every screenshot and trace the result names that is not a plain file inside `out_dir`."""
    folder = Path(os.path.realpath(out_dir))
    # a retried scenario's earlier attempts name evidence too (the message stream embeds it)
    for scenario in [a for s in result.scenarios for a in (*s.previous_attempts, s)]:
        scenario.screenshots = [p for p in scenario.screenshots if _inside(p, folder)]
        for step in scenario.steps:
            if step.screenshot and not _inside(step.screenshot, folder):
                step.screenshot = None
        if scenario.trace and not _inside(scenario.trace, folder):
            scenario.trace = None
    return result


def _open_folder(folder: Path) -> int:
    """A descriptor of the request folder, made if missing; never a link left in its place (repository code
    can write the workspace): the request is written, and stale files removed, through this descriptor."""
    with contextlib.suppress(FileExistsError):
        folder.mkdir()
    return os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)


def _put_whole(folder_fd: int, name: str, data: bytes) -> None:
    """Write `name` in the folder whole or not at all: a temporary file renamed over it, so a child polling
    for `name` never reads half a request (and a link left at either name is replaced, never followed)."""
    temporary = f".{name}.writing"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary, dir_fd=folder_fd)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                 dir_fd=folder_fd)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.replace(temporary, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)


async def run_in_sandbox(
    box: Sandbox, features: Sequence[str | Path], base_url: str, options: RunOptions, *,
    root: str | Path, progress: Progress | None = None, egress: Confinement | None = None,
    ready: Callable[[], Awaitable[object]] | None = None,
) -> RunResult:
    """Run the QA child in `box` (progress lines arrive as it prints them), close `box`, read the result.

    `features`, `root` and `options.out_dir` must be inside the sandbox's workspace (it sees that at its
    host path). The evidence in the result is confined to `options.out_dir`. With `egress` (an app
    outside the sandbox), the child's connections go through an `EgressRelay` that allows only what
    `egress` allows; it runs here, in the worker, until the sandbox is closed. When `egress.private_app`
    (the app runs in `box`, started by `qa.start`), the relay opens only `egress`'s listed origins, and the
    child connects to the app itself directly.

    With `ready` (starting the app in `box` and waiting until it answers), the child starts first and does
    its imports and launches Chromium while `ready()` runs; its request is put in place only once `ready()`
    has returned, and `options.run_timeout_s` counts from then. When `ready()` raises, `box` is closed (the
    waiting child with it) and the error propagates.
    """
    workspace = box.workspace
    out_dir = Path(options.out_dir or workspace / "evidence")
    out_dir.mkdir(parents=True, exist_ok=True)
    options = replace(options, out_dir=str(out_dir))
    folder = workspace / REQUEST_DIR
    request, response = folder / REQUEST, folder / RESULT
    payload = json.dumps({
        "features": [str(Path(f).resolve()) for f in features], "base_url": base_url,
        "root": str(Path(root).resolve()), "options": asdict(options),
    }).encode()
    pending = bytearray()

    def heard(chunk: bytes) -> None:
        # Only the new chunk is searched, and a line is kept up to PROGRESS_LINE_MAX: step code printing a
        # gigabyte without a newline costs the worker neither memory nor a rescan per chunk.
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            pending.extend(chunk[start:end][:max(0, PROGRESS_LINE_MAX - len(pending))])
            line = bytes(pending).decode("utf-8", "replace")
            pending.clear()
            report_progress(line, progress)
            start = end + 1
        pending.extend(chunk[start:][:max(0, PROGRESS_LINE_MAX - len(pending))])

    relay = (EgressRelay(egress, folder / EGRESS_SOCKET, listed_only=egress.private_app)
             if egress is not None else None)
    folder_fd = None
    try:
        try:
            folder_fd = _open_folder(folder)
            for stale in (REQUEST, RESULT):  # an earlier run's, in a workspace used again: never this run's
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(stale, dir_fd=folder_fd)
        except OSError as error:  # e.g. a link or a folder left there by repository code
            return failed_run(base_url, options, f"the QA request could not be prepared in {folder}: {error}")
        env: dict[str, str] = {}
        if relay is not None:
            env[EGRESS_ENV] = str(await relay.start())  # before the child: its fences connect only through it
        # -P: the checkout (the cwd) is not put first on sys.path, so a repository's own `app/` or `app.py`
        # cannot stand in for Specloop's package (the child appends the checkout after it instead). No wall
        # time here: the run's limit counts from the request (below), and close() ends a child still waiting.
        child = await box.start([sys.executable, "-P", "-m", CHILD_MODULE, str(request), str(response),
                                 *child_browser(options)],
                                name="qa", cwd=str(root), env=env or None, on_stdout=heard)
        if ready is not None:
            await ready()
        try:
            _put_whole(folder_fd, REQUEST, payload)
        except OSError as error:
            return failed_run(base_url, options, f"the QA request could not be written in {folder}: {error}")
        code = await child.wait(options.run_timeout_s)
        if code is None:
            code = await child.stop()
            reason: str | None = f"killed: it ran longer than {options.run_timeout_s:g} s (wall time)"
        else:
            reason = child.reason
        stderr = child.stderr_log
    finally:
        if folder_fd is not None:
            os.close(folder_fd)
        await box.close()  # the app and anything the child left: nothing may change the result now
        if relay is not None:
            await relay.close()
    if code != 0:
        tail = (_read_regular(stderr, 16 << 10) or b"").decode("utf-8", "replace").strip().splitlines()[-15:]
        why = f"; {reason}" if reason else ""
        return failed_run(base_url, options, f"the QA child process failed in the sandbox (exit {code}{why}):\n"
                                          + "\n".join(tail))
    raw = _read_regular(response, RESULT_MAX_BYTES + 1)
    if raw is None or len(raw) > RESULT_MAX_BYTES:
        return failed_run(base_url, options, "the QA child process left no readable result")
    try:
        result = read_result(raw)
    except ValueError as error:
        return failed_run(base_url, options, f"the QA child process left a result that does not read: {error}")
    return confine_evidence(result, out_dir)
