"""A managed local `redis-server` (data dir, AOF on) for one-machine setups and for the tests."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from app.settings import Settings

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "redis-server was not found on PATH. Install it (Debian/Ubuntu: `sudo apt-get install redis-server`, "
    "macOS: `brew install redis`; `make test` and `make demo` do this for you), "
    "or set REDIS_URL to a Redis server you run elsewhere."
)
STATE_FILE = "managed.json"
LOCK_FILE = "managed.lock"
START_TIMEOUT = 10.0


class RedisServerError(RuntimeError):
    """The managed redis-server could not be started; the message says what to do."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ping(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True when a Redis server answers PING on host:port (raw RESP, so no client pool is involved)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class ManagedRedis:
    """A `redis-server` child process bound to 127.0.0.1, persisting with AOF under `data_dir`."""

    def __init__(self, data_dir: Path | str, port: int | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The redis:// URL of the running server."""
        if self.port is None:
            raise RedisServerError("the managed redis-server has not been started")
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """True while our child process is alive."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> Self:
        """Start redis-server and wait until it answers PING; raises RedisServerError with a reason."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisServerError(INSTALL_HINT)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.port is None:
            self.port = free_port()
        log_path = self.data_dir / "redis.log"
        args = [
            binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            # AOF is the durability; RDB snapshots would only add fork pauses
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(log_path),
            "--protected-mode", "yes",
        ]
        # stdin closed and output in the log file, so the server never blocks on a full pipe
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-800:] if log_path.exists() else ""
                raise RedisServerError(
                    f"redis-server exited with code {self.process.returncode} on port {self.port}: {tail}"
                )
            if ping(self.port):
                self._write_state()
                log.info("managed redis-server started", extra={"port": self.port, "dir": str(self.data_dir)})
                return self
            time.sleep(0.02)
        self.stop()
        raise RedisServerError(f"redis-server did not answer PING on port {self.port} within {START_TIMEOUT:.0f} s")

    def stop(self) -> None:
        """Stop the server if we started it (SIGTERM makes Redis flush the AOF), then forget it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
        state = self.data_dir / STATE_FILE
        with contextlib.suppress(OSError):
            if json.loads(state.read_text()).get("port") == self.port:
                state.unlink()

    def _write_state(self) -> None:
        assert self.process is not None
        state = {"pid": self.process.pid, "port": self.port}
        (self.data_dir / STATE_FILE).write_text(json.dumps(state))

    @classmethod
    def find_running(cls, data_dir: Path | str) -> str | None:
        """URL of a managed server another process already runs on this data dir, if it still answers."""
        state_path = Path(data_dir).resolve() / STATE_FILE
        try:
            state = json.loads(state_path.read_text())
            pid, port = int(state["pid"]), int(state["port"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if _pid_alive(pid) and ping(port):
            return f"redis://127.0.0.1:{port}/0"
        return None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def resolve_redis_url(settings: Settings) -> tuple[str, ManagedRedis | None]:
    """REDIS_URL when set (redis:// or rediss://); otherwise a managed server under data_dir/redis.

    Returns the URL and the ManagedRedis this call started (the caller stops it on shutdown), or None
    when the URL is external or a managed server started by another process (web and worker on one
    machine) is reused.
    """
    if settings.redis_url:
        return settings.redis_url, None
    data_dir = Path(settings.data_dir).resolve() / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    # The lock keeps a web process and a worker started together from launching two servers.
    with open(data_dir / LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            url = ManagedRedis.find_running(data_dir)
            if url is not None:
                return url, None
            managed = ManagedRedis(data_dir).start()
            return managed.url, managed
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
