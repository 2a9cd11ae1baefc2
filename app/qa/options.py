"""How a QA run runs: parallel contexts, evidence, timeouts, the browser, and whether project steps load."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ScreenshotPolicy = Literal["every_step", "failures", "final", "off"]
MAX_RETRY = 5  # `qa.retry` / `--retry`: more retries than this would hide a broken scenario behind a slow run


@dataclass
class RunOptions:
    """How to run: parallelism, evidence, timeouts, and whether project steps may load."""

    contexts: int = 4
    screenshots: ScreenshotPolicy = "every_step"
    timeout_ms: float = 5000.0  # Playwright action and `expect` timeout per step
    trace: bool = True  # keep a Playwright trace for failed scenarios
    steps_dir: str | None = None  # project step definitions (`<features>/steps`)
    # The checkout, when the scenarios run from a frozen copy of the approved spec elsewhere: step files may
    # import the project's own modules from it (after Specloop's, and after the copy).
    code_root: str | None = None
    allow_repo_steps: bool = False  # repository code: only where the operator/user allows it
    out_dir: str | None = None  # where screenshots and traces go (a temp dir when None)
    chromium_path: str | None = None
    viewport: tuple[int, int] = (1280, 800)
    run_timeout_s: float = 1800.0  # whole-run limit for the child process
    # The browser reaches only the base URL's origin and these (`qa.allowed_origins`); a listed origin on a
    # private, loopback or link-local host only with `allow_private_hosts` (QA_ALLOW_PRIVATE_HOSTS).
    allowed_origins: tuple[str, ...] = ()
    allow_private_hosts: bool = False
    # Whether the app under test itself may be on a private address: yes for `qa.start` and `qa.base_url`;
    # a deployment's URL must resolve to public addresses for the whole run (unless private hosts are allowed).
    private_app: bool = True
    # A Cucumber tag expression (`@smoke and not @wip`): only the scenarios whose tags (their own and the
    # feature's, rule's and examples' they inherit) satisfy it run; None runs every scenario.
    tags: str | None = None
    # How many more times a scenario whose attempt FAILED runs again, each time in a fresh browser context
    # (Cucumber's `--retry`); undefined, ambiguous and pending scenarios never do. 0 to MAX_RETRY.
    retry: int = 0

    def step_timeout_s(self) -> float:
        """How long any one step may take: a project step may hang outside Playwright."""
        return max(30.0, self.timeout_ms / 1000 * 6)
