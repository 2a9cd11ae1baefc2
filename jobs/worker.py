"""The arq worker: the job registry, start-up wiring, and the wrapper every job runs in.

The wrapper does what no job should repeat: log context, the permission check for jobs people start,
the per-story lock (with merged follow-ups), leaving closed stories alone, retrying temporary failures
with GitHub's `retry-after`, and one plain-words comment on the issue or PR when a job fails for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from arq.connections import RedisSettings
from arq.worker import Function, Retry, Worker, func
from githubkit.exception import RateLimitExceeded, RequestFailed
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.artifacts import ArtifactStore
from app.context import DEPS_KEY, Deps, InstallationScope, JobScope, deps
from app.gh import issues
from app.gh.client import GitHubApp
from app.gh.repos import collaborator_role
from app.git import GitError
from app.job_args import (
    ApproveSpec,
    CheckSpec,
    CloseGate,
    DropInstallation,
    GenerateCode,
    JobArgs,
    MapStory,
    Queue,
    Reply,
    RepoJobArgs,
    ReviseSpec,
    RunQa,
    WriteSpec,
)
from app.logs import log_context
from app.model.client import BudgetExceeded, ModelClient, ModelError
from app.permissions import describe, may
from app.queue import META, QUEUES, JobRequest, story_lock
from app.render import replies
from app.repo_config import ConfigError
from app.settings import Settings
from jobs.approve_spec import approve_spec, close_gate
from jobs.check_spec import check_spec
from jobs.follow_ups import follow_up_cron
from jobs.generate_code import generate_code
from jobs.installation import drop_installation
from jobs.map_story import map_story
from jobs.purge_artifacts import purge_cron
from jobs.redeliver import redelivery_cron
from jobs.reply import reply
from jobs.revise_spec import revise_spec
from jobs.run_qa import run_qa
from jobs.write_spec import write_spec

log = logging.getLogger(__name__)

JobFunction = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Job:
    """A registered job: its typed arguments and the function that runs it with a scope."""

    args: type[JobArgs]
    run: Callable[[Any, Any], Awaitable[dict[str, Any]]]


# Every job in docs/architecture.md's job table, by name.
JOBS: dict[str, Job] = {
    MapStory.NAME: Job(MapStory, map_story),
    Reply.NAME: Job(Reply, reply),
    WriteSpec.NAME: Job(WriteSpec, write_spec),
    CheckSpec.NAME: Job(CheckSpec, check_spec),
    ReviseSpec.NAME: Job(ReviseSpec, revise_spec),
    ApproveSpec.NAME: Job(ApproveSpec, approve_spec),
    CloseGate.NAME: Job(CloseGate, close_gate),
    GenerateCode.NAME: Job(GenerateCode, generate_code),
    RunQa.NAME: Job(RunQa, run_qa),
    DropInstallation.NAME: Job(DropInstallation, drop_installation),
}

MAX_TRIES = 5
LIGHT_POLL_SECONDS = 0.05
HEAVY_POLL_SECONDS = 0.5
JOB_TIMEOUTS = {"light": 300, "heavy": 1800}  # seconds; code generation and QA take minutes
LOCK_MARGIN_SECONDS = 60  # the story lock outlives the job's timeout a little, then frees itself
NO_OPEN_CHECK = {Reply.NAME, DropInstallation.NAME}  # these run even on a closed issue
# Replies only read the story and add a comment of their own: one waiting behind a half-hour code run,
# or being merged with another command's reply, would leave a person's `/specloop help` unanswered.
NO_LOCK = {Reply.NAME}


# --- failure handling -------------------------------------------------------------------------------


def _underlying(error: BaseException) -> BaseException:
    """The GitHub error behind a wrapper: githubkit's auth flow fetches the installation token inside
    the request, and a 5xx or rate limit on that call reaches the job as a RequestError whose cause
    is the real answer."""
    seen = 0
    while not isinstance(error, RequestFailed | RateLimitExceeded) and error.__cause__ is not None and seen < 5:
        error, seen = error.__cause__, seen + 1
    return error


def _temporary_delay(error: BaseException, job_try: int) -> float | None:
    """Seconds to wait before retrying `error`, or None when retrying would not help."""
    error = _underlying(error)
    if isinstance(error, RateLimitExceeded):
        return max(1.0, error.retry_after.total_seconds())
    if isinstance(error, RequestFailed) and error.response.status_code >= 500:
        return 5.0 * job_try
    if _expired_token(error):
        return 1.0  # the cached token was revoked or expired early: a fresh one is fetched on the retry
    if isinstance(error, httpx.TransportError | ConnectionError | asyncio.TimeoutError):
        return 5.0 * job_try
    return None


def _expired_token(error: BaseException) -> bool:
    """GitHub's 401 to an installation token (expired or revoked before our cache let it go)."""
    error = _underlying(error)
    return isinstance(error, RequestFailed) and error.response.status_code == 401


def _reason(error: BaseException) -> str:
    """What went wrong, fit for a comment: no traceback, no internals, no secrets."""
    if isinstance(error, ModelError | BudgetExceeded):
        return str(error)  # ModelError messages are written for people
    error = _underlying(error)
    if isinstance(error, RateLimitExceeded):
        return "GitHub kept rate-limiting Specloop's requests"
    if isinstance(error, RequestFailed):
        request = error.response.raw_request
        return (f"GitHub answered {error.response.status_code} to {request.method} "
                f"{request.url.path}")
    if isinstance(error, GitError):
        return str(error)
    if isinstance(error, asyncio.TimeoutError):
        return "it took too long and was stopped"
    return f"an unexpected error inside Specloop ({type(error).__name__}); the service log has details"


async def _report_failure(scope: InstallationScope, function: str, args: JobArgs, error: BaseException) -> None:
    """Post the one failure comment on the issue or PR the job was about (best effort)."""
    if not isinstance(scope, JobScope) or not isinstance(args, RepoJobArgs) or not args.number:
        return
    try:
        if isinstance(error, ConfigError):
            body = replies.config_error(error.path, error.key, error.line, error.message)
        else:
            body = replies.job_failed(function, _reason(error), job_id=scope.job_id)
        await issues.create_comment(scope.gh, scope.repo, args.number, body)
    except Exception:
        log.exception("could not post the failure comment", extra={"job": function})


# --- the wrapper --------------------------------------------------------------------------------------


async def _permitted(scope: JobScope, args: RepoJobArgs, action: str, *, announce: bool = True) -> bool:
    """Whether the request's actor may do its action; posts the refusal when not (and `announce`)."""
    actor = str(args.actor)
    config = await scope.config()
    role = await collaborator_role(scope.gh, scope.repo, actor)
    if may(role, action, config.permission_table):
        return True
    log.info("refused", extra={"actor": actor, "action": action, "role": role})
    if announce and args.number:
        body = replies.refusal(actor, action, describe(action, config.permission_table))
        await issues.create_comment(scope.gh, scope.repo, args.number, body)
    return False


def scope_for(d: Deps, args: JobArgs, job_id: str) -> InstallationScope:
    """The scope a job runs in: a repository's when its arguments name one."""
    if isinstance(args, RepoJobArgs):
        return JobScope(d, args.installation_id, job_id, repo=args.repo_ref)
    return InstallationScope(d, args.installation_id, job_id)


async def _guarded(job: Job, scope: InstallationScope, args: JobArgs, request: JobRequest) -> dict[str, Any]:
    """Permission, story lock and open-story check around the job itself."""
    if request.permission and isinstance(args, RepoJobArgs) and isinstance(scope, JobScope):
        if not args.actor:
            # nobody to check the role of: a job that needs a permission must not run on trust
            log.warning("refused: no actor", extra={"action": request.permission, "job": request.function})
            return {"status": "refused"}
        # an unknown command from someone without the role gets nothing, not even a refusal: a reply
        # would let a stranger make the bot post once per comment
        quiet = isinstance(args, Reply) and args.kind == "unknown_command"
        if not await _permitted(scope, args, request.permission, announce=not quiet):
            return {"status": "refused"}
    if request.function in NO_LOCK:
        return await job.run(scope, args)
    timeout = JOB_TIMEOUTS.get(request.queue, 300) + LOCK_MARGIN_SECONDS
    # a follow-up is already permitted, so it is recorded without the permission to check
    follow_up = request.model_copy(update={"permission": None})
    async with story_lock(scope.deps.redis, request.story, owner=scope.job_id, ttl_seconds=timeout,
                          follow_up=follow_up) as lock:
        if not lock.acquired:
            log.info("story busy; merged into its follow-up run", extra={"story": request.story})
            return {"status": "follow-up pending"}
        if request.function not in NO_OPEN_CHECK and isinstance(scope, JobScope) \
                and isinstance(args, RepoJobArgs) and args.number \
                and not await issues.is_open(scope.gh, scope.repo, args.number):
            log.info("story closed; nothing to do", extra={"story": request.story})
            return {"status": "story closed"}
        return await job.run(scope, args)


def wrap(name: str, job: Job, queue: Queue = "light") -> JobFunction:
    """The job as the worker runs it (see the module docstring)."""

    async def run(ctx: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        meta = kwargs.pop(META, None) or {}
        d = deps(ctx)
        job_id = str(ctx.get("job_id", name))
        job_try = int(ctx.get("job_try", 1))
        with log_context(delivery_id=meta.get("delivery"), job_id=job_id):
            try:
                args = job.args.model_validate(kwargs)
            except ValidationError as error:
                # written by another version of Specloop, or by hand: retrying cannot fix it
                log.error("job arguments do not fit the job", extra={"job": name, "error": str(error)[:500]})
                return {"status": "bad arguments"}
            request = JobRequest(function=name, queue=meta.get("queue", queue), kwargs=kwargs,
                                 story=str(meta.get("story") or args.story),
                                 permission=meta.get("permission"), key=meta.get("key"),
                                 delivery=meta.get("delivery"))
            scope = scope_for(d, args, job_id)
            try:
                return await _guarded(job, scope, args, request)
            except (Retry, asyncio.CancelledError):
                raise
            except Exception as error:
                delay = _temporary_delay(error, job_try)
                if _expired_token(error):
                    # forget the cached token, so the retry (or the next job) asks GitHub for a new one
                    await d.github.drop_installation(args.installation_id)
                if delay is not None and job_try < MAX_TRIES:
                    log.warning("temporary failure; retrying", extra={"error": type(error).__name__,
                                                                      "defer": delay, "try": job_try})
                    raise Retry(defer=delay) from error
                log.exception("job failed for good", extra={"job": name})
                await _report_failure(scope, name, args, error)
                raise

    run.__name__ = run.__qualname__ = name
    return run


# --- start-up and worker settings ---------------------------------------------------------------------


async def build_deps(settings: Settings, redis: Redis) -> Deps:
    """Create the clients jobs use: GitHub App, model client (None offline), artifact store."""
    model = ModelClient.from_settings(settings, redis)
    artifacts = ArtifactStore.from_settings(settings)
    return Deps(settings=settings, redis=redis, github=GitHubApp(settings, redis), model=model,
                artifacts=artifacts)


def functions(queue: Queue = "light", jobs: dict[str, Job] | None = None) -> list[Function]:
    """Every registered job (or `jobs`, for tests), wrapped, with its timeout and retry limit."""
    # arq's WorkerCoroutine protocol also wants `*args`; our jobs are called with keywords only
    return [func(wrap(name, job, queue), name=name,  # type: ignore[arg-type]
                 timeout=JOB_TIMEOUTS.get(queue, 300), max_tries=MAX_TRIES)
            for name, job in (JOBS if jobs is None else jobs).items()]


def worker_settings(settings: Settings, queue: Queue = "light", *, prebuilt: Deps | None = None,
                    redis_url: str | None = None, jobs: dict[str, Job] | None = None,
                    cron_jobs: bool = True) -> dict[str, Any]:
    """Keyword arguments for an arq `Worker` serving one queue (light or heavy); the light one runs the crons."""

    async def on_startup(ctx: dict[str, Any]) -> None:
        # before any job runs repository code (also when a worker starts other than through run_worker)
        forbid_reading_this_process()
        ctx[DEPS_KEY] = prebuilt or await build_deps(settings, ctx["redis"])

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        built: Deps | None = ctx.get(DEPS_KEY)
        if built is None or prebuilt is not None:
            return  # prebuilt clients belong to whoever built them
        await built.github.aclose()  # the pooled GitHub connections
        closer = getattr(built.model, "aclose", None)
        if closer is not None:
            await closer()

    result: dict[str, Any] = {
        "functions": functions(queue, jobs),
        "queue_name": QUEUES[queue],
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "job_timeout": JOB_TIMEOUTS.get(queue, 300),
        "max_tries": MAX_TRIES,
        "keep_result": 3600,
        # heavy jobs run browsers and models: fewer at once per worker process
        "max_jobs": 10 if queue == "light" else 2,
        # how often an idle worker looks for due jobs: a person waiting for a map or a reply should not
        # wait half a second (arq's default) for nothing; heavy jobs take minutes, so their poll can idle
        "poll_delay": LIGHT_POLL_SECONDS if queue == "light" else HEAVY_POLL_SECONDS,
    }
    if cron_jobs and queue == "light":
        result["cron_jobs"] = redelivery_cron(settings.redeliver_every_minutes) + purge_cron() + follow_up_cron()
    if redis_url:
        result["redis_settings"] = RedisSettings.from_dsn(redis_url)
    return result


_PR_SET_DUMPABLE = 4  # <linux/prctl.h>


def forbid_reading_this_process() -> bool:
    """Mark this process non-dumpable on Linux (no-op elsewhere); True when it took effect.

    Repository code (ALLOW_REPO_CODE) runs in the sandbox (app/isolation/), in its own PID namespace that
    cannot see the worker at all; this is the second wall: anything else of the same user that runs
    beside the worker cannot read its secrets from /proc/<pid>/environ or its memory either. A
    non-dumpable process's /proc entries belong to root and refuse ptrace-style access. Root still can.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) == 0:
            return True
        log.warning("could not mark the worker non-dumpable", extra={"errno": ctypes.get_errno()})
    except (OSError, AttributeError) as error:
        log.warning("could not mark the worker non-dumpable", extra={"error": str(error)})
    return False


def run_worker(settings: Settings, queues: Sequence[Queue] = ("light", "heavy")) -> None:
    """Run workers for `queues` in this process until stopped (`specloop worker`)."""
    from app.redis_server import resolve_redis_url

    forbid_reading_this_process()  # first: nothing below may start repository code before it

    url, managed = resolve_redis_url(settings)
    try:
        asyncio.run(supervise(lambda: [Worker(**worker_settings(settings, q, redis_url=url)) for q in queues]))
    finally:
        if managed is not None:
            managed.stop()


# What "Redis went away" looks like from inside arq's poll loop or its pool.
REDIS_GONE = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError, asyncio.TimeoutError)
RESTART_BACKOFF_MAX_SECONDS = 30.0
HEALTHY_RUN_SECONDS = 60.0  # a run this long before Redis went away starts the backoff afresh


async def supervise(make_workers: Callable[[], list[Worker]], *, backoff_max: float = RESTART_BACKOFF_MAX_SECONDS,
                    first_delay: float = 1.0) -> None:
    """Run the workers until a signal stops them; when Redis goes away, wait and start them afresh.

    arq's worker ends its process when a Redis call in its poll loop fails. Queued jobs are safe in
    Redis, but nothing would run them until someone restarted the worker; so the worker waits (1 s,
    doubling up to 30 s), says so in the log, and starts again once Redis answers.
    """
    delay = first_delay
    while True:
        workers = make_workers()
        for worker in workers:  # arq's signal handler cancels main_task: SIGTERM/SIGINT stop this loop
            worker.main_task = asyncio.ensure_future(worker.main())
        _signal_every(workers)
        started = time.monotonic()
        try:
            await asyncio.gather(*(worker.main_task for worker in workers if worker.main_task))
            return
        except asyncio.CancelledError:
            log.info("worker stopped")
            return
        except REDIS_GONE as error:
            log.warning("Redis is unreachable; the worker starts again in %g s", delay,
                        extra={"error": f"{type(error).__name__}: {error}"})
        finally:
            for worker in workers:
                await _close_quietly(worker)
        if time.monotonic() - started > HEALTHY_RUN_SECONDS:
            delay = first_delay
        await asyncio.sleep(delay)
        delay = min(delay * 2, backoff_max)


def _signal_every(workers: list[Worker]) -> None:
    """SIGINT/SIGTERM reach every worker of the process: each arq worker installs its handler on the
    one event loop, so the last one made would otherwise be the only one told to stop."""
    def tell_every(sig: signal.Signals) -> None:
        for worker in workers:
            if worker._handle_signals:
                worker.handle_sig(sig)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals off the main thread
            loop.add_signal_handler(sig, tell_every, sig)


async def _close_quietly(worker: Worker) -> None:
    """Stop a worker whose Redis may be gone: its running jobs end, its pool is closed, nothing raises."""
    if worker.main_task is not None and not worker.main_task.done():
        worker.main_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, *REDIS_GONE):
            await worker.main_task
    with contextlib.suppress(*REDIS_GONE):
        await worker.close()
    pool = getattr(worker, "_pool", None)
    if pool is not None:  # close() stops before this when Redis refused its first call
        with contextlib.suppress(*REDIS_GONE):
            await pool.close(close_connection_pool=True)


async def _due(redis: Redis, queue: Queue) -> int:
    """Jobs in `queue` that may run now."""
    return int(await redis.zcount(QUEUES[queue], "-inf", int(time.time() * 1000)))


async def _next_due_in(redis: Redis, queues: Sequence[Queue]) -> float | None:
    """Seconds until the earliest deferred job in `queues` is due, None when the queues are empty."""
    soonest: float | None = None
    for queue in queues:
        first = await redis.zrange(QUEUES[queue], 0, 0, withscores=True)
        if first:
            soonest = first[0][1] if soonest is None else min(soonest, first[0][1])
    return None if soonest is None else max(0.0, soonest / 1000 - time.time())


async def run_burst(settings: Settings, redis_url: str, deps: Deps | None = None,
                    queues: Sequence[Queue] = ("light", "heavy"), *, wait_deferred: float = 0.0,
                    max_rounds: int = 50, jobs: dict[str, Job] | None = None) -> dict[str, int]:
    """Run queued jobs until none are due (waiting up to `wait_deferred` s for deferred ones); counts."""
    totals = {"complete": 0, "failed": 0, "retried": 0}
    redis = Redis.from_url(redis_url)
    try:
        for _ in range(max_rounds):
            ran = False
            for queue in queues:
                due = await _due(redis, queue)
                if not due:
                    continue
                # max_burst_jobs: a burst worker would otherwise spin until deferred jobs come due
                # no crons: a periodic job slipping into a test's drain would make it nondeterministic
                options = worker_settings(settings, queue, prebuilt=deps, redis_url=redis_url, jobs=jobs,
                                          cron_jobs=False)
                worker = Worker(**{**options, "burst": True, "poll_delay": 0, "handle_signals": False,
                                   "max_burst_jobs": due})
                try:
                    await worker.main()
                finally:
                    await worker.close()
                totals["complete"] += worker.jobs_complete
                totals["failed"] += worker.jobs_failed
                totals["retried"] += worker.jobs_retried
                ran = True
            if ran:
                continue
            wait = await _next_due_in(redis, queues)
            if wait is None or wait > wait_deferred:
                break
            await asyncio.sleep(wait + 0.01)
    finally:
        await redis.aclose()
    return totals


async def run_job(d: Deps, args: JobArgs, *, job_id: str = "direct") -> dict[str, Any]:
    """Run one job now, in this task, with its scope but without the wrapper (tests and the CLI's tools)."""
    return await JOBS[args.NAME].run(scope_for(d, args, job_id), args)
