"""Deployments and deployment statuses: state changes (`deployment_status` webhooks) and REST routes."""

from __future__ import annotations

from typing import Any

from .calls import Call, invalid, not_found
from .hub import Hub
from .router import Routes, paginate
from .state import Deployment, DeploymentStatus, Repo, User
from .webhooks import Delivery

routes = Routes()
STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")


def add_deployment(hub: Hub, repo: Repo, sha: str, ref: str, environment: str, creator: User, *,
                   task: str = "deploy", description: str | None = None,
                   payload: dict[str, Any] | None = None) -> Deployment:
    """Record a deployment (no webhook: the app does not subscribe to `deployment`)."""
    with hub.state.lock:
        dep = Deployment(hub.state.next_id(), sha, ref, environment, creator, task, description, payload or {})
        repo.deployments[dep.id] = dep
    return dep


def add_deployment_status(hub: Hub, repo: Repo, dep: Deployment, state: str, environment_url: str | None,
                          target_url: str | None, actor: User, *, description: str = "",
                          wait: bool = True) -> Delivery | None:
    """Record a deployment status and send `deployment_status` `created`."""
    with hub.state.lock:
        status = DeploymentStatus(hub.state.next_id(), state, actor, dep.environment, environment_url,
                                  target_url, description)
        dep.statuses.append(status)
        payload = {"action": "created", "deployment_status": hub.shapes.deployment_status(repo, dep, status),
                   "deployment": hub.shapes.deployment(repo, dep)}
    return hub.emit("deployment_status", repo, actor, payload, wait=wait)


def _deployment(hub: Hub, call: Call) -> tuple[Repo, Deployment]:
    repo = hub.repo_for(call)
    dep = repo.deployments.get(call.int_param("id"))
    if dep is None:
        raise not_found()
    return repo, dep


@routes.post("/repos/{owner}/{repo}/deployments")
def create_deployment(hub: Hub, call: Call) -> Any:
    """Create a deployment for a ref."""
    repo = hub.repo_for(call)
    data = call.json()
    ref = data.get("ref")
    sha = repo.git.resolve(ref) if isinstance(ref, str) else None
    if sha is None or not isinstance(ref, str):
        raise invalid(f"No ref found for: {ref}", "ref", "Deployment", "invalid")
    dep = add_deployment(hub, repo, sha, ref, data.get("environment", "production"), call.user,
                         task=data.get("task", "deploy"), description=data.get("description"),
                         payload=data.get("payload"))
    return 201, hub.shapes.deployment(repo, dep)


@routes.get("/repos/{owner}/{repo}/deployments")
def list_deployments(hub: Hub, call: Call) -> Any:
    """Deployments filtered by sha/ref/environment/task, newest first."""
    repo = hub.repo_for(call)
    q = call.query
    deps = [x for x in sorted(repo.deployments.values(), key=lambda x: -x.id)
            if (not q.get("sha") or x.sha == q["sha"]) and (not q.get("ref") or x.ref == q["ref"])
            and (not q.get("environment") or x.environment == q["environment"])
            and (not q.get("task") or x.task == q["task"])]
    return paginate(hub, call, [hub.shapes.deployment(repo, x) for x in deps])


@routes.get("/repos/{owner}/{repo}/deployments/{id}")
def get_deployment(hub: Hub, call: Call) -> Any:
    """One deployment."""
    repo, dep = _deployment(hub, call)
    return hub.shapes.deployment(repo, dep)


@routes.get("/repos/{owner}/{repo}/deployments/{id}/statuses")
def list_statuses(hub: Hub, call: Call) -> Any:
    """Statuses of a deployment, newest first."""
    repo, dep = _deployment(hub, call)
    return paginate(hub, call, [hub.shapes.deployment_status(repo, dep, s) for s in reversed(dep.statuses)])


@routes.post("/repos/{owner}/{repo}/deployments/{id}/statuses")
def create_status(hub: Hub, call: Call) -> Any:
    """Add a status: `deployment_status` `created`."""
    repo, dep = _deployment(hub, call)
    data = call.json()
    state = data.get("state")
    if state not in STATES:
        raise invalid("state is not included in the list", "state", "DeploymentStatus", "invalid")
    add_deployment_status(hub, repo, dep, state, data.get("environment_url"),
                          data.get("target_url") or data.get("log_url"), call.user,
                          description=data.get("description", ""), wait=False)
    return 201, hub.shapes.deployment_status(repo, dep, dep.statuses[-1])
