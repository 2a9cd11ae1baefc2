"""`check_suite` events: "Re-run all checks" re-checks the spec and re-runs QA."""

from __future__ import annotations

from app.events import CheckSuiteEvent
from app.job_args import CheckSpec, RunQa
from app.queue import JobRequest
from handlers.base import HandlerContext, JobTarget, Router, installation_of, job

router = Router()


@router.on("check_suite", "rerequested")
def rerun_suite(event: CheckSuiteEvent, ctx: HandlerContext) -> list[JobRequest]:
    """check_spec and run_qa for the suite's head SHA on each of its pull requests."""
    suite = event.check_suite
    if event.repository is None or not suite.head_sha:
        return []
    actor = event.sender.login if event.sender else None
    jobs = []
    for pr in suite.pull_requests:
        common: JobTarget = {"installation_id": installation_of(event),
                  "repo": event.repository.full_name, "number": pr.number, "actor": actor}
        jobs.append(job(CheckSpec(**common, sha=suite.head_sha), ctx))
        jobs.append(job(RunQa(**common, sha=suite.head_sha), ctx, permission="qa"))
    return jobs
