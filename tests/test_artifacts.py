"""The artifact store and its signed URLs: local folder, a real local S3 (moto server), the serving route."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.artifact_routes import router
from app.artifacts import ArtifactError, ArtifactStore, LocalArtifactStore, S3ArtifactStore, artifact_secret
from app.settings import Settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PUBLIC = "https://specloop.example.com"


def _client(store: ArtifactStore) -> TestClient:
    app = FastAPI()
    app.state.artifacts = store
    app.include_router(router)
    return TestClient(app)


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


@pytest.fixture
def local(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts", b"k" * 32, PUBLIC)


def test_a_screenshot_url_is_under_the_public_url_and_serves_the_png(local: LocalArtifactStore) -> None:
    local.put("qa/o-r/abc/s1/step-01.png", PNG)
    url = local.signed_url("qa/o-r/abc/s1/step-01.png")
    assert url.startswith(f"{PUBLIC}/artifacts/qa/o-r/abc/s1/step-01.png?sig=") and "exp=" not in url
    with _client(local) as client:
        response = client.get(_path(url))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png" and response.content == PNG


def test_a_wrong_or_missing_signature_is_refused(local: LocalArtifactStore) -> None:
    local.put("qa/a.png", PNG)
    other = LocalArtifactStore(local.root, b"z" * 32, PUBLIC)
    with _client(local) as client:
        assert client.get(_path(other.signed_url("qa/a.png"))).status_code == 403
        assert client.get("/artifacts/qa/a.png").status_code == 403
        forged = _path(local.signed_url("qa/a.png")).replace("qa/a.png", "qa/b.png")
        assert client.get(forged).status_code == 403


def test_a_missing_artifact_is_404_and_a_bad_key_is_never_read(local: LocalArtifactStore) -> None:
    with _client(local) as client:
        assert client.get(_path(local.signed_url("qa/gone.png"))).status_code == 404
        assert client.get("/artifacts/../secrets.png?sig=x").status_code == 404
    with pytest.raises(ArtifactError):
        local.put("../escape.png", PNG)
    with pytest.raises(ArtifactError):
        local.put("qa/script.sh", b"#!")


def test_trace_links_expire(local: LocalArtifactStore) -> None:
    local.put("qa/trace.zip", b"PK\x03\x04")
    url = local.trace_url("qa/trace.zip")
    assert "exp=" in url
    with _client(local) as client:
        ok = client.get(_path(url))
        assert ok.status_code == 200 and ok.headers["content-type"] == "application/zip"
        expired = _path(local.signed_url("qa/trace.zip", expires_in=-10))
        response = client.get(expired)
        assert response.status_code == 403 and "expired" in response.text
        tampered = _path(url).replace("exp=", "exp=9")
        assert client.get(tampered).status_code == 403


def test_the_secret_is_derived_from_the_webhook_secret_when_not_set() -> None:
    derived = artifact_secret(Settings(webhook_secret=SecretStr("hook-secret-value")))
    assert derived and derived != b"hook-secret-value"
    explicit = artifact_secret(Settings(webhook_secret=SecretStr("hook"), artifact_secret=SecretStr("art")))
    assert explicit == b"art"
    with pytest.raises(ArtifactError, match="ARTIFACT_SECRET"):
        artifact_secret(Settings())


def test_the_route_builds_the_store_from_the_settings(tmp_path: Path) -> None:
    settings = Settings(webhook_secret=SecretStr("hook-secret-value"), artifacts_dir=tmp_path, public_url=PUBLIC)
    store = ArtifactStore.from_settings(settings)
    assert isinstance(store, LocalArtifactStore)
    store.put("qa/x.png", PNG)
    app = FastAPI()
    app.state.settings = settings
    app.include_router(router)
    with TestClient(app) as client:
        assert client.get(_path(store.signed_url("qa/x.png"))).content == PNG


def test_retention_removes_old_artifacts(local: LocalArtifactStore) -> None:
    import os

    local.put("qa/old.png", PNG)
    local.put("qa/new.png", PNG)
    old = local.root / "qa" / "old.png"
    past = time.time() - 100 * 86400
    os.utime(old, (past, past))
    assert local.purge() == 1
    assert local.get("qa/old.png") is None and local.get("qa/new.png") == PNG


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    import boto3
    from moto.server import ThreadedMotoServer

    from app.redis_server import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    client.create_bucket(Bucket="specloop-artifacts")
    try:
        yield client
    finally:
        client.close()
        server.stop()


def test_an_s3_bucket_stores_and_serves_screenshots(s3: Any) -> None:
    store = S3ArtifactStore(s3, "specloop-artifacts", b"k" * 32, PUBLIC, prefix="prod")
    store.put("qa/o-r/abc/s1/final.png", PNG)
    head = s3.head_object(Bucket="specloop-artifacts", Key="prod/qa/o-r/abc/s1/final.png")
    assert head["ContentType"] == "image/png"
    with _client(store) as client:
        response = client.get(_path(store.signed_url("qa/o-r/abc/s1/final.png")))
        assert response.status_code == 200 and response.content == PNG
        assert client.get(_path(store.signed_url("qa/none.png"))).status_code == 404


def test_an_html_report_is_served_with_a_policy_that_forbids_scripts(local: LocalArtifactStore) -> None:
    local.put("qa/o-r/abc/report.html", b"<!doctype html><p>report</p>")
    with _client(local) as client:
        response = client.get(_path(local.trace_url("qa/o-r/abc/report.html")))
    assert response.status_code == 200
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


@pytest.mark.parametrize("query", [
    "sig=%C3%A9",  # non-ASCII: hmac.compare_digest raises on it
    "sig=%C3%A9&exp=1",
    "sig=abc&exp=%C2%B2",  # "²" is a digit to str.isdigit but not to int()
    "sig=abc&exp=" + "9" * 4301,  # past Python's int-from-string limit
    "sig=abc&exp=-5",
    "sig=abc&exp=",
    "sig=" + "a" * 5000,
])
def test_malformed_signature_or_expiry_is_refused_not_an_error(local: LocalArtifactStore, query: str) -> None:
    local.put("qa/a.png", PNG)
    with _client(local) as client:
        response = client.get(f"/artifacts/qa/a.png?{query}")
    assert response.status_code == 403
