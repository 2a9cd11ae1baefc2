"""`specloop demo`'s entry point: options, the log file, the banner, and the exit code with one clear line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from app.demo.narrator import Narrator
from app.demo.script import run_demo
from app.demo.stage import DemoFailure, Interrupted

DEFAULT_OUT = Path(".specloop") / "demo"


@contextlib.contextmanager
def log_to_file(path: Path) -> Iterator[None]:
    """Send the service's and worker's logs (JSON lines) to `path` while the demo runs; restore after."""
    from app.logs import JsonFormatter, RedactingFilter

    root = logging.getLogger()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    saved_level = root.level
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate)
             for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq", "arq.worker", "arq.jobs")}
    # Handlers already on the root (a test runner's) stay; console handlers of uvicorn/arq would be noise.
    for name in saved:
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(saved_level)
        for name, (handlers, propagate) in saved.items():
            logging.getLogger(name).handlers[:] = handlers
            logging.getLogger(name).propagate = propagate


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="specloop demo",
                                     description="Run the whole Specloop loop against the built-in GitHub double.")
    parser.add_argument("--out", default=str(DEFAULT_OUT),
                        help=f"folder for the screenshot, QA reports and log (default {DEFAULT_OUT})")
    parser.add_argument("--no-reports", action="store_true",
                        help="skip the terminal QA run that writes JUnit / NDJSON / HTML reports")
    parser.add_argument("--broken-app", action="store_true",
                        help="the scripted agent writes the app with a regression, to see QA catch it (always "
                             "the scripted model); exits 0 when QA fails exactly that scenario")
    parser.add_argument("--report", metavar="PATH",
                        help="also write a JSON transcript of what GitHub shows at the end (issue, comments, "
                             "pull requests with files, reviews and check runs, artifacts_dir)")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; 0 only when every phase did what it should: the loop reached a passing `specloop/qa` on the
    generated code (with `--broken-app`: a `specloop/qa` failing exactly the regression). 1 otherwise, 130 on Ctrl-C."""
    args = _parser().parse_args(list(argv) if argv is not None else [])
    color = {"always": True, "never": False}.get(args.color)
    narrator = Narrator(sys.stdout, color=color)
    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="specloop-demo-"))
    narrator.banner("Specloop demo: story → example map → spec PR → approval → code → browser QA",
                    "Everything runs locally: a GitHub double stands in for github.com; no credentials needed "
                    "(without ANTHROPIC_API_KEY the model is scripted).")
    log_path = out_dir / "demo.log"
    report = Path(args.report).resolve() if args.report else None
    try:
        with log_to_file(log_path):
            try:
                asyncio.run(run_demo(narrator, out_dir, workdir, reports=not args.no_reports,
                                     broken=args.broken_app, model_key=os.environ.get("ANTHROPIC_API_KEY") or None,
                                     report=report))
            except (DemoFailure, Interrupted):
                raise
            except Exception:
                logging.getLogger(__name__).exception("the demo crashed")  # the traceback goes to the log
                raise
    except DemoFailure as failure:
        narrator.write()
        narrator.fail(f"The demo stopped: {failure}")
        narrator.say(f"Service and worker log: {log_path}")
        return 1
    except (Interrupted, KeyboardInterrupt):
        narrator.fail("Interrupted; everything was shut down.")
        return 130
    except Exception as error:  # noqa: BLE001 - the user sees one clear line, the log has the traceback
        narrator.write()
        narrator.fail(f"The demo crashed: {type(error).__name__}: {error}")
        narrator.say(f"Service and worker log (with the traceback): {log_path}")
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    narrator.write()
    if report is not None:
        narrator.say(f"What GitHub shows now, as JSON: {report}")
    verdict = ("QA caught the regression in the generated code and says where, as it should."
               if args.broken_app else "every phase did what it should, and QA passed on the generated code.")
    narrator.write(narrator.bold(f"The whole loop ran: {verdict}"))
    return 0
