"""`generate_code`: a clearly named no-op until the Code generation issue lands.

It reports on a `specloop/code` check run that code generation is not available yet, once per
approved commit (a second run for the same SHA finds the check run and posts nothing new), and records
`code_state="not available"` with a link to that check run in the story's status chain. It acts only on
a spec PR the bot opened itself, with an approval the gate signed for it.
"""

from __future__ import annotations

from typing import Any

from app.context import JobScope
from app.gh import checks, issues, pulls
from app.job_args import GenerateCode
from app.render.code_check import CODE_CHECK_NAME, code_needs_approval, code_not_available
from app.render.spec_pr import not_specloop_pull_reply
from app.spec_gate import SpecPr, approved_fingerprint, publish_check, story_issue
from app.story_status import advance_status

NOT_AVAILABLE = "not available"  # the `StoryStatus.code_state` this job records


async def generate_code(scope: JobScope, args: GenerateCode) -> dict[str, Any]:
    """Post the neutral "code generation not available yet" check run on the approved commit."""
    pull = await pulls.get_pull(scope.gh, scope.repo, args.number)
    spec = SpecPr.of(scope)
    if not spec.owns(pull):
        if not args.sha:  # `/specloop code` from a person, who waits for an answer
            await issues.create_comment(scope.gh, scope.repo, args.number,
                                        not_specloop_pull_reply(args.actor, "`/specloop code`"))
        return {"status": "not a specloop pull request"}
    approved = await approved_fingerprint(spec, pull, await scope.config())
    sha, digest = args.sha, args.digest
    if approved is None or (sha and sha != approved.sha):
        # the approval that asked for this commit was withdrawn or never signed: generate nothing
        if not sha:
            await issues.create_comment(scope.gh, scope.repo, args.number, code_needs_approval())
        return {"status": "not approved"}
    if not sha:  # `/specloop code` names no commit: use the approved one
        sha, digest = approved.sha, approved.digest
    app_id = scope.deps.github.app_id
    existing = await checks.find_check_run(scope.gh, scope.repo, sha, CODE_CHECK_NAME, app_id=app_id)
    if existing is not None:
        result: dict[str, Any] = {"status": "already reported", "sha": sha}
        check_url = existing.html_url
    else:
        run = await publish_check(scope.gh, scope.repo, sha, code_not_available(sha, digest or ""), app_id=app_id)
        result = {"status": NOT_AVAILABLE, "check_run": run.id, "sha": sha}
        check_url = run.html_url
    # Also on "already reported": a retry after the check run was posted still completes the chain
    # (an unchanged status is not rewritten).
    await advance_status(scope.gh, scope.repo, story_issue(pull), bot_login=scope.bot_login,
                         code_state=NOT_AVAILABLE, code_url=check_url)
    return result
