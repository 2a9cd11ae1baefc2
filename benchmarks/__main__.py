"""`python -m benchmarks` (`make bench`): every benchmark, written to docs/benchmarks.md.

Speed and memory targets live here, never as timed assertions in tests.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

from benchmarks import loop, qa, webhook

REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def main() -> int:
    """Run the webhook, bot-overhead and QA benchmarks and write the report."""
    sections = [webhook.run_all(), loop.run_all(), qa.run_all()]
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
    raise SystemExit(main())
