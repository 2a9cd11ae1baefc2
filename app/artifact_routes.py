"""`GET /artifacts/<key>?sig=...[&exp=...]`: screenshots and traces at signed URLs under PUBLIC_URL."""

from __future__ import annotations

import re
import time

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from app.artifacts import ArtifactError, ArtifactStore, check_key, content_type

router = APIRouter()

# What signed_url writes: URL-safe base64 of a SHA-256 (43 characters), and whole seconds since 1970.
# Anything else is refused before it reaches int() or hmac.compare_digest, which raise on odd input
# (non-ASCII, Unicode digits such as "²", more than 4,300 digits).
_SIG = re.compile(r"[A-Za-z0-9_-]{1,128}")
_EXP = re.compile(r"[0-9]{1,12}")


def _well_formed(sig: str | None, exp: str | None) -> bool:
    """Whether the query parameters have the shape signed URLs give them."""
    return sig is not None and _SIG.fullmatch(sig) is not None and (exp is None or _EXP.fullmatch(exp) is not None)


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
    if not _well_formed(sig, exp):
        return PlainTextResponse("Invalid or missing signature", status_code=403)
    if not store.verify(key, sig, exp):
        expired = exp is not None and int(exp) < time.time()  # well-formed: at most 12 ASCII digits
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
