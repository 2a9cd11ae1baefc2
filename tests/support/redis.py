"""Fixtures for a real redis-server owned by the test session (never the one on port 6379)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from app.redis_server import ManagedRedis, free_port


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedRedis]:
    """One redis-server for the whole session, on a free port, with its data in a temp dir."""
    server = ManagedRedis(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: ManagedRedis) -> str:
    """URL of the session's redis-server, emptied first (FLUSHALL is safe: we started this server)."""
    if not redis_server.running:  # a test that stopped it must not break the tests after it
        redis_server.start()
    client = redis_lib.Redis.from_url(redis_server.url)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server.url


def unreachable_redis_url() -> str:
    """A redis:// URL where nothing listens, for the '503 while Redis is down' tests."""
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture
def stopped_redis_url() -> str:
    """A redis:// URL where nothing listens."""
    return unreachable_redis_url()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[ManagedRedis]:
    """A private redis-server a test may stop and restart (e.g. Redis going down mid-test)."""
    server = ManagedRedis(tmp_path / "own-redis").start()
    try:
        yield server
    finally:
        server.stop()
