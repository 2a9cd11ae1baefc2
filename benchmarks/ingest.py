"""Webhook ingest against the peers a team would pick today, side by side in one run with wrk.

Each target gets the same signed `issues` `labeled` body (the captured fixture, label `story`,
installation 42) with a unique X-GitHub-Delivery per request, and must verify the signature, parse
the JSON and enqueue one job into its own fresh Redis (a managed `redis-server`) before answering:

- a Probot 14 app (benchmarks/peers/probot: `createNodeMiddleware` on node:http, ioredis), installed
  with npm into that folder at bench time; skipped with a message where node or npm is missing;
- a gidgethub + aiohttp bot (benchmarks/peers/gidgethub_bot.py), installed into its own virtualenv
  (benchmarks/peers/.venv) at bench time; skipped with a message when that fails;
- `specloop serve`, one process, then `--workers 2` when the command offers `--workers`;
- a bare ASGI endpoint under uvicorn that only answers 202 (benchmarks/peers/bare_asgi.py), the
  ceiling of the server alone.

wrk drives each for DURATION_S seconds with CONNECTIONS connections on THREADS threads, after a
WARMUP_S warm-up, on the same machine (and so the same cores) as the target. A target that answers
anything but 2xx, drops connections, or answers without enqueueing (the Redis queue is counted
against wrk's answers after each run) stops the benchmark with the reason instead of a number.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import IO, Any, Literal

import httpx
import redis

from app.job_args import MapStory
from app.queue import QUEUES
from app.redis_server import ManagedRedis, free_port
from app.signature import sign
from app.webhook import WEBHOOK_PATH
from benchmarks.webhook import SECRET, _body, _pem

ROOT = Path(__file__).resolve().parent.parent
PEERS = Path(__file__).resolve().parent / "peers"
PROBOT_DIR = PEERS / "probot"
PEER_VENV = PEERS / ".venv"
PEER_REQUIREMENTS = PEERS / "requirements.txt"
DELIVER_LUA = PEERS / "deliver.lua"

DURATION_S = 10
CONNECTIONS = 32
THREADS = 2
WARMUP_S = 3
WORKER_COUNTS = (1, 2)  # `specloop serve` and the bare endpoint; more than one only where --workers exists
TARGET_RATIO = 3.0  # Specloop's throughput against Probot's, with a lower p99
START_TIMEOUT_S = 60
INSTALL_TIMEOUT_S = 600
SPECLOOP_QUEUE = QUEUES[MapStory.QUEUE]  # an `issues.labeled` delivery enqueues one map_story job here
PEER_QUEUE = "peer:queue"  # the Probot app and the gidgethub bot ZADD their jobs here


class BenchFailure(Exception):
    """A target did not do the work (a non-2xx answer, a dropped connection, a job not enqueued)."""


class Skipped(Exception):
    """A peer cannot run on this machine (no node, an install that failed); the message says why."""


@dataclass(frozen=True)
class Target:
    """One server to measure: how to start it and where its jobs land."""

    kind: Literal["probot", "gidgethub", "specloop", "bare"]
    name: str
    processes: int
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = ROOT
    queue: str | None = PEER_QUEUE  # the sorted set counted after each run; None: the bare endpoint
    expect_json_status: str | None = None  # the `status` the first answer must carry, if any


@dataclass(frozen=True)
class Result:
    """What wrk measured for one target, checked against its Redis."""

    target: Target
    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    enqueued: int | None
    load_before: float
    cpu_ms: float  # CPU time of the target's process(es) per answered delivery
    redis_cpu_ms: float  # the same for its redis-server

    @property
    def rate(self) -> float:
        """Answered deliveries per second."""
        return self.requests / self.duration_s


@dataclass(frozen=True)
class WrkRun:
    """The JSON line benchmarks/peers/deliver.lua prints in wrk's `done` hook."""

    requests: int  # answers received within the run
    duration_us: int
    sent: int  # requests written, answered or not
    ok: int  # 2xx answers
    non2xx: int
    first_failure: str  # "<status> <start of body>" of the first answer that was not 2xx
    errors: dict[str, int]  # wrk's socket errors: connect, read, write, timeout (and status: non-2xx/3xx)
    latency_us: dict[str, float]  # p50, p90, p99, max, mean

    @classmethod
    def parse(cls, line: str) -> WrkRun:
        """Read the line (without its DELIVER_RESULT prefix)."""
        data: dict[str, Any] = json.loads(line)
        return cls(**data)


@dataclass
class Row:
    """A table row: a result, or the reason a peer was skipped."""

    name: str
    result: Result | None = None
    skipped: str | None = None


# --- tools and installs ---------------------------------------------------------------------------


def _run(args: list[str], cwd: Path = ROOT, timeout: float = INSTALL_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def wrk_version() -> str:
    """`wrk 4.1.0 ...` as wrk prints it; SystemExit when wrk is missing (`make bench` installs it)."""
    if shutil.which("wrk") is None:
        raise SystemExit("the ingest benchmark needs wrk: `make bench` installs it (Debian/Ubuntu: apt-get install wrk)")
    output = _run(["wrk", "--version"], timeout=10)
    return (output.stdout or output.stderr).splitlines()[0].split(" Copyright")[0].strip()


def _tail(text: str, lines: int = 5) -> str:
    return " / ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def install_probot() -> str:
    """npm-install the Probot peer into benchmarks/peers/probot; its Probot version, or Skipped."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise Skipped("node/npm not found on PATH; install Node.js 20.18+ to measure the Probot peer")
    try:
        done = _run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PROBOT_DIR)
    except subprocess.TimeoutExpired:
        raise Skipped(f"`npm install` in {PROBOT_DIR.relative_to(ROOT)} took over {INSTALL_TIMEOUT_S} s") from None
    if done.returncode != 0:
        raise Skipped(f"`npm install` in {PROBOT_DIR.relative_to(ROOT)} failed: {_tail(done.stderr or done.stdout)}")
    manifest = PROBOT_DIR / "node_modules" / "probot" / "package.json"
    return str(json.loads(manifest.read_text())["version"])


def install_gidgethub() -> Path:
    """The peer virtualenv's python with benchmarks/peers/requirements.txt installed, or Skipped."""
    python = PEER_VENV / "bin" / "python"
    stamp = PEER_VENV / ".installed"
    wanted = PEER_REQUIREMENTS.read_text()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    steps = [[sys.executable, "-m", "venv", "--clear", str(PEER_VENV)],
             [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r",
              str(PEER_REQUIREMENTS)]]
    for step in steps:
        try:
            done = _run(step)
        except subprocess.TimeoutExpired:
            raise Skipped(f"`{' '.join(step[-3:])}` took over {INSTALL_TIMEOUT_S} s") from None
        if done.returncode != 0:
            raise Skipped(f"installing the gidgethub peer failed ({' '.join(step[1:3])}): "
                          f"{_tail(done.stderr or done.stdout)}")
    stamp.write_text(wanted)
    return python


def pinned(name: str) -> str:
    """The version benchmarks/peers/requirements.txt pins for `name`."""
    for line in PEER_REQUIREMENTS.read_text().splitlines():
        if line.startswith(f"{name}=="):
            return line.split("==", 1)[1].strip()
    return "?"


def serve_has_workers() -> bool:
    """Whether `specloop serve --help` offers `--workers`."""
    done = _run([sys.executable, "-m", "app.cli", "serve", "--help"], timeout=60)
    return "--workers" in done.stdout


def _installed(name: str) -> bool:
    try:
        installed_version(name)
    except PackageNotFoundError:
        return False
    return True


# --- one target -----------------------------------------------------------------------------------


@contextmanager
def _started(target: Target, redis_url: str, port: int) -> Iterator[tuple[str, int]]:
    """Start the target in its own process group, wait until it answers HTTP, and stop it afterwards.

    Yields the base URL and the process group id (the id of the process started).
    """
    env = {**os.environ, **target.env, "PORT": str(port), "JOB_REDIS_URL": redis_url}
    command = [part.format(port=port, redis_url=redis_url) for part in target.command]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=target.cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(process, url, log)
            yield url, process.pid
        finally:
            _stop(process)


def _wait_until_up(process: subprocess.Popen[bytes], url: str, log: IO[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchFailure(f"exited with code {process.returncode} before answering: {_read_log(log)}")
        try:
            httpx.get(url + "/healthz", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise BenchFailure(f"did not answer within {START_TIMEOUT_S} s: {_read_log(log)}")


def _read_log(log: IO[bytes]) -> str:
    log.seek(0)
    return _tail(log.read().decode(errors="replace"), 8)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group we started (uvicorn's workers with it), SIGKILL it after 15 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    try:  # workers that outlived their parent
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _cpu_seconds(*, group: int | None = None, pid: int | None = None) -> float:
    """User + system CPU seconds of one live process, or of every live process in a process group (Linux)."""
    ticks, found = 0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        # after "pid (comm)": state ppid pgrp ...; utime and stime are the 12th and 13th of these
        if (group is not None and int(fields[2]) == group) or (pid is not None and stat.parent.name == str(pid)):
            ticks += int(fields[11]) + int(fields[12])
            found = True
    return ticks / os.sysconf("SC_CLK_TCK") if found else float("nan")


def _queued(client: redis.Redis, queue: str | None) -> int | None:
    return None if queue is None else int(client.zcard(queue))  # type: ignore[arg-type]


def _settled_count(client: redis.Redis, queue: str | None) -> int | None:
    """The queue's size once requests still in flight when wrk stopped have been handled."""
    count = _queued(client, queue)
    deadline = time.monotonic() + 5
    while count is not None and time.monotonic() < deadline:
        time.sleep(0.3)
        now = _queued(client, queue)
        if now == count:
            break
        count = now
    return count


def _preflight(target: Target, url: str, client: redis.Redis, body: bytes, signature: str) -> None:
    """One delivery by hand: a 2xx (with the expected status) and exactly one more job in the queue."""
    before = _queued(client, target.queue)
    headers = {"X-GitHub-Event": "issues", "X-GitHub-Delivery": str(uuid.uuid4()),
               "X-Hub-Signature-256": signature, "Content-Type": "application/json"}
    response = httpx.post(url + WEBHOOK_PATH, content=body, headers=headers, timeout=10)
    if not response.is_success:
        raise BenchFailure(f"answered {response.status_code} to a signed delivery: {response.text[:300]}")
    if target.expect_json_status and response.json().get("status") != target.expect_json_status:
        raise BenchFailure(f"answered {response.text[:300]} (expected status {target.expect_json_status!r})")
    after = _settled_count(client, target.queue)
    if before is not None and after != before + 1:
        raise BenchFailure(f"answered {response.status_code} but the queue went from {before} to {after} jobs")


def _wrk(url: str, body_file: Path, signature: str, seconds: int) -> WrkRun:
    """One wrk run against url; the JSON line deliver.lua prints in its `done` hook."""
    args = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "--timeout", "5s",
            "-s", str(DELIVER_LUA), url + WEBHOOK_PATH, "--", str(body_file), signature, uuid.uuid4().hex[:8]]
    done = _run(args, timeout=seconds + 60)
    for line in done.stdout.splitlines():
        if line.startswith("DELIVER_RESULT "):
            return WrkRun.parse(line.removeprefix("DELIVER_RESULT "))
    raise BenchFailure(f"wrk printed no result (exit {done.returncode}): {_tail(done.stdout + done.stderr)}")


def _check(run: WrkRun, enqueued: int | None) -> None:
    """Fail loudly unless every answer was 2xx, no connection failed, and every answer enqueued a job."""
    if run.non2xx:
        raise BenchFailure(f"{run.non2xx} answers were not 2xx (first: {run.first_failure})")
    socket_errors = {name: count for name, count in run.errors.items() if count and name != "status"}
    if socket_errors:
        raise BenchFailure(f"wrk saw socket errors {socket_errors}")
    if run.ok == 0:
        raise BenchFailure("wrk got no answer at all")
    if enqueued is not None and not run.ok <= enqueued <= run.sent:
        raise BenchFailure(f"{run.ok} deliveries answered 2xx and {run.sent} were sent, "
                           f"but {enqueued} jobs were enqueued")


def measure(target: Target, body_file: Path, signature: str, body: bytes) -> Result:
    """Start the target with a fresh Redis, check one delivery, warm it up, then measure it with wrk."""
    with tempfile.TemporaryDirectory(prefix="specloop-ingest-") as tmp:
        managed = ManagedRedis(Path(tmp) / "redis").start()
        client = redis.Redis.from_url(managed.url)
        try:
            env = {key: value.format(redis_url=managed.url, tmp=tmp) for key, value in target.env.items()}
            redis_pid = managed.process.pid if managed.process is not None else None
            with _started(replace(target, env=env), managed.url, free_port()) as (url, group):
                _preflight(target, url, client, body, signature)
                _check(_wrk(url, body_file, signature, WARMUP_S), None)
                before = _settled_count(client, target.queue)
                load = os.getloadavg()[0]
                cpu = _cpu_seconds(group=group), _cpu_seconds(pid=redis_pid)
                run = _wrk(url, body_file, signature, DURATION_S)
                cpu = _cpu_seconds(group=group) - cpu[0], _cpu_seconds(pid=redis_pid) - cpu[1]
                after = _settled_count(client, target.queue)
            enqueued = None if before is None or after is None else after - before
            _check(run, enqueued)
        finally:
            client.close()
            managed.stop()
    return Result(target=target, requests=run.requests, duration_s=run.duration_us / 1e6,
                  p50_ms=run.latency_us["p50"] / 1000, p99_ms=run.latency_us["p99"] / 1000, non2xx=run.non2xx,
                  enqueued=enqueued, load_before=load, cpu_ms=cpu[0] * 1000 / max(run.requests, 1),
                  redis_cpu_ms=cpu[1] * 1000 / max(run.requests, 1))


# --- the targets ----------------------------------------------------------------------------------


def specloop_target(workers: int, with_flag: bool) -> Target:
    """`specloop serve` as production runs it, with `--workers N` when the command has the flag."""
    command = [sys.executable, "-m", "app.cli", "serve", "--port", "{port}"]
    if with_flag:
        command += ["--workers", str(workers)]
    env = {"APP_ID": "1", "PRIVATE_KEY": _pem(), "WEBHOOK_SECRET": SECRET, "REDIS_URL": "{redis_url}",
           "DATA_DIR": "{tmp}", "DOTENV_PATH": "{tmp}/.env", "LOG_LEVEL": "WARNING"}
    return Target("specloop", f"`specloop serve`{f' --workers {workers}' if with_flag else ''}", workers, command, env,
                  queue=SPECLOOP_QUEUE, expect_json_status="queued")


def bare_target(workers: int) -> Target:
    """The bare ASGI endpoint under uvicorn (the settings `specloop serve` uses), answering 202 only."""
    command = [sys.executable, "-m", "uvicorn", "benchmarks.peers.bare_asgi:app", "--host", "127.0.0.1",
               "--port", "{port}", "--no-access-log", "--log-level", "warning", "--workers", str(workers)]
    return Target("bare", f"bare ASGI, 202 only (uvicorn{f', {workers} workers' if workers > 1 else ''})", workers,
                  command, queue=None)


def probot_target(version: str) -> Target:
    """The Probot peer's node:http server with Probot's createNodeMiddleware."""
    env = {"APP_ID": "1", "PRIVATE_KEY": _pem(), "WEBHOOK_SECRET": SECRET, "LOG_LEVEL": "warn",
           "NODE_ENV": "production"}
    return Target("probot", f"Probot {version} (createNodeMiddleware, ioredis)", 1, ["node", "server.js"], env,
                  cwd=PROBOT_DIR)


def gidgethub_target(python: Path) -> Target:
    """The gidgethub + aiohttp peer in its own virtualenv."""
    return Target("gidgethub", f"gidgethub {pinned('gidgethub')} + aiohttp {pinned('aiohttp')}", 1,
                  [str(python), str(PEERS / "gidgethub_bot.py"), "--port", "{port}"], {"WEBHOOK_SECRET": SECRET})


# --- the section ----------------------------------------------------------------------------------


def _row(row: Row, probot: Result | None) -> str:
    if row.result is None:
        return f"| {row.name} | - | skipped | - | - | - | - | - |"
    result = row.result
    ratio = f"{result.rate / probot.rate:.2f}x" if probot is not None else "n/a"
    return (f"| {row.name} | {result.target.processes} | {result.rate:,.0f} | {result.p50_ms:.1f} ms | "
            f"{result.p99_ms:.1f} ms | {result.non2xx} | {ratio} | {result.cpu_ms:.2f} + {result.redis_cpu_ms:.2f} ms |")


def _verdict(label: str, result: Result, probot: Result) -> str:
    ratio = result.rate / probot.rate
    met = ratio >= TARGET_RATIO and result.p99_ms < probot.p99_ms
    return (f"{label}: {ratio:.2f}x Probot's throughput, p99 {result.p99_ms:.1f} ms against {probot.p99_ms:.1f} ms: "
            f"**{'met' if met else 'not met'}**")


def _target_lines(specloop: list[Result], bare: list[Result], probot: Result | None,
                  skipped_probot: str | None) -> list[str]:
    head = (f"Target: at least {TARGET_RATIO:.0f}x Probot's throughput with a lower p99, on the same cores "
            "(one uvicorn process, then as many workers as pays).")
    if probot is None:
        return [head, f"Not judged: the Probot peer was skipped ({skipped_probot})."]
    lines = [head]
    single = next((result for result in specloop if result.target.processes == 1), None)
    if single is not None:
        lines.append("- " + _verdict("one process", single, probot))
    best = max(specloop, key=lambda result: result.rate, default=None)
    if best is not None and best is not single:
        lines.append("- " + _verdict(f"best, {best.target.processes} workers", best, probot))
    elif len(specloop) > 1:
        lines.append("- more workers did not pay: one process was the fastest")
    ceiling = max(bare, key=lambda result: result.rate, default=None)
    if ceiling is not None:
        lines.append(f"- for scale: the bare endpoint, which does none of the work, reached "
                     f"{ceiling.rate / probot.rate:.2f}x Probot's throughput ({ceiling.target.processes} "
                     f"process{'es' if ceiling.target.processes > 1 else ''}) on this machine")
    return lines


def _how(wrk: str, rows: list[Row], workers_flag: bool) -> str:
    loads = ", ".join(f"{row.result.load_before:.1f}" for row in rows if row.result is not None)
    skips = [f"{row.name}: skipped, {row.skipped}" for row in rows if row.skipped]
    node = _run(["node", "--version"], timeout=10).stdout.strip() if shutil.which("node") else "not installed"
    server = ("uvloop + httptools" if _installed("uvloop") and _installed("httptools")
              else "asyncio + h11 (uvloop/httptools not installed)")
    notes = [
        (f"Measured with {wrk}: {THREADS} threads, {CONNECTIONS} connections, {DURATION_S} s per target after "
         f"a {WARMUP_S} s warm-up, `--latency` percentiles (the p50/p99 columns); the same signed `issues` "
         "`labeled` body (the captured fixture, label `story`, installation 42) for every request, a unique "
         "`X-GitHub-Delivery` per request (benchmarks/peers/deliver.lua counts the answers that are not 2xx)."),
        (f"Same machine for all, one target at a time: {platform.platform()}, {os.cpu_count()} CPUs; wrk, the "
         "target and its `redis-server` (a fresh managed one per target, AOF on) all share those cores. "
         f"1-minute load average when each measured run started: {loads}. The CPU column (user + system time "
         "of the server's processes and of its `redis-server` over the measured run, per answered delivery) "
         "is the figure least moved by whatever else the machine runs."),
        ("Every target verifies X-Hub-Signature-256, parses the JSON and enqueues one job into its Redis in one "
         "round trip (SET NX the delivery id, store the job, ZADD it to a queue) before answering; after each run "
         "the queue was counted and matched wrk's 2xx answers (a target that answered without enqueueing, or "
         "answered anything but 2xx, stops the benchmark instead of reporting a number). The bare endpoint "
         "does none of that: it is the ceiling of uvicorn on this machine."),
        (f"Python {platform.python_version()} with {server} under uvicorn (`specloop serve` and the bare "
         f"endpoint); node {node} for Probot, which answers 200 `ok` (its stock answer) where the others "
         "answer 202."),
    ]
    if not workers_flag:
        notes.append("`specloop serve` has no `--workers` option yet, so only one process was measured.")
    return "\n".join(f"- {note}" for note in notes + skips)


def _collect(body_file: Path, signature: str, body: bytes, workers_flag: bool) -> list[Row]:
    """Install the peers, then measure every target in turn; peers that cannot run are skipped rows."""
    plans: list[tuple[str, Callable[[], Target]]] = []
    rows: list[Row] = []
    try:
        version = install_probot()
        plans.append((f"Probot {version}", partial(probot_target, version)))
    except Skipped as skip:
        rows.append(Row("Probot 14", skipped=str(skip)))
    try:
        python = install_gidgethub()
        plans.append(("gidgethub + aiohttp", partial(gidgethub_target, python)))
    except Skipped as skip:
        rows.append(Row("gidgethub + aiohttp", skipped=str(skip)))
    counts = WORKER_COUNTS if workers_flag else (1,)
    plans += [(f"specloop x{n}", partial(specloop_target, n, workers_flag)) for n in counts]
    plans += [(f"bare x{n}", partial(bare_target, n)) for n in WORKER_COUNTS]
    for label, plan in plans:
        target = plan()
        try:
            result = measure(target, body_file, signature, body)
        except BenchFailure as failure:
            raise SystemExit(f"ingest benchmark: {target.name} failed, no number reported: {failure}") from None
        print(f"ingest: {label}: {result.rate:,.0f} deliveries/s, p50 {result.p50_ms:.1f} ms, "
              f"p99 {result.p99_ms:.1f} ms, {result.enqueued} enqueued", file=sys.stderr)
        rows.append(Row(target.name, result=result))
    return rows


def run_all() -> str:
    """Run every target and return the section's markdown."""
    wrk = wrk_version()
    body = _body()
    signature = sign(SECRET, body)
    workers_flag = serve_has_workers()
    with tempfile.TemporaryDirectory(prefix="specloop-ingest-body-") as tmp:
        body_file = Path(tmp) / "labeled.json"
        body_file.write_bytes(body)
        rows = _collect(body_file, signature, body, workers_flag)
    results = [row.result for row in rows if row.result is not None]
    probot = next((result for result in results if result.target.kind == "probot"), None)
    skipped_probot = next((row.skipped for row in rows if row.skipped and row.name.startswith("Probot")), None)
    specloop = [result for result in results if result.target.kind == "specloop"]
    bare = [result for result in results if result.target.kind == "bare"]
    table = "\n".join(_row(row, probot) for row in rows)
    return f"""## Webhook ingest against peers

Ingest speed against what a team would pick today, side by side in one run: a Probot 14 app, a
gidgethub + aiohttp bot and `specloop serve`, each verifying, parsing and enqueueing every delivery
into its own Redis, next to a bare ASGI endpoint that only answers 202.

| target | processes | deliveries/s | p50 | p99 | non-2xx | throughput vs Probot | CPU per delivery (server + Redis) |
|---|---|---|---|---|---|---|---|
{table}

{chr(10).join(_target_lines(specloop, bare, probot, skipped_probot))}

How it was measured:

{_how(wrk, rows, workers_flag)}
"""
