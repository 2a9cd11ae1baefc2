"""Finding Chromium and launching it the same way everywhere (worker, CLI, tests, benchmarks)."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Self, TypeVar

T = TypeVar("T")

# Flags for headless Chromium on servers and containers: no sandbox (containers lack user
# namespaces), no GPU, and none of the background traffic a CI box or a loopback test must not make.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Chromium's own autofill lookups would show up among a scenario's failed requests as noise
    "--disable-features=AutofillServerCommunication",
    # Every QA context sends its connections through its `NetworkFence` proxy (SOCKS5, names resolved
    # there): WebRTC must not send UDP around it, and Chromium must not resolve names (or race QUIC) itself.
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]

SYSTEM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class BrowserNotFound(RuntimeError):
    """No Chromium could be found; the message says how to provide one."""


NOT_FOUND_MESSAGE = (
    "No Chromium found for QA. Install it (`apt-get install chromium`), run `playwright install chromium`, "
    "or set CHROMIUM_PATH to the browser's executable."
)


def _playwright_chromium() -> str | None:
    """The Chromium Playwright downloaded itself (`playwright install chromium`), if any."""
    root = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or Path.home() / ".cache" / "ms-playwright")
    if not root.is_dir():
        return None
    for pattern in ("chromium-*/chrome-linux*/chrome", "chromium_headless_shell-*/chrome-*/headless_shell",
                    "chromium-*/chrome-mac*/Chromium.app/Contents/MacOS/Chromium"):
        for candidate in sorted(root.glob(pattern), reverse=True):
            if os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def _configured(path: str) -> str | None:
    """A configured Chromium as an executable file: an absolute/relative path, or a name on PATH."""
    found = shutil.which(path)
    if found:
        return found
    candidate = Path(path)
    # os.access(X_OK) is true for a directory too, so check it is a file.
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def find_chromium(settings_path: str | None = None, *, source: str = "CHROMIUM_PATH") -> str | None:
    """The Chromium to use: the configured path, then CHROMIUM_PATH, a system browser, Playwright's own.

    A configured path that is not an executable raises `BrowserNotFound` naming `source` and the path:
    falling back to another browser would silently test with something the operator did not choose.
    """
    for name, configured in ((source, settings_path), ("CHROMIUM_PATH", os.environ.get("CHROMIUM_PATH"))):
        if configured:
            resolved = _configured(configured)
            if resolved is None:
                raise BrowserNotFound(
                    f"{name} is set to {configured!r}, which is not an executable file. Point it at the "
                    f"Chromium executable (e.g. /usr/bin/chromium), or unset it to use the system Chromium."
                )
            return resolved
    for system_name in SYSTEM_NAMES:
        found = shutil.which(system_name)
        if found:
            return found
    return _playwright_chromium()


def require_chromium(settings_path: str | None = None, *, source: str = "CHROMIUM_PATH") -> str:
    """Like `find_chromium`, but raises `BrowserNotFound` with a clear message when there is none."""
    path = find_chromium(settings_path, source=source)
    if path is None:
        raise BrowserNotFound(NOT_FOUND_MESSAGE)
    return path


async def launch(playwright: Any, settings_path: str | None = None) -> Any:
    """Launch headless Chromium through an async Playwright instance with the standard flags."""
    return await playwright.chromium.launch(
        executable_path=require_chromium(settings_path), args=LAUNCH_ARGS, headless=True
    )


class SharedBrowser:
    """One Chromium on a private event loop thread, usable from synchronous code.

    The QA runner is async (parallel contexts); tests and the CLI are synchronous. Running the
    browser on its own loop lets one browser serve many runs (a test session, a benchmark).
    """

    def __init__(self, settings_path: str | None = None) -> None:
        self._settings_path = settings_path
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="specloop-browser", daemon=True)
        self._thread.start()
        self._playwright: Any = None
        self.browser: Any = None
        try:
            self.call(self._start())
        except BaseException:
            self.close()
            raise

    async def _start(self) -> None:
        from playwright.async_api import async_playwright

        self._playwright = await async_playwright().start()
        self.browser = await launch(self._playwright, self._settings_path)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the browser's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _stop(self) -> None:
        if self.browser is not None:
            await self.browser.close()
        if self._playwright is not None:
            await self._playwright.stop()

    def close(self) -> None:
        """Close the browser and stop the loop thread."""
        if self._loop.is_running():
            try:
                self.call(self._stop())
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
