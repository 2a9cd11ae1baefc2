"""REST routes for check runs and check suites (`/check-runs`, `/check-suites`, `/commits/{ref}/check-*`)."""

from __future__ import annotations

from typing import Any

from .calls import Call, HttpError, invalid, not_found
from .checks import (
    check_run_json,
    check_suite_json,
    create_check_run,
    update_check_run,
    validate_check,
)
from .hub import Hub
from .router import Routes, paginate
from .state import CheckRun, Repo

routes = Routes()
ONLY_APPS = "You must authenticate via a GitHub App."


def _run(hub: Hub, call: Call) -> tuple[Repo, CheckRun]:
    repo = hub.repo_for(call)
    run = repo.check_runs.get(call.int_param("id"))
    if run is None:
        raise not_found()
    return repo, run


@routes.post("/repos/{owner}/{repo}/check-runs")
def create_run(hub: Hub, call: Call) -> Any:
    """Create a check run (only GitHub Apps may); it belongs to the App behind the token."""
    repo = hub.repo_for(call)
    if call.installation is None:
        raise HttpError(403, ONLY_APPS)
    data = call.json()
    validate_check(data, None)
    head_sha = data.get("head_sha")
    sha = repo.git.resolve(head_sha) if isinstance(head_sha, str) else None
    if sha is None:
        raise invalid("No commit found for SHA: " + str(head_sha), "head_sha", "CheckRun", "invalid")
    run = create_check_run(hub, repo, sha, data, hub.caller_app(call), wait=False)
    return 201, check_run_json(hub, repo, run)


@routes.patch("/repos/{owner}/{repo}/check-runs/{id}")
def update_run(hub: Hub, call: Call) -> Any:
    """Update a check run (only the App that created it may); annotations append; completing sends `completed`."""
    repo, run = _run(hub, call)
    if call.installation is None:
        raise HttpError(403, ONLY_APPS)
    app = hub.caller_app(call)
    if run.app_id != app.id:
        raise HttpError(403, f"Invalid app_id `{run.app_id}` - check run can only be modified by the "
                             "GitHub App that created it.")
    data = call.json()
    validate_check(data, run)
    update_check_run(hub, repo, run, data, app, wait=False)
    return check_run_json(hub, repo, run)


@routes.get("/repos/{owner}/{repo}/check-runs/{id}")
def get_run(hub: Hub, call: Call) -> Any:
    """One check run."""
    repo, run = _run(hub, call)
    return check_run_json(hub, repo, run)


@routes.get("/repos/{owner}/{repo}/check-runs/{id}/annotations")
def list_annotations(hub: Hub, call: Call) -> Any:
    """Every annotation posted across the run's updates."""
    repo, run = _run(hub, call)
    return paginate(hub, call, [hub.shapes.annotation(repo, run, a) for a in run.annotations])


@routes.get("/repos/{owner}/{repo}/commits/{ref+}/check-runs")
def runs_for_ref(hub: Hub, call: Call) -> Any:
    """Check runs for a commit, newest first: `check_name`, `status`, `app_id`, `filter` (latest|all), paged."""
    repo = hub.repo_for(call)
    sha = repo.git.resolve(call.params["ref"])
    if sha is None:
        raise HttpError(422, f"No commit found for SHA: {call.params['ref']}")
    name, status = call.query.get("check_name"), call.query.get("status")
    app_id = call.int_query("app_id", 0) or None
    runs = [r for r in sorted(repo.check_runs.values(), key=lambda r: -r.id) if r.head_sha == sha
            and (name is None or r.name == name) and (status is None or r.status == status)
            and (app_id is None or r.app_id == app_id)]
    if call.query.get("filter", "latest") == "latest":
        # the most recent run per (app, name), as GitHub keeps one "latest" run per check per App
        seen: set[tuple[int, str]] = set()
        latest = []
        for r in runs:
            if (r.app_id, r.name) not in seen:
                seen.add((r.app_id, r.name))
                latest.append(r)
        runs = latest
    per_page = max(1, min(100, call.int_query("per_page", 30)))
    page = max(1, call.int_query("page", 1))
    chunk = runs[(page - 1) * per_page: page * per_page]
    return {"total_count": len(runs), "check_runs": [check_run_json(hub, repo, r) for r in chunk]}


@routes.get("/repos/{owner}/{repo}/commits/{ref+}/check-suites")
def suites_for_ref(hub: Hub, call: Call) -> Any:
    """Check suites for a commit (`app_id` and `check_name` filters)."""
    repo = hub.repo_for(call)
    sha = repo.git.resolve(call.params["ref"])
    app_id = call.int_query("app_id", 0) or None
    name = call.query.get("check_name")
    suites = [s for s in repo.check_suites.values() if s.head_sha == sha and (app_id is None or s.app_id == app_id)
              and (name is None or any(r.suite_id == s.id and r.name == name for r in repo.check_runs.values()))]
    return {"total_count": len(suites), "check_suites": [check_suite_json(hub, repo, s) for s in suites]}


@routes.get("/repos/{owner}/{repo}/check-suites/{id}")
def get_suite(hub: Hub, call: Call) -> Any:
    """One check suite."""
    repo = hub.repo_for(call)
    suite = repo.check_suites.get(call.int_param("id"))
    if suite is None:
        raise not_found()
    return check_suite_json(hub, repo, suite)


@routes.post("/repos/{owner}/{repo}/check-suites/{id}/rerequest")
def rerequest_suite(hub: Hub, call: Call) -> Any:
    """Re-request a suite through the API: `check_suite` `rerequested`."""
    repo = hub.repo_for(call)
    suite = repo.check_suites.get(call.int_param("id"))
    if suite is None:
        raise not_found()
    hub.emit("check_suite", repo, call.user, {"action": "rerequested",
                                              "check_suite": check_suite_json(hub, repo, suite)}, wait=False)
    return 201, {}
