"""`GET /artifacts/<key>?sig=...[&exp=...]`: screenshots and traces at signed URLs under PUBLIC_URL."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from app.artifacts import ArtifactError, ArtifactStore, check_key, content_type

router = APIRouter()


def _store(request: Request) -> ArtifactStore:
    """The app's store: one set on `app.state.artifacts`, else built once from the settings."""
    store = getattr(request.app.state, "artifacts", None)
    if store is None:
        store = ArtifactStore.from_settings(request.app.state.settings)
        request.app.state.artifacts = store
    return store


@router.get("/artifacts/{key:path}")
def get_artifact(key: str, request: Request, sig: str | None = None, exp: str | None = None) -> Response:
    """Serve an artifact when the signature (and expiry) holds: 403 otherwise, 404 when it is gone."""
    try:
        check_key(key)
        store = _store(request)
    except ArtifactError as exc:
        status = 404 if "invalid artifact key" in str(exc) else 503
        return PlainTextResponse(str(exc) if status == 503 else "Not found", status_code=status)
    if not store.verify(key, sig, exp):
        expired = bool(exp and exp.isdigit() and int(exp) < time.time())
        message = "This link has expired" if expired else "Invalid or missing signature"
        return PlainTextResponse(message, status_code=403)
    data = store.get(key)
    if data is None:
        return PlainTextResponse("Not found (it may have passed the retention period)", status_code=404)
    headers = {"X-Content-Type-Options": "nosniff"}
    if exp is None:
        # Content under a key never changes, and GitHub's image proxy caches happily.
        headers["Cache-Control"] = "public, max-age=31536000, immutable"
    else:
        headers["Cache-Control"] = "private, no-store"
    if key.endswith(".html"):
        # reports are served from the app's own origin: no scripts, no outside fetches, inline images only
        headers["Content-Security-Policy"] = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    if key.endswith(".zip"):
        headers["Content-Disposition"] = f'attachment; filename="{key.rsplit("/", 1)[-1]}"'
    return Response(content=data, media_type=content_type(key), headers=headers)
