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
from app.job_args import ApproveSpec, CheckSpec, CloseGate, GenerateCode, RunQa, WriteSpec
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


# --- replaying an approval after it was withdrawn -------------------------------------------------
# The record in the body is signed by the service, but the body of the bot's PR is writable by every
# writer: an approval that was dismissed or withdrawn must not come back with its old record.


async def gate_reads_approved(github: Any, spec: dict[str, Any], core_deps: Any) -> list[str]:
    """Every way a job would read the gate as open on the PR's head right now (empty: it is closed)."""
    ctx, number, installation_id = spec["ctx"], spec["number"], spec["installation_id"]
    head = pr(github, spec).head_sha
    opened = []
    check = await run_job(deps(ctx), CheckSpec(installation_id=installation_id, repo=SHOP, number=number, sha=head))
    if "approved" in check["status"]:
        opened.append(f"check_spec: {check['status']}")
    if spec_check(github, head).conclusion == "success":
        opened.append("specloop/spec is green")
    code = await run_job(deps(ctx), GenerateCode(installation_id=installation_id, repo=SHOP, number=number))
    if code["status"] != "not approved":
        opened.append(f"generate_code: {code['status']}")
    qa = await run_job(deps(ctx), RunQa(installation_id=installation_id, repo=SHOP, number=number))
    if qa["status"] != "not approved":
        opened.append(f"run_qa: {qa['status']}")
    return opened


def paste_back(github: Any, spec: dict[str, Any], record: dict[str, Any], by: str = "bob") -> None:
    """A writer edits the bot's PR body, putting an old bot-signed record back where the bot keeps it."""
    body = github.issue(SHOP, spec["number"]).body
    github.edit_issue(SHOP, spec["number"], body=with_approval(body, None) + "\n" + marker("fingerprint", **record),
                      by=by)


async def test_a_dismissed_approval_pasted_back_into_the_body_does_not_reopen_the_gate(
    github: Any, core_deps: Any, spec_pr: dict[str, Any]
) -> None:
    assert (await approve(github, spec_pr, by="bob"))["status"] == "approved"
    record = find_marker(github.issue(SHOP, spec_pr["number"]).body, "fingerprint")
    assert record is not None and record.get("sig")
    (review,) = [r for r in github.reviews(SHOP, spec_pr["number"]) if r.state == "APPROVED"]
    github.dismiss_review(SHOP, spec_pr["number"], review.id, by="alice")
    closed = await run_job(deps(spec_pr["ctx"]), CloseGate(installation_id=spec_pr["installation_id"], repo=SHOP,
                                                           number=spec_pr["number"], reason="dismissed", actor="alice"))
    assert closed["status"] == "gate closed"
    queued = await heavy_jobs(core_deps)
    # bob (write access) puts the old, validly signed record back, in the body and in a comment of his own
    paste_back(github, spec_pr, record)
    github.comment(SHOP, spec_pr["number"], marker("fingerprint", **record), by="bob")
    assert await gate_reads_approved(github, spec_pr, core_deps) == []
    assert await heavy_jobs(core_deps) == queued


async def test_a_dismissal_whose_close_gate_job_never_ran_still_closes_the_gate(
    github: Any, core_deps: Any, spec_pr: dict[str, Any]
) -> None:
    assert (await approve(github, spec_pr, by="bob"))["status"] == "approved"
    (review,) = [r for r in github.reviews(SHOP, spec_pr["number"]) if r.state == "APPROVED"]
    # the dismissal's webhook was lost (or its job failed): the signed record is still in the body
    github.dismiss_review(SHOP, spec_pr["number"], review.id, by="alice")
    assert find_marker(github.issue(SHOP, spec_pr["number"]).body, "fingerprint") is not None
    assert await gate_reads_approved(github, spec_pr, core_deps) == []


async def test_an_approval_withdrawn_by_requesting_changes_does_not_keep_the_gate_open(
    github: Any, core_deps: Any, spec_pr: dict[str, Any]
) -> None:
    assert (await approve(github, spec_pr, by="bob"))["status"] == "approved"
    github.submit_review(SHOP, spec_pr["number"], "CHANGES_REQUESTED", by="bob",
                         commit_id=pr(github, spec_pr).head_sha)
    assert await gate_reads_approved(github, spec_pr, core_deps) == []


async def test_an_approval_that_still_stands_keeps_the_gate_open(
    github: Any, core_deps: Any, spec_pr: dict[str, Any]
) -> None:
    github.push_files(SHOP, "main", {".github/specloop.yml": "approval_count: 1\n"}, by="alice")
    assert (await approve(github, spec_pr, by="bob"))["status"] == "approved"
    assert (await approve(github, spec_pr, by="alice", delivery="d2"))["status"] == "already approved"
    (bobs,) = [r for r in github.reviews(SHOP, spec_pr["number"]) if r.user.login == "bob"]
    github.dismiss_review(SHOP, spec_pr["number"], bobs.id, by="alice")
    # alice's approval of the same commit still stands: the gate stays open, and every job reads it so
    head = pr(github, spec_pr).head_sha
    check = await run_job(deps(spec_pr["ctx"]), CheckSpec(installation_id=spec_pr["installation_id"], repo=SHOP,
                                                           number=spec_pr["number"], sha=head))
    assert check["status"] == "approved"
    assert spec_check(github, head).conclusion == "success"
