"""Check runs and suites: validation like GitHub's, creation by any App, updates, shapes and webhooks."""

from __future__ import annotations

from typing import Any

from .calls import invalid
from .hub import Hub
from .state import App, CheckRun, CheckSuite, Repo, User, now
from .webhooks import Delivery

MAX_OUTPUT = 65535
LEVELS = ("notice", "warning", "failure")
CONCLUSIONS = ("action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale", "timed_out")
STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
# Only the App that owns a check run hears about buttons and re-runs on it.
OWNER_ONLY_ACTIONS = ("rerequested", "requested_action")


def validate_check(data: dict[str, Any], existing: CheckRun | None) -> None:
    """Refuse what GitHub refuses, with a 422 naming the field."""
    if existing is None and not data.get("name"):
        raise invalid("name wasn't supplied", "name", "CheckRun", "missing_field")
    status = data.get("status")
    if status is not None and status not in STATUSES:
        raise invalid("status is not included in the list", "status", "CheckRun", "invalid")
    conclusion = data.get("conclusion")
    if conclusion is not None and conclusion not in CONCLUSIONS:
        raise invalid("conclusion is not included in the list", "conclusion", "CheckRun", "invalid")
    if status == "completed" and not conclusion and not (existing and existing.conclusion):
        raise invalid("Conclusion is required when status is completed", "conclusion", "CheckRun", "missing_field")
    output = data.get("output")
    if output is not None:
        _validate_output(output)
    actions = data.get("actions")
    if actions is not None:
        _validate_actions(actions)


def _validate_output(output: Any) -> None:
    if not isinstance(output, dict) or not output.get("title"):
        raise invalid("title wasn't supplied", "output.title", "CheckRun", "missing_field")
    if not output.get("summary"):
        raise invalid("summary wasn't supplied", "output.summary", "CheckRun", "missing_field")
    for key in ("summary", "text"):
        if isinstance(output.get(key), str) and len(output[key]) > MAX_OUTPUT:
            raise invalid(f"Only {MAX_OUTPUT} characters are allowed; {len(output[key])} were supplied.",
                          f"output.{key}", "CheckRun")
    annotations = output.get("annotations") or []
    if len(annotations) > 50:
        raise invalid("Only 50 annotations can be sent per request", "output.annotations", "CheckRun")
    for a in annotations:
        _validate_annotation(a)
    for img in output.get("images") or []:
        if not img.get("alt") or not img.get("image_url"):
            raise invalid("images need alt and image_url", "output.images", "CheckRun", "missing_field")


def _validate_annotation(a: dict[str, Any]) -> None:
    for key in ("path", "start_line", "end_line", "annotation_level", "message"):
        if a.get(key) in (None, ""):
            raise invalid(f"{key} wasn't supplied", f"annotations.{key}", "CheckRun", "missing_field")
    if a["annotation_level"] not in LEVELS:
        raise invalid("annotation_level is not included in the list", "annotations.annotation_level",
                      "CheckRun", "invalid")
    if (a.get("start_column") is not None or a.get("end_column") is not None) and a["start_line"] != a["end_line"]:
        raise invalid("start_column and end_column may only be used when start_line == end_line",
                      "annotations", "CheckRun")


def _validate_actions(actions: list[dict[str, Any]]) -> None:
    if len(actions) > 3:
        raise invalid("Only 3 actions are allowed", "actions", "CheckRun")
    for act in actions:
        for key, limit in (("label", 20), ("identifier", 20), ("description", 40)):
            value = act.get(key)
            if not value:
                raise invalid(f"{key} wasn't supplied", f"actions.{key}", "CheckRun", "missing_field")
            if len(value) > limit:
                raise invalid(f"{key} is too long (maximum is {limit} characters)", f"actions.{key}", "CheckRun")


def find_suite(hub: Hub, repo: Repo, head_sha: str, app_id: int) -> CheckSuite:
    """The check suite of one App for a commit (created on first use, as GitHub does)."""
    for suite in repo.check_suites.values():
        if suite.head_sha == head_sha and suite.app_id == app_id:
            return suite
    branch = next((ref[len("refs/heads/"):] for ref, sha in repo.git.refs("refs/heads/").items()
                   if sha == head_sha), None)
    suite = CheckSuite(hub.state.next_id(), head_sha, branch, app_id)
    repo.check_suites[suite.id] = suite
    return suite


def pulls_for_sha(hub: Hub, repo: Repo, sha: str) -> list[dict[str, Any]]:
    """The minimal PR refs GitHub puts in check runs/suites (open PRs whose head is the sha)."""
    out = []
    for p in repo.pulls.values():
        if p.head_sha == sha and repo.issues[p.number].state == "open" and not p.fork:
            url = f"{hub.api_url}/repos/{repo.full_name}/pulls/{p.number}"
            small = {"id": repo.id, "url": f"{hub.api_url}/repos/{repo.full_name}", "name": repo.name}
            out.append({"url": url, "id": p.id, "number": p.number,
                        "head": {"ref": p.head_ref, "sha": p.head_sha, "repo": small},
                        "base": {"ref": p.base_ref, "sha": p.base_sha, "repo": small}})
    return out


def owner_app(hub: Hub, app_id: int) -> App:
    """The App that created a check run or suite."""
    return hub.state.apps.get(app_id) or hub.state.app


def check_run_json(hub: Hub, repo: Repo, run: CheckRun) -> dict[str, Any]:
    """A check run as the API shows it (its `app` is the App that created it)."""
    return hub.shapes.check_run(repo, run, owner_app(hub, run.app_id), pulls_for_sha(hub, repo, run.head_sha))


def check_suite_json(hub: Hub, repo: Repo, suite: CheckSuite) -> dict[str, Any]:
    """A check suite as the API shows it, its status and conclusion rolled up from its runs."""
    runs = [r for r in repo.check_runs.values() if r.suite_id == suite.id]
    statuses = [r.status for r in runs]
    suite.status = "completed" if runs and all(s == "completed" for s in statuses) else \
        "in_progress" if runs else "queued"
    conclusions = [r.conclusion for r in runs if r.conclusion]
    suite.conclusion = (("failure" if "failure" in conclusions else conclusions[0] if conclusions else None)
                        if suite.status == "completed" else None)
    info = repo.git.read_commit(suite.head_sha)
    head = {"id": suite.head_sha, "tree_id": info.tree, "message": info.message,
            "timestamp": info.committer.date.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "author": {"name": info.author.name, "email": info.author.email},
            "committer": {"name": info.committer.name, "email": info.committer.email}}
    return hub.shapes.check_suite(repo, suite, owner_app(hub, suite.app_id),
                                  pulls_for_sha(hub, repo, suite.head_sha), len(runs), head)


def apply_check(run: CheckRun, data: dict[str, Any]) -> None:
    """Apply create/update fields; annotations and images append across updates, as on GitHub."""
    for key in ("name", "details_url", "external_id"):
        if key in data:
            setattr(run, key, data[key])
    if "status" in data:
        run.status = data["status"]
    if data.get("conclusion"):
        run.conclusion = data["conclusion"]
        run.status = "completed"
    if run.status == "completed" and run.completed_at is None:
        run.completed_at = now()
    # `started_at`/`completed_at` from the client are ignored: the double keeps its own clock
    if "output" in data and data["output"] is not None:
        out = data["output"]
        run.output.update({k: out.get(k, run.output.get(k)) for k in ("title", "summary", "text")})
        run.annotations.extend(out.get("annotations") or [])
        run.images.extend(out.get("images") or [])
    if "actions" in data:
        run.actions = list(data["actions"] or [])


def check_event(hub: Hub, repo: Repo, run: CheckRun, action: str, sender: User,
                extra: dict[str, Any] | None = None, wait: bool = True) -> Delivery | None:
    """`check_run` webhook: Apps with checks:write hear `created`/`completed` of every App's runs,
    buttons and re-runs only reach the run's own App."""
    if action in OWNER_ONLY_ACTIONS and run.app_id != hub.state.app_id:
        return None
    with hub.state.lock:
        shaped = check_run_json(hub, repo, run)
        shaped["check_suite"] = check_suite_json(hub, repo, repo.check_suites[run.suite_id])
        payload = {"action": action, "check_run": shaped, **(extra or {})}
    return hub.emit("check_run", repo, sender, payload, wait=wait)


def create_check_run(hub: Hub, repo: Repo, head_sha: str, data: dict[str, Any], app: App, *,
                     wait: bool = True) -> CheckRun:
    """A check run owned by `app` (validated data), with `created` (and `completed`) webhooks."""
    with hub.state.lock:
        suite = find_suite(hub, repo, head_sha, app.id)
        run = CheckRun(hub.state.next_id(), data["name"], head_sha, suite.id, app.id, started_at=now())
        apply_check(run, data)
        repo.check_runs[run.id] = run
    check_event(hub, repo, run, "created", app.bot, wait=wait)
    if run.status == "completed":
        check_event(hub, repo, run, "completed", app.bot, wait=wait)
    return run


def update_check_run(hub: Hub, repo: Repo, run: CheckRun, data: dict[str, Any], app: App, *,
                     wait: bool = True) -> None:
    """Apply an update (validated data); completing the run sends `completed`."""
    with hub.state.lock:
        was_completed = run.status == "completed"
        apply_check(run, data)
    if run.status == "completed" and not was_completed:
        check_event(hub, repo, run, "completed", app.bot, wait=wait)
