"""A QA run in one child process, for runs that load repository code: the parent's side.

The parent writes a request file and starts `python -m app.qa.child_entry REQUEST.json RESULT.json`
(`CHILD_MODULE`); the child runs in-process (browser included), prints progress as JSON lines and writes
the result, which the parent reads as untrusted (`app/qa/result_check.py`). The worker starts it inside the
repository-code sandbox, beside the app (`app/qa/sandboxed.py`); the `specloop qa` command starts it here
(`run_in_child`) with only `CHILD_ENV_ALLOW` of its environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from app.domain.qa_results import Progress, RunResult
from app.domain.scenario_plan import FeatureError
from app.qa.options import RunOptions
from app.qa.result_check import read_result, report_progress

# The child's own module (`app/qa/child_entry.py`): it imports none of the checks the parent reads with.
CHILD_MODULE = "app.qa.child_entry"

# Only these variables reach a child process that runs repository code: enough to find Python,
# the browser and a temp dir, and nothing that could carry a service secret.
CHILD_ENV_ALLOW = (
    "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV",
    "PLAYWRIGHT_BROWSERS_PATH", "CHROMIUM_PATH", "DISPLAY", "XDG_RUNTIME_DIR", "SYSTEMROOT",
)


def scrubbed_env() -> dict[str, str]:
    """The environment for a child that runs repository code: an allow-list, never the secrets."""
    return {k: v for k, v in os.environ.items() if k in CHILD_ENV_ALLOW or k.startswith("LC_")}


def failed_run(base_url: str, options: RunOptions, message: str) -> RunResult:
    """A run that did not happen, with why (the QA child could not run or left nothing that reads)."""
    result = RunResult(base_url=base_url, started_at=time.time())
    result.errors.append(FeatureError(options.steps_dir or "", None, None, message))
    return result


def child_browser(options: RunOptions) -> list[str]:
    """The child's optional last argument: the Chromium the run asks for, which it launches before reading
    its request (`app/qa/child_entry.py`)."""
    return [options.chromium_path] if options.chromium_path else []


def run_in_child(
    features: Sequence[str | Path], base_url: str, options: RunOptions, *,
    root: str | Path | None = None, progress: Progress | None = None,
) -> RunResult:
    """Run in one child process with a scrubbed environment; progress arrives as JSON lines on stdout."""
    with tempfile.TemporaryDirectory(prefix="specloop-qa-child-") as tmp:
        if options.out_dir is None:
            options = RunOptions(**{**asdict(options), "out_dir": tempfile.mkdtemp(prefix="specloop-qa-")})
        request = Path(tmp) / "request.json"
        response = Path(tmp) / "result.json"
        request.write_text(json.dumps({
            "features": [str(Path(f).resolve()) for f in features], "base_url": base_url,
            "root": str(Path(root).resolve()) if root is not None else None, "options": asdict(options),
        }))
        cwd = str(Path(root).resolve()) if root is not None else None
        proc = subprocess.Popen(
            [sys.executable, "-m", CHILD_MODULE, str(request), str(response), *child_browser(options)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=scrubbed_env(), cwd=cwd,
        )
        deadline = time.monotonic() + options.run_timeout_s
        # The wall holds even when the child prints nothing (a step or hook blocking in sync code, on every
        # retry): reading its stdout waits for a line, so a timer kills it at the deadline.
        watchdog = threading.Timer(options.run_timeout_s, proc.kill)
        watchdog.daemon = True
        watchdog.start()
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                report_progress(line, progress)
            _, stderr = proc.communicate()
        finally:
            watchdog.cancel()
        if proc.returncode != 0 or not response.exists():
            tail = "\n".join((stderr or "").strip().splitlines()[-15:])
            why = f"; it ran past the run's limit of {options.run_timeout_s:g} s" \
                if time.monotonic() >= deadline else ""
            return failed_run(base_url, options, f"the QA child process failed (exit {proc.returncode}{why}):\n{tail}")
        try:
            return read_result(response.read_bytes())
        except ValueError as error:  # step code can write the file: read it as untrusted
            return failed_run(base_url, options, f"the QA child process left a result that does not read: {error}")
