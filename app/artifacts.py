"""The artifact store (screenshots, traces): a local folder by default, an S3-compatible bucket when configured.

Check runs are permanent and GitHub's image proxy (camo) fetches images from outside, so screenshot
URLs must work without a login and must not expire: they are unguessable because they carry an
HMAC signature of the key. Traces may hold page contents, so their links expire (`exp` is signed too).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from app.settings import Settings

CONTENT_TYPES = {
    ".png": "image/png",
    ".zip": "application/zip",
    ".json": "application/json",
    ".ndjson": "application/x-ndjson",
    ".xml": "application/xml",
    ".html": "text/html; charset=utf-8",
}
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+=-]*(/[A-Za-z0-9][A-Za-z0-9._@+=-]*)*$")
TRACE_LINK_SECONDS = 7 * 24 * 3600


class ArtifactError(Exception):
    """A bad key or a store that cannot be used; the message says what to fix."""


def content_type(key: str) -> str | None:
    """The served content type for a key, or None for a kind of file we never serve."""
    return CONTENT_TYPES.get(Path(key).suffix.lower())


def check_key(key: str) -> str:
    """Validate a key: relative, no `..`, a known file type. Returns it unchanged."""
    if not _KEY.match(key) or ".." in key.split("/") or content_type(key) is None:
        raise ArtifactError(f"invalid artifact key: {key!r}")
    return key


def safe_segment(text: str) -> str:
    """Turn any text (a repo name, a scenario name) into a key segment."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:80] or "x"


class ArtifactStore:
    """Base: signing and URLs. Subclasses store bytes (`put`, `get`, `delete_older_than`)."""

    def __init__(self, secret: bytes, public_url: str, retention_days: int = 90) -> None:
        if not secret:
            raise ArtifactError("no artifact secret: set ARTIFACT_SECRET (or WEBHOOK_SECRET)")
        self._secret = secret
        self.public_url = public_url.rstrip("/")
        self.retention_days = retention_days

    # -- signing ----------------------------------------------------------------------------------

    def signature(self, key: str, expires: int | None = None) -> str:
        """HMAC-SHA256 of the key (and expiry), URL-safe base64."""
        message = key if expires is None else f"{key}\n{expires}"
        digest = hmac.new(self._secret, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def verify(self, key: str, sig: str | None, exp: str | None = None, now: float | None = None) -> bool:
        """Whether `sig` signs `key` (and `exp`), and an `exp` has not passed."""
        if not sig:
            return False
        expires: int | None = None
        if exp is not None:
            try:
                expires = int(exp)
            except ValueError:
                return False
            if expires < (now if now is not None else time.time()):
                return False
        return hmac.compare_digest(sig, self.signature(key, expires))

    def signed_url(self, key: str, *, expires_in: float | None = None) -> str:
        """`PUBLIC_URL/artifacts/<key>?sig=...`: permanent, or expiring after `expires_in` seconds."""
        check_key(key)
        params: dict[str, str] = {}
        expires = int(time.time() + expires_in) if expires_in is not None else None
        params["sig"] = self.signature(key, expires)
        if expires is not None:
            params["exp"] = str(expires)
        return f"{self.public_url}/artifacts/{quote(key)}?{urlencode(params)}"

    def trace_url(self, key: str) -> str:
        """An expiring link for a Playwright trace."""
        return self.signed_url(key, expires_in=TRACE_LINK_SECONDS)

    # -- storage ----------------------------------------------------------------------------------

    def put(self, key: str, data: bytes) -> str:
        """Store `data` under `key` (replacing what was there); returns the key."""
        raise NotImplementedError

    def get(self, key: str) -> bytes | None:
        """The bytes under `key`, or None when there are none (or the key is invalid)."""
        raise NotImplementedError

    def delete_older_than(self, days: float) -> int:
        """Delete artifacts stored more than `days` ago; returns how many."""
        raise NotImplementedError

    def put_file(self, key: str, path: str | Path) -> str:
        """Store a file's bytes under `key`; returns the key."""
        return self.put(key, Path(path).read_bytes())

    def purge(self) -> int:
        """Delete artifacts older than the retention period; returns how many."""
        return self.delete_older_than(self.retention_days)

    @staticmethod
    def from_settings(settings: Settings) -> ArtifactStore:
        """The store the operator configured: an S3 bucket when ARTIFACT_BUCKET is set, else a folder."""
        secret = artifact_secret(settings)
        bucket = settings.artifact_bucket
        if bucket:
            try:
                import boto3
            except ImportError as error:  # the bucket store is an optional extra
                raise RuntimeError(
                    "ARTIFACT_BUCKET is set but boto3 is not installed: pip install 'specloop[s3]'"
                ) from error

            client = boto3.client(
                "s3",
                endpoint_url=settings.artifact_s3_endpoint or None,
                region_name=settings.artifact_s3_region,
            )
            return S3ArtifactStore(client, bucket, secret, settings.public_url, settings.artifact_retention_days)
        return LocalArtifactStore(settings.artifacts_path, secret, settings.public_url,
                                  settings.artifact_retention_days)


def artifact_secret(settings: Settings) -> bytes:
    """ARTIFACT_SECRET, else a key derived from the webhook secret (never the webhook secret itself)."""
    if settings.artifact_secret is not None and settings.artifact_secret.get_secret_value():
        return settings.artifact_secret.get_secret_value().encode()
    if settings.webhook_secret is not None and settings.webhook_secret.get_secret_value():
        return hmac.new(settings.webhook_secret.get_secret_value().encode(), b"specloop-artifacts",
                        hashlib.sha256).digest()
    raise ArtifactError("no artifact secret: set ARTIFACT_SECRET (or WEBHOOK_SECRET)")


class LocalArtifactStore(ArtifactStore):
    """Artifacts as files under a folder (the default; fine for one worker host or a shared volume)."""

    def __init__(self, root: str | Path, secret: bytes, public_url: str, retention_days: int = 90) -> None:
        super().__init__(secret, public_url, retention_days)
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> str:
        """Write the file atomically under the root folder; returns the key."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: a reader never sees half a PNG
        return key

    def get(self, key: str) -> bytes | None:
        """The file's bytes, or None when it is missing or the key is invalid."""
        try:
            return self._path(key).read_bytes()
        except (OSError, ArtifactError):
            return None

    def delete_older_than(self, days: float) -> int:
        """Delete files modified more than `days` ago; returns how many."""
        cutoff = time.time() - days * 86400
        removed = 0
        if self.root.is_dir():
            for path in self.root.rglob("*"):
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed


class S3ArtifactStore(ArtifactStore):
    """Artifacts in an S3-compatible bucket (AWS S3, MinIO, R2, ...), served through the web app."""

    # `client` is a boto3 S3 client: boto3 builds its clients at runtime, so they carry no static type
    def __init__(self, client: Any, bucket: str, secret: bytes, public_url: str, retention_days: int = 90,
                 prefix: str = "") -> None:
        super().__init__(secret, public_url, retention_days)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def put(self, key: str, data: bytes) -> str:
        """Upload the object with its content type; returns the key."""
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + check_key(key), Body=data,
                               ContentType=content_type(key))
        return key

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when it is missing or the key is invalid."""
        from botocore.exceptions import ClientError  # installed with boto3, the optional extra

        try:
            check_key(key)
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except (ClientError, ArtifactError):
            return None
        body = response["Body"]
        try:
            data: bytes = body.read()  # botocore's StreamingBody
            return data
        finally:
            body.close()

    def delete_older_than(self, days: float) -> int:
        """Delete objects under the prefix last modified more than `days` ago; returns how many."""
        cutoff = time.time() - days * 86400
        removed = 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                if item["LastModified"].timestamp() < cutoff:
                    self.client.delete_object(Bucket=self.bucket, Key=item["Key"])
                    removed += 1
        return removed
