"""Servers a test is done with stop in the background, so the next test does not wait for their shutdown.

Stopping a loopback server (the GitHub double, the web service) takes a few tenths of a second: uvicorn
notices `should_exit` on its next tick and then closes its connections. Three hundred tests start and stop
them, so `stop_later(double.stop)` hands the stop to a small thread pool and the test ends at once. Each
server is on a port of its own and keeps its own temp folder, so nothing a later test starts meets it.
Every stop is waited for at the end of the session, and one that raised fails the session there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="stop-later")
_pending: list[Future[object]] = []


def stop_later(stop: Callable[[], object]) -> None:
    """Run `stop` in the background; `_every_stop_finishes` waits for it and reports it if it raised."""
    _pending.append(_pool.submit(stop))


@pytest.fixture(scope="session", autouse=True)
def _every_stop_finishes() -> Iterator[None]:
    """At the end of the session: wait for every background stop and fail on any that raised."""
    yield
    errors = [repr(error) for future in _pending if (error := future.exception(timeout=60)) is not None]
    _pending.clear()
    _pool.shutdown(wait=True)
    if errors:
        pytest.fail(f"{len(errors)} background stop(s) failed; first: {errors[0]}")
