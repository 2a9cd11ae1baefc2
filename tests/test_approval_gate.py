"""The approval gate: only an allowed person's approval of the current head starts code generation, once."""

from __future__ import annotations

import pickle
from typing import Any

from redis.asyncio import Redis

from app.context import DEPS_KEY, deps
from app.domain.fingerprint import Fingerprint, gate_key
from app.domain.markers import find_marker
from app.job_args import ApproveSpec, CheckSpec, CloseGate
from app.queue import QUEUES
from app.render.map_comment import read_map_state
from app.render.spec_pr import GATE_CLOSED
from jobs.worker import run_job
from tests.support.spec import PATH, SHOP, approve, open_spec_pr, pr, spec_check


async def code_jobs(core_deps: Any) -> list[dict[str, Any]]:
    """The generate_code jobs waiting on the heavy queue, as arq stored them (id and kwargs)."""
    found = []
    for job_id in await core_deps.redis.zrange(QUEUES["heavy"], 0, -1):
        job_id = job_id.decode()
        if job_id.startswith("code:"):  # the idempotency key: one code run per approved commit
            data = pickle.loads(await core_deps.redis.get(f"arq:job:{job_id}"))
            found.append({"id": job_id, **data["k"]})
    return found


def recorded(github: Any, spec: dict[str, Any]) -> Fingerprint | None:
    return Fingerprint.from_data(find_marker(github.issue(SHOP, spec["number"]).body, "fingerprint"))


async def test_a_valid_approval_records_the_fingerprint_and_enqueues_one_code_generation(
    github: Any, core_deps: Any, spec_pr: dict[str, Any]
) -> None:
    head = pr(github, spec_pr).head_sha
    result = await approve(github, spec_pr)
    assert result["status"] == "approved"
    fingerprint = recorded(github, spec_pr)
    assert fingerprint is not None and (fingerprint.sha, fingerprint.approver) == (head, "bob")
    assert list(fingerprint.manifest) == [PATH]
    # signed by the gate for exactly this PR: a record anyone else writes does not verify
    assert fingerprint.verify(gate_key(github.webhook_secret), SHOP, spec_pr["number"])
    (job,) = await code_jobs(core_deps)
    assert (job["sha"], job["digest"], job["number"]) == (head, fingerprint.digest, spec_pr["number"])
    check = spec_check(github, head)
    assert check.conclusion == "success" and fingerprint.digest in check.output["summary"]
    (comment,) = [c for c in github.comments(SHOP, spec_pr["issue"]) if find_marker(c.body, "map") is not None]
    status = read_map_state(comment.body).status  # type: ignore[union-attr]
    assert (status.approved_by, status.approved_sha) == ("bob", head)


async def test_the_same_approval_delivered_twice_enqueues_code_generation_once(
    github: Any, core_deps: Any, spec_pr: dict[str, Any]
) -> None:
    head = pr(github, spec_pr).head_sha
    review_id = github.submit_review(SHOP, spec_pr["number"], "APPROVED", by="bob", commit_id=head)
    for _ in range(2):  # the same request twice, as with "first-delivery" and "second-delivery"
        await run_job(deps(spec_pr["ctx"]), ApproveSpec(installation_id=spec_pr["installation_id"], repo=SHOP,
                                                        number=spec_pr["number"], review_id=review_id,
                                                        sha=head, reviewer="bob"))
    assert len(await code_jobs(core_deps)) == 1
    assert (await approve(github, spec_pr, by="alice"))["status"] == "already approved"
    assert len(await code_jobs(core_deps)) == 1


async def test_an_approval_by_someone_without_write_access_starts_nothing(
    github: Any, core_deps: Any, spec_pr: dict[str, Any]
) -> None:
    for who in ("rita", "tina", "mallory"):  # read, triage, no role at all
        result = await approve(github, spec_pr, by=who, delivery=f"d-{who}")
        assert result["status"] == "reviewer may not approve", who
        assert recorded(github, spec_pr) is None and await code_jobs(core_deps) == []


async def test_an_approval_by_the_app_itself_starts_nothing(
    github: Any, core_deps: Any, spec_pr: dict[str, Any]
) -> None:
    result = await approve(github, spec_pr, by=github.bot.login)
    assert result["status"] == "the app's own review does not count"
    assert recorded(github, spec_pr) is None and await code_jobs(core_deps) == []


async def test_an_approval_on_a_stale_commit_starts_nothing(
    github: Any, core_deps: Any, spec_pr: dict[str, Any]
) -> None:
    old = pr(github, spec_pr).head_sha
    text = github.file(SHOP, PATH, ref=pr(github, spec_pr).head_ref)
    github.push_files(
        SHOP, pr(github, spec_pr).head_ref, {PATH: text.replace("Wrong password", "Try again")}, by="bob"
    )
    result = await approve(github, spec_pr, sha=old)
    assert result["status"] == "stale"
    assert recorded(github, spec_pr) is None and await code_jobs(core_deps) == []
    assert any("approve the latest commit" in c.body for c in github.comments(SHOP, spec_pr["number"]))


async def test_an_approval_on_a_fork_starts_nothing(github: Any, core_deps: Any) -> None:
    ctx = {DEPS_KEY: core_deps}
    github.push_files(
        SHOP, "specloop/9-from-a-fork", {PATH: "Feature: x\n  Scenario: y\n    Then z\n"}, by="mallory"
    )
    number = github.open_pull(SHOP, "specloop/9-from-a-fork", title="Spec: fork", by="mallory", fork=True)
    head = github.pull(SHOP, number).head_sha
    review_id = github.submit_review(SHOP, number, "APPROVED", by="bob", commit_id=head)
    result = await run_job(deps(ctx), ApproveSpec(
                                                  installation_id=github.installation_for(github.repo(SHOP)).id,
                                                  repo=SHOP, number=number, review_id=review_id, sha=head,
                                                  reviewer="bob"))
    assert result["status"] == "fork"
    assert await code_jobs(core_deps) == []


async def test_a_spec_with_errors_cannot_be_approved(
    github: Any, core_deps: Any, spec_pr: dict[str, Any]
) -> None:
    github.push_files(
        SHOP, pr(github, spec_pr).head_ref, {PATH: "Feature: broken\n  Scenario: empty\n"}, by="bob"
    )
    result = await approve(github, spec_pr)
    assert result["status"] == "spec has errors"
    assert recorded(github, spec_pr) is None and await code_jobs(core_deps) == []


async def test_two_approvals_are_needed_when_configured(
    github: Any, core_deps: Any, spec_pr: dict[str, Any]
) -> None:
    github.push_files(SHOP, "main", {".github/specloop.yml": "approval_count: 2\n"}, by="alice")
    assert (await approve(github, spec_pr, by="bob"))["status"] == "waiting for more approvals"
    assert await code_jobs(core_deps) == []
    assert (await approve(github, spec_pr, by="alice", delivery="d2"))["status"] == "approved"
    assert len(await code_jobs(core_deps)) == 1


async def test_a_configured_approver_without_write_access_may_approve(
    github: Any, core_deps: Any, spec_pr: dict[str, Any]
) -> None:
    github.push_files(SHOP, "main", {".github/specloop.yml": "approvers: [tina]\n"}, by="alice")
    assert (await approve(github, spec_pr, by="tina"))["status"] == "approved"
    assert len(await code_jobs(core_deps)) == 1


async def test_a_person_dismissing_the_approval_closes_the_gate(
    github: Any, core_deps: Any, spec_pr: dict[str, Any]
) -> None:
    head = pr(github, spec_pr).head_sha
    await approve(github, spec_pr)
    (review,) = [r for r in github.reviews(SHOP, spec_pr["number"]) if r.state == "APPROVED"]
    github.dismiss_review(SHOP, spec_pr["number"], review.id, by="alice")
    result = await run_job(deps(spec_pr["ctx"]), CloseGate(installation_id=spec_pr["installation_id"],
                                                           repo=SHOP, number=spec_pr["number"],
                                                           reason="dismissed", actor="alice"))
    assert result["status"] == "gate closed"
    assert recorded(github, spec_pr) is None
    assert spec_check(github, head).conclusion == "action_required"
    assert any(
        GATE_CLOSED in c.body and "@alice dismissed" in c.body
        for c in github.comments(SHOP, spec_pr["number"])
    )


async def test_the_apps_own_dismissal_does_not_close_the_gate(
    github: Any, core_deps: Any, spec_pr: dict[str, Any]
) -> None:
    await approve(github, spec_pr)
    result = await run_job(deps(spec_pr["ctx"]), CloseGate(installation_id=spec_pr["installation_id"],
                                                           repo=SHOP, number=spec_pr["number"],
                                                           reason="dismissed", actor=github.bot.login))
    assert result["status"] == "the app's own dismissal does not close the gate"
    assert recorded(github, spec_pr) is not None


async def test_a_feature_change_after_approval_closes_the_gate_naming_the_file(
    github: Any, core_deps: Any, spec_pr: dict[str, Any]
) -> None:
    await approve(github, spec_pr)
    branch = pr(github, spec_pr).head_ref
    text = github.file(SHOP, PATH, ref=branch)
    sha = github.push_files(SHOP, branch, {PATH: text.replace("Wrong password", "Try again")}, by="bob")
    result = await run_job(deps(spec_pr["ctx"]), CheckSpec(installation_id=spec_pr["installation_id"],
                                                           repo=SHOP, number=spec_pr["number"], sha=sha))
    assert result == {"status": "gate closed", "changed": [PATH]}
    assert recorded(github, spec_pr) is None
    check = spec_check(github, sha)
    assert check.conclusion == "action_required" and PATH in check.output["summary"]
    assert any(GATE_CLOSED in c.body and PATH in c.body for c in github.comments(SHOP, spec_pr["number"]))


async def test_a_code_push_after_approval_keeps_the_gate_and_starts_qa(
    github: Any, core_deps: Any, spec_pr: dict[str, Any]
) -> None:
    await approve(github, spec_pr)
    sha = github.push_files(SHOP, pr(github, spec_pr).head_ref, {"app.py": "print('code')\n"}, by="bob")
    result = await run_job(deps(spec_pr["ctx"]), CheckSpec(installation_id=spec_pr["installation_id"],
                                                           repo=SHOP, number=spec_pr["number"], sha=sha))
    assert result["status"] == "approved; qa queued"
    assert recorded(github, spec_pr) is not None
    assert spec_check(github, sha).conclusion == "success"
    queued = [j.decode() for j in await core_deps.redis.zrange(QUEUES["heavy"], 0, -1)]
    assert [j for j in queued if j.startswith("qa:")] == [f"qa:{SHOP}:{sha}"]


async def test_an_approval_delivered_twice_through_the_service_generates_code_once(
    github: Any, service: Any
) -> None:
    _, pull = await open_spec_pr(github, service)
    github.submit_review(SHOP, pull.number, "APPROVED", by="bob", commit_id=pull.head_sha)
    delivery = github.deliveries_for("pull_request_review", "submitted")[-1]
    # the same review again under a new delivery id: the web layer's GUID dedupe cannot catch this one
    github.deliver_raw("pull_request_review", delivery.payload)
    assert (await service.drain())["failed"] == 0
    fingerprint = Fingerprint.from_data(find_marker(github.issue(SHOP, pull.number).body, "fingerprint"))
    assert fingerprint is not None and fingerprint.sha == pull.head_sha
    (code,) = github.check_runs(SHOP, head_sha=pull.head_sha, name="specloop/code")
    # one run, keyed on the approved commit (this service has no model: it says so, once)
    assert (code.conclusion, code.external_id) == ("neutral", f"code:{SHOP}:{pull.head_sha}")
    assert code.output["title"] == "Code generation could not run"
    redis = Redis.from_url(service.redis_url)
    try:
        assert len([k async for k in redis.scan_iter(match="arq:result:code:*")]) == 1
    finally:
        await redis.aclose()


async def test_a_readers_approval_through_the_service_is_refused_politely(github: Any, service: Any) -> None:
    _, pull = await open_spec_pr(github, service)
    github.submit_review(SHOP, pull.number, "APPROVED", by="rita", commit_id=pull.head_sha)
    assert (await service.drain())["failed"] == 0
    assert find_marker(github.issue(SHOP, pull.number).body, "fingerprint") is None
    assert github.check_runs(SHOP, head_sha=pull.head_sha, name="specloop/code") == []
    assert spec_check(github, pull.head_sha).conclusion == "action_required"
    assert any("@rita" in c.body for c in github.comments(SHOP, pull.number))
