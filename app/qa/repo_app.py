"""The repository's own code in one job's workspace, run only in the sandbox: its install commands, its app
(`qa.start`) and the QA child against that app. Shared by the QA job and by code generation (whose agent's
`run_qa` tool and final check run exactly the same thing), so both refuse, start and report the same way.

    repo = RepoApp(workspace, workspace / "repo", config.qa, settings)
    await repo.install(chromium, config.qa.install, network=False, timeout=600, what="`qa.install`")
    result = await repo.run_started_app(features, options, progress=...)   # a fresh sandbox, closed after

`run_started_app` starts the QA child beside the app, so the child's imports and Chromium's launch overlap
the app's start and its readiness probe; the child gets its request once the app answers (`run_in_sandbox`'s
`ready`). `start_app` alone (the QA job's way) starts and waits for the app without a child.

Every failure a person must act on is a `QaError` whose message says what to change (shown on a check run
or, for the agent, as its tool's result).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from app.domain.origins import Confinement
from app.domain.qa_results import Progress, RunResult
from app.isolation import Policy, Sandbox, SandboxError, SandboxUnavailable, open_sandbox, sandbox_available
from app.qa.options import RunOptions
from app.qa.sandboxed import APP_PORT, log_tail, qa_policy, run_in_sandbox, wait_until_ready
from app.repo_config import QaConfig
from app.settings import Settings


def freeze_spec(files: Mapping[str, bytes], dest: Path) -> Path:
    """The approved spec files (feature files and step definitions, checked against the fingerprint by the
    caller) written to `dest`, outside every sandbox's workspace, and returned as the root QA runs from.

    The app `qa.start` starts (and `qa.install` before it) is repository code that can write anywhere in
    the checkout: were the scenarios read from there, an app could rewrite the feature file it is tested
    against at start-up and pass. The sandbox sees this copy read-only, laid out as in the repository
    (so reports and annotations name the same paths).
    """
    for path, content in files.items():
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return dest


def steps_dir_of(spec_root: Path, features_dir: str) -> Path:
    """Where a frozen spec's project step files are."""
    return spec_root / features_dir / "steps"


def app_url(configured: str | None) -> str:
    """Where the app `qa.start` starts answers, in its sandbox: `configured` (`qa.base_url`) or its PORT."""
    return configured or f"http://127.0.0.1:{APP_PORT}"


class QaError(Exception):
    """QA (or the repository code it needs) cannot run; the message is shown where a person reads it."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


def sandbox_refusal(problem: str) -> str:
    """What a check run says when no sandbox can be made: repository code never runs bare."""
    return (f"This Specloop installation runs repository code only in a sandbox, and none can be made on this "
            f"worker: {problem}. The operator installs bubblewrap (`apt-get install bubblewrap`) and allows "
            "user namespaces (docs/sandbox.md).")


@dataclass
class RepoApp:
    """One workspace's repository: where it is, how QA starts it, and what the operator allows."""

    workspace: Path  # what a sandbox sees read-write (the checkout is inside it)
    checkout: Path
    qa: QaConfig
    settings: Settings

    def sandbox(self, chromium: str | None, policy: Policy | None = None, *,
                spec_root: Path | None = None) -> Sandbox:
        """A sandbox over the workspace (with `spec_root`, the frozen approved spec, visible read-only);
        QaError when none can be made here (then nothing runs, not bare)."""
        problem = sandbox_available()
        if problem is None:
            policy = policy or qa_policy(chromium)
            if spec_root is not None:
                policy = replace(policy, read_only=(*policy.read_only, spec_root))
            try:
                return open_sandbox(self.workspace, policy)
            except SandboxUnavailable as error:
                problem = str(error)
        raise QaError(sandbox_refusal(problem))

    async def install(self, chromium: str | None, commands: Sequence[str], *, network: bool, timeout: float,
                      what: str = "`qa.install`") -> None:
        """Run `commands` in the checkout, in a sandbox of their own (the network only when `network`, which
        the caller checked against the operator's ALLOW_INSTALL_NETWORK); QaError naming a failed command."""
        if not commands:
            return
        policy = replace(qa_policy(chromium), network=network)
        deadline = time.monotonic() + timeout
        box = self.sandbox(chromium, policy)
        try:
            for command in commands:
                left = deadline - time.monotonic()
                done = await box.run(["sh", "-c", command], cwd=str(self.checkout), timeout=max(left, 1.0))
                if not done.ok:
                    why = done.reason or f"exited with code {done.returncode}"
                    if done.timed_out:
                        why = f"took longer than the {timeout:g} s its setting allows"
                    raise QaError(f"{what} failed: `{command}` {why}.",
                                  "\n".join((done.stdout + done.stderr).splitlines()[-30:]))
        finally:
            await box.close()

    def start_command(self) -> str:
        """`qa.start`; QaError when it is not set."""
        if not self.qa.start:
            raise QaError("`qa.start` is not set: say in `.github/specloop.yml` how the app starts (it listens on "
                          "$PORT), so QA can run it from the branch.")
        return self.qa.start

    async def start_app(self, box: Sandbox, configured: str | None) -> str:
        """Run `qa.start` in `box` (`qa.env` plus PORT) and wait until it answers there; its URL."""
        command = self.start_command()
        url = app_url(configured)
        env = {**{str(k): str(v) for k, v in self.qa.env.items()}, "PORT": str(APP_PORT)}
        # `qa.start` is a shell command line by design (the repository's own start script).
        app = await box.start(["sh", "-c", command], name="app", cwd=self.checkout, env=env)
        ready = url.rstrip("/") + "/" + self.qa.ready_path.lstrip("/")
        problem = await wait_until_ready(box, app, ready, timeout=float(self.qa.ready_timeout))
        if problem is None:
            return url
        await app.stop()
        if problem.startswith("exited"):
            raise QaError(f"The app did not start: `{command}` {problem}.", log_tail(app))
        why = f": {app.reason}" if app.limit is not None else ""  # e.g. a fork bomb at the process limit
        raise QaError(f"The app did not become ready at {ready} within {self.qa.ready_timeout:g} s "
                      f"(`qa.ready_timeout`){why}.", log_tail(app))

    async def run_started_app(self, spec_root: Path, options: RunOptions, chromium: str, *,
                              configured: str | None = None, progress: Progress | None = None) -> RunResult:
        """`qa.start` and the QA child in one fresh sandbox (closed after, the app too); the result. The
        scenarios and step files come from `spec_root` (see `freeze_spec`), read-only in the sandbox. The child
        starts first and waits for its request while the app starts (`start_app`, with its QaError when the app
        does not start or answer: then the sandbox is closed, the child with it)."""
        box = self.sandbox(chromium, spec_root=spec_root)
        try:
            self.start_command()  # refused before anything starts
            url = app_url(configured)
            egress = None
            if options.allowed_origins:
                egress = Confinement.around(url, options.allowed_origins,
                                            allow_private=options.allow_private_hosts, private_app=True)
            features = sorted(p for p in spec_root.rglob("*.feature") if p.is_file())
            return await run_in_sandbox(box, features, url, options, root=spec_root, progress=progress,
                                        egress=egress, ready=lambda: self.start_app(box, configured))
        except SandboxError as error:  # bubblewrap could not start a command at all
            raise QaError(f"The repository-code sandbox could not run QA: {error}") from None
        finally:
            await box.close()
