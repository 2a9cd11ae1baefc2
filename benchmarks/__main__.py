"""`python -m benchmarks` (`make bench`): every benchmark, written to docs/benchmarks.md.

`python -m benchmarks SECTION...` (webhook, ingest, loop, qa, sandbox, code) runs only those sections and prints their
markdown without touching docs/benchmarks.md, to iterate on one quickly.

Speed and memory targets live here, never as timed assertions in tests.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks import code, ingest, loop, qa, sandbox, webhook

REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
# In report order: the ingest comparison right after the endpoint's own latency.
SECTIONS: dict[str, Callable[[], str]] = {
    "webhook": webhook.run_all,
    "ingest": ingest.run_all,
    "loop": loop.run_all,
    "qa": qa.run_all,
    "sandbox": sandbox.run_all,
    "code": code.run_all,
}


def main(argv: Sequence[str] = ()) -> int:
    """Run every section and write the report, or run the named sections and print their markdown."""
    unknown = [name for name in argv if name not in SECTIONS]
    if unknown:
        print(f"unknown section {', '.join(unknown)}; choose from {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    if argv:
        print("\n".join(SECTIONS[name]() for name in argv))
        return 0
    sections = [run() for run in SECTIONS.values()]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    REPORT.write_text(
        "# Benchmarks\n\n"
        f"Machine: {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, load "
        f"average {load:.1f} when the run ended; generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n"
        "Re-run with `make bench`.\n\n" + "\n".join(sections)
    )
    print(f"wrote {REPORT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
