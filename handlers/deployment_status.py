"""`deployment_status` events: a successful deployment runs QA against its URL."""

from __future__ import annotations

from app.events import DeploymentStatusEvent
from app.job_args import RunQa
from app.queue import JobRequest
from handlers.base import HandlerContext, Router, installation_of, job

router = Router()


@router.on("deployment_status", "created")
def qa_on_deployment(event: DeploymentStatusEvent, ctx: HandlerContext) -> list[JobRequest]:
    """Run QA for the deployed SHA; the job finds the story PR by SHA and checks `qa.environments`."""
    status, deployment = event.deployment_status, event.deployment
    if event.repository is None or (status.state or "").lower() != "success" or not deployment.sha:
        return []
    repo = event.repository.full_name
    # The PR number is not in the payload; until the job finds it, the story is the deployed commit.
    qa = RunQa(installation_id=installation_of(event),
               repo=repo, sha=deployment.sha, base_url=status.environment_url or status.target_url or None,
               environment=status.environment or deployment.environment)
    return [job(qa, ctx, story=f"{repo}@{deployment.sha}")]
