"""Seconds per scenario: Specloop's QA runner vs the same scenarios as plain pytest-playwright tests.

Both run the same seven scenarios (tests/sample_app/features/shop.feature, and the same steps written
by hand in benchmarks/pw_tests/test_shop.py) against the sample app on loopback, side by side, and
each timing includes launching Chromium.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from app.qa.browser import require_chromium
from app.qa.options import RunOptions
from app.qa.runner import run

ROOT = Path(__file__).resolve().parent.parent
FEATURE = ROOT / "tests" / "sample_app" / "features" / "shop.feature"
PW_TESTS = Path(__file__).resolve().parent / "pw_tests"
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))


@dataclass
class Measure:
    """One contender's best-of-N wall time for the whole set of scenarios."""

    name: str
    scenarios: int
    seconds: list[float]

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def per_scenario(self) -> float:
        return self.best / self.scenarios


def bench_runner(url: str, contexts: int, screenshots: str, trace: bool) -> Measure:
    """The QA runner in-process (as `specloop qa` runs it), Chromium launch included."""
    times = []
    count = 0
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = run([FEATURE], url, RunOptions(contexts=contexts, screenshots=screenshots,  # type: ignore[arg-type]
                                                trace=trace, timeout_ms=10_000))
        times.append(time.perf_counter() - started)
        if not result.passed:
            raise SystemExit(f"benchmark scenarios failed: {result.counts()}")
        count = len(result.scenarios)
    label = f"Specloop runner, {contexts} context{'s' if contexts > 1 else ''}, screenshots={screenshots}" + (
        ", trace on" if trace else "")
    return Measure(label, count, times)


def bench_pytest_playwright(url: str) -> Measure:
    """The same scenarios as pytest-playwright tests, one pytest process (Chromium launch included)."""
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-c", str(PW_TESTS / "pytest.ini"), "--rootdir", str(PW_TESTS),
             "--base-url", url, "--browser", "chromium", str(PW_TESTS)],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )
        times.append(time.perf_counter() - started)
        if proc.returncode != 0:
            raise SystemExit("pytest-playwright benchmark failed:\n" + proc.stdout[-3000:] + proc.stderr[-2000:])
    return Measure("pytest-playwright (sync API, 1 process)", 7, times)


def render(measures: list[Measure]) -> str:
    """The QA section of docs/benchmarks.md."""
    baseline = next(m for m in measures if m.name.startswith("pytest-playwright"))
    rows = "\n".join(
        f"| {m.name} | {m.scenarios} | {m.best:.2f} | {m.per_scenario:.2f} | {m.per_scenario / baseline.per_scenario:.2f}× |"
        for m in measures
    )
    return f"""## QA: seconds per scenario

`make bench` (`python -m benchmarks`) runs the seven scenarios of `tests/sample_app/features/shop.feature`
against the sample app on loopback, once through Specloop's QA runner and once as the same steps written
by hand as plain pytest-playwright tests (`benchmarks/pw_tests/test_shop.py`), side by side. Every timing
is the best of {REPEATS} runs and includes starting Chromium ({require_chromium()}).

| contender | scenarios | seconds (best) | seconds per scenario | vs pytest-playwright |
|---|---|---|---|---|
{rows}

How to read it: with one context the runner does what a pytest-playwright suite does (a fresh context per
scenario) plus matching each step's text and taking screenshots; the difference is its overhead. Parallel
contexts share one browser, which is where the runner gains on machines with more than a couple of CPUs.
Screenshots after every step (the default, `qa.screenshots: every_step`) cost the most; teams that need
speed more than evidence set `final` or `failures`.
"""


def run_all() -> str:
    """Run every contender against the sample app; returns the section's markdown."""
    sys.path.insert(0, str(ROOT))
    from tests.sample_app import SampleApp

    app = SampleApp()
    try:
        measures = [bench_pytest_playwright(app.url)]
        measures.append(bench_runner(app.url, 1, "final", False))
        measures.append(bench_runner(app.url, 4, "final", False))
        measures.append(bench_runner(app.url, 4, "every_step", True))
    finally:
        app.close()
    for m in measures:
        print(f"{m.name}: {m.per_scenario:.2f} s/scenario (best {m.best:.2f} s of {m.seconds})")
    return render(measures)
