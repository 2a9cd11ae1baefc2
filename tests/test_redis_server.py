"""The managed redis-server: start/stop, AOF persistence, reuse across processes, REDIS_URL precedence."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import redis as redis_lib

from app.redis_server import INSTALL_HINT, ManagedRedis, RedisServerError, ping, resolve_redis_url
from app.settings import Settings


def _client(url: str) -> redis_lib.Redis:
    return redis_lib.Redis.from_url(url, decode_responses=True)


def test_redis_url_fixture_gives_an_empty_working_server(redis_url: str) -> None:
    client = _client(redis_url)
    try:
        assert client.dbsize() == 0
        client.set("k", "v")
        assert client.get("k") == "v"
        assert not redis_url.endswith(":6379/0")
    finally:
        client.close()


def test_managed_redis_keeps_data_across_a_restart_through_the_aof(tmp_path: Path) -> None:
    server = ManagedRedis(tmp_path / "data").start()
    port = server.port
    client = _client(server.url)
    client.set("story", "kept")
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("bind")["bind"] == "127.0.0.1"
    client.close()
    server.stop()
    assert port is not None and not ping(port)

    again = ManagedRedis(tmp_path / "data", port=port).start()
    try:
        client = _client(again.url)
        assert client.get("story") == "kept"
        client.close()
    finally:
        again.stop()


def test_missing_redis_server_binary_names_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no redis-server anywhere
    with pytest.raises(RedisServerError) as error:
        ManagedRedis(tmp_path / "data").start()
    assert str(error.value) == INSTALL_HINT
    assert "apt-get install redis-server" in str(error.value)
    assert "REDIS_URL" in str(error.value)


def test_redis_url_setting_is_used_as_is_including_rediss(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, redis_url="rediss://user:pw@redis.example.com:6380/2", data_dir=tmp_path)
    url, managed = resolve_redis_url(settings)
    assert url == "rediss://user:pw@redis.example.com:6380/2"
    assert managed is None
    assert not (tmp_path / "redis").exists()


def test_without_redis_url_a_managed_server_starts_under_the_data_dir_and_is_reused(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, redis_url=None, data_dir=tmp_path / ".specloop")
    url, managed = resolve_redis_url(settings)
    try:
        assert managed is not None
        assert managed.data_dir == (tmp_path / ".specloop" / "redis").resolve()
        assert _client(url).ping()
        # a second process on the same machine (the worker) reuses it instead of starting another
        url_again, managed_again = resolve_redis_url(settings)
        assert url_again == url
        assert managed_again is None
    finally:
        assert managed is not None
        managed.stop()
    # once stopped, the stale state file is not trusted: a fresh server starts
    url_third, managed_third = resolve_redis_url(settings)
    try:
        assert managed_third is not None
        assert _client(url_third).ping()
    finally:
        assert managed_third is not None
        managed_third.stop()


def test_a_stale_state_file_from_a_killed_server_is_ignored(tmp_path: Path) -> None:
    data = tmp_path / "redis"
    data.mkdir()
    (data / "managed.json").write_text(json.dumps({"pid": os.getpid(), "port": 1}))
    assert ManagedRedis.find_running(data) is None
