"""`specloop qa --base-url URL [features...]`: the QA runner from a terminal or a CI job."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from app.domain.qa_reports import STATUS_ICON, scenario_error, write_reports
from app.domain.qa_results import RunResult, ScenarioResult
from app.qa.browser import BrowserNotFound, require_chromium
from app.qa.options import RunOptions
from app.qa.runner import run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="specloop qa", description="Run Gherkin scenarios in Chromium against a running application.")
    parser.add_argument("features", nargs="*", default=["features"],
                        help="feature files or folders (default: features/)")
    parser.add_argument("--base-url", required=True, help="URL of the application under test")
    parser.add_argument("--steps", help="folder of project step definitions (default: <features>/steps)")
    parser.add_argument("--allow-repo-steps", action="store_true",
                        help="load the project's Python step definitions (runs repository code)")
    parser.add_argument("--out", default="reports", help="folder for junit.xml, cucumber-messages.ndjson, "
                        "report.html and evidence (default: reports/)")
    parser.add_argument("--contexts", type=int, default=4, help="scenarios run in parallel (default: 4)")
    parser.add_argument("--screenshots", choices=["every_step", "failures", "final"], default="every_step")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds each step may wait (default: 5)")
    parser.add_argument("--chromium", help="path to the Chromium executable (default: CHROMIUM_PATH or system)")
    return parser


def collect_features(paths: list[str]) -> tuple[list[Path], list[str]]:
    """Expand folders to their .feature files; return (files, problems)."""
    files: list[Path] = []
    problems: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(path.rglob("*.feature"))
            if not found:
                problems.append(f"{raw}: no .feature files in this folder")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            problems.append(f"{raw}: no such file or folder")
    return files, problems


def _line(scenario: ScenarioResult, done: int, total: int) -> str:
    return f"[{done}/{total}] {STATUS_ICON[scenario.status]} {scenario.status:<9} {scenario.name} " \
           f"({scenario.uri}:{scenario.line}, {scenario.duration:.1f} s)"


def print_summary(result: RunResult, out: TextIO) -> None:
    """The end-of-run summary: load errors, each failure with its line and error, the counts."""
    for error in result.errors:
        where = f"{error.uri}:{error.line}" if error.line else error.uri
        print(f"\nerror: {where}: {error.message}", file=out)
    failed = [s for s in result.scenarios if s.failed]
    for scenario in failed:
        print(f"\n{STATUS_ICON[scenario.status]} {scenario.name}\n  " +
              scenario_error(scenario).replace("\n", "\n  "), file=out)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.counts().items())) or "no scenarios"
    verdict = "PASSED" if result.passed else "FAILED"
    print(f"\n{verdict}: {len(result.scenarios)} scenarios ({counts}) in {result.duration:.1f} s", file=out)


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios; print progress and a summary; write reports; exit 1 on any failure."""
    args = _parser().parse_args(argv)
    out = sys.stdout
    files, problems = collect_features(args.features)
    if problems:
        for problem in problems:
            print(f"specloop qa: {problem}", file=sys.stderr)
        return 2
    first = Path(args.features[0])
    features_root = first if first.is_dir() else first.parent
    steps_dir = Path(args.steps) if args.steps else features_root / "steps"
    if steps_dir.is_dir() and any(steps_dir.glob("*.py")) and not args.allow_repo_steps:
        print(f"note: {steps_dir} has step definitions; pass --allow-repo-steps to load them", file=sys.stderr)
    out_dir = Path(args.out)
    options = RunOptions(
        contexts=max(1, args.contexts), screenshots=args.screenshots, timeout_ms=args.timeout * 1000,
        steps_dir=str(steps_dir), allow_repo_steps=args.allow_repo_steps,
        out_dir=str((out_dir / "evidence").resolve()), chromium_path=args.chromium,
    )
    try:
        require_chromium(args.chromium, source="--chromium")  # name the flag the person actually passed
    except BrowserNotFound as exc:
        print(f"specloop qa: {exc}", file=sys.stderr)
        return 2
    print(f"Running {len(files)} feature file(s) against {args.base_url} ...", file=out, flush=True)
    try:
        result = run(files, args.base_url, options, root=Path.cwd(),
                     progress=lambda s, done, total: print(_line(s, done, total), file=out, flush=True))
    except BrowserNotFound as exc:
        print(f"specloop qa: {exc}", file=sys.stderr)
        return 2
    print_summary(result, out)
    paths = write_reports(result, out_dir)
    print("Reports: " + ", ".join(str(p) for p in paths.values()), file=out)
    return 0 if result.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
