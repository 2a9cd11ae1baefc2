"""`generate_code`: an agent implements the approved spec on the story PR's branch, in the sandbox.

The approval queues it once per approved commit; `/specloop code [instructions]` and the Re-run button
run it on the branch's current head (keeping what people pushed). One run per story at a time (the story
lock). The job, never the agent:
- fetches the head into a fresh workspace whose git folder the sandbox never sees (app/agent/workspace.py),
  and refuses a spec that differs from the approved fingerprint;
- runs `code.install` (else `qa.install`), the agent's bash commands, `qa.start` for `run_qa`, and
  `code.test`, all in the repository-code sandbox; with no sandbox on the worker it runs nothing;
- runs the agent (app/agent/loop.py) with the editor and bash tools guarded in the tool (app/agent/guard.py),
  `run_qa` and `finish`, showing live progress on the `specloop/code` check run (writes throttled);
- after the agent: recomputes the fingerprint over the workspace, judges the whole change
  (app/agent/review.py), runs QA and the project's tests itself, and decides: everything passes -> push;
  some scenarios pass -> push, mark the PR draft and comment what still fails; nothing useful -> push nothing;
- commits through the Git Data API (GitHub signs it: verified) only when the branch is still where the run
  started, with a `Specloop-Run: <job id>` trailer by which a retry recognises its own push.
The workspace is removed after the job, also on failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from githubkit.exception import RequestFailed

from app.agent.editor import Editor
from app.agent.guard import WorkspaceGuard
from app.agent.loop import AgentLimits, AgentOutcome, AgentSetup, TurnReport, run_agent
from app.agent.prompt import INSTRUCTION_FILES, AgentBrief, first_message, system_prompt
from app.agent.qa_tool import FINISH_TOOL, RunQaTool
from app.agent.review import Verdict, review_change
from app.agent.shell import Shell
from app.agent.workspace import Changes, Workspace
from app.comments import upsert_comment
from app.context import JobScope
from app.domain.fingerprint import Fingerprint, build_manifest, sha256_hex
from app.domain.qa_results import RunResult
from app.domain.step_vocabulary import vocabulary_markdown
from app.gh import checks, git_data, issues, pulls
from app.gh.models import CheckRun, Pull
from app.git import GitError
from app.isolation import Limits, Policy, Sandbox, SandboxError, open_sandbox, sandbox_available
from app.job_args import GenerateCode
from app.job_checks import open_check, write_check
from app.model import catalog
from app.model.usage import Budget, UnknownModel
from app.qa.browser import BrowserNotFound, require_chromium
from app.qa.options import RunOptions
from app.qa.repo_app import QaError, RepoApp, freeze_spec, sandbox_refusal, steps_dir_of
from app.render.code_check import (
    CODE_CHECK_NAME,
    CODE_COMMENT_KIND,
    ChangedFile,
    CodeProgress,
    CodeReport,
    code_needs_approval,
    commit_message,
    render_code_comment,
    render_code_progress,
    render_code_result,
)
from app.render.qa_check import QaCheck
from app.render.spec_pr import not_specloop_pull_reply
from app.repo_config import RepoConfig
from app.spec_gate import SpecPr, approved_fingerprint, run_check, story_issue
from app.story_status import advance_status, find_map

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 10.0  # seconds between progress writes to the check run (GitHub throttles rapid writes)
COMMAND_TIMEOUT = 300.0  # one bash command of the agent
TRAILER = "Specloop-Run: "
# One agent command (with all it starts): enough for a build and a test suite, not for the machine.
AGENT_LIMITS = Limits(cpu_seconds=600, memory_bytes=2 << 30, processes=512, open_files=4096,
                      file_size_bytes=256 << 20, output_bytes=4 << 20, tmp_bytes=1 << 30)


class Unreadable(Exception):
    """The working copy's change cannot be read (git refuses it): nothing is pushed, and the check says why."""


@dataclass(frozen=True)
class Snapshot:
    """The change at one moment: what git would stage, the content of each changed path, the spec manifest."""

    changes: Changes
    contents: dict[str, bytes | None]
    spec: dict[str, str]

    def _key(self) -> dict[str, tuple[str, str, str | None]]:
        return {c.path: (c.status, c.mode, sha256_hex(self.contents[c.path] or b"") if self.contents[c.path]
                         is not None else None) for c in self.changes.files}

    def same_as(self, other: Snapshot) -> bool:
        return self._key() == other._key() and self.spec == other.spec

    def differences(self, other: Snapshot) -> list[str]:
        mine, theirs = self._key(), other._key()
        paths = {p for p in set(mine) | set(theirs) if mine.get(p) != theirs.get(p)}
        paths |= {p for p in set(self.spec) | set(other.spec) if self.spec.get(p) != other.spec.get(p)}
        return sorted(paths)


class CodeRefused(Exception):
    """Code generation cannot run here or now; the message says what to change (shown on the check run)."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


@dataclass
class CodeRun:
    """One code-generation run on one story PR."""

    scope: JobScope
    pull: Pull
    approved: Fingerprint
    config: RepoConfig
    start: str  # the branch head the run started from
    check: CheckRun
    workdir: Path
    instructions: str | None = None
    spec_root: Path = field(init=False)  # the approved spec, frozen outside the workspace (`fetch`)
    progress: CodeProgress = field(init=False)
    _posted: float = 0.0
    _last_qa: RunResult | None = None

    def __post_init__(self) -> None:
        self.progress = CodeProgress(sha=self.start, max_turns=self.config.code.max_turns)

    # -- reporting --------------------------------------------------------------------------------

    async def _write(self, check: QaCheck) -> None:
        await write_check(self.scope.gh, self.scope.repo, self.check.id, check)

    async def show(self, phase: str | None = None, *, force: bool = False) -> None:
        """Post progress, at most every PROGRESS_INTERVAL seconds unless `force`."""
        if phase is not None:
            self.progress.phase = phase
        now = time.monotonic()
        if not force and now - self._posted < PROGRESS_INTERVAL:
            return
        self._posted = now
        try:
            await self._write(render_code_progress(self.progress))
        except RequestFailed as error:  # progress is a view: a refused write never stops the run
            log.info("progress write refused", extra={"status": error.response.status_code})

    # -- the run ----------------------------------------------------------------------------------

    def _model(self) -> tuple[Any, str]:
        model = self.scope.deps.model
        if model is None:
            raise CodeRefused("Code generation needs a model: the operator sets ANTHROPIC_API_KEY for this Specloop "
                              "installation.")
        name = self.config.code.model or self.config.model.name or model.model
        try:
            catalog.lookup(name)
        except UnknownModel as exc:
            raise CodeRefused(f"`code.model`: the model {exc}.") from None
        return model, name

    def _preflight(self) -> str:
        """What must hold before anything runs; the browser's path."""
        settings = self.scope.deps.settings
        if not settings.allow_repo_code:
            raise CodeRefused("Code generation runs repository code (the agent's commands, `qa.start`), which this "
                              "Specloop installation does not allow (the operator's ALLOW_REPO_CODE).")
        problem = sandbox_available()
        if problem is not None:
            raise CodeRefused(sandbox_refusal(problem))
        if not self.config.qa.start:
            raise CodeRefused("Code generation proves its work with the approved scenarios against the app started "
                              "from the branch: set `qa.start` (and `qa.ready_path`) in `.github/specloop.yml`.")
        install = self.config.code.install or self.config.qa.install
        network = self.config.code.network if self.config.code.install else self.config.qa.install_network
        if install and network and not settings.allow_install_network:
            raise CodeRefused("`code.network` asks for the network for the install commands, which this Specloop "
                              "installation does not give repository code (the operator's ALLOW_INSTALL_NETWORK).")
        try:
            return require_chromium(settings.chromium_path)
        except BrowserNotFound as error:
            raise CodeRefused(f"QA could not start a browser on this worker: {error}") from None

    async def fetch(self) -> Workspace:
        """The branch head in a fresh workspace; the spec there must be the approved one."""
        d, repo = self.scope.deps, self.scope.repo
        token = await d.github.installation_token(self.scope.installation_id, repo)
        try:
            ws = await Workspace.fetch(self.workdir, f"{d.settings.github_url}/{repo}.git", token,
                                       branch=self.pull.head.ref, sha=self.start)
        except GitError as error:
            raise CodeRefused(f"Could not fetch {self.start[:12]} of `{self.pull.head.ref}`.", str(error)) from None
        files = ws.spec_files(self.config.features_dir)
        changed = self.approved.changed(build_manifest(files, self.config.features_dir))
        if changed:
            raise CodeRefused("The specification on the branch is not the approved one ("
                              + ", ".join(f"`{p}`" for p in changed) + " changed); approve it again first.")
        # what QA runs from: the approved files as fetched, where no repository code can write them
        self.spec_root = freeze_spec({p: files[p] for p in self.approved.manifest}, self.workdir / "spec")
        return ws

    def repo_app(self, ws: Workspace) -> RepoApp:
        return RepoApp(ws.work, ws.tree, self.config.qa, self.scope.deps.settings)

    def qa_options(self, ws: Workspace, chromium: str, name: str) -> RunOptions:
        """How the agent's `run_qa` and the final QA run: every approved scenario, once.

        `qa.tags` does not apply here: the approved spec is the contract the code must meet, all of it, and a
        filter (say `not @slow`) would let the agent hand over code whose other scenarios never ran. Nor does
        `qa.retry`: a scenario that fails only sometimes against code the agent just wrote is a defect for it
        to see and fix (a race, a missing wait), not noise to retry away. Both still apply to the `specloop/qa`
        check (`jobs/run_qa.py`).
        """
        settings, qa = self.scope.deps.settings, self.config.qa
        steps_dir = steps_dir_of(self.spec_root, self.config.features_dir)
        return RunOptions(
            contexts=qa.contexts, screenshots="failures", timeout_ms=float(qa.timeout_ms), steps_dir=str(steps_dir),
            allow_repo_steps=steps_dir.is_dir() and any(steps_dir.glob("*.py")),
            out_dir=str(ws.work / name), chromium_path=chromium, allowed_origins=tuple(qa.allowed_origins),
            allow_private_hosts=settings.qa_allow_private_hosts, private_app=True, trace=False,
            code_root=str(ws.tree),
        )

    async def run_qa(self, ws: Workspace, chromium: str, name: str = "evidence") -> RunResult:
        """The approved scenarios against the app started from the workspace (in a fresh sandbox)."""
        shutil.rmtree(ws.work / name, ignore_errors=True)
        return await self.repo_app(ws).run_started_app(self.spec_root, self.qa_options(ws, chromium, name), chromium)

    def policy(self) -> Policy:
        """The agent's sandbox: the system's tools read-only, no network, no secrets."""
        return Policy(network=False, limits=AGENT_LIMITS)

    async def brief(self, ws: Workspace) -> AgentBrief:
        """What the agent is told: the story, the map, the approved files, the repository."""
        gh, repo = self.scope.gh, self.scope.repo
        number = story_issue(self.pull)
        title, body, example_map = self.pull.title, "", None
        if number is not None:
            issue = await issues.get_issue(gh, repo, number)
            title, body = issue.title, issue.body or ""
            found = await find_map(gh, repo, number, bot_login=self.scope.bot_login)
            example_map = found.map if found is not None else None
        layout = [p for p in (await ws.git("ls-files", "-z")).split("\0") if p]
        features = {p: (ws.read(p) or b"").decode("utf-8", "replace")
                    for p in sorted(self.approved.manifest) if p.endswith(".feature")}
        instruction_files = {}
        for path in INSTRUCTION_FILES:
            content = ws.read(path) if path in layout else None
            if content is not None:
                instruction_files[path] = content.decode("utf-8", "replace")
        kept = []
        if self.start != self.approved.sha:
            kept = [c.commit.message.splitlines()[0] for c in await pulls.list_commits(gh, repo, self.pull.number)
                    if c.commit.message][-20:]
        return AgentBrief(
            tree=str(ws.tree), issue_number=number, title=title, body=body, example_map=example_map,
            features=features, features_dir=self.config.features_dir, vocabulary=vocabulary_markdown(),
            layout=layout, instruction_files=instruction_files, start=self.config.qa.start,
            test=self.config.code.test, allow_test_deletion=self.config.code.allow_test_deletion,
            instructions=self.instructions, kept_commits=kept,
        )

    async def agent(self, ws: Workspace, chromium: str) -> AgentOutcome:
        """The agent's run, its tools confined to the workspace and the sandbox."""
        model, name = self._model()
        code = self.config.code
        guard = WorkspaceGuard(ws.tree, features_dir=self.config.features_dir, locked=self.approved.manifest,
                               protected=self.config.protected_paths)
        box = open_sandbox(ws.tree, self.policy())

        def wrote(path: str) -> None:
            if path not in self.progress.files_changed:
                self.progress.files_changed.append(path)

        def ran(command: str, exit_code: int | None, reason: str | None) -> None:
            self.progress.last_command, self.progress.last_exit = command, exit_code

        def tested(result: RunResult) -> None:
            self.progress.last_qa = self._last_qa = result

        tools = [
            Editor(guard, on_write=wrote),
            Shell(box, ws.tree, timeout=COMMAND_TIMEOUT, on_command=ran),
            RunQaTool(lambda: self.run_qa(ws, chromium, "agent-qa"), on_result=tested),
            FINISH_TOOL,
        ]
        brief = await self.brief(ws)
        budget = Budget(story_cap_usd=self.config.budget.story_usd,
                        daily_usd=self.config.budget.installation_daily_usd)
        limits = AgentLimits(max_turns=code.max_turns, max_seconds=code.max_minutes * 60, max_usd=code.max_usd,
                             budget=budget, story=f"{self.scope.repo.full_name}#{brief.issue_number or self.pull.number}",
                             installation_id=self.scope.installation_id)
        setup = AgentSetup(model=name, system=system_prompt(brief), first_message=first_message(brief),
                           tools=tools, limits=limits, max_tokens=min(code.max_tokens, await model.output_limit(name)))

        async def turn(report: TurnReport) -> None:
            p = self.progress
            p.turn, p.elapsed_s, p.usage = report.turn, report.elapsed_s, report.usage
            await self.show("agent")

        sdk = model.sdk.with_options(max_retries=model.max_retries)
        try:
            return await run_agent(sdk, setup, ledger=model.ledger, on_turn=turn)
        finally:
            await box.close()

    async def project_tests(self, ws: Workspace) -> tuple[bool, str]:
        """`code.test` in the sandbox: (passed, what to say)."""
        command = self.config.code.test
        if not command:
            return True, ""
        box: Sandbox = open_sandbox(ws.tree, self.policy())
        try:
            done = await box.run(["sh", "-c", command], cwd=str(ws.tree), timeout=float(self.config.code.test_timeout))
        finally:
            await box.close()
        if done.ok:
            return True, f"`{command}` passed"
        why = done.reason or f"exited with code {done.returncode}"
        return False, f"`{command}` failed ({why}):\n" + "\n".join((done.stdout + done.stderr).splitlines()[-40:])

    async def snapshot(self, ws: Workspace) -> Snapshot:
        """The change as it is now: each changed path with its status, mode and content (what is judged is
        exactly what is pushed), and the spec files as they are on disk."""
        try:
            changes = await ws.changes()
        except GitError as error:  # e.g. a `.GIT` folder, which git refuses to stage: said, never pushed
            raise Unreadable(f"git could not read the change ({str(error)[-300:]})") from None
        contents = {c.path: (ws.read(c.path) if c.status != "D" else None) for c in changes.files}
        return Snapshot(changes, contents, build_manifest(ws.spec_files(self.config.features_dir),
                                                          self.config.features_dir))

    async def judge(self, ws: Workspace, snap: Snapshot) -> tuple[Verdict, list[ChangedFile]]:
        """The change as a whole, however it was made: the fingerprint recomputed, every path judged."""
        changes = snap.changes
        entries = []
        for change in changes.files:
            content = snap.contents[change.path]
            before = await ws.original(change.path) if change.status in ("M", "D") else None
            entries.append((change.path, change.status, change.mode, content, before))
        verdict = review_change(entries, features_dir=self.config.features_dir, locked=self.approved.manifest,
                                protected=self.config.protected_paths,
                                allow_test_deletion=self.config.code.allow_test_deletion)
        differs = self.approved.changed(snap.spec)
        for path in differs:
            why = f"`{path}` differs from the approved specification (however it was changed)"
            if not any(f"`{path}`" in b for b in verdict.blocked):
                verdict.blocked.append(why)
        listed = [ChangedFile(c.path, c.status, c.added_lines, c.removed_lines) for c in changes.files]
        return verdict, listed

    async def push(self, snap: Snapshot, message: str) -> str | None:
        """Commit the judged change on the branch if its head is still `start`; the new SHA, or None (someone
        pushed). The bytes are the snapshot's: nothing read from the workspace after it was judged."""
        gh, repo, branch = self.scope.gh, self.scope.repo, self.pull.head.ref
        if await git_data.branch_sha(gh, repo, branch) != self.start:
            return None
        files: dict[str, tuple[bytes | None, str]] = {}
        for change in snap.changes.files:
            files[change.path] = (None, "100644") if change.status == "D" else \
                (snap.contents[change.path] or b"", change.mode)
        try:
            return await git_data.commit_changes(gh, repo, branch=branch, parent=self.start, files=files,
                                                 message=message)
        except RequestFailed as error:
            if error.response.status_code == 422:  # not a fast-forward: a push landed in between
                return None
            raise

    async def execute(self) -> CodeReport:
        """Fetch, install, run the agent, check its work, push (or say why not)."""
        self._model()
        chromium = self._preflight()
        await self.show("workspace", force=True)
        ws = await self.fetch()
        code = self.config.code
        install = code.install or self.config.qa.install
        if install:
            await self.show("install", force=True)
            network = code.network if code.install else self.config.qa.install_network
            try:
                await self.repo_app(ws).install(chromium, install, network=network,
                                                timeout=float(self.config.qa.install_timeout),
                                                what="`code.install`" if code.install else "`qa.install`")
            except QaError as error:
                raise CodeRefused(str(error), error.detail) from None
        await self.show("agent", force=True)
        outcome = await self.agent(ws, chromium)
        await self.show("checking", force=True)
        try:
            snap = await self.snapshot(ws)
        except Unreadable as error:
            return CodeReport(sha=self.start, outcome="nothing", reason=f"{error}. Nothing is pushed",
                              summary=outcome.summary, turns=outcome.turns, duration_s=outcome.duration_s,
                              usage=outcome.usage)
        changes = snap.changes
        verdict, files = await self.judge(ws, snap)
        report = CodeReport(sha=self.start, outcome="nothing", files=files, summary=outcome.summary,
                            tests_removed=verdict.tests_removed, tests_weakened=verdict.tests_weakened,
                            turns=outcome.turns, duration_s=outcome.duration_s, stop=outcome.stop,
                            usage=outcome.usage)
        stopped = "" if outcome.finished else outcome.reason
        if not verdict.ok:
            report.reason = "; ".join(verdict.blocked) + ". Nothing that touches them is pushed"
            return report
        if not changes:
            report.reason = "the agent changed no files" + (f" ({stopped})" if stopped else "")
            return report
        try:
            report.qa = await self.run_qa(ws, chromium)
        except QaError as error:
            report.reason, report.detail = f"the approved scenarios could not run against the result: {error}", error.detail
            return report
        passed, said = await self.project_tests(ws)
        report.project_tests = "passed" if passed and said else (said.splitlines()[0] if said else None)
        passing = sum(1 for s in report.qa.scenarios if s.status == "passed")  # a skipped one proves nothing
        failing = len(report.qa.scenarios) - passing
        if not passed:
            report.reason, report.detail = "the project's own tests fail with this change", said
            return report
        if passing == 0:
            report.reason = "no approved scenario passes with this change" + (f"; {stopped}" if stopped else "")
            return report
        # The final QA started the app and `code.test` ran the tests: repository code, which could have
        # rewritten the working copy after it was judged. What was judged and checked is what is pushed.
        try:
            after = await self.snapshot(ws)
            moved = [] if after.same_as(snap) else [f"`{p}`" for p in after.differences(snap)[:10]]
        except Unreadable:
            moved = ["git could no longer read it"]
        if moved:
            report.reason = ("the app or the project's tests changed files in the working copy while Specloop "
                             f"checked it ({', '.join(moved)}), so what was checked is not what would be pushed")
            return report
        await self.show("pushing", force=True)
        number = story_issue(self.pull)
        title = self.pull.title.removeprefix("Spec: ").strip() or self.pull.title
        pushed = await self.push(snap, commit_message(number, title, report.qa, self.scope.job_id))
        if pushed is None:
            report.outcome = "superseded"
            report.reason = (f"someone pushed to `{self.pull.head.ref}` while the agent worked, so nothing was pushed "
                             "over their work; comment `/specloop code` to run again on the new head")
            return report
        report.pushed_sha = pushed
        report.outcome = "pushed" if failing == 0 else "partial"
        if failing:
            report.reason = stopped or (f"{failing} approved scenarios still fail" if failing != 1
                                        else "1 approved scenario still fails")
        return report


async def _finish(scope: JobScope, run: CodeRun, report: CodeReport) -> dict[str, Any]:
    """The check run's result, the PR (draft when partial), its comment and the story's status chain."""
    gh, repo = scope.gh, scope.repo
    await run._write(render_code_result(report))
    if report.outcome == "partial" and not run.pull.draft:
        try:
            await pulls.set_draft(gh, repo, run.pull, True)
        except Exception as error:  # noqa: BLE001 - the comment says the rest; a draft flag is not worth a retry
            log.warning("could not mark the PR draft", extra={"error": str(error)[:200]})
    if report.outcome in ("pushed", "partial", "nothing", "superseded") and (report.files or report.pushed_sha
                                                                             or report.outcome == "superseded"):
        await _comment(scope, run, report)
    if report.pushed_sha:
        # GitHub sends no webhook the App acts on for its own push: check the new head here, which queues QA
        # on it (the spec is unchanged, so the approval stands)
        await run_check(SpecPr.of(scope), scope.deps.redis, run.pull.number, report.pushed_sha, run.config,
                        installation_id=scope.installation_id)
    state = {"pushed": None, "partial": None, "nothing": "nothing pushed", "refused": "could not run",
             "superseded": "branch moved", "error": "could not run"}[report.outcome]
    await advance_status(gh, repo, story_issue(run.pull), bot_login=scope.bot_login, code_state=state,
                         code_sha=report.pushed_sha, code_url=run.check.html_url)
    result: dict[str, Any] = {"status": report.outcome, "check_run": run.check.id, "sha": run.start}
    if report.pushed_sha:
        result["pushed"] = report.pushed_sha
    if report.reason:
        result["reason"] = report.reason
    return result


async def _comment(scope: JobScope, run: CodeRun, report: CodeReport) -> None:
    await upsert_comment(scope.gh, scope.repo, run.pull.number, CODE_COMMENT_KIND,
                         render_code_comment(report, check_url=run.check.html_url), bot_login=scope.bot_login)


async def _already_pushed(scope: JobScope, pull: Pull) -> bool:
    """Whether this job (a retry of it: arq keeps the id) already pushed the branch's head."""
    message = await git_data.head_commit_message(scope.gh, scope.repo, pull.head.sha)
    return f"{TRAILER}{scope.job_id}" in message


async def _resume_after_push(scope: JobScope, pull: Pull, config: RepoConfig,
                             approved: Fingerprint) -> dict[str, Any]:
    """arq's retry of a run that pushed and then died: the push stands and is never made twice. The check
    run the first try opened (found by the job id) is concluded, the new head checked (QA queued)."""
    gh, repo, pushed = scope.gh, scope.repo, pull.head.sha
    found = None
    for sha in {approved.sha, *(c.sha for c in await pulls.list_commits(gh, repo, pull.number))}:
        found = found or await checks.find_check_run(gh, repo, sha, CODE_CHECK_NAME, app_id=scope.deps.github.app_id,
                                                     external_id=scope.job_id)
    report = CodeReport(sha=found.head_sha if found is not None else approved.sha, outcome="pushed",
                        pushed_sha=pushed, reason=f"the run was interrupted after it pushed {pushed[:7]}; that "
                                                  "commit is its result (`specloop/qa` checks it)")
    if found is not None:
        await write_check(gh, repo, found.id, render_code_result(report))
    await run_check(SpecPr.of(scope), scope.deps.redis, pull.number, pushed, config,
                    installation_id=scope.installation_id)
    await advance_status(gh, repo, story_issue(pull), bot_login=scope.bot_login, code_state=None, code_sha=pushed,
                         code_url=found.html_url if found is not None else None)
    return {"status": "already pushed", "pushed": pushed}


async def generate_code(scope: JobScope, args: GenerateCode) -> dict[str, Any]:
    """Implement the approved spec on the story PR's branch and push it (or say, on the check run, why not)."""
    gh, repo = scope.gh, scope.repo
    pull = await pulls.get_pull(gh, repo, args.number)
    spec = SpecPr.of(scope)
    if not spec.owns(pull):
        if not args.sha:  # `/specloop code` from a person, who waits for an answer
            await issues.create_comment(gh, repo, args.number, not_specloop_pull_reply(args.actor, "`/specloop code`"))
        return {"status": "not a specloop pull request"}
    if not pull.is_open:
        return {"status": "pull request closed"}
    config = await scope.config()
    approved = await approved_fingerprint(spec, pull, config)
    if approved is None or (args.sha and args.sha != approved.sha):
        # the approval that asked for this commit was withdrawn or never signed: generate nothing
        if not args.sha:
            await issues.create_comment(gh, repo, args.number, code_needs_approval())
        return {"status": "not approved"}
    start = pull.head.sha
    if await _already_pushed(scope, pull):
        return await _resume_after_push(scope, pull, config, approved)
    check = await open_check(scope, start, render_code_progress(CodeProgress(sha=start, phase="workspace")))
    await advance_status(gh, repo, story_issue(pull), bot_login=scope.bot_login, code_state="generating",
                         code_sha=None, code_url=check.html_url)
    run = CodeRun(scope, pull, approved, config, start, check, Path(tempfile.mkdtemp(prefix="specloop-code-")),
                  instructions=args.instructions)
    try:
        try:
            report = await run.execute()
        except CodeRefused as error:
            report = CodeReport(sha=start, outcome="refused", reason=str(error), detail=error.detail)
        except SandboxError as error:
            report = CodeReport(sha=start, outcome="refused",
                                reason=f"the repository-code sandbox could not run a command: {error}")
        return await _finish(scope, run, report)
    except (Exception, asyncio.CancelledError) as error:
        # never leave the check spinning: conclude it (also when the job's timeout cancels it), then let the
        # worker's retry policy act
        why = ("it ran past the job's time limit; lower `code.max_minutes`" if isinstance(error, asyncio.CancelledError)
               else f"it failed unexpectedly ({type(error).__name__}); it is retried, or use the Re-run button")
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(run._write(render_code_result(
                CodeReport(sha=start, outcome="error", reason=why)))), timeout=15)
        raise
    finally:
        await asyncio.to_thread(shutil.rmtree, run.workdir, True)
