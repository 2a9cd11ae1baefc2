"""The QA runner's entry point: run feature files against a URL, in this process or, when repository
step files load, in a child process with a scrubbed environment (`app.qa.child`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from app.domain.qa_results import Progress, RunResult
from app.qa.browser import SharedBrowser
from app.qa.child import run_in_child
from app.qa.in_process import run_async
from app.qa.options import RunOptions


def _has_repo_steps(options: RunOptions) -> bool:
    return bool(options.allow_repo_steps and options.steps_dir and any(Path(options.steps_dir).glob("*.py")))


def run(
    features: Sequence[str | Path], base_url: str, options: RunOptions | None = None, *,
    root: str | Path | None = None, shared_browser: SharedBrowser | None = None, progress: Progress | None = None,
) -> RunResult:
    """Run the features synchronously; in a scrubbed child process when project steps are loaded.

    `shared_browser` is a browser to reuse (tests, benchmarks). Do not call from inside a running
    event loop: use `asyncio.to_thread(run, ...)`.
    """
    options = options or RunOptions()
    if _has_repo_steps(options):
        return run_in_child(features, base_url, options, root=root, progress=progress)
    if shared_browser is not None:
        return shared_browser.call(
            run_async(features, base_url, options, root=root, browser=shared_browser.browser, progress=progress)
        )
    return asyncio.run(run_async(features, base_url, options, root=root, progress=progress))
