"""`run_qa`: run the approved scenarios in Chromium against the app and report the `specloop/qa` check run.

Finds the story PR (by number, or by the deployed SHA), requires an approved fingerprint, checks out
the commit, refuses a spec changed after approval (spec lock), finds the app's URL (deployment,
`qa.base_url`, or `qa.start` where the operator allows repository code), runs the QA runner (in this
process when no repository code runs; with `qa.start` or project step files, the app and the whole QA
child run together in the repository-code sandbox: `app/qa/sandboxed.py`, docs/sandbox.md; an app
outside the sandbox is reached through the worker's egress relay, `app/qa/network.py`), uploads
screenshots, traces and the standard reports (JUnit XML, Cucumber Messages NDJSON, HTML) to the artifact
store, and posts the check run (linking the reports and each failed scenario's trace) and the story's
status chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from githubkit import GitHub

from app.artifacts import TRACE_LINK_SECONDS, ArtifactStore, safe_segment
from app.context import JobScope
from app.domain.fingerprint import Fingerprint, build_manifest
from app.domain.origins import Confinement
from app.domain.qa_reports import write_reports
from app.domain.qa_results import Progress, RunResult, ScenarioResult
from app.gh import issues, pulls
from app.gh.models import CheckRun, Pull, RepoRef
from app.git import GitError, clone, run_git
from app.isolation import SandboxError
from app.job_args import RunQa
from app.job_checks import open_check, write_check
from app.qa.browser import BrowserNotFound, require_chromium
from app.qa.network import resolve
from app.qa.options import RunOptions
from app.qa.repo_app import QaError, RepoApp, app_url, freeze_spec, steps_dir_of
from app.qa.runner import run
from app.qa.sandboxed import run_in_sandbox
from app.render.qa_check import (
    QaCheck,
    render_qa_error,
    render_qa_progress,
    render_qa_result,
    render_spec_changed,
)
from app.render.spec_pr import not_specloop_pull_reply
from app.repo_config import QaConfig
from app.spec_gate import SpecPr, approved_fingerprint, opened_by_bot, story_issue
from app.story_status import advance_status

log = logging.getLogger(__name__)

GH = GitHub[Any]
PROGRESS_INTERVAL = 10.0  # GitHub throttles rapid check-run writes; progress updates at most this often


async def find_story_pull(gh: GH, repo: RepoRef, number: int | None, sha: str | None, *,
                          bot_login: str) -> Pull | None:
    """The story's spec PR: by number, else the bot's open PR whose head is `sha` (deployments carry no number)."""
    if number:
        return await pulls.get_pull(gh, repo, number)
    if not sha:
        return None
    for found in await pulls.open_pulls_for_commit(gh, repo, sha):
        pull = await pulls.get_pull(gh, repo, found.number)
        if opened_by_bot(pull, bot_login):  # a deployment of someone else's PR (or a fork) is not ours to test
            return pull
    return None


def format_base_url(template: str, *, branch: str, pr: int) -> str:
    """`qa.base_url` with `{branch}` (slugged as preview hosts do) and `{pr}` filled in."""
    slug = safe_segment(branch).lower().replace(".", "-").replace("_", "-")
    return template.replace("{branch}", slug).replace("{pr}", str(pr))


def read_checkout(root: Path, features_dir: str) -> dict[str, bytes]:
    """Every file under the features folder of a checkout: repo-relative path -> bytes."""
    folder = root / features_dir
    files: dict[str, bytes] = {}
    if folder.is_dir():
        for path in folder.rglob("*"):
            if path.is_file():
                files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def upload_evidence(store: ArtifactStore | None, result: RunResult, *, repo: str, sha: str,
                    run_key: str) -> tuple[dict[str, str], dict[str, str]]:
    """Store screenshots and traces; return (screenshot path -> permanent URL, scenario id -> trace URL)."""
    images: dict[str, str] = {}
    traces: dict[str, str] = {}
    if store is None:
        return images, traces
    prefix = f"qa/{safe_segment(repo)}/{sha[:12]}/{run_key}"
    for scenario in result.scenarios:
        folder = f"{prefix}/{safe_segment(scenario.id)}-{safe_segment(scenario.name)[:40]}"
        for path in scenario.screenshots:
            if Path(path).is_file():
                key = store.put_file(f"{folder}/{Path(path).name}", path)
                images[path] = store.signed_url(key)
        if scenario.trace and Path(scenario.trace).is_file():
            key = store.put_file(f"{folder}/trace.zip", scenario.trace)
            traces[scenario.id] = store.trace_url(key)
    return images, traces


REPORT_NAMES = {"html": "report.html", "junit": "junit.xml", "ndjson": "cucumber-messages.ndjson"}


def upload_reports(store: ArtifactStore | None, result: RunResult, out_dir: Path, *, repo: str, sha: str,
                   run_key: str) -> dict[str, str]:
    """Write the JUnit XML, Cucumber Messages NDJSON and HTML reports and store them; return kind -> URL.

    Reports carry page contents (the HTML embeds every screenshot), so their links expire like traces.
    """
    if store is None:
        return {}
    paths = write_reports(result, out_dir)
    prefix = f"qa/{safe_segment(repo)}/{sha[:12]}/{run_key}/reports"
    urls: dict[str, str] = {}
    for kind, path in paths.items():
        key = store.put_file(f"{prefix}/{REPORT_NAMES.get(kind, path.name)}", path)
        urls[kind] = store.signed_url(key, expires_in=TRACE_LINK_SECONDS)
    return urls


async def _run_with_progress(gh: GH, repo: RepoRef, run_id: int, sha: str, base_url: str,
                             running: Callable[[Progress], Awaitable[RunResult]]) -> RunResult:
    """Run the scenarios (`running(progress)`); post progress to the check run at most every 10 s."""
    finished: list[ScenarioResult] = []
    total = [0]

    def progress(scenario: ScenarioResult, done: int, count: int) -> None:
        finished.append(scenario)
        total[0] = count

    task = asyncio.ensure_future(running(progress))
    posted = 0
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=PROGRESS_INTERVAL)
            if not task.done() and len(finished) != posted:
                posted = len(finished)
                counts: dict[str, int] = {}
                for scenario in finished[:]:  # a snapshot: the runner thread appends
                    counts[scenario.status] = counts.get(scenario.status, 0) + 1
                await write_check(gh, repo, run_id, render_qa_progress(posted, total[0], counts,
                                                                        base_url=base_url, sha=sha))
    finally:
        if not task.done():  # cancelled (the job's timeout): the sandboxed run closes its sandbox
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
    return task.result()


@dataclass
class QaRun:
    """One QA run of an approved spec PR: where it reports and what it found out on the way."""

    scope: JobScope
    pull: Pull
    sha: str
    approved: Fingerprint
    qa: QaConfig
    features_dir: str
    check: CheckRun
    workdir: Path

    @property
    def branch(self) -> str:
        """The spec PR's branch."""
        return self.pull.head.ref

    async def report(self, check: QaCheck, *, conclusion: str | None = None) -> None:
        """Update the check run, and the story's chain when the run concluded."""
        await write_check(self.scope.gh, self.scope.repo, self.check.id, check)
        if conclusion is not None:
            await advance_status(self.scope.gh, self.scope.repo, story_issue(self.pull),
                                 bot_login=self.scope.bot_login, qa_conclusion=conclusion,
                                 qa_url=self.check.html_url)

    async def checkout(self) -> Path:
        """The approved commit, cloned with a token that can only read this repository's contents."""
        d, repo = self.scope.deps, self.scope.repo
        checkout = self.workspace / "repo"
        self.workspace.mkdir(parents=True, exist_ok=True)
        token = await d.github.installation_token(self.scope.installation_id, repo)
        try:
            await clone(f"{d.settings.github_url}/{repo}.git", checkout, token, branch=self.branch or None)
            await run_git("checkout", "--quiet", "--detach", self.sha, cwd=checkout)
        except GitError as error:
            raise QaError(f"Could not check out {self.sha[:12]}.", str(error)) from None
        return checkout

    async def refuse_private(self, url: str, what: str) -> None:
        """Raise QaError when `url`'s host is, or resolves to, a private, loopback or link-local address
        and the operator has not allowed those (QA_ALLOW_PRIVATE_HOSTS)."""
        from app.domain import origins

        if self.scope.deps.settings.qa_allow_private_hosts:
            return
        host = origins.host_of(url) or ""
        # a name counts by what it resolves to (the run's browser then reaches it only through a fence
        # that resolves it again and refuses a private answer: see RunOptions.private_app)
        private = [a for a in await resolve(host) if origins.is_private_address(a)]
        if origins.is_private_host(host) or private:
            resolved = f", which resolves to {private[0]}" if private and origins.ip_literal(host) is None else ""
            raise QaError(f"{what} `{url}` is a private, loopback or link-local address (`{host}`{resolved}), "
                          "which QA does not visit unless the operator sets QA_ALLOW_PRIVATE_HOSTS=true.")

    @property
    def repo_app(self) -> RepoApp:
        """The checkout's own code (install commands, `qa.start`), run only in the sandbox."""
        return RepoApp(self.workspace, self.workspace / "repo", self.qa, self.scope.deps.settings)

    async def install(self, chromium: str) -> None:
        """Run `qa.install` in the checkout, in a sandbox of its own over the same workspace (with the
        network only when the repository asks and the operator allows); QaError naming a failed command."""
        if not self.qa.install:
            return
        if self.qa.install_network and not self.scope.deps.settings.allow_install_network:
            raise QaError("`qa.install_network` asks for the network for `qa.install`, which this Specloop "
                          "installation does not give repository code (the operator's ALLOW_INSTALL_NETWORK). "
                          "Vendor the dependencies, or ask the operator.")
        await self.repo_app.install(chromium, self.qa.install, network=self.qa.install_network,
                                    timeout=float(self.qa.install_timeout), what="`qa.install`")

    async def app_url(self, base_url: str | None) -> tuple[str, str | None]:
        """Where the app under test answers: (the deployment's URL, or `qa.base_url`, None), or, for an app
        `qa.start` runs in the sandbox, (`qa.base_url` or None, "start")."""
        # Only an http(s) app is one QA may open: anything else could show the worker's own files or
        # network in the screenshots (security finding 1).
        from app.domain import origins

        if base_url is not None:
            problem = origins.web_url_problem(base_url)
            if problem is not None:
                raise QaError(f"The deployment's URL must be an http or https URL with a host; `{base_url}` is not "
                              f"({problem}).")
            await self.refuse_private(base_url, "The deployment's URL")
            return base_url, None
        configured = format_base_url(self.qa.base_url, branch=self.branch, pr=self.pull.number) \
            if self.qa.base_url else None
        if configured is not None and (problem := origins.web_url_problem(configured)) is not None:
            raise QaError(f"`qa.base_url` must be an http or https URL with a host; `{configured}` is not "
                          f"({problem}). Fix it in `.github/specloop.yml`.")
        if configured is not None and not self.qa.start:
            # a writer of the config could point it at the worker's own network (cloud metadata, Redis's host)
            await self.refuse_private(configured, "`qa.base_url`")
            return configured, None
        if self.qa.start:
            if not self.scope.deps.settings.allow_repo_code:
                raise QaError("`qa.start` is set, but this Specloop installation does not run repository code "
                              "(the operator's ALLOW_REPO_CODE). Set `qa.base_url` to a deployed preview, or "
                              "let a `deployment_status` event trigger QA.")
            return configured or "", "start"
        raise QaError("No application to test: set `qa.base_url` (may contain `{branch}` and `{pr}`) in "
                      "`.github/specloop.yml`, or deploy the branch so a `deployment_status` event "
                      "triggers QA.")

    @property
    def workspace(self) -> Path:
        """What the sandbox sees (read-write): the checkout, the evidence, the QA child's request and result.
        The reports the worker writes go beside it, never in it."""
        return self.workdir / "work"

    async def execute(self, base_url: str | None) -> dict[str, Any]:
        """Check out, refuse a changed spec, find the app, run the scenarios and report them."""
        settings, artifacts, repo = self.scope.deps.settings, self.scope.deps.artifacts, self.scope.repo.full_name
        checkout = await self.checkout()
        spec_files = read_checkout(checkout, self.features_dir)
        changed = self.approved.changed(build_manifest(spec_files, self.features_dir))
        if changed:
            await self.report(render_spec_changed(changed, sha=self.sha), conclusion="failure")
            return {"status": "spec changed", "changed": changed}
        try:
            # Before starting the app: a missing or misconfigured browser is the operator's to fix, and
            # saying so beats a traceback from deep inside Playwright.
            chromium = require_chromium(settings.chromium_path)
        except BrowserNotFound as error:
            raise QaError(f"QA could not start a browser: {error}") from None
        # Exactly the approved files run (a feature added later is not part of the contract).
        features = [checkout / p for p in sorted(self.approved.manifest) if p.endswith(".feature")]
        steps_dir = checkout / self.features_dir / "steps"
        repo_steps = settings.allow_repo_code and steps_dir.is_dir() and any(steps_dir.glob("*.py"))
        # Repository code (`qa.install`, `qa.start`, step files) may rewrite the checkout: where any runs, the
        # scenarios and steps come from a copy of the approved files it cannot write (`freeze_spec`).
        spec_root = freeze_spec({p: spec_files[p] for p in self.approved.manifest}, self.workdir / "spec")
        url, start = await self.app_url(base_url)
        options = RunOptions(
            contexts=self.qa.contexts, screenshots=self.qa.screenshots, timeout_ms=float(self.qa.timeout_ms),
            steps_dir=str(steps_dir), allow_repo_steps=bool(repo_steps),
            out_dir=str(self.workspace / "evidence"), chromium_path=chromium,
            allowed_origins=tuple(self.qa.allowed_origins), allow_private_hosts=settings.qa_allow_private_hosts,
            private_app=start is not None,  # an app QA started is on loopback; any other must stay public
            tags=self.qa.tags, retry=self.qa.retry,  # `qa.tags` selects what runs; a run it empties fails
        )
        gh, repo_ref, run_id = self.scope.gh, self.scope.repo, self.check.id
        if start is None and not repo_steps:  # no repository code: the browser runs here, behind its fence
            result = await _run_with_progress(gh, repo_ref, run_id, self.sha, url, lambda progress: asyncio.to_thread(
                run, features, url, options, root=checkout, progress=progress))
        else:
            # Repository code runs only in the sandbox. An app outside it (project step files with
            # `qa.base_url` or a deployment) is reached through the worker's egress relay, which allows what
            # the fence allows and nothing else; the sandbox itself still has no network (docs/sandbox.md).
            # An app `qa.start` runs is on the sandbox's loopback: the relay is there only for the listed
            # origins (and opens nothing else), and only when there are some.
            egress = None if start is not None else Confinement.around(
                url, options.allowed_origins, allow_private=options.allow_private_hosts,
                private_app=options.private_app)
            await self.install(chromium)  # before the QA sandbox, which never has the network
            features = [spec_root / p for p in sorted(self.approved.manifest) if p.endswith(".feature")]
            options = replace(options, steps_dir=str(steps_dir_of(spec_root, self.features_dir)),
                              code_root=str(checkout))
            try:
                box = self.repo_app.sandbox(chromium, spec_root=spec_root)
            except QaError as error:
                raise QaError(f"{error} Until then, set `qa.base_url` to a deployed preview (without project "
                              "step files).") from None
            try:
                ready: Callable[[], Awaitable[str]] | None = None
                if start is not None:
                    # The QA child starts beside the app and gets its request once the app answers
                    # (`start_app`, whose QaError says why not; closing the box then ends the child).
                    configured = url or None
                    url = app_url(configured)
                    if options.allowed_origins:
                        egress = Confinement.around(url, options.allowed_origins,
                                                    allow_private=options.allow_private_hosts, private_app=True)
                    ready = functools.partial(self.repo_app.start_app, box, configured)
                result = await _run_with_progress(gh, repo_ref, run_id, self.sha, url, lambda progress: run_in_sandbox(
                    box, features, url, options, root=spec_root, progress=progress, egress=egress, ready=ready))
            except SandboxError as error:  # bubblewrap could not start a command at all
                raise QaError(f"The repository-code sandbox could not run QA: {error}") from None
            finally:
                await box.close()  # the app, and everything it or the steps left running
        run_key = safe_segment(f"{int(time.time())}-{self.check.id}")
        images, traces = await asyncio.to_thread(upload_evidence, artifacts, result, repo=repo, sha=self.sha,
                                                 run_key=run_key)
        reports = await asyncio.to_thread(upload_reports, artifacts, result, self.workdir / "reports", repo=repo,
                                          sha=self.sha, run_key=run_key)
        note = "" if artifacts is not None else ("_No artifact store is configured, so no screenshots, traces "
                                                 "or reports are kept._")
        check = render_qa_result(result, sha=self.sha, image_urls=images, trace_urls=traces, report_urls=reports,
                                 report_note=note)
        await self.report(check, conclusion=check.conclusion)
        return {"status": "completed", "conclusion": check.conclusion, "counts": result.counts()}


async def run_qa(scope: JobScope, args: RunQa) -> dict[str, Any]:
    """Run the approved scenarios of the story PR at `sha` and report them on the `specloop/qa` check run."""
    gh, repo = scope.gh, scope.repo
    pull = await find_story_pull(gh, repo, args.number, args.sha, bot_login=scope.bot_login)
    if pull is None:
        return {"status": "no story pull request"}
    spec = SpecPr.of(scope)
    if not spec.owns(pull):
        if args.base_url is None:  # `/specloop qa` or a re-run: a person waits for an answer
            await issues.create_comment(gh, repo, pull.number, not_specloop_pull_reply(args.actor, "`/specloop qa`"))
        return {"status": "not a specloop pull request"}
    sha = args.sha or pull.head.sha
    config = await scope.config()
    if args.base_url is not None and not config.qa.accepts_environment(args.environment):
        return {"status": f"environment {args.environment!r} is not in qa.environments"}
    approved = await approved_fingerprint(spec, pull, config)
    if approved is None:
        if args.base_url is not None:
            return {"status": "not approved"}  # a deployment of an unapproved spec PR is not our business
        await open_check(scope, sha, render_qa_error(
            "QA runs only an approved specification, and this pull request has no approval yet. "
            "Approve it (a review on its current head) and QA will run.", sha=sha, conclusion="neutral"))
        return {"status": "not approved"}

    created = await open_check(scope, sha, render_qa_progress(0, 0, {}, base_url=args.base_url or "(starting)",
                                                                sha=sha))
    run = QaRun(scope, pull, sha, approved, config.qa, config.features_dir, created,
                Path(tempfile.mkdtemp(prefix="specloop-qa-")))
    try:
        return await run.execute(args.base_url)
    except QaError as error:
        await run.report(render_qa_error(str(error), sha=sha, detail=error.detail), conclusion="failure")
        return {"status": "error", "reason": str(error)}
    except Exception as error:
        # Never leave the check spinning: conclude it, then let the worker report and retry policy act.
        await run.report(render_qa_error(
            f"QA failed unexpectedly ({type(error).__name__}: {error}). Use the Re-run QA button to try again.",
            sha=sha))
        raise
    finally:
        shutil.rmtree(run.workdir, ignore_errors=True)
