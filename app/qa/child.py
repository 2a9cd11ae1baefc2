"""A QA run in one child process, for runs that load repository code.

The parent writes a request file and starts `python -m app.qa.child REQUEST.json RESULT.json`; the
child runs in-process (browser included), prints progress as JSON lines and writes the result. The
worker starts it inside the repository-code sandbox, beside the app (`app/qa/sandboxed.py`); the
`specloop qa` command starts it here (`run_in_child`) with only `CHILD_ENV_ALLOW` of its environment.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from app.domain.qa_results import Progress, RunResult, ScenarioResult
from app.domain.scenario_plan import FeatureError
from app.qa.in_process import run_async
from app.qa.options import RunOptions

# Only these variables reach a child process that runs repository code: enough to find Python,
# the browser and a temp dir, and nothing that could carry a service secret.
CHILD_ENV_ALLOW = (
    "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV",
    "PLAYWRIGHT_BROWSERS_PATH", "CHROMIUM_PATH", "DISPLAY", "XDG_RUNTIME_DIR", "SYSTEMROOT",
)


def scrubbed_env() -> dict[str, str]:
    """The environment for a child that runs repository code: an allow-list, never the secrets."""
    return {k: v for k, v in os.environ.items() if k in CHILD_ENV_ALLOW or k.startswith("LC_")}


def _report_progress(line: str, progress: Progress | None) -> None:
    """Hand one progress line of the child's stdout to `progress` (other output is ignored)."""
    if progress is None or not line.startswith("{"):
        return
    try:
        event = json.loads(line)
        progress(ScenarioResult.from_json(event["scenario"]), event["done"], event["total"])
    except (ValueError, KeyError, TypeError):
        pass


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
            [sys.executable, "-m", "app.qa.child", str(request), str(response)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=scrubbed_env(), cwd=cwd,
        )
        deadline = time.monotonic() + options.run_timeout_s
        assert proc.stdout is not None
        for line in proc.stdout:
            _report_progress(line, progress)
            if time.monotonic() > deadline:
                proc.kill()
                break
        try:
            _, stderr = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
        if proc.returncode != 0 or not response.exists():
            tail = "\n".join((stderr or "").strip().splitlines()[-15:])
            result = RunResult(base_url=base_url, started_at=time.time())
            result.errors.append(FeatureError(
                options.steps_dir or "", None, None,
                f"the QA child process failed (exit {proc.returncode}):\n{tail}"))
            return result
        try:
            return RunResult.from_json(json.loads(response.read_text()))
        except (ValueError, KeyError, TypeError) as error:  # step code can write the file: read it as untrusted
            result = RunResult(base_url=base_url, started_at=time.time())
            result.errors.append(FeatureError(
                options.steps_dir or "", None, None, f"the QA child process left a result that does not read: {error}"))
            return result


def main(argv: list[str]) -> int:
    """Entry point of the child process: read the request, run in-process, write the result."""
    request = json.loads(Path(argv[0]).read_text())
    for folder in (request.get("root"), request["options"].get("code_root")):
        if folder and folder not in sys.path:
            # Step files may import the project's own modules; after Specloop's, never before them (the
            # sandboxed child runs with -P, so the checkout is not first on the path).
            sys.path.append(folder)
    raw_options = request["options"]
    raw_options["viewport"] = tuple(raw_options.get("viewport") or (1280, 800))
    raw_options["allowed_origins"] = tuple(raw_options.get("allowed_origins") or ())
    options = RunOptions(**raw_options)

    def report(result: ScenarioResult, done: int, total: int) -> None:
        print(json.dumps({"scenario": asdict(result), "done": done, "total": total}), flush=True)

    result = asyncio.run(run_async(request["features"], request["base_url"], options,
                                   root=request.get("root"), progress=report))
    Path(argv[1]).write_text(json.dumps(result.to_json()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
