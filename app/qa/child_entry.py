"""The QA child process itself: `python -P -m app.qa.child_entry REQUEST.json RESULT.json [CHROMIUM]`.

It may start before its request exists: in the sandbox it starts beside the app (`run_in_sandbox(...,
ready=...)`), does its imports and launches Chromium while the app starts, and waits for REQUEST.json,
which the parent writes whole (a temporary file renamed into place) once the app answers. Then it runs
in-process (`run_async`), prints each finished scenario as a JSON line and writes the result. The parent
reads both as untrusted (`app/qa/result_check.py`); nothing here imports that, nor pydantic or
cucumber_messages, which only those checks need.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

from app.domain.qa_results import ScenarioResult
from app.qa.browser import launch
from app.qa.in_process import run_async
from app.qa.options import RunOptions

REQUEST_POLL_S = 0.01  # how often a child started early looks for its request


async def _early_browser(stack: contextlib.AsyncExitStack, chromium: str | None) -> Any:
    """Chromium launched before the request (while the app starts), or None when it cannot be launched:
    `run_async` then launches it itself, after compiling the features, and fails there as it always did
    (a run with no scenario to run still reports why, not a browser it never needed)."""
    try:
        playwright = await stack.enter_async_context(async_playwright())
        browser = await launch(playwright, chromium)
    except Exception:  # noqa: BLE001 - any launch failure is reported by run_async's own launch
        return None
    stack.push_async_callback(browser.close)
    return browser


async def _request(path: Path) -> dict[str, Any]:
    """The request, once the parent has put it in place (atomically: it is whole when it exists). A parent
    that never does closes the sandbox, which kills this process."""
    while True:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            await asyncio.sleep(REQUEST_POLL_S)
            continue
        request: dict[str, Any] = json.loads(raw)
        return request


def _options(request: dict[str, Any]) -> RunOptions:
    raw_options = request["options"]
    raw_options["viewport"] = tuple(raw_options.get("viewport") or (1280, 800))
    raw_options["allowed_origins"] = tuple(raw_options.get("allowed_origins") or ())
    return RunOptions(**raw_options)


async def _run(request_path: Path, result_path: Path, chromium: str | None) -> None:
    def report(result: ScenarioResult, done: int, total: int) -> None:
        print(json.dumps({"scenario": asdict(result), "done": done, "total": total}), flush=True)

    async with contextlib.AsyncExitStack() as stack:
        browser = await _early_browser(stack, chromium)
        request = await _request(request_path)
        for folder in (request.get("root"), request["options"].get("code_root")):
            if folder and folder not in sys.path:
                # Step files may import the project's own modules; after Specloop's, never before them (the
                # sandboxed child runs with -P, so the checkout is not first on the path).
                sys.path.append(folder)
        options = _options(request)
        if options.chromium_path != chromium:
            browser = None  # not the browser the run asks for: run_async launches that one
        result = await run_async(request["features"], request["base_url"], options,
                                 root=request.get("root"), browser=browser, progress=report)
    result_path.write_text(json.dumps(result.to_json()))


def main(argv: list[str]) -> int:
    """Entry point of the child process: launch Chromium, wait for the request, run in-process, write the
    result."""
    asyncio.run(_run(Path(argv[0]), Path(argv[1]), argv[2] if len(argv) > 2 else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
