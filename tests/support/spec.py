"""Spec PR fixtures shared by the spec, approval, revision, code-status and QA tests."""

from __future__ import annotations

from typing import Any

import pytest

from app.context import DEPS_KEY, deps
from app.domain.example_map import Example, ExampleMap, Rule, Story
from app.domain.fingerprint import Fingerprint, build_manifest, gate_key
from app.domain.markers import marker
from app.job_args import ApproveSpec, WriteSpec
from app.render.map_comment import MapState, render_map_comment
from jobs.worker import run_job
from tests.support.github import SHOP

__all__ = ["BRANCH", "PATH", "SHOP", "approve", "approved_qa_pull", "bot_approved_pull", "forged_marker", "mapped_issue", "open_spec_pr",
           "pr", "sign_in_map", "spec_check", "spec_pulls"]

BRANCH = "specloop/{n}-sign-in-with-email"
PATH = "features/sign-in-with-email.feature"


def sign_in_map(extra_then: str | None = None) -> ExampleMap:
    """A ready map with steps in free text the writer phrases in the web vocabulary."""
    then = ['I should see "Welcome, Ana"'] + ([extra_then] if extra_then else [])
    return ExampleMap(
        story=Story(
            title="Sign in with email",
            as_a="registered user",
            i_want="to sign in with my email",
            so_that="I can see my orders",
        ),
        rules=[
            Rule(
                id="R1",
                text="A correct password signs you in",
                examples=[
                    Example(
                        id="E1",
                        title="the one where Ana uses s3cret",
                        given=['I visit "/login"'],
                        when=[
                            'I fill in "Email" with "ana@example.com"',
                            'I fill in "Password" with "s3cret"',
                            'I press "Sign in"',
                        ],
                        then=then,
                    )
                ],
            ),
            Rule(
                id="R2",
                text="A wrong password is refused",
                examples=[
                    Example(
                        id="E2",
                        title="the one where Ana types wr0ng",
                        given=['I visit "/login"'],
                        when=['I fill in "Password" with "wr0ng"', 'I press "Sign in"'],
                        then=['I should see "Wrong password"'],
                    )
                ],
            ),
        ],
    )


def mapped_issue(github: Any, example_map: ExampleMap | None = None, *, by: str = "alice") -> int:
    """An issue carrying the bot's map comment (as the map job leaves it) -> the issue number."""
    number = int(
        github.open_issue(SHOP, "Sign in with email", "As a registered user I want to sign in.", by=by)
    )
    github.comment(
        SHOP, number, render_map_comment(MapState(map=example_map or sign_in_map(), revision=1)), by=github.bot.login
    )
    return number


def spec_pulls(github: Any, number: int) -> list[Any]:
    """The PRs whose head is the issue's spec branch."""
    return [p for p in github.repo(SHOP).pulls.values() if p.head_ref.startswith(f"specloop/{number}-")]


def spec_check(github: Any, sha: str) -> Any:
    """The latest specloop/spec check run on `sha`."""
    runs = github.check_runs(SHOP, head_sha=sha, name="specloop/spec")
    assert runs, f"no specloop/spec check run on {sha[:7]}"
    return runs[-1]


async def open_spec_pr(github: Any, service: Any, example_map: ExampleMap | None = None) -> tuple[int, Any]:
    """Map an issue, ask for its spec, run the jobs -> (issue number, the spec PR's state)."""
    number = mapped_issue(github, example_map)
    github.comment(SHOP, number, "/specloop spec", by="alice")
    totals = await service.drain()
    assert totals["failed"] == 0, totals
    (pull,) = spec_pulls(github, number)
    return number, pull


@pytest.fixture
async def spec_pr(github: Any, core_deps: Any) -> dict[str, Any]:
    """A spec PR written by the write_spec job (called directly, no web service) and what the jobs need."""
    ctx = {DEPS_KEY: core_deps}
    installation_id = github.installation_for(github.repo(SHOP)).id
    issue = mapped_issue(github)
    await run_job(deps(ctx), WriteSpec(installation_id=installation_id, repo=SHOP, number=issue,
                                       actor="alice", regenerate=False))
    (pull,) = spec_pulls(github, issue)
    return {"ctx": ctx, "installation_id": installation_id, "issue": issue, "number": pull.number, "pull": pull}


def pr(github: Any, spec: dict[str, Any]) -> Any:
    return github.pull(SHOP, spec["number"])


async def approve(
    github: Any, spec: dict[str, Any], by: str = "bob", *, sha: str | None = None, delivery: str = "d-review"
) -> dict[str, Any]:
    """A person approves (on `sha`, default the head) and the approve_spec job runs for that review."""
    commit = sha or pr(github, spec).head_sha
    review_id = github.submit_review(SHOP, spec["number"], "APPROVED", by=by, commit_id=commit)
    return await run_job(deps(spec["ctx"]), ApproveSpec(installation_id=spec["installation_id"], repo=SHOP,
                                                        number=spec["number"], review_id=review_id,
                                                        sha=commit, reviewer=by))


def forged_marker(sha: str, approver: str, files: dict[str, str]) -> str:
    """A fingerprint marker computed the old way (a plain hash anyone can produce): no signature."""
    return marker("fingerprint", **Fingerprint.of(sha, approver, build_manifest(files)).to_data())


def bot_approved_pull(github: Any, branch: str, sha: str, files: dict[str, str], *, title: str, body: str = "",
                      approver: str = "alice") -> int:
    """A PR the bot opened from `branch` whose body records a signed approval of `sha` (as approve_spec writes it),
    and the approving review by `approver` the record stands on (the gate reads both)."""
    number = int(github.open_pull(SHOP, branch, title=title, body=body, by=github.bot.login))
    signed = Fingerprint.of(sha, approver, build_manifest(files)).signed(gate_key(github.webhook_secret), SHOP, number)
    github.edit_issue(SHOP, number, body=body + marker("fingerprint", **signed.to_data()), by=github.bot.login)
    github.submit_review(SHOP, number, "APPROVED", by=approver, commit_id=sha)
    return number


def approved_qa_pull(github: Any, branch: str, qa: str, files: dict[str, str], *, title: str,
                     settings: str = "  contexts: 1\n  timeout_ms: 5000\n  screenshots: final\n") -> tuple[int, str]:
    """`files` plus a config whose `qa:` section is `qa` then `settings`, pushed to `branch` (and the config to
    main), in a bot-opened PR whose approval is recorded: (PR number, head sha)."""
    config = f"qa:\n{qa}{settings}"
    files = {**files, ".github/specloop.yml": config}
    sha = github.push_files(SHOP, branch, files, "Spec and steps")
    github.push_files(SHOP, "main", {".github/specloop.yml": config}, "Config")
    return bot_approved_pull(github, branch, sha, files, title=title, body="The spec.\n"), sha
