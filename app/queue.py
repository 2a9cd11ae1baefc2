"""The job queue on Redis (arq): job requests, delivery dedupe, debounce, per-story lock and follow-ups.

Everything that must be atomic runs as one Lua script, so a crash between "mark the delivery seen" and
"enqueue its jobs" cannot lose a delivery, and a trigger arriving while a story's job runs cannot fall
between "the running job finished" and "the follow-up was recorded". Jobs are written exactly as
arq's `ArqRedis.enqueue_job` writes them (a pickled job under `arq:job:<id>` with a TTL, and the id in
the queue's sorted set scored by the time it may run), so a stock arq worker runs them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from arq.constants import expires_extra_ms, job_key_prefix, result_key_prefix
from arq.jobs import DeserializationError, deserialize_job, serialize_job
from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from app.job_args import DropInstallation, JobArgs, Queue

log = logging.getLogger(__name__)

QUEUES: dict[Queue, str] = {"light": "specloop:light", "heavy": "specloop:heavy"}

DELIVERY_TTL_SECONDS = 7 * 24 * 3600  # GitHub lets people redeliver for a few days; keep GUIDs a week
PENDING_TTL_MS = 24 * 3600 * 1000  # a debounce pending key only matters while its job is still queued
META = "_meta"  # reserved kwarg carrying story/queue/permission to the worker's wrapper

DELIVERY_KEY = "specloop:delivery:{}"
PENDING_KEY = "specloop:pending:{story}:{function}"
LOCK_KEY = "specloop:lock:{}"
FOLLOW_UP_KEY = "specloop:followup:{}"


class JobRequest(BaseModel):
    """What a handler (or a job) asks for: run `function` on `queue` with plain `kwargs`, about `story`.

    Built from a job's typed arguments with `JobRequest.of(args, ...)`; `kwargs` is those arguments as
    the queue stores them.
    """

    model_config = ConfigDict(frozen=True)

    function: str
    queue: Queue = "light"
    kwargs: dict[str, Any] = Field(default_factory=dict)
    story: str  # "<owner>/<repo>#<number>"; jobs for one story run one at a time
    debounce: float = 0.0  # seconds to wait, merging further triggers for (story, function)
    permission: str | None = None  # permission-table action the worker checks for kwargs["actor"]
    key: str | None = None  # what distinguishes this request from others of its function (a reply's command)
    once: str | None = None  # idempotency key: the job id itself (`code:<repo>:<sha>`), refused when repeated
    delivery: str | None = None  # the webhook delivery that caused it: for logs only
    nonce: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])  # the id of a request without `once`
    run: str | None = None  # fresh id part of a follow-up run (arq refuses a repeated id)

    @classmethod
    def of(cls, args: JobArgs, *, delivery: str | None = None, debounce: float = 0.0,
           permission: str | None = None, key: str | None = None, once: str | None = None,
           story: str | None = None) -> JobRequest:
        """The request to run the job `args` belong to, on its queue, about its story (or `story`)."""
        return cls(function=args.NAME, queue=args.QUEUE, kwargs=args.queue_kwargs(),
                   story=story or args.story, debounce=debounce, permission=permission, key=key,
                   once=once, delivery=delivery)

    @property
    def job_id(self) -> str:
        """The idempotency key when there is one, else `<function>:<story>:<nonce>[:<key>]`; plus the follow-up run.

        A redelivered webhook is refused before this (its delivery GUID is remembered); ids only need
        to refuse what must happen once (code generation for a commit) and keep the rest apart.
        """
        base = self.once or ":".join(part for part in (self.function, self.story, self.nonce, self.key) if part)
        return f"{base}:{self.run}" if self.run else base

    @property
    def merge_key(self) -> str:
        """Follow-ups for a busy story merge on this: the function, plus the key when one is set.

        Unkeyed triggers of one function are re-runs of the same idempotent work (re-map the story) and
        one follow-up serves them all; a key says the request is its own thing (`/specloop help` versus
        `/specloop status`, QA for another SHA), so keyed requests merge only with the same key.
        """
        return f"{self.function}:{self.key}" if self.key else self.function

    @property
    def queue_name(self) -> str:
        """The Redis queue (sorted set) this job goes on."""
        return QUEUES[self.queue]

    def arq_kwargs(self) -> dict[str, Any]:
        """The kwargs stored in the arq job: the job's own plus the wrapper's metadata."""
        meta = {"story": self.story, "queue": self.queue, "permission": self.permission, "function": self.function,
                "key": self.key, "delivery": self.delivery}
        return {**self.kwargs, META: meta}


# One script for dedupe + enqueue + debounce. KEYS[1] is the delivery key ("" when none); then four
# keys per job: job key, result key, queue, pending key ("" unless debounced). ARGV: job count,
# delivery value, delivery TTL, then five values per job: id, payload, score, expiry ms, pending TTL.
_ENQUEUE = """
local n = tonumber(ARGV[1])
-- Check before writing anything: Redis does not roll a script back, so a write that would fail
-- half-way must be ruled out first, or the delivery could be marked without its jobs.
for i = 0, n - 1 do
  local t = redis.call('TYPE', KEYS[4 + i*4])['ok']
  if t ~= 'none' and t ~= 'zset' then return redis.error_reply('queue key ' .. KEYS[4 + i*4] .. ' is a ' .. t) end
end
if KEYS[1] ~= '' then
  if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[3]) then return -1 end
end
local written = 0
for i = 0, n - 1 do
  local jk, rk, q, pk = KEYS[2 + i*4], KEYS[3 + i*4], KEYS[4 + i*4], KEYS[5 + i*4]
  local id, payload, score, expires, pttl = ARGV[4 + i*5], ARGV[5 + i*5], ARGV[6 + i*5], ARGV[7 + i*5], ARGV[8 + i*5]
  local merged = false
  if pk ~= '' then
    local pending = redis.call('GET', pk)
    if pending and redis.call('ZSCORE', q, pending) then
      -- a run is still waiting: push it back (trailing debounce) instead of adding another
      redis.call('ZADD', q, 'XX', score, pending)
      redis.call('PEXPIRE', 'arq:job:' .. pending, expires)
      merged = true
    end
  end
  if not merged and redis.call('EXISTS', jk, rk) == 0 then
    redis.call('PSETEX', jk, expires, payload)
    redis.call('ZADD', q, score, id)
    if pk ~= '' then redis.call('SET', pk, id, 'PX', pttl) end
    written = written + 1
  end
end
return written
"""


def _script_args(delivery_id: str | None, jobs: Sequence[JobRequest]) -> tuple[list[str], list[Any]]:
    """The enqueue script's KEYS and ARGV for one delivery (or none) and its jobs."""
    now_ms = int(time.time() * 1000)
    keys: list[str] = [DELIVERY_KEY.format(delivery_id) if delivery_id else ""]
    argv: list[Any] = [len(jobs), str(now_ms), DELIVERY_TTL_SECONDS]
    for job in jobs:
        defer_ms = int(job.debounce * 1000)
        score = now_ms + defer_ms
        payload = serialize_job(job.function, (), job.arq_kwargs(), None, now_ms)
        pending = PENDING_KEY.format(story=job.story, function=job.function) if job.debounce > 0 else ""
        keys += [job_key_prefix + job.job_id, result_key_prefix + job.job_id, job.queue_name, pending]
        argv += [job.job_id, payload, score, defer_ms + expires_extra_ms, PENDING_TTL_MS]
    return keys, argv


_ENQUEUE_SHA = hashlib.sha1(_ENQUEUE.encode()).hexdigest()


async def _enqueue_many(redis: Redis, delivery_id: str | None, jobs: Sequence[JobRequest]) -> int:
    """Run the enqueue script; -1 when the delivery was already seen, else the number of jobs written."""
    keys, argv = _script_args(delivery_id, jobs)
    try:  # by digest: the script's 2 KB are sent once per Redis server, not with every delivery
        return int(await redis.evalsha(_ENQUEUE_SHA, len(keys), *keys, *argv))  # type: ignore[misc]
    except NoScriptError:  # a restarted (or new) Redis has an empty script cache
        return int(await redis.eval(_ENQUEUE, len(keys), *keys, *argv))  # type: ignore[misc]


async def enqueue_delivery(redis: Redis, delivery_id: str, jobs: Iterable[JobRequest]) -> bool:
    """Mark `delivery_id` seen and enqueue its jobs atomically; False if it was seen before."""
    return await _enqueue_many(redis, delivery_id, list(jobs)) >= 0


async def enqueue(redis: Redis, request: JobRequest) -> bool:
    """Enqueue one job (follow-ups from jobs); False if merged into a pending run or a duplicate id."""
    return await _enqueue_many(redis, None, [request]) > 0


class DeliveryIntake:
    """`enqueue_delivery` for a web service under load: deliveries that arrive while a write is in flight
    go to Redis together, in one pipeline (one round trip), each still its own atomic script run.

    One delivery alone goes out at once, so nothing waits for company; under load the batch is whatever
    arrived during the previous round trip. A failure reaches every delivery of its batch as an
    exception, so each request answers 503 on its own and GitHub redelivers it.
    """

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._waiting: list[tuple[list[str], list[Any], asyncio.Future[int]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def enqueue_delivery(self, delivery_id: str, jobs: Iterable[JobRequest]) -> bool:
        """Mark `delivery_id` seen and enqueue its jobs atomically; False if it was seen before."""
        keys, argv = _script_args(delivery_id, list(jobs))
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append((keys, argv, done))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        # shielded: a caller that gives up (a deadline) must not cancel the others' write
        return await asyncio.shield(done) >= 0

    async def _write(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    results = await self._run(batch)
                except asyncio.CancelledError:  # the service is stopping: nobody waits for an answer
                    self._fail(batch, ConnectionError("the service stopped before Redis answered"))
                    raise
                except Exception as error:  # noqa: BLE001 - handed to each waiter, which answers 503
                    self._fail(batch, error)
                    continue
                for (_, _, done), result in zip(batch, results, strict=True):
                    if done.done():
                        continue
                    if isinstance(result, Exception):
                        done.set_exception(result)
                    else:
                        done.set_result(int(result))
        finally:
            self._writer = None

    @staticmethod
    def _fail(batch: list[tuple[list[str], list[Any], asyncio.Future[int]]], error: Exception) -> None:
        for _, _, done in batch:
            if not done.done():
                done.set_exception(error)

    async def _run(self, batch: list[tuple[list[str], list[Any], asyncio.Future[int]]]) -> list[Any]:
        """One pipeline of script runs; scripts Redis does not know yet are loaded and run again."""
        results: list[Any] = [None] * len(batch)
        todo = list(range(len(batch)))
        for attempt in range(2):
            async with self.redis.pipeline(transaction=False) as pipe:
                for index in todo:
                    keys, argv, _ = batch[index]
                    pipe.evalsha(_ENQUEUE_SHA, len(keys), *keys, *argv)
                answers = await pipe.execute(raise_on_error=False)
            missing = []
            for index, answer in zip(todo, answers, strict=True):
                if isinstance(answer, NoScriptError) and attempt == 0:
                    missing.append(index)
                else:
                    results[index] = answer
            if not missing:
                break
            await self.redis.script_load(_ENQUEUE)
            todo = missing
        return results


async def delivery_seen(redis: Redis, delivery_id: str) -> bool:
    """Whether a delivery GUID has been processed already."""
    return bool(await redis.exists(DELIVERY_KEY.format(delivery_id)))


# --- per-story lock and merged follow-ups -------------------------------------------------------

# Take the lock, or (atomically) record this request as the story's follow-up for its merge key.
# The holder itself may take it again: arq retries a job whose worker died under the same job id (the
# owner), while the dead run's lock still stands; refusing it would park the retry as a follow-up that
# nothing drains.
_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], ARGV[4], ARGV[3]) end
return 0
"""

# Release the lock if we own it and hand back (and clear) the follow-ups recorded meanwhile. Done in
# one step so a trigger cannot be recorded after we looked but before we let go.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
local pending = redis.call('HVALS', KEYS[2])
redis.call('DEL', KEYS[2])
return pending
"""


@dataclass
class StoryLock:
    """The outcome of trying to take a story's lock."""

    story: str
    owner: str
    acquired: bool
    follow_ups: list[JobRequest] = field(default_factory=list)  # enqueued when the holder finished


async def acquire_story(
    redis: Redis, story: str, owner: str, ttl_seconds: float, follow_up: JobRequest | None = None
) -> bool:
    """Take the story lock for `owner`, or record `follow_up` (merged per `merge_key`) and return False."""
    record = follow_up.model_dump_json() if follow_up is not None else ""
    merge_key = follow_up.merge_key if follow_up is not None else ""
    got = await redis.eval(  # type: ignore[misc]
        _ACQUIRE, 2, LOCK_KEY.format(story), FOLLOW_UP_KEY.format(story),
        owner, str(int(ttl_seconds * 1000)), record, merge_key,  # redis sends an int as its str anyway
    )
    return bool(got)


async def release_story(redis: Redis, story: str, owner: str) -> list[JobRequest]:
    """Release the lock and enqueue one fresh-id follow-up per merge key triggered meanwhile."""
    raw = await redis.eval(_RELEASE, 2, LOCK_KEY.format(story), FOLLOW_UP_KEY.format(story), owner)  # type: ignore[misc]
    return await _enqueue_follow_ups(redis, raw)


# Hand back the follow-ups of a story whose lock is gone (its holder died and the lock expired).
_ORPHANS = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {} end
local pending = redis.call('HVALS', KEYS[2])
redis.call('DEL', KEYS[2])
return pending
"""


async def _enqueue_follow_ups(redis: Redis, raw: list[Any] | None) -> list[JobRequest]:
    """Enqueue recorded follow-ups, each with a fresh id (arq keeps a finished job's result under its id)."""
    follow_ups: list[JobRequest] = []
    for item in raw or []:
        recorded = JobRequest.model_validate(json.loads(item))
        fresh = recorded.model_copy(update={"run": f"followup-{uuid.uuid4().hex[:8]}", "debounce": 0.0})
        await enqueue(redis, fresh)
        follow_ups.append(fresh)
    return follow_ups


async def drain_orphaned_follow_ups(redis: Redis) -> list[JobRequest]:
    """Enqueue the follow-ups of stories whose lock expired without a release (a worker killed mid-job).

    A live lock's follow-ups are left to its holder, which enqueues them when it lets go.
    """
    drained: list[JobRequest] = []
    async for key in redis.scan_iter(match=FOLLOW_UP_KEY.format("*")):
        story = (key.decode() if isinstance(key, bytes) else str(key)).removeprefix(FOLLOW_UP_KEY.format(""))
        raw = await redis.eval(_ORPHANS, 2, LOCK_KEY.format(story), FOLLOW_UP_KEY.format(story))  # type: ignore[misc]
        drained += await _enqueue_follow_ups(redis, raw)
    return drained


@asynccontextmanager
async def story_lock(
    redis: Redis, story: str, *, owner: str | None = None, ttl_seconds: float = 3600.0,
    follow_up: JobRequest | None = None,
) -> AsyncIterator[StoryLock]:
    """Hold `story`'s lock for the block; when busy, `follow_up` is recorded and `acquired` is False."""
    owner = owner or uuid.uuid4().hex
    lock = StoryLock(story, owner, await acquire_story(redis, story, owner, ttl_seconds, follow_up))
    try:
        yield lock
    finally:
        if lock.acquired:
            lock.follow_ups = await release_story(redis, story, owner)


async def queue_depth(redis: Redis) -> dict[str, int]:
    """Jobs waiting per queue (for /healthz)."""
    return {name: int(await redis.zcard(key)) for name, key in QUEUES.items()}


async def drop_installation_jobs(redis: Redis, installation_id: int) -> int:
    """Remove queued (not yet running) jobs for an installation that was uninstalled or suspended."""
    dropped = 0
    for queue in QUEUES.values():
        for raw_id in await redis.zrange(queue, 0, -1):
            job_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            payload = await redis.get(job_key_prefix + job_id)
            if payload is None:
                continue
            try:
                kwargs = deserialize_job(payload).kwargs
            except DeserializationError:  # a job written by something else; not ours to judge
                log.warning("skipping a job that cannot be read", extra={"job_id": job_id})
                continue
            ours = kwargs.get("installation_id") == installation_id
            # ZREM first: if a worker already took the job, the ZREM fails and the job stays
            if ours and kwargs.get(META, {}).get("function") != DropInstallation.NAME and \
                    await redis.zrem(queue, job_id):
                await redis.delete(job_key_prefix + job_id)
                dropped += 1
    return dropped
