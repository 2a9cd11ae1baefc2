"""The QA child started beside the app (`RepoApp.run_started_app`, `run_in_sandbox(..., ready=...)`).

The child starts before the app answers and waits for its request: it runs nothing until the worker puts
the request in place, and an app that exits or never answers still fails with the same `QaError`, with
nothing of the waiting child left running. Real bubblewrap, real Chromium.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.isolation import open_sandbox, sandbox_available
from app.qa.browser import require_chromium
from app.qa.options import RunOptions
from app.qa.repo_app import QaError, RepoApp
from app.qa.sandboxed import REQUEST, REQUEST_DIR, qa_policy, run_in_sandbox
from app.repo_config import QaConfig
from app.settings import Settings
from tests.support.processes import processes_with

pytestmark = pytest.mark.skipif(sandbox_available() is not None, reason=str(sandbox_available()))

HOLD_S = 2.0  # how long the app's start is held back: room for the child to start (no speed is asserted)

FEATURE = """Feature: Waiting
  Scenario: The step files load once the request is there
    Given the step files were loaded
"""

STEPS = """from pathlib import Path

from app.domain.steps import step

Path({marker!r}).write_text("loaded")  # at import: the child has its request and runs


@step("the step files were loaded")
def loaded():
    pass
"""


def _repo(tmp_path: Path, start: str) -> RepoApp:
    workspace = tmp_path / "work"
    (workspace / "repo").mkdir(parents=True)
    return RepoApp(workspace, workspace / "repo", QaConfig(start=start, ready_timeout=2), Settings(_env_file=None))


def _spec(tmp_path: Path) -> Path:
    spec = tmp_path / "spec"
    (spec / "features").mkdir(parents=True)
    (spec / "features" / "waiting.feature").write_text(FEATURE)
    return spec


async def test_an_app_that_never_answers_fails_as_before_and_leaves_no_waiting_child(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "echo listening soon; sleep 600")
    request = repo.workspace / REQUEST_DIR / REQUEST
    options = RunOptions(contexts=1, screenshots="off", trace=False, chromium_path=require_chromium())
    with pytest.raises(QaError) as raised:
        await repo.run_started_app(_spec(tmp_path), options, require_chromium())
    assert str(raised.value) == ("The app did not become ready at http://127.0.0.1:3000/ within 2 s "
                                 "(`qa.ready_timeout`).")
    assert "listening soon" in raised.value.detail
    assert (repo.workspace / ".sandbox" / "qa.stdout.log").exists()  # the child had been started beside it
    assert not request.exists()  # it never got a request
    assert processes_with(str(request)) == []  # and nothing of it is left


async def test_an_app_that_exits_fails_as_before_and_leaves_no_waiting_child(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "echo no database >&2; exit 3")
    request = repo.workspace / REQUEST_DIR / REQUEST
    options = RunOptions(contexts=1, screenshots="off", trace=False, chromium_path=require_chromium())
    with pytest.raises(QaError) as raised:
        await repo.run_started_app(_spec(tmp_path), options, require_chromium())
    assert str(raised.value) == "The app did not start: `echo no database >&2; exit 3` exited with code 3."
    assert "no database" in raised.value.detail
    assert not request.exists()
    assert processes_with(str(request)) == []


async def test_a_child_started_before_its_request_runs_nothing_until_the_request_is_there(tmp_path: Path) -> None:
    workspace = tmp_path / "work"
    spec = workspace / "spec"
    (spec / "features" / "steps").mkdir(parents=True)
    (spec / "features" / "waiting.feature").write_text(FEATURE)
    marker = workspace / "loaded"
    (spec / "features" / "steps" / "waiting_steps.py").write_text(STEPS.format(marker=str(marker)))
    (workspace / REQUEST_DIR).mkdir()
    stale = workspace / REQUEST_DIR / REQUEST
    stale.write_text("{an earlier run's request")  # removed before the child starts, never read
    chromium = require_chromium()
    options = RunOptions(contexts=1, screenshots="off", trace=False, chromium_path=chromium, allow_repo_steps=True,
                         steps_dir=str(spec / "features" / "steps"), out_dir=str(workspace / "evidence"))
    seen: list[tuple[bool, bool, bool]] = []

    async def ready() -> None:
        await asyncio.sleep(HOLD_S)  # the app's start, held back while the child starts and waits
        seen.append((marker.exists(), stale.exists(), bool(processes_with(str(stale)))))

    box = open_sandbox(workspace, qa_policy(chromium))
    result = await run_in_sandbox(box, [spec / "features" / "waiting.feature"], "http://127.0.0.1:3000", options,
                                  root=spec, ready=ready)
    assert seen == [(False, False, True)]  # alive, with no request and no step file loaded, while held back
    assert result.errors == [] and result.counts() == {"passed": 1}, (result.errors, result.counts())
    assert marker.read_text() == "loaded"
    assert processes_with(str(stale)) == []
