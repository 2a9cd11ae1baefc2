"""Phases 6 and 7: bob's approval opens the gate; QA proves the approved scenarios in Chromium, on the
PR and again from a terminal (the standard reports a CI job would keep).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import httpx

from app.demo.narrator import markdown_lines
from app.demo.stage import DemoFailure, Stage
from app.demo.story import PHASES, REPO, STEP_TIMEOUT_S
from app.domain.fingerprint import Fingerprint
from app.domain.markers import find_marker

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[2]  # the checkout `specloop qa` is run from (on PYTHONPATH)


async def approve(stage: Stage) -> None:
    """Phase 6: bob (write) approves the PR's head: the gate opens, the fingerprint is recorded, code is asked for."""
    n, double, number = stage.n, stage.double, _pull(stage)
    n.phase(6, PHASES, "bob approves the spec PR → the gate opens")
    with stage.timed("approval"):
        head = double.pull(REPO, number).head_sha
        await stage.act(double.submit_review, REPO, number, "APPROVED", by="bob", commit_id=head,
                        body="Reads right. Approved.")
        n.ok(f"bob (write access) approved commit {head[:7]}")
        await stage.drain()
        body = double.issue(REPO, number).body or ""
        fingerprint = Fingerprint.from_data(find_marker(body, "fingerprint"))
        stage.expect(fingerprint is not None, "the gate did not open: no approval fingerprint in the PR body")
        assert fingerprint is not None
        stage.expect(fingerprint.sha == head and fingerprint.approver == "bob",
                     f"the fingerprint records {fingerprint.approver} on {fingerprint.sha[:7]}, "
                     f"expected bob on {head[:7]}")
        n.ok(f"recorded the fingerprint in the PR body: approved by @{fingerprint.approver} on "
             f"{fingerprint.sha[:7]}, digest {fingerprint.digest[:12]}")
        for path, digest in sorted(fingerprint.manifest.items()):
            n.field("locked", f"{path}  sha256 {digest[:16]}…")
        spec = stage.check_run(head, "specloop/spec")
        stage.expect(spec.conclusion == "success",
                     f"expected specloop/spec to succeed after approval, it is `{spec.conclusion}`")
        n.ok(f"specloop/spec is now {spec.conclusion}: {spec.output.get('title')}")
        code = stage.check_run(head, "specloop/code")
        stage.expect(code.conclusion == "neutral", f"expected a neutral specloop/code run, it is `{code.conclusion}`")
        n.ok("asked for code generation once for this commit; without a model key it is not available:")
        stage.show_check(code, summary_lines=4)
        n.say("This version of Specloop generates no code yet. The demo app already implements the story, "
              "so QA can prove the approved scenarios against it.")


async def run_qa(stage: Stage) -> None:
    """Phase 7: alice comments `/specloop qa`: the approved scenarios run in Chromium; check run with screenshots."""
    n, double, number = stage.n, stage.double, _pull(stage)
    n.phase(7, PHASES, "alice comments `/specloop qa` → Playwright QA in Chromium")
    with stage.timed("QA"):
        head = double.pull(REPO, number).head_sha
        await stage.act(double.comment, REPO, number, "/specloop qa", by="alice")
        n.ok(f"alice commented “/specloop qa” on PR #{number}")
        await stage.drain()
        run = stage.check_run(head, "specloop/qa")
        stage.expect(run.status == "completed", f"specloop/qa did not complete (status `{run.status}`)")
        if stage.broken:
            _expect_caught_regression(stage, run)
        elif run.conclusion != "success":
            stage.show_check(run, summary_lines=20)
            n.quote(markdown_lines(run.output.get("text")), limit=30)
            raise DemoFailure(f"specloop/qa concluded `{run.conclusion}`: {run.output.get('title')}")
        else:
            n.ok(f"ran exactly the approved scenarios in Chromium against {stage.app.url}:")
            stage.show_check(run, summary_lines=20)
        n.field("link", stage.url(f"runs/{run.id}"))
        await _fetch_screenshot(stage, run)


def _expect_caught_regression(stage: Stage, run: Any) -> None:
    """With `--broken-app`: QA must fail exactly the duplicate-address scenario, at its Then line."""
    n = stage.n
    stage.expect(run.conclusion == "failure",
                 f"QA concluded `{run.conclusion}` against the broken app: it missed the regression")
    n.ok("QA caught the regression in the broken app:")
    stage.show_check(run, summary_lines=20)
    n.quote(markdown_lines(run.output.get("text")), limit=16)
    stage.expect(run.annotations, "the failing specloop/qa run has no annotations on the .feature file")
    for note in run.annotations:
        n.field("annotation", f"{note['path']}:{note['start_line']} · {note['title']}")
    failed = {str(note["title"]) for note in run.annotations}
    stage.expect(len(failed) == 1 and "Grace subscribes twice" in next(iter(failed)),
                 f"expected only the duplicate-address scenario to fail, the annotations name {sorted(failed)}")


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


async def reports(stage: Stage) -> None:
    """After phase 7: `specloop qa` on the approved feature file writes JUnit XML, Cucumber Messages, HTML."""
    outcome = stage.outcome
    assert outcome.feature_path is not None
    with stage.timed("reports"):
        head = stage.double.pull(REPO, _pull(stage)).head_sha
        checkout = stage.workdir / "checkout"
        feature = checkout / outcome.feature_path
        feature.parent.mkdir(parents=True, exist_ok=True)
        feature.write_text(stage.double.file(REPO, outcome.feature_path, ref=head) or "")
        stage.app.subscribers.clear()  # a fresh app, as a new deployment would be
        report_dir = stage.out_dir / "qa-report"
        shutil.rmtree(report_dir, ignore_errors=True)
        # The real command line, run where a CI job would run it: in a checkout of the branch.
        python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.cli", "qa", "--base-url", stage.app.url, "--out", str(report_dir),
            "--timeout", str(STEP_TIMEOUT_S), outcome.feature_path,
            cwd=checkout, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": python_path},
        )
        output, _ = await process.communicate()
        expected = 1 if stage.broken else 0  # `specloop qa` exits 1 when a scenario fails
        if process.returncode != expected:
            stage.n.quote(output.decode(errors="replace").splitlines(), limit=30)
            raise DemoFailure(f"`specloop qa` on the approved feature exited {process.returncode}, "
                              f"expected {expected}")
        found = {p.name: p for p in sorted(report_dir.glob("*")) if p.is_file()}
        outcome.reports = found
        stage.n.ok(f"the same scenarios from a terminal, for CI: `specloop qa --base-url {stage.app.url} "
                   f"{outcome.feature_path}`")
        for path in found.values():
            stage.n.field("report", f"{path}  ({path.stat().st_size:,} bytes)")


def _pull(stage: Stage) -> int:
    """The spec PR's number (phase 5 found it)."""
    assert stage.outcome.pull is not None, "phase 5 finds the spec PR"
    return stage.outcome.pull
