"""`X-Hub-Signature-256` verification: HMAC-SHA256 of the raw request body, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


class SignatureError(Exception):
    """The delivery is not signed with our webhook secret; `reason` is short and safe to return."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sign(secret: str, body: bytes) -> str:
    """The header value GitHub sends for `body` signed with `secret` (used by the GitHub double too)."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return PREFIX + digest


def verify_signature(secret: str, body: bytes, header: str | None) -> None:
    """Raise SignatureError unless `header` is the HMAC-SHA256 of the raw `body` under `secret`."""
    if not header:
        raise SignatureError("missing X-Hub-Signature-256 header")
    header = header.strip()
    # GitHub always sends lower-case hex after "sha256="; anything else cannot be ours
    if not header.startswith(PREFIX) or len(header) != len(PREFIX) + 64:
        raise SignatureError("malformed X-Hub-Signature-256 header")
    try:
        bytes.fromhex(header[len(PREFIX):])
    except ValueError:
        raise SignatureError("malformed X-Hub-Signature-256 header") from None
    # compare_digest on the whole string: timing does not reveal how many characters matched
    if not hmac.compare_digest(sign(secret, body).encode("ascii"), header.lower().encode("ascii")):
        raise SignatureError("signature does not match the payload")
