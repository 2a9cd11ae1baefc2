"""Phase 7: QA proves the approved scenarios in Chromium against the generated code, on the PR (the push
started it) and again from a terminal, against the branch's app (the standard reports a CI job keeps).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import httpx

from app.demo.gate import pull_number
from app.demo.narrator import markdown_lines
from app.demo.stage import DemoFailure, Stage
from app.demo.story import PHASES, REPO, STEP_TIMEOUT_S
from app.sandbox.demo_app import BranchApp

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[2]  # the checkout `specloop qa` is run from (on PYTHONPATH)


async def qa_on_code(stage: Stage) -> None:
    """Phase 7: the push's `synchronize` ran QA on the new head: the app started from the branch, in the sandbox."""
    n, double, number = stage.n, stage.double, pull_number(stage)
    head = stage.outcome.code_sha
    assert head is not None, "phase 6 finds the generated commit"
    n.phase(7, PHASES, "the push starts Playwright QA on the generated code, in Chromium")
    with stage.timed("QA check run"):  # QA itself ran in phase 6's drain, right after the push
        stage.expect(double.pull(REPO, number).head_sha == head,
                     f"the branch moved on from the generated commit {head[:7]} during QA")
        run = stage.check_run(head, "specloop/qa")
        stage.expect(run.status == "completed", f"specloop/qa did not complete (status `{run.status}`)")
        n.ok(f"the push ({head[:7]}) started QA by itself: the app from the branch (`qa.start`) in the "
             "sandbox, the approved scenarios in Chromium beside it")
        if stage.broken:
            _expect_caught_regression(stage, run, number)
        elif run.conclusion != "success":
            stage.show_check(run, summary_lines=20)
            n.quote(markdown_lines(run.output.get("text")), limit=30)
            raise DemoFailure(f"specloop/qa concluded `{run.conclusion}` on the generated code: "
                              f"{run.output.get('title')}")
        else:
            stage.show_check(run, summary_lines=20)
        stage.outcome.qa_conclusion = run.conclusion
        n.field("link", stage.url(f"runs/{run.id}"))
        await _fetch_screenshot(stage, run)


def _expect_caught_regression(stage: Stage, run: Any, number: int) -> None:
    """With `--broken-app`: QA fails exactly the duplicate-address scenario, and the PR says so."""
    n = stage.n
    stage.expect(run.conclusion == "failure",
                 f"QA concluded `{run.conclusion}` on the broken generated code: it missed the regression")
    n.ok("QA caught the regression in the generated code:")
    stage.show_check(run, summary_lines=20)
    n.quote(markdown_lines(run.output.get("text")), limit=16)
    stage.expect(run.annotations, "the failing specloop/qa run has no annotations on the .feature file")
    for note in run.annotations:
        n.field("annotation", f"{note['path']}:{note['start_line']} · {note['title']}")
    failed = {str(note["title"]) for note in run.annotations}
    stage.expect(len(failed) == 1 and "Grace subscribes twice" in next(iter(failed)),
                 f"expected only the duplicate-address scenario to fail, the annotations name {sorted(failed)}")
    # the code job pushed a partial implementation: the PR goes back to draft, and the bot says why
    stage.expect(stage.double.pull(REPO, number).draft, "the PR with failing generated code is not a draft")
    said = [c for c in stage.double.comments(REPO, number) if c.user.login.lower() == stage.bot.lower()]
    stage.expect(said, "the bot did not say on the PR that its code fails a scenario")
    n.ok("the PR is a draft again, and the bot said why on it:")
    n.quote(markdown_lines(said[-1].body), limit=8)


async def _fetch_screenshot(stage: Stage, run: Any) -> None:
    """The check run's screenshots are listed, and the first one is served by Specloop as a PNG."""
    n = stage.n
    stage.expect(run.images, "the specloop/qa check run shows no screenshots")
    n.ok(f"{len(run.images)} screenshots on the check run, served by Specloop at signed URLs:")
    for image in run.images:
        n.field("image", f"{image.get('caption', '')}")
        n.field("", str(image.get("image_url")))
    url = str(run.images[0]["image_url"])
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(url)
    stage.expect(response.status_code == 200 and response.content.startswith(PNG_MAGIC),
                 f"the screenshot URL answered {response.status_code} "
                 f"{response.headers.get('content-type')}, not a PNG")
    shot = stage.out_dir / "screenshot.png"
    shot.write_bytes(response.content)
    stage.outcome.screenshot = shot
    n.ok(f"fetched the first one: HTTP 200, {response.headers.get('content-type')}, "
         f"{len(response.content):,} bytes → {shot}")


def checkout(stage: Stage, sha: str, into: Path) -> Path:
    """The files of `sha` written under `into` (what `git clone` + `git checkout` of the branch gives)."""
    git = stage.double.repo(REPO).git
    shutil.rmtree(into, ignore_errors=True)
    for entry in git.ls_tree(sha, recursive=True):
        if entry.type == "blob":
            path = into / entry.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(git.read_blob(entry.sha))
    return into


async def reports(stage: Stage) -> None:
    """After phase 7: `specloop qa` from a checkout of the branch, against its app: JUnit XML, NDJSON, HTML."""
    outcome = stage.outcome
    assert outcome.feature_path is not None and outcome.code_sha is not None
    with stage.timed("reports"):
        folder = checkout(stage, outcome.code_sha, stage.workdir / "checkout")
        app = await asyncio.to_thread(BranchApp(folder).start)  # as a CI job starts the app it tests
        try:
            report_dir = stage.out_dir / "qa-report"
            shutil.rmtree(report_dir, ignore_errors=True)
            python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
            process = await asyncio.create_subprocess_exec(
                # -P: the checkout's own `app.py` must not stand in for Specloop's `app` package
                sys.executable, "-P", "-m", "app.cli", "qa", "--base-url", app.url, "--out", str(report_dir),
                "--timeout", str(STEP_TIMEOUT_S), outcome.feature_path,
                cwd=folder, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": python_path},
            )
            output, _ = await process.communicate()
        finally:
            await asyncio.to_thread(app.stop)
        expected = 1 if stage.broken else 0  # `specloop qa` exits 1 when a scenario fails
        if process.returncode != expected:
            stage.n.quote(output.decode(errors="replace").splitlines(), limit=30)
            raise DemoFailure(f"`specloop qa` on the approved feature exited {process.returncode}, "
                              f"expected {expected}")
        found = {p.name: p for p in sorted(report_dir.glob("*")) if p.is_file()}
        outcome.reports = found
        stage.n.ok(f"the same scenarios from a terminal, for CI, in a checkout of {outcome.code_sha[:7]} with its "
                   f"app.py started on {app.url}: `specloop qa --base-url {app.url} {outcome.feature_path}`")
        for path in found.values():
            stage.n.field("report", f"{path}  ({path.stat().st_size:,} bytes)")
