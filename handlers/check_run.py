"""`check_run` events: the Re-run button and the "Re-run QA" / "Re-run code generation" actions on Specloop's
own check runs."""

from __future__ import annotations

from app.events import CheckRunEvent
from app.job_args import CheckSpec, GenerateCode, RunQa
from app.queue import JobRequest
from handlers.base import HandlerContext, JobTarget, Router, installation_of, job

router = Router()

QA_CHECK = "specloop/qa"
SPEC_CHECK = "specloop/spec"
CODE_CHECK = "specloop/code"
RERUN_QA_ACTION = "rerun-qa"
RERUN_CODE_ACTION = "rerun-code"
ACTIONS = {QA_CHECK: RERUN_QA_ACTION, CODE_CHECK: RERUN_CODE_ACTION}


@router.on("check_run", "rerequested", "requested_action")
def rerun_check(event: CheckRunEvent, ctx: HandlerContext) -> list[JobRequest]:
    """Re-run QA (or the spec check) for the check run's head SHA on each PR it belongs to."""
    run = event.check_run
    if event.repository is None or not run.head_sha:
        return []
    if run.app is not None and run.app.id is not None and ctx.app_id is not None and run.app.id != ctx.app_id:
        return []  # another app's check run
    if event.action == "requested_action":
        action = event.requested_action.identifier if event.requested_action else ""
        if ACTIONS.get(run.name) != action:
            return []
    actor = event.sender.login if event.sender else None
    jobs = []
    for pr in run.pull_requests:
        common: JobTarget = {"installation_id": installation_of(event),
                  "repo": event.repository.full_name, "number": pr.number, "actor": actor}
        if run.name == QA_CHECK:
            jobs.append(job(RunQa(**common, sha=run.head_sha), ctx, permission="qa"))
        elif run.name == CODE_CHECK:  # on the branch's current head, as `/specloop code` does
            jobs.append(job(GenerateCode(**common), ctx, permission="code"))
        elif run.name == SPEC_CHECK and event.action == "rerequested":
            jobs.append(job(CheckSpec(**common, sha=run.head_sha), ctx))
    return jobs
