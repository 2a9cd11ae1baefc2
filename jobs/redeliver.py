"""`redeliver_failed`: a periodic job asking GitHub to redeliver webhook deliveries that failed.

GitHub never retries a failed delivery by itself (a 503 while Redis was down, a timeout, a refused
connection during a deploy). This cron job lists the App's recent deliveries with the App JWT, finds
GUIDs none of whose attempts succeeded and that the web service has not processed (it marks each GUID
it queued, `specloop:delivery:<guid>`), and asks GitHub once per GUID to redeliver. The ask is
remembered in Redis for longer than the look-back, so a delivery that fails again is not asked for
again: a broken receiver cannot turn this job into a loop.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from arq.cron import CronJob, cron
from githubkit.exception import RequestFailed
from redis.asyncio import Redis

from app.context import deps
from app.gh.client import GitHubApp
from app.gh.deliveries import recent_deliveries, redeliver
from app.logs import log_context
from app.queue import DELIVERY_KEY

log = logging.getLogger(__name__)

JOB_NAME = "redeliver_failed"
DEFAULT_EVERY_MINUTES = 5
LOOKBACK = timedelta(hours=3)  # GitHub keeps deliveries for days; older failures are old news
MAX_DELIVERIES = 1000  # attempts read per run, whatever the look-back
ASKED_KEY = "specloop:redelivery:{}"
# Longer than the look-back: a GUID we asked about must stay remembered while it can still be listed.
ASKED_TTL_SECONDS = int((LOOKBACK + timedelta(hours=21)).total_seconds())


@dataclass
class Attempt:
    """One delivery attempt as `GET /app/hook/deliveries` lists it."""

    id: int
    guid: str
    status_code: int
    delivered_at: datetime
    event: str | None = None

    @property
    def ok(self) -> bool:
        """GitHub counts only 2xx as delivered; 0 means no HTTP answer at all ("Invalid HTTP Response")."""
        return 200 <= self.status_code < 300


@dataclass
class RedeliveryReport:
    """What one run did (returned as the job's result, for logs and tests)."""

    listed: int = 0
    asked: list[str] = field(default_factory=list)  # GUIDs GitHub was asked to redeliver
    already_asked: list[str] = field(default_factory=list)
    already_processed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain values for arq's result."""
        return {"listed": self.listed, "asked": self.asked, "already_asked": self.already_asked,
                "already_processed": self.already_processed, "errors": self.errors}


def _parse_time(value: Any) -> datetime:
    """GitHub's ISO-8601 timestamp (`2026-11-23T18:00:00Z`), always timezone-aware."""
    parsed = datetime.fromisoformat(str(value))  # 3.11 reads the trailing Z
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def recent_attempts(github: GitHubApp, *, since: datetime,
                          max_count: int = MAX_DELIVERIES) -> AsyncIterator[Attempt]:
    """The App's delivery attempts, newest first, back to `since` or `max_count`, across cursor pages."""
    seen = 0
    async for item in recent_deliveries(github.app):
        attempt = Attempt(id=item.id, guid=item.guid, status_code=item.status_code,
                          delivered_at=_parse_time(item.delivered_at), event=item.event)
        if attempt.delivered_at < since:
            return  # newest first: everything after this is older still
        yield attempt
        seen += 1
        if seen >= max_count:
            return


def failed_guids(attempts: list[Attempt]) -> dict[str, Attempt]:
    """GUID -> its newest attempt, for GUIDs none of whose listed attempts succeeded."""
    newest: dict[str, Attempt] = {}
    delivered: set[str] = set()
    for attempt in attempts:
        if attempt.ok:
            delivered.add(attempt.guid)
        current = newest.get(attempt.guid)
        if current is None or attempt.delivered_at > current.delivered_at:
            newest[attempt.guid] = attempt
    return {guid: attempt for guid, attempt in newest.items() if guid not in delivered}


async def redeliver_failed_deliveries(github: GitHubApp, redis: Redis, *, lookback: timedelta = LOOKBACK,
                                      max_count: int = MAX_DELIVERIES) -> RedeliveryReport:
    """Ask GitHub, once per GUID, to redeliver each recent failed delivery the service never processed."""
    report = RedeliveryReport()
    since = datetime.now(UTC) - lookback
    attempts = [attempt async for attempt in recent_attempts(github, since=since, max_count=max_count)]
    report.listed = len(attempts)
    for guid, attempt in failed_guids(attempts).items():
        if await redis.exists(DELIVERY_KEY.format(guid)):
            # the service queued it; GitHub marked it failed anyway (e.g. the answer came after 10 s)
            report.already_processed.append(guid)
            continue
        # Claim before asking (SET NX), so two workers or two runs never ask for the same GUID twice.
        if not await redis.set(ASKED_KEY.format(guid), attempt.id, nx=True, ex=ASKED_TTL_SECONDS):
            report.already_asked.append(guid)
            continue
        try:
            await redeliver(github.app, attempt.id)
        except RequestFailed as error:
            # GitHub did not take the request: let the next run try again (still once per success)
            await redis.delete(ASKED_KEY.format(guid))
            report.errors.append(f"{guid}: GitHub answered {error.response.status_code}")
            log.warning("redelivery request refused", extra={"guid": guid, "status": error.response.status_code})
            continue
        log.info("asked GitHub to redeliver", extra={"guid": guid, "event": attempt.event,
                                                     "status_code": attempt.status_code})
        report.asked.append(guid)
    return report


async def redeliver_failed(ctx: dict[str, Any]) -> dict[str, Any]:
    """The cron job: redeliver recent failed webhook deliveries (see the module docstring)."""
    d = deps(ctx)
    with log_context(job_id=str(ctx.get("job_id", JOB_NAME))):
        report = await redeliver_failed_deliveries(d.github, d.redis)
        if report.asked or report.errors:
            log.info("redelivery run", extra=report.as_dict())
        return report.as_dict()


def redelivery_cron(every_minutes: int = DEFAULT_EVERY_MINUTES) -> list[CronJob]:
    """The cron entry for the light worker: every `every_minutes` minutes (0 or less: none)."""
    if every_minutes <= 0:
        return []
    minutes = set(range(0, 60, min(every_minutes, 60)))
    # unique: with many workers, one run per slot (arq derives the job id from the slot's time)
    return [cron(redeliver_failed, name=JOB_NAME, minute=minutes, second=17, unique=True, timeout=120,
                 run_at_startup=False)]
