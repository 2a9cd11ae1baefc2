"""`specloop qa --base-url URL [features...]`: the QA runner from a terminal or a CI job.

With `--allow-repo-steps` and project step files, the QA child (Chromium and the step files) runs in the
repository-code sandbox (`app/isolation/`, docs/sandbox.md), as on the worker, except that it shares this
machine's network (the app under test is the developer's, outside the sandbox). Where no sandbox can be
made the command refuses, unless `--no-sandbox` asks for the old scrubbed child process.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO, get_args

from app.domain.qa_reports import STATUS_ICON, scenario_error, write_reports
from app.domain.qa_results import Progress, RunResult, ScenarioResult
from app.domain.tag_filter import normalise_tags, tag_expression_problem
from app.isolation import open_sandbox, sandbox_available
from app.qa.browser import BrowserNotFound, require_chromium
from app.qa.options import MAX_RETRY, RunOptions, ScreenshotPolicy
from app.qa.runner import run
from app.qa.sandboxed import qa_policy, run_in_sandbox

SANDBOX_HELP = (
    "Project step files are repository code: with --allow-repo-steps they run in a bubblewrap sandbox (the "
    "`bwrap` command, Debian package `bubblewrap`) that sees the project folder and the features read-only, "
    "none of your environment variables, home folder or other files, and writes only to a temporary folder; "
    "it shares this machine's network, so the step code can reach what your machine can (the app under test "
    "included). Where no sandbox can be made, specloop qa refuses to load step files unless you pass "
    "--no-sandbox, which runs them in a child process with a scrubbed environment but full access to your "
    "files and network: only for a checkout whose code you trust."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="specloop qa", description="Run Gherkin scenarios in Chromium against a running application.",
        epilog=SANDBOX_HELP)
    parser.add_argument("features", nargs="*", default=["features"],
                        help="feature files or folders (default: features/)")
    parser.add_argument("--base-url", required=True, help="URL of the application under test")
    parser.add_argument("--steps", help="folder of project step definitions (default: <features>/steps)")
    parser.add_argument("--allow-repo-steps", action="store_true",
                        help="load the project's Python step definitions (runs repository code, in a sandbox: "
                             "see below)")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="with --allow-repo-steps: run the step definitions without the sandbox, in a child "
                             "process with a scrubbed environment (your own machine, code you trust)")
    parser.add_argument("--out", default="reports", help="folder for junit.xml, cucumber-messages.ndjson, "
                        "report.html and evidence (default: reports/)")
    parser.add_argument("--contexts", type=int, default=4, help="scenarios run in parallel (default: 4)")
    parser.add_argument("--screenshots", choices=list(get_args(ScreenshotPolicy)), default="every_step",
                        help="when to take screenshots (default: every_step; off: none)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds each step may wait (default: 5)")
    parser.add_argument("--chromium", help="path to the Chromium executable (default: CHROMIUM_PATH or system)")
    parser.add_argument("--tags", metavar="EXPR",
                        help="run only the scenarios whose tags satisfy this Cucumber tag expression (a scenario "
                             "has its feature's, rule's and examples' tags too), e.g. --tags \"@smoke and not "
                             "@wip\"; a run it leaves without scenarios fails")
    parser.add_argument("--retry", type=_retry_count, default=0, metavar="N",
                        help=f"run a failed scenario again, in a fresh browser context, up to N more times "
                             f"(0 to {MAX_RETRY}, default: 0); one that then passes counts as passed and is "
                             f"reported as flaky; undefined, ambiguous and pending scenarios are not retried")
    return parser


def _retry_count(text: str) -> int:
    """`--retry N`: a whole number from 0 to MAX_RETRY, or argparse's usage error saying so."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_RETRY:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {MAX_RETRY}, not {text!r}")
    return value


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
    attempts = f", attempt {scenario.attempt + 1}" if scenario.attempt else ""
    flaky = " (flaky)" if scenario.flaky else ""
    return f"[{done}/{total}] {STATUS_ICON[scenario.status]} {scenario.status:<9} {scenario.name}{flaky} " \
           f"({scenario.uri}:{scenario.line}, {scenario.duration:.1f} s{attempts})"


def _counts_text(result: RunResult) -> str:
    """`2 failed, 5 passed (1 flaky)`: the final attempts' statuses, and how many passed only on a retry."""
    flaky = sum(1 for s in result.scenarios if s.flaky)
    parts = [f"{n} {status}" + (f" ({flaky} flaky)" if status == "passed" and flaky else "")
             for status, n in sorted(result.counts().items())]
    return ", ".join(parts) or "no scenarios"


def print_summary(result: RunResult, out: TextIO) -> None:
    """The end-of-run summary: load errors, each failure with its line and error, the counts."""
    for error in result.errors:
        where = f"{error.uri}:{error.line}" if error.line else error.uri
        print(f"\nerror: {where}: {error.message}", file=out)
    for hook in result.failed_run_hooks():
        print(f"\nerror: {hook.label} {hook.status}: {hook.error or ''}", file=out)
    failed = [s for s in result.scenarios if s.failed]
    for scenario in failed:
        print(f"\n{STATUS_ICON[scenario.status]} {scenario.name}\n  " +
              scenario_error(scenario).replace("\n", "\n  "), file=out)
    for scenario in (s for s in result.scenarios if s.flaky):
        first = scenario.previous_attempts[0]
        print(f"\n⚠️ flaky: {scenario.name} passed on attempt {scenario.attempt + 1}, after failing "
              f"{len(scenario.previous_attempts)} time(s); first failure:\n  " +
              scenario_error(first).replace("\n", "\n  "), file=out)
    verdict = "PASSED" if result.passed else "FAILED"
    tags = f" selected by `{result.tags}`" if result.tags else ""
    print(f"\n{verdict}: {len(result.scenarios)} scenarios{tags} ({_counts_text(result)}) in "
          f"{result.duration:.1f} s", file=out)


def _bound_dirs(root: Path, files: Sequence[Path], steps_dir: Path) -> list[Path]:
    """The folders the sandbox sees read-only: the project root, and any feature or step folder outside it."""
    found = [root]
    for path in [*(f.resolve().parent for f in files), steps_dir.resolve()]:
        if path.is_dir() and not any(path.is_relative_to(p) for p in found):
            found.append(path)
    return found


def _move_evidence(result: RunResult, source: Path, target: Path) -> RunResult:
    """Copy the (already confined) screenshots and traces the result names from `source` to `target`, and
    point the result at the copies."""
    def moved(path: str) -> str:
        relative = Path(path).relative_to(source)
        copy = target / relative
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy, follow_symlinks=False)
        return str(copy)

    def kept(path: str | None) -> str | None:  # an earlier attempt's evidence is not confined: only if inside
        return moved(path) if path and Path(path).is_relative_to(source) and Path(path).is_file() else None

    for scenario in result.scenarios:
        scenario.screenshots = [moved(p) for p in scenario.screenshots]
        for step in scenario.steps:
            if step.screenshot:
                step.screenshot = moved(step.screenshot)
        if scenario.trace:
            scenario.trace = moved(scenario.trace)
        for earlier in scenario.previous_attempts:
            earlier.screenshots = [p for p in (kept(p) for p in earlier.screenshots) if p]
            for step in earlier.steps:
                step.screenshot = kept(step.screenshot)
            earlier.trace = kept(earlier.trace)
    return result


def run_sandboxed(files: Sequence[Path], base_url: str, options: RunOptions, *, root: Path,
                  chromium: str, progress: Progress | None = None) -> RunResult:
    """Run the QA child in a sandbox with this machine's network: the project and features read-only, a
    temporary workspace for the request, result and evidence (copied to `options.out_dir` after)."""
    root = root.resolve()
    out_dir = Path(options.out_dir or "reports/evidence").resolve()
    steps_dir = Path(options.steps_dir or root / "features" / "steps")
    with tempfile.TemporaryDirectory(prefix="specloop-qa-cli-") as tmp:
        workspace = Path(tmp).resolve()
        policy = qa_policy(chromium)
        policy = replace(policy, network=True,
                         read_only=(*policy.read_only, *_bound_dirs(root, files, steps_dir)))
        evidence = workspace / "evidence"
        inside = replace(options, out_dir=str(evidence), steps_dir=str(steps_dir.resolve()), chromium_path=chromium)

        async def sandboxed() -> RunResult:
            box = open_sandbox(workspace, policy)
            try:
                return await run_in_sandbox(box, [f.resolve() for f in files], base_url, inside, root=root,
                                            progress=progress)
            finally:
                await box.close()

        result = asyncio.run(sandboxed())
        return _move_evidence(result, evidence, out_dir)


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios; print progress and a summary; write reports; exit 1 on any failure."""
    args = _parser().parse_args(argv)
    out = sys.stdout
    tags = normalise_tags(args.tags)
    if tags is not None and (tag_problem := tag_expression_problem(tags)) is not None:
        print(f"specloop qa: --tags: `{tags}` is not a valid tag expression: {tag_problem} "
              "(write one like \"@smoke and not @wip\")", file=sys.stderr)
        return 2
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
        out_dir=str((out_dir / "evidence").resolve()), chromium_path=args.chromium, tags=tags, retry=args.retry,
    )
    repo_steps = args.allow_repo_steps and steps_dir.is_dir() and any(steps_dir.glob("*.py"))
    sandboxed = repo_steps and not args.no_sandbox
    if sandboxed and (unavailable := sandbox_available()) is not None:
        print(f"specloop qa: {steps_dir} has project step definitions, which run only in a sandbox, and none "
              f"can be made here: {unavailable}. Install bubblewrap (`apt-get install bubblewrap`), or pass "
              "--no-sandbox to run them without one (a scrubbed child process with access to your files and "
              "network: only for code you trust).", file=sys.stderr)
        return 2
    try:
        chromium = require_chromium(args.chromium, source="--chromium")  # name the flag the person actually passed
    except BrowserNotFound as exc:
        print(f"specloop qa: {exc}", file=sys.stderr)
        return 2
    where = " (project steps in a sandbox)" if sandboxed else " (project steps without a sandbox)" \
        if repo_steps else ""
    print(f"Running {len(files)} feature file(s) against {args.base_url}{where} ...", file=out, flush=True)

    def progress(scenario: ScenarioResult, done: int, total: int) -> None:
        print(_line(scenario, done, total), file=out, flush=True)

    try:
        if sandboxed:
            result = run_sandboxed(files, args.base_url, options, root=Path.cwd(), chromium=chromium,
                                   progress=progress)
        else:
            result = run(files, args.base_url, options, root=Path.cwd(), progress=progress)
    except BrowserNotFound as exc:
        print(f"specloop qa: {exc}", file=sys.stderr)
        return 2
    print_summary(result, out)
    paths = write_reports(result, out_dir)
    print("Reports: " + ", ".join(str(p) for p in paths.values()), file=out)
    return 0 if result.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
