"""A worker killed mid-job: arq's retry of the same job takes the story lock the dead run left behind,
and follow-ups recorded while it was dead run once the lock is gone."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis
from arq.jobs import Job as ArqJob
from arq.jobs import deserialize_job
from redis.asyncio import Redis

from app.context import DEPS_KEY, Deps, JobScope
from app.domain.fingerprint import Fingerprint
from app.domain.markers import find_marker
from app.gh import issues
from app.gh.models import RepoRef
from app.gh.repos import get_repository
from app.isolation import sandbox_available
from app.job_args import MapStory, Queue, WriteSpec
from app.queue import LOCK_KEY, QUEUES, JobRequest, acquire_story, enqueue
from app.render.map_comment import read_map_state
from app.render.spec_pr import GATE_CLOSED
from app.sandbox.harness import LLM_KEY
from app.sandbox.messages_api import ToolCalls, ToolUse
from jobs.follow_ups import drain_follow_ups
from jobs.worker import JOBS, Job, run_burst
from tests.sample_app import SampleApp
from tests.support.code import AFTER, editor, story_pr
from tests.support.service import install_shop
from tests.support.spec import PATH, SHOP, bot_approved_pull, mapped_issue, open_spec_pr, spec_pulls


async def test_the_retry_of_a_killed_job_runs_despite_the_lock_its_first_run_left(
    github: Any, core_deps: Deps, redis_url: str
) -> None:
    shop = install_shop(github)
    number = github.open_issue(shop.repo, "A story")
    request = JobRequest.of(MapStory(installation_id=shop.installation_id, repo=shop.repo, number=number,
                                     trigger="command"))
    ran: list[str] = []

    async def map_story(scope: JobScope, args: Any) -> dict[str, Any]:
        ran.append(scope.job_id)
        return {"status": "mapped"}

    redis = ArqRedis.from_url(redis_url)
    try:
        # the first run took the lock under its job id, then its worker was SIGKILLed: no release
        assert await acquire_story(redis, request.story, request.job_id, 3600)
        assert await enqueue(redis, request)  # arq runs the same job id again
    finally:
        await redis.aclose()
    result = await run_burst(core_deps.settings, redis_url, core_deps, jobs={"map_story": Job(MapStory, map_story)})
    assert ran == [request.job_id] and result["complete"] == 1
    redis = ArqRedis.from_url(redis_url)
    try:
        assert not await redis.exists(LOCK_KEY.format(request.story))  # released this time
    finally:
        await redis.aclose()


async def test_a_follow_up_recorded_while_the_holder_died_runs_after_its_lock_expires(
    github: Any, core_deps: Deps, redis_url: str
) -> None:
    shop = install_shop(github)
    number = github.open_issue(shop.repo, "A story")
    spec = JobRequest.of(WriteSpec(installation_id=shop.installation_id, repo=shop.repo, number=number))
    ran: list[int] = []

    async def write_spec(scope: JobScope, args: Any) -> dict[str, Any]:
        ran.append(args.number)
        return {"status": "written"}

    redis = ArqRedis.from_url(redis_url)
    try:
        assert await acquire_story(redis, spec.story, "a run whose worker was killed", 3600)
        assert await enqueue(redis, spec)
    finally:
        await redis.aclose()
    jobs = {"write_spec": Job(WriteSpec, write_spec)}
    first = await run_burst(core_deps.settings, redis_url, core_deps, jobs=jobs)
    assert ran == [] and first["complete"] == 1  # the story looked busy: recorded as its follow-up
    redis = ArqRedis.from_url(redis_url)
    try:
        await redis.delete(LOCK_KEY.format(spec.story))  # the dead holder's lock expires
    finally:
        await redis.aclose()
    swept = await drain_follow_ups({DEPS_KEY: core_deps, "job_id": "drain_follow_ups:test"})
    assert len(swept["enqueued"]) == 1
    await run_burst(core_deps.settings, redis_url, core_deps, jobs=jobs)
    assert ran == [number]


async def test_a_token_that_expires_mid_job_is_replaced_and_the_job_retried(
    github: Any, core_deps: Deps, redis_url: str
) -> None:
    shop = install_shop(github)
    number = github.open_issue(shop.repo, "A story")
    repo = RepoRef.parse(shop.repo)
    await get_repository(core_deps.github.installation(shop.installation_id), repo)  # a token, now cached
    github.expire_tokens()  # GitHub lets it go early (revoked, or a clock apart): the cache still holds it
    seen: list[str] = []

    async def map_story(scope: JobScope, args: Any) -> dict[str, Any]:
        seen.append((await issues.get_issue(scope.gh, scope.repo, args.number)).title)
        return {"status": "mapped"}

    request = JobRequest.of(MapStory(installation_id=shop.installation_id, repo=shop.repo, number=number,
                                     trigger="command"))
    redis = ArqRedis.from_url(redis_url)
    try:
        assert await enqueue(redis, request)
    finally:
        await redis.aclose()
    result = await run_burst(core_deps.settings, redis_url, core_deps, jobs={"map_story": Job(MapStory, map_story)},
                             wait_deferred=5)
    assert seen == ["A story"] and (result["retried"], result["failed"]) == (1, 0)
    assert github.comments(shop.repo, number) == []  # no failure comment: nothing failed for good


# --- SIGKILL during every job kind that writes to GitHub ------------------------------------------------
#
# Each case starts its job the way production does (a person acts on the double, the webhook reaches the
# service, the service queues the job), a real `specloop worker` process for the job's queue takes it, one
# of the job's GitHub calls hangs (a latency fault; where the job writes more than once, a call after its
# first write), and the worker is SIGKILLed inside that call. GitHub still applies the hung request (it
# was sent whole; only the answer never reaches the dead worker), so the retry starts from "everything up
# to and including the interrupted write happened". arq's in-progress mark is deleted (what its TTL does,
# minutes later), another worker process runs the retry, and the end state must hold each effect once.

# How long the paused request hangs: the window the kill lands in (it follows within one 0.05 s poll), which
# the retry also waits out while the second worker starts; not a speed assertion.
LATENCY = 2.0
DEADLINE = 45.0  # for start-up and settling on a loaded machine, not a speed assertion


async def _until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _in_progress(redis: Redis) -> dict[str, str]:
    """Job id -> function of each job in progress (arq keeps a finished cron job's mark a while: not those)."""
    found = {}
    async for key in redis.scan_iter("arq:in-progress:*"):
        job_id = key.decode().removeprefix("arq:in-progress:")
        payload = await redis.get(f"arq:job:{job_id}")
        if payload is not None:
            found[job_id] = deserialize_job(payload).function
    return found


async def _quiet(github: Any, redis: Redis) -> bool:
    """No webhook on its way, no job queued (due or deferred), none running."""
    await asyncio.to_thread(github.wait_for_deliveries)
    queued = [await redis.zcard(name) for name in QUEUES.values()]
    return not any(queued) and not await _in_progress(redis)


async def sigkill_mid_job(github: Any, service: Any, tmp_path: Path, *, function: str, pause: tuple[str, str],
                          act: Callable[[], object], also: tuple[Queue, ...] = (),
                          env: dict[str, str] | None = None) -> dict[str, Any]:
    """Let `act` start `function` in a worker for its queue, SIGKILL that worker inside the `pause` request
    (method, path regex), start another and wait until the retry and whatever it caused are done; what
    the retry returned.

    `also`: other queues served throughout by workers of their own (a job that queues or follows a job
    of the other queue), as a deployment runs one worker per queue.
    """
    queue = JOBS[function].args.QUEUE
    method, path = pause
    fault = github.fault(method, path, status=None, latency=LATENCY, times=1)
    hung_index = len(github.requests_to(method, path))  # the first such request from here on hangs
    env = {**(env or service.worker_env()), "LOG_LEVEL": "INFO"}
    workers: dict[str, asyncio.subprocess.Process] = {}
    redis = ArqRedis.from_url(service.redis_url)

    async def start(name: str, queue: Queue) -> asyncio.subprocess.Process:
        with (tmp_path / f"{name}.log").open("wb") as log:  # the child writes to its own copy of the descriptor
            workers[name] = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).with_name("specloop")), "worker", "--queue", queue, env=env,
                stdout=log, stderr=asyncio.subprocess.STDOUT)
        return workers[name]

    def logs() -> str:
        return "".join(f"\n--- {name}.log\n" + (tmp_path / f"{name}.log").read_text()[-3000:] for name in workers)

    def alive(*spared: str) -> None:
        dead = [name for name, worker in workers.items() if worker.returncode is not None and name not in spared]
        assert not dead, f"worker {dead} exited by itself{logs()}"

    async def wait(condition: Callable[[], Awaitable[bool]], what: str) -> None:
        try:
            await _until(condition, what)
        except AssertionError as error:
            raise AssertionError(f"{error}{logs()}") from None

    try:
        for other in also:
            await start(f"{other}-worker", other)
        first = await start(f"{queue}-worker-1", queue)
        act()

        async def paused() -> bool:
            alive()
            return bool(fault.hits > 0)

        await wait(paused, f"{function} to reach {method} {path}")
        first.kill()  # SIGKILL: no clean-up, no lock release, the job left "in progress"
        await first.wait()
        hung = github.requests_to(method, path)[hung_index]
        assert hung.status is None, f"the kill came after the paused request's {LATENCY} s were over"
        await start(f"{queue}-worker-2", queue)  # starts up while the hung request finishes

        async def landed() -> bool:
            return hung.status is not None

        await wait(landed, "GitHub to apply the interrupted request")
        running = await _in_progress(redis)
        job_id = next((job for job, name in running.items() if name == function), None)
        assert job_id is not None, f"no {function} left in progress by the killed worker: {running}"
        for job in running:  # what arq's in-progress TTL does for every job the dead worker held, minutes later
            await redis.delete(f"arq:in-progress:{job}")

        async def settled() -> bool:
            alive(f"{queue}-worker-1")
            return bool(await redis.exists(f"arq:result:{job_id}")) and await _quiet(github, redis)

        await wait(settled, f"the retry of {job_id} and the jobs it queued")
        info = await ArqJob(job_id, redis).result_info()
        assert info is not None and info.success, f"{job_id} failed: {info}{logs()}"
        assert info.job_try == 2, f"{job_id} ran {info.job_try} time(s){logs()}"
        assert info.result.get("status") != "follow-up pending", "the retry was refused its own story lock"
        assert not [key async for key in redis.scan_iter("specloop:lock:*")], "a story lock outlived its jobs"
        assert not [key async for key in redis.scan_iter("specloop:followup:*")], "a follow-up was never run"
        return dict(info.result)
    finally:
        for worker in workers.values():
            if worker.returncode is None:
                worker.terminate()
        for worker in workers.values():
            try:
                await asyncio.wait_for(worker.wait(), DEADLINE)
            except TimeoutError:
                worker.kill()
                await worker.wait()
        await redis.aclose()


def _bot_comments(github: Any, number: int) -> list[str]:
    return [c.body for c in github.comments(SHOP, number) if c.user.login == github.bot.login]


def _checks(github: Any, sha: str, name: str) -> list[str]:
    """The status of each check run `name` on `sha`."""
    return [run.status for run in github.check_runs(SHOP, head_sha=sha, name=name)]


def _one_check(github: Any, sha: str, name: str) -> Any:
    """The one check run `name` on `sha`, completed."""
    runs = github.check_runs(SHOP, head_sha=sha, name=name)
    assert [run.status for run in runs] == ["completed"], f"{name} check runs on {sha[:7]}: {runs}"
    return runs[0]


def _status(github: Any, issue: int) -> Any:
    """The story status the map comment on `issue` records."""
    (state,) = [read_map_state(body) for body in _bot_comments(github, issue) if find_marker(body, "map")]
    assert state is not None
    return state.status


def _approval(github: Any, number: int) -> Fingerprint | None:
    return Fingerprint.from_data(find_marker(github.issue(SHOP, number).body, "fingerprint"))


async def test_a_worker_sigkilled_mid_job_leaves_exactly_one_map_once_another_worker_runs(
    github: Any, service: Any, tmp_path: Path
) -> None:
    number = github.open_issue(SHOP, "Saved carts", "As a shopper I want to save my cart so that I can buy later.")
    # the worker dies while posting the map comment
    await sigkill_mid_job(github, service, tmp_path, function="map_story",
                          pause=("POST", rf"/issues/{number}/comments$"),
                          act=lambda: github.label_issue(SHOP, number, "story"))
    maps = [body for body in _bot_comments(github, number) if find_marker(body, "map") is not None]
    assert len(maps) == 1  # the retry found the one comment: never two, never none


async def test_a_reply_killed_while_posting_is_posted_exactly_once(
    github: Any, service: Any, tmp_path: Path
) -> None:
    number = github.open_issue(SHOP, "Saved carts", "As a shopper I want to save my cart.")
    await sigkill_mid_job(github, service, tmp_path, function="reply",
                          pause=("POST", rf"/issues/{number}/comments$"),
                          act=lambda: github.comment(SHOP, number, "/specloop help", by="alice"))
    assert len(_bot_comments(github, number)) == 1


async def test_a_spec_write_killed_after_its_commit_opens_one_pr_on_one_branch_with_one_commit(
    github: Any, service: Any, tmp_path: Path
) -> None:
    number = mapped_issue(github)
    # the branch and its commit are written; the worker dies while opening the PR
    await sigkill_mid_job(github, service, tmp_path, function="write_spec", pause=("POST", r"/pulls$"),
                          act=lambda: github.comment(SHOP, number, "/specloop spec", by="alice"))
    (pull,) = spec_pulls(github, number)
    git = github.repo(SHOP).git
    branches = [ref for ref in git.refs("refs/heads/specloop/") if ref.startswith(f"refs/heads/specloop/{number}-")]
    assert branches == [f"refs/heads/{pull.head_ref}"]
    assert len(git.log(f"main..{pull.head_ref}")) == 1  # one feature file commit
    _one_check(github, pull.head_sha, "specloop/spec")
    assert _status(github, number).spec_pr == pull.number
    assert [user.login for user in pull.requested_reviewers] == ["alice"]


async def test_a_spec_check_killed_while_posting_leaves_one_check_run(
    github: Any, service: Any, tmp_path: Path
) -> None:
    _, pull = await open_spec_pr(github, service)
    changed = {PATH: github.file(SHOP, PATH, ref=pull.head_ref).replace("Wrong password", "Try again")}
    await sigkill_mid_job(github, service, tmp_path, function="check_spec", pause=("POST", r"/check-runs$"),
                          act=lambda: github.push_files(SHOP, pull.head_ref, changed, by="bob"))
    _one_check(github, pull.head_sha, "specloop/spec")


SIGN_IN = """Feature: Sign in with email
  Rule: A wrong password is refused
    Example: the one where Ana types wr0ng
      Given I am on "/login"
      When I press "Sign in"
      Then I should see "Wrong password"
"""


async def test_a_revision_killed_after_its_commit_is_one_commit_one_check_and_one_reply(
    github: Any, service: Any, llm: Any, tmp_path: Path
) -> None:
    llm.script({"feature": SIGN_IN})
    _, pull = await open_spec_pr(github, service)
    before = pull.head_sha
    revised = github.file(SHOP, PATH, ref=pull.head_ref).replace("Wrong password", "Try again")
    answer = {"feature": revised, "answers": ["Says try again"], "summary": "Friendlier refusal."}
    llm.script(answer, answer)  # a retry may ask again
    env = {**service.worker_env(), "ANTHROPIC_API_KEY": LLM_KEY, "ANTHROPIC_BASE_URL": llm.base_url}
    # the revision commit is pushed; the worker dies while recording it in the PR body
    await sigkill_mid_job(github, service, tmp_path, function="revise_spec", env=env,
                          pause=("PATCH", rf"/pulls/{pull.number}$"),
                          act=lambda: github.submit_review(SHOP, pull.number, "REQUEST_CHANGES", by="bob",
                                                           body="Say 'Try again' for a wrong password"))
    head = pull.head_sha
    assert len(github.repo(SHOP).git.log(f"{before}..{head}")) == 1
    assert "Try again" in github.file(SHOP, PATH, ref=pull.head_ref)
    assert _checks(github, head, "specloop/spec") == ["completed"]
    assert len([b for b in _bot_comments(github, pull.number) if "to answer the review" in b]) == 1


async def test_an_approval_killed_after_recording_it_opens_the_gate_once_and_generates_code_once(
    github: Any, service: Any, tmp_path: Path
) -> None:
    number, pull = await open_spec_pr(github, service)
    head = pull.head_sha
    # the approval is recorded in the PR body; the worker dies while updating the spec check
    await sigkill_mid_job(github, service, tmp_path, function="approve_spec", also=("heavy",),
                          pause=("PATCH", r"/check-runs/\d+$"),
                          act=lambda: github.submit_review(SHOP, pull.number, "APPROVED", by="bob", commit_id=head))
    approval = _approval(github, pull.number)
    assert approval is not None and (approval.sha, approval.approver) == (head, "bob")
    check = _one_check(github, head, "specloop/spec")
    assert check.conclusion == "success" and approval.digest in check.output["summary"]
    assert _checks(github, head, "specloop/code") == ["completed"]  # generated once
    status = _status(github, number)
    assert (status.approved_by, status.approved_sha) == ("bob", head)


async def test_a_gate_closing_killed_after_removing_the_approval_says_so_once_and_fails_the_check(
    github: Any, service: Any, tmp_path: Path
) -> None:
    number, pull = await open_spec_pr(github, service)
    head = pull.head_sha
    review = github.submit_review(SHOP, pull.number, "APPROVED", by="bob", commit_id=head)
    assert (await service.drain())["failed"] == 0 and _approval(github, pull.number) is not None
    # the approval is removed from the PR body; the worker dies while saying so on the PR
    await sigkill_mid_job(github, service, tmp_path, function="close_gate",
                          pause=("POST", rf"/issues/{pull.number}/comments$"),
                          act=lambda: github.dismiss_review(SHOP, pull.number, review, by="alice"))
    assert _approval(github, pull.number) is None
    assert len([b for b in _bot_comments(github, pull.number) if GATE_CLOSED in b]) == 1
    assert _one_check(github, head, "specloop/spec").conclusion == "action_required"
    assert _status(github, number).approved_by is None


async def test_code_generation_killed_while_posting_its_check_reports_once(
    github: Any, service: Any, tmp_path: Path
) -> None:
    number, pull = await open_spec_pr(github, service)
    head = pull.head_sha
    # approve_spec (light) queues generate_code (heavy), whose worker dies while creating its check run
    await sigkill_mid_job(github, service, tmp_path, function="generate_code", also=("light",),
                          pause=("POST", r"/check-runs$"),
                          act=lambda: github.submit_review(SHOP, pull.number, "APPROVED", by="bob", commit_id=head))
    assert _one_check(github, head, "specloop/code").conclusion == "neutral"
    assert _status(github, number).code_state == "could not run"  # no model in this service


QA_FEATURE = """Feature: Smoke
  Scenario: The shop opens
    Given I am on the home page
    Then I should see "Welcome to the shop"
"""


async def test_qa_killed_while_creating_its_check_run_reports_on_one_completed_check_run(
    github: Any, service: Any, tmp_path: Path, sample_app: SampleApp
) -> None:
    config = f"qa:\n  base_url: {sample_app.url}\n  contexts: 1\n  timeout_ms: 5000\n"
    files = {"features/smoke.feature": QA_FEATURE, ".github/specloop.yml": config}
    sha = github.push_files(SHOP, "specloop/1-smoke", files, "Spec and config")
    github.push_files(SHOP, "main", {".github/specloop.yml": config}, "Config")
    number = bot_approved_pull(github, "specloop/1-smoke", sha, files, title="Spec: smoke")
    github.submit_review(SHOP, number, "APPROVED", by="alice", commit_id=sha)  # the approval the record stands on
    assert (await service.drain())["failed"] == 0
    env = {**service.worker_env(), "QA_ALLOW_PRIVATE_HOSTS": "true"}  # the sample app is on 127.0.0.1
    await sigkill_mid_job(github, service, tmp_path, function="run_qa", pause=("POST", r"/check-runs$"), env=env,
                          act=lambda: github.comment(SHOP, number, "/specloop qa", by="alice"))
    assert _checks(github, sha, "specloop/qa") == ["completed"]
    assert _one_check(github, sha, "specloop/qa").conclusion == "success"


@pytest.mark.skipif(sandbox_available() is not None, reason=str(sandbox_available()))
@pytest.mark.parametrize("service", [{"allow_repo_code": True}], indirect=True)
async def test_code_generation_killed_while_pushing_pushes_once_and_reports_on_its_check_run(
    github: Any, llm: Any, service: Any, tmp_path: Path
) -> None:
    issue, number, approved = story_pr(github)
    llm.script(
        ToolCalls(editor(command="str_replace", path="app.py", old_str="Coming soon", new_str="Hello, shop visitors")),
        ToolCalls(ToolUse({"summary": "Greets visitors."}, name="finish")),
    )
    env = {**service.worker_env(), "ANTHROPIC_API_KEY": LLM_KEY, "ANTHROPIC_BASE_URL": llm.base_url,
           "ALLOW_REPO_CODE": "true"}
    # the agent ran and the job moves the branch; the worker dies inside that request, which GitHub carries out
    result = await sigkill_mid_job(github, service, tmp_path, function="generate_code", also=("light",), env=env,
                                   pause=("PATCH", r"/git/refs/heads/specloop/"),
                                   act=lambda: github.submit_review(SHOP, number, "APPROVED", by="bob",
                                                                    commit_id=approved))
    pushed = github.pull(SHOP, number).head_sha
    assert result == {"status": "already pushed", "pushed": pushed}
    ours = [p for p in github.git_pushes if p["pusher"] == github.bot.login and p["ref"].startswith("refs/heads/spec")]
    assert len(ours) == 1 and ours[0]["after"] == pushed
    assert github.file(SHOP, "app.py", ref=pushed) == AFTER
    code = _one_check(github, approved, "specloop/code")
    assert code.conclusion == "success" and "interrupted after it pushed" in code.output["summary"]
    assert _status(github, issue).code_sha == pushed
    assert llm.remaining == 0 and len(llm.requests) == 2  # the retry asked the model nothing
