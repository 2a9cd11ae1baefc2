"""Servers on loopback ports in background threads.

`LoopbackServer` is the one way an ASGI app is served in-process: the web service (started by
`app.sandbox.harness` for the tests and `specloop demo`), the GitHub double and the Messages-API double. `QuietHTTPServer` serves the small
stdlib apps QA runs against (the demo app, the tests' sample app).
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any, Literal, Self

import uvicorn


def bind_loopback(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket on `host:port` (0 = a free port).

    Created with IPPROTO_TCP named explicitly: asyncio only sets TCP_NODELAY on accepted connections
    when the listening socket says it is TCP, and without it every request on a kept-alive connection
    waits ~40 ms for a delayed ACK (Nagle), which made reused HTTP connections slower than new ones.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


class QuietHTTPServer(ThreadingHTTPServer):
    """A threaded stdlib HTTP server that does not print a traceback when a browser hangs up early.

    Browsers close connections mid-response all the time (a context closed after its last step);
    that is not an error of the app under test and must not bury real output in tracebacks.
    """

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # BrokenPipe, ConnectionReset, ...
            return
        super().handle_error(request, client_address)


class LoopbackServer:
    """Serve `app` until stop(); `url` is known as soon as the object exists (the port is bound)."""

    def __init__(self, app: Any, *, name: str = "server", host: str = "127.0.0.1", port: int = 0,
                 lifespan: Literal["auto", "on", "off"] = "off", graceful_seconds: int = 2) -> None:
        self.name = name
        self.host = host
        self.sock = bind_loopback(host, port)
        self.port: int = self.sock.getsockname()[1]
        # the stock asyncio loop: these servers run in threads, where uvloop's child processes (the GitHub
        # double's `git http-backend`) fail; `specloop serve` runs uvloop in its own main thread
        config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, ws="none",
                                loop="asyncio", lifespan=lifespan, timeout_graceful_shutdown=graceful_seconds)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name=f"{name}:{self.port}", daemon=True)

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> Self:
        """Start serving; returns once uvicorn accepts connections (lifespan start-up included)."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.name} did not start on {self.url}")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Ask uvicorn to exit, wait for the thread, release the port."""
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=timeout)
        self.sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
