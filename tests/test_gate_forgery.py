"""Security finding 2: the approval gate cannot be forged by writing a PR body.

Each test reproduces one attack on the recorded approval: a fork's made-up fingerprint, a forged record
pasted into the bot's own PR, a valid record copied between PRs, and QA asked for on a PR the bot did
not open.
"""

from __future__ import annotations

import pickle
from typing import Any

from app.context import DEPS_KEY, deps
from app.domain.fingerprint import Fingerprint, build_manifest
from app.domain.markers import find_marker, marker
from app.job_args import ApproveSpec, CheckSpec, GenerateCode, RunQa, WriteSpec
from app.queue import QUEUES
from app.render.spec_pr import with_approval
from jobs.worker import run_job
from tests.support.spec import PATH, SHOP, approve, forged_marker, mapped_issue, pr, spec_check, spec_pulls

FEATURE = """Feature: Shopping
  Scenario: The shop opens
    Given I am on the home page
    Then I should see "Welcome to the shop"
"""


async def heavy_jobs(core_deps: Any) -> list[dict[str, Any]]:
    """Every job waiting on the heavy queue (QA and code), as arq stored them (id and kwargs)."""
    found = []
    for job_id in await core_deps.redis.zrange(QUEUES["heavy"], 0, -1):
        job_id = job_id.decode()
        data = pickle.loads(await core_deps.redis.get(f"arq:job:{job_id}"))
        found.append({"id": job_id, **data["k"]})
    return found


def replies(github: Any, number: int, kind: str | None = None) -> list[str]:
    """The bot's reply comments on `number` (of one `kind` when given)."""
    found = []
    for comment in github.comments(SHOP, number):
        data = find_marker(comment.body, "reply")
        if data is not None and (kind is None or data.get("type") == kind):
            found.append(comment.body)
    return found


def installation(github: Any) -> int:
    return int(github.installation_for(github.repo(SHOP)).id)


async def test_a_fork_pr_with_a_made_up_fingerprint_is_not_approved_and_queues_no_qa(
    github: Any, core_deps: Any
) -> None:
    ctx = {DEPS_KEY: core_deps}
    branch = "specloop/1-x"
    files = {PATH: FEATURE}
    spec_sha = github.push_files(SHOP, branch, files, by="mallory")
    code_sha = github.push_files(SHOP, branch, {"app.py": "print('owned')\n"}, by="mallory")
    body = marker("spec-pr", issue=1, branch=branch, paths=[PATH]) + "\nA spec.\n"
    number = github.open_pull(SHOP, branch, title="Spec: x", by="mallory", fork=True,
                              body=body + forged_marker(spec_sha, "alice", files))
    result = await run_job(deps(ctx), CheckSpec(installation_id=installation(github), repo=SHOP, number=number,
                                                sha=code_sha))
    assert "approved" not in result["status"]
    assert all(run.conclusion != "success" for run in github.check_runs(SHOP, name="specloop/spec"))
    assert await heavy_jobs(core_deps) == []


async def test_a_forged_record_pasted_into_the_bots_pr_is_not_an_approval(
    github: Any, core_deps: Any, spec_pr: dict[str, Any]
) -> None:
    github.push_files(SHOP, "main", {".github/specloop.yml": "approval_count: 2\n"}, by="alice")
    pull = pr(github, spec_pr)
    files = {PATH: github.file(SHOP, PATH, ref=pull.head_ref)}
    unsigned = Fingerprint.of(pull.head_sha, "bob", build_manifest(files))
    wrong = Fingerprint(unsigned.sha, unsigned.approver, unsigned.manifest, unsigned.digest, signature="0" * 64)
    for forged in (unsigned, wrong):
        # bob has write access: he edits the bot's PR body, pasting a record where the bot writes its own
        body = github.issue(SHOP, spec_pr["number"]).body
        github.edit_issue(SHOP, spec_pr["number"], body=with_approval(body, None) + "\n" +
                          marker("fingerprint", **forged.to_data()), by="bob")
        result = await run_job(deps(spec_pr["ctx"]), CheckSpec(installation_id=spec_pr["installation_id"], repo=SHOP,
                                                               number=spec_pr["number"], sha=pull.head_sha))
        assert result["status"] == "checked", forged
        assert spec_check(github, pull.head_sha).conclusion != "success"
        # the approval_count of 2 still applies: bob's one approval does not open the gate
        outcome = await approve(github, spec_pr, by="bob")
        assert outcome["status"] == "waiting for more approvals", forged
        assert await heavy_jobs(core_deps) == []


async def test_a_valid_record_copied_from_one_bot_pr_into_another_is_refused(
    github: Any, core_deps: Any, spec_pr: dict[str, Any]
) -> None:
    assert (await approve(github, spec_pr, by="bob"))["status"] == "approved"
    record = find_marker(github.issue(SHOP, spec_pr["number"]).body, "fingerprint")
    assert record is not None
    before = await heavy_jobs(core_deps)  # the first PR's code job stays queued; the second PR must add nothing
    other = mapped_issue(github)
    await run_job(deps(spec_pr["ctx"]), WriteSpec(installation_id=spec_pr["installation_id"], repo=SHOP,
                                                  number=other, actor="alice", regenerate=False))
    (second,) = spec_pulls(github, other)
    body = github.issue(SHOP, second.number).body
    github.edit_issue(SHOP, second.number, body=with_approval(body, None) + "\n" + marker("fingerprint", **record),
                      by="bob")
    # the same spec files as the approved PR, so only the record's binding to PR A can refuse it
    approved_text = github.file(SHOP, PATH, ref=pr(github, spec_pr).head_sha)
    code = github.push_files(SHOP, second.head_ref, {PATH: approved_text, "app.py": "print('code')\n"}, by="bob")
    result = await run_job(deps(spec_pr["ctx"]), CheckSpec(installation_id=spec_pr["installation_id"], repo=SHOP,
                                                           number=second.number, sha=code))
    assert result["status"] == "checked"
    assert spec_check(github, code).conclusion != "success"
    assert await heavy_jobs(core_deps) == before
    qa = await run_job(deps(spec_pr["ctx"]), RunQa(installation_id=spec_pr["installation_id"], repo=SHOP,
                                                   number=second.number))
    assert qa["status"] == "not approved"
    assert github.check_runs(SHOP, head_sha=code, name="specloop/qa")[-1].conclusion == "neutral"


def _person_pull(github: Any) -> tuple[int, str]:
    """alice (admin) opens a PR from a `specloop/` branch herself, with a fingerprint she computed."""
    branch = "specloop/1-x"
    files = {PATH: FEATURE}
    sha = github.push_files(SHOP, branch, files, by="alice")
    body = marker("spec-pr", issue=1, branch=branch, paths=[PATH]) + "\nA spec.\n" + forged_marker(sha, "alice", files)
    return int(github.open_pull(SHOP, branch, title="Spec: x", by="alice", body=body)), sha


async def test_qa_on_a_pr_the_bot_did_not_open_only_says_so(github: Any, service: Any) -> None:
    number, sha = _person_pull(github)
    github.comment(SHOP, number, "/specloop qa", by="alice")
    assert (await service.drain())["failed"] == 0
    assert github.check_runs(SHOP, head_sha=sha, name="specloop/qa") == []
    (reply,) = replies(github, number)
    assert find_marker(reply, "reply")["type"] == "not_specloop_pull"  # type: ignore[index]
    assert "only gates the spec pull requests it opened itself" in reply


async def test_qa_from_a_deployment_of_a_pr_the_bot_did_not_open_does_nothing(github: Any, core_deps: Any) -> None:
    ctx = {DEPS_KEY: core_deps}
    number, sha = _person_pull(github)
    result = await run_job(deps(ctx), RunQa(installation_id=installation(github), repo=SHOP, number=None, sha=sha,
                                            base_url="http://127.0.0.1:9", environment="staging"))
    assert result["status"] == "no story pull request"
    assert github.check_runs(SHOP, head_sha=sha) == []
    assert replies(github, number) == []


async def test_code_and_approval_on_a_pr_the_bot_did_not_open_only_say_so(github: Any, core_deps: Any) -> None:
    ctx = {DEPS_KEY: core_deps}
    number, sha = _person_pull(github)
    result = await run_job(deps(ctx), GenerateCode(installation_id=installation(github), repo=SHOP, number=number))
    assert result["status"] == "not a specloop pull request"
    review_id = github.submit_review(SHOP, number, "APPROVED", by="bob", commit_id=sha)
    result = await run_job(deps(ctx), ApproveSpec(installation_id=installation(github), repo=SHOP, number=number,
                                                  review_id=review_id, sha=sha, reviewer="bob"))
    assert result["status"] == "not a specloop pull request"
    assert github.check_runs(SHOP, head_sha=sha) == []
    assert len(replies(github, number, "not_specloop_pull")) == 2 and len(replies(github, number)) == 2
    assert await heavy_jobs(core_deps) == []
