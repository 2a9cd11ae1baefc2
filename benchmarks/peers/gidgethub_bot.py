"""The gidgethub + aiohttp peer of the ingest benchmark: verify, parse and enqueue an `issues.labeled` delivery.

The shape of a gidgethub bot as its documentation writes one: an aiohttp route reads the body,
`gidgethub.sansio.Event.from_http` checks X-Hub-Signature-256 and parses the JSON, a
`gidgethub.routing.Router` dispatches it, and the handler enqueues one job into the bot's own Redis
in one round trip (a Lua script, as Specloop's queue does): SET NX the delivery id (a redelivery is
refused), store the job, ZADD its id to the queue. The answer is 202.

Runs in its own virtualenv (benchmarks/peers/.venv, from benchmarks/peers/requirements.txt), not
Specloop's: `python gidgethub_bot.py --port P` with WEBHOOK_SECRET and JOB_REDIS_URL set.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from gidgethub import BadRequest, ValidationFailure, routing, sansio
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

WEBHOOK_PATH = "/api/github/webhooks"
QUEUE_KEY = "peer:queue"  # the benchmark counts its members to check that every delivery was enqueued
DELIVERY_TTL_SECONDS = 7 * 24 * 3600
JOB_TTL_MS = 24 * 3600 * 1000
# KEYS: delivery key, job key, queue. ARGV: delivery TTL (s), job id, job payload, score (ms), job TTL (ms).
ENQUEUE_SCRIPT = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
return 1
"""

router = routing.Router()
SECRET: web.AppKey[str] = web.AppKey("secret", str)
ENQUEUE: web.AppKey[AsyncScript] = web.AppKey("enqueue", AsyncScript)


@router.register("issues", action="labeled")
async def enqueue_labelled_issue(event: sansio.Event, enqueue: AsyncScript) -> None:
    """Enqueue a map job for the labelled issue, once per delivery id."""
    payload: dict[str, Any] = event.data
    issue, label, repository = payload["issue"], payload.get("label"), payload["repository"]
    if issue.get("pull_request") or not label:
        return
    story = f"{repository['full_name']}#{issue['number']}"
    job_id = f"map_story:{story}:{event.delivery_id}"
    job = json.dumps({
        "function": "map_story",
        "installation_id": (payload.get("installation") or {}).get("id"),
        "repo": repository["full_name"],
        "number": issue["number"],
        "actor": (payload.get("sender") or {}).get("login"),
        "label": label["name"],
        "delivery": event.delivery_id,
    })
    await enqueue(keys=[f"peer:delivery:{event.delivery_id}", f"peer:job:{job_id}", QUEUE_KEY],
                  args=[DELIVERY_TTL_SECONDS, job_id, job, int(time.time() * 1000), JOB_TTL_MS])


async def webhook(request: web.Request) -> web.Response:
    """POST /api/github/webhooks: 401 when forged, 400 when malformed, else dispatch and 202."""
    body = await request.read()
    try:
        event = sansio.Event.from_http(request.headers, body, secret=request.app[SECRET])
    except ValidationFailure as error:
        return web.json_response({"reason": str(error)}, status=401)
    except BadRequest as error:
        return web.json_response({"reason": str(error)}, status=400)
    await router.dispatch(event, request.app[ENQUEUE])
    return web.json_response({"status": "queued"}, status=202)


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz: 200 once the bot serves, for the benchmark's launcher."""
    return web.json_response({"status": "ok"})


async def _redis_context(app: web.Application) -> AsyncIterator[None]:
    """The bot's Redis client and its enqueue script (EVALSHA, loaded on first use) for the app's lifetime."""
    redis = Redis.from_url(os.environ["JOB_REDIS_URL"])
    app[ENQUEUE] = redis.register_script(ENQUEUE_SCRIPT)
    yield
    await redis.aclose()


def create_app() -> web.Application:
    """The bot's aiohttp application."""
    app = web.Application()
    app[SECRET] = os.environ["WEBHOOK_SECRET"]
    app.cleanup_ctx.append(_redis_context)
    app.router.add_post(WEBHOOK_PATH, webhook)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    """Serve on 127.0.0.1:--port until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(create_app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
