"""Check runs, check suites and deployments: validation like GitHub's, people's actions, routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .issues import paginate
from .router import Call, HttpError, Routes, invalid, not_found
from .state import CheckRun, CheckSuite, Deployment, DeploymentStatus, Repo, User, now
from .webhooks import Delivery

if TYPE_CHECKING:
    from .double import GitHubDouble

routes = Routes()
MAX_OUTPUT = 65535
LEVELS = ("notice", "warning", "failure")
CONCLUSIONS = ("action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale", "timed_out")
STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")


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
            for key in ("path", "start_line", "end_line", "annotation_level", "message"):
                if a.get(key) in (None, ""):
                    raise invalid(f"{key} wasn't supplied", f"annotations.{key}", "CheckRun", "missing_field")
            if a["annotation_level"] not in LEVELS:
                raise invalid("annotation_level is not included in the list", "annotations.annotation_level",
                              "CheckRun", "invalid")
            if (a.get("start_column") is not None or a.get("end_column") is not None) and \
                    a["start_line"] != a["end_line"]:
                raise invalid("start_column and end_column may only be used when start_line == end_line",
                              "annotations", "CheckRun")
        for img in output.get("images") or []:
            if not img.get("alt") or not img.get("image_url"):
                raise invalid("images need alt and image_url", "output.images", "CheckRun", "missing_field")
    actions = data.get("actions")
    if actions is not None:
        if len(actions) > 3:
            raise invalid("Only 3 actions are allowed", "actions", "CheckRun")
        for act in actions:
            for key, limit in (("label", 20), ("identifier", 20), ("description", 40)):
                value = act.get(key)
                if not value:
                    raise invalid(f"{key} wasn't supplied", f"actions.{key}", "CheckRun", "missing_field")
                if len(value) > limit:
                    raise invalid(f"{key} is too long (maximum is {limit} characters)", f"actions.{key}", "CheckRun")


class ChecksMixin:
    """Check runs/suites and deployments, and the people's actions on them."""

    # Methods type `self` as the GitHubDouble this is mixed into, so their bodies are checked against it;
    # mypy accepts only a supertype (or a Protocol) as a self-type, hence `ignore[misc]` on each def.

    def _suite(self: GitHubDouble, repo: Repo, head_sha: str) -> CheckSuite:  # type: ignore[misc]
        for suite in repo.check_suites.values():
            if suite.head_sha == head_sha and suite.app_id == self.app.id:
                return suite
        branch = next((ref[len("refs/heads/"):] for ref, sha in repo.git.refs("refs/heads/").items()
                       if sha == head_sha), None)
        suite = CheckSuite(self.state.next_id(), head_sha, branch, self.app.id)
        repo.check_suites[suite.id] = suite
        return suite

    def _pulls_for_sha(self: GitHubDouble, repo: Repo, sha: str) -> list[dict[str, Any]]:  # type: ignore[misc]
        """The minimal PR refs GitHub puts in check runs/suites (open PRs whose head is the sha)."""
        out = []
        for p in repo.pulls.values():
            if p.head_sha == sha and repo.issues[p.number].state == "open" and not p.fork:
                url = f"{self.api_url}/repos/{repo.full_name}/pulls/{p.number}"
                small = {"id": repo.id, "url": f"{self.api_url}/repos/{repo.full_name}", "name": repo.name}
                out.append({"url": url, "id": p.id, "number": p.number,
                            "head": {"ref": p.head_ref, "sha": p.head_sha, "repo": small},
                            "base": {"ref": p.base_ref, "sha": p.base_sha, "repo": small}})
        return out

    def check_run_json(self: GitHubDouble, repo: Repo, run: CheckRun) -> dict[str, Any]:  # type: ignore[misc]
        """A check run as the API shows it."""
        return self.shapes.check_run(repo, run, self.app, self._pulls_for_sha(repo, run.head_sha))

    def check_suite_json(self: GitHubDouble, repo: Repo, suite: CheckSuite) -> dict[str, Any]:  # type: ignore[misc]
        """A check suite as the API shows it."""
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
        return self.shapes.check_suite(repo, suite, self.app, self._pulls_for_sha(repo, suite.head_sha),
                                       len(runs), head)

    def apply_check(self: GitHubDouble, run: CheckRun, data: dict[str, Any]) -> None:  # type: ignore[misc]
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
        if data.get("started_at"):
            pass  # keep our own clock; GitHub accepts the client's but tests never depend on it
        if "output" in data and data["output"] is not None:
            out = data["output"]
            run.output.update({k: out.get(k, run.output.get(k)) for k in ("title", "summary", "text")})
            run.annotations.extend(out.get("annotations") or [])
            run.images.extend(out.get("images") or [])
        if "actions" in data:
            run.actions = list(data["actions"] or [])

    def check_runs(self: GitHubDouble, repo: str, head_sha: str | None = None, name: str | None = None) -> list[CheckRun]:  # type: ignore[misc]
        """Check runs of a repository (optionally for one sha / name)."""
        return [c for c in self.repo(repo).check_runs.values()
                if (head_sha is None or c.head_sha == head_sha) and (name is None or c.name == name)]

    def _check_event(self: GitHubDouble, repo: Repo, run: CheckRun, action: str, sender: User,  # type: ignore[misc]
                     extra: dict[str, Any] | None = None, wait: bool = True) -> Delivery | None:
        with self.state.lock:
            shaped = self.check_run_json(repo, run)
            shaped["check_suite"] = self.check_suite_json(repo, repo.check_suites[run.suite_id])
            payload = {"action": action, "check_run": shaped, **(extra or {})}
        return self.emit("check_run", repo, sender, payload, wait=wait)

    # -- people's actions ------------------------------------------------------------------------
    def rerequest_check_run(self: GitHubDouble, repo: str, check_run_id: int, by: str = "alice") -> Delivery | None:  # type: ignore[misc]
        """A person clicks "Re-run": `check_run` `rerequested`."""
        r = self.repo(repo)
        return self._check_event(r, r.check_runs[check_run_id], "rerequested", self.state.user(by))

    def request_check_action(self: GitHubDouble, repo: str, check_run_id: int, identifier: str,  # type: ignore[misc]
                             by: str = "alice") -> Delivery | None:
        """A person clicks a check run's button: `check_run` `requested_action`."""
        r = self.repo(repo)
        return self._check_event(r, r.check_runs[check_run_id], "requested_action", self.state.user(by),
                                 {"requested_action": {"identifier": identifier}})

    def rerequest_check_suite(self: GitHubDouble, repo: str, check_suite_id: int | None = None,  # type: ignore[misc]
                              by: str = "alice", head_sha: str | None = None) -> Delivery | None:
        """A person re-runs all checks: `check_suite` `rerequested` (suite by id or head sha)."""
        r = self.repo(repo)
        with self.state.lock:
            suite = r.check_suites[check_suite_id] if check_suite_id else self._suite(r, head_sha or "")
            payload = {"action": "rerequested", "check_suite": self.check_suite_json(r, suite)}
        return self.emit("check_suite", r, self.state.user(by), payload)

    def create_deployment(self: GitHubDouble, repo: str, sha: str, environment: str = "staging",  # type: ignore[misc]
                          by: str = "alice", ref: str | None = None) -> int:
        """A deployment of a sha (e.g. by CI) -> id (no webhook: the app does not subscribe to `deployment`)."""
        r = self.repo(repo)
        with self.state.lock:
            dep = Deployment(self.state.next_id(), sha, ref or sha, environment, self.state.user(by))
            r.deployments[dep.id] = dep
        return dep.id

    def deployment_status(self: GitHubDouble, repo: str, deployment_id: int, state: str = "success",  # type: ignore[misc]
                          environment_url: str | None = None, target_url: str | None = None,
                          by: str = "alice") -> Delivery | None:
        """A deployment reports a status: `deployment_status` `created`."""
        r = self.repo(repo)
        return self.add_deployment_status(r, r.deployments[deployment_id], state, environment_url, target_url,
                                          self.state.user(by))

    def add_deployment_status(self: GitHubDouble, repo: Repo, dep: Deployment, state: str,  # type: ignore[misc]
                              environment_url: str | None, target_url: str | None, actor: User, *,
                              description: str = "", wait: bool = True) -> Delivery | None:
        """Record a deployment status and send `deployment_status` `created`."""
        with self.state.lock:
            status = DeploymentStatus(self.state.next_id(), state, actor, dep.environment, environment_url,
                                      target_url, description)
            dep.statuses.append(status)
            payload = {"action": "created",
                       "deployment_status": self.shapes.deployment_status(repo, dep, status),
                       "deployment": self.shapes.deployment(repo, dep)}
        return self.emit("deployment_status", repo, actor, payload, wait=wait)


# -- routes -------------------------------------------------------------------------------------

def _run(d: GitHubDouble, call: Call) -> tuple[Repo, CheckRun]:
    repo = d.repo_for(call)
    run = repo.check_runs.get(call.int_param("id"))
    if run is None:
        raise not_found()
    return repo, run


@routes.post("/repos/{owner}/{repo}/check-runs")
def create_check_run(d: GitHubDouble, call: Call) -> Any:
    """Create a check run (only GitHub Apps may): `check_run` `created`."""
    repo = d.repo_for(call)
    if call.installation is None:
        raise HttpError(403, "You must authenticate via a GitHub App.")
    data = call.json()
    validate_check(data, None)
    head_sha = data.get("head_sha")
    if not isinstance(head_sha, str) or d.resolve(repo, head_sha) is None:
        raise invalid("No commit found for SHA: " + str(head_sha), "head_sha", "CheckRun", "invalid")
    head_sha = d.resolve(repo, head_sha) or head_sha
    suite = d._suite(repo, head_sha)
    run = CheckRun(d.state.next_id(), data["name"], head_sha, suite.id, d.app.id,
                   started_at=now())
    d.apply_check(run, data)
    repo.check_runs[run.id] = run
    d._check_event(repo, run, "created", d.app.bot, wait=False)
    if run.status == "completed":
        d._check_event(repo, run, "completed", d.app.bot, wait=False)
    return 201, d.check_run_json(repo, run)


@routes.patch("/repos/{owner}/{repo}/check-runs/{id}")
def update_check_run(d: GitHubDouble, call: Call) -> Any:
    """Update a check run; annotations append; completing it sends `completed`."""
    repo, run = _run(d, call)
    if call.installation is None:
        raise HttpError(403, "You must authenticate via a GitHub App.")
    data = call.json()
    validate_check(data, run)
    was_completed = run.status == "completed"
    d.apply_check(run, data)
    if run.status == "completed" and not was_completed:
        d._check_event(repo, run, "completed", d.app.bot, wait=False)
    return d.check_run_json(repo, run)


@routes.get("/repos/{owner}/{repo}/check-runs/{id}")
def get_check_run(d: GitHubDouble, call: Call) -> Any:
    """One check run."""
    repo, run = _run(d, call)
    return d.check_run_json(repo, run)


@routes.get("/repos/{owner}/{repo}/check-runs/{id}/annotations")
def list_annotations(d: GitHubDouble, call: Call) -> Any:
    """Every annotation posted across the run's updates."""
    repo, run = _run(d, call)
    return paginate(d, call, [d.shapes.annotation(repo, run, a) for a in run.annotations])


@routes.get("/repos/{owner}/{repo}/commits/{ref+}/check-runs")
def runs_for_ref(d: GitHubDouble, call: Call) -> Any:
    """Check runs for a commit (filter `check_name`, `status`), newest first."""
    repo = d.repo_for(call)
    sha = d.resolve(repo, call.params["ref"])
    if sha is None:
        raise HttpError(422, f"No commit found for SHA: {call.params['ref']}")
    name, status = call.query.get("check_name"), call.query.get("status")
    runs = [r for r in sorted(repo.check_runs.values(), key=lambda r: -r.id) if r.head_sha == sha
            and (name is None or r.name == name) and (status is None or r.status == status)]
    if call.query.get("filter", "latest") == "latest":
        seen: set[str] = set()
        runs = [r for r in runs if not (r.name in seen or seen.add(r.name))]  # type: ignore[func-returns-value]
    return {"total_count": len(runs), "check_runs": [d.check_run_json(repo, r) for r in runs]}


@routes.get("/repos/{owner}/{repo}/commits/{ref+}/check-suites")
def suites_for_ref(d: GitHubDouble, call: Call) -> Any:
    """Check suites for a commit."""
    repo = d.repo_for(call)
    sha = d.resolve(repo, call.params["ref"])
    suites = [s for s in repo.check_suites.values() if s.head_sha == sha]
    return {"total_count": len(suites), "check_suites": [d.check_suite_json(repo, s) for s in suites]}


@routes.get("/repos/{owner}/{repo}/check-suites/{id}")
def get_check_suite(d: GitHubDouble, call: Call) -> Any:
    """One check suite."""
    repo = d.repo_for(call)
    suite = repo.check_suites.get(call.int_param("id"))
    if suite is None:
        raise not_found()
    return d.check_suite_json(repo, suite)


@routes.post("/repos/{owner}/{repo}/check-suites/{id}/rerequest")
def rerequest_suite(d: GitHubDouble, call: Call) -> Any:
    """Re-request a suite through the API."""
    repo = d.repo_for(call)
    suite = repo.check_suites.get(call.int_param("id"))
    if suite is None:
        raise not_found()
    d.emit("check_suite", repo, call.actor, {"action": "rerequested",  # type: ignore[arg-type]
                                             "check_suite": d.check_suite_json(repo, suite)}, wait=False)
    return 201, {}


@routes.post("/repos/{owner}/{repo}/deployments")
def create_deployment_route(d: GitHubDouble, call: Call) -> Any:
    """Create a deployment for a ref."""
    repo = d.repo_for(call)
    data = call.json()
    ref = data.get("ref")
    sha = d.resolve(repo, ref) if isinstance(ref, str) else None
    if sha is None:
        raise invalid(f"No ref found for: {ref}", "ref", "Deployment", "invalid")
    dep = Deployment(d.state.next_id(), sha, ref, data.get("environment", "production"), call.actor,  # type: ignore[arg-type]
                     data.get("task", "deploy"), data.get("description"), data.get("payload") or {})
    repo.deployments[dep.id] = dep
    return 201, d.shapes.deployment(repo, dep)


@routes.get("/repos/{owner}/{repo}/deployments")
def list_deployments(d: GitHubDouble, call: Call) -> Any:
    """Deployments filtered by sha/ref/environment, newest first."""
    repo = d.repo_for(call)
    q = call.query
    deps = [x for x in sorted(repo.deployments.values(), key=lambda x: -x.id)
            if (not q.get("sha") or x.sha == q["sha"]) and (not q.get("ref") or x.ref == q["ref"])
            and (not q.get("environment") or x.environment == q["environment"])]
    return paginate(d, call, [d.shapes.deployment(repo, x) for x in deps])


@routes.get("/repos/{owner}/{repo}/deployments/{id}")
def get_deployment(d: GitHubDouble, call: Call) -> Any:
    """One deployment."""
    repo = d.repo_for(call)
    dep = repo.deployments.get(call.int_param("id"))
    if dep is None:
        raise not_found()
    return d.shapes.deployment(repo, dep)


@routes.get("/repos/{owner}/{repo}/deployments/{id}/statuses")
def list_deployment_statuses(d: GitHubDouble, call: Call) -> Any:
    """Statuses of a deployment, newest first."""
    repo = d.repo_for(call)
    dep = repo.deployments.get(call.int_param("id"))
    if dep is None:
        raise not_found()
    return [d.shapes.deployment_status(repo, dep, s) for s in reversed(dep.statuses)]


@routes.post("/repos/{owner}/{repo}/deployments/{id}/statuses")
def create_deployment_status(d: GitHubDouble, call: Call) -> Any:
    """Add a status: `deployment_status` `created`."""
    repo = d.repo_for(call)
    dep = repo.deployments.get(call.int_param("id"))
    if dep is None:
        raise not_found()
    data = call.json()
    state = data.get("state")
    if state not in ("error", "failure", "inactive", "in_progress", "queued", "pending", "success"):
        raise invalid("state is not included in the list", "state", "DeploymentStatus", "invalid")
    d.add_deployment_status(repo, dep, state, data.get("environment_url"), data.get("target_url") or data.get("log_url"),
                            call.actor, description=data.get("description", ""), wait=False)  # type: ignore[arg-type]
    return 201, d.shapes.deployment_status(repo, dep, dep.statuses[-1])
