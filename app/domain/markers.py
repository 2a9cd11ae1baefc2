"""Hidden markers: how the bot finds (and trusts) its own text on GitHub.

Every artifact the bot posts carries one HTML comment `<!-- specloop:KIND {json} -->`. GitHub does not
render HTML comments, so the marker is invisible to people but lets a later job find and edit the
same comment, read a recorded fingerprint back, and strip forged markers out of untrusted text.
"""

from __future__ import annotations

import json
import re
from typing import Any

_MARKER = re.compile(r"<!--\s*specloop:([a-z0-9_-]+)(?:\s+(\{.*?\}))?\s*-->", re.DOTALL)


def marker(kind: str, /, **data: Any) -> str:
    """Render a hidden marker of `kind` carrying `data` as JSON."""
    payload = json.dumps(data, sort_keys=True, separators=(",", ":")) if data else ""
    # "--" inside an HTML comment would end it early; JSON never needs a literal "--" outside strings
    payload = payload.replace("--", "\\u002d\\u002d")
    return f"<!-- specloop:{kind} {payload} -->" if payload else f"<!-- specloop:{kind} -->"


def find_marker(body: str | None, kind: str) -> dict[str, Any] | None:
    """The data of the first `kind` marker in `body`, `{}` for a marker without data, None if absent."""
    for match in _MARKER.finditer(body or ""):
        if match.group(1) == kind:
            raw = match.group(2)
            if not raw:
                return {}
            try:
                data = json.loads(raw)
            except json.JSONDecodeError:
                return None
            return data if isinstance(data, dict) else None
    return None


def has_marker(body: str | None, kind: str) -> bool:
    """Whether `body` carries a `kind` marker."""
    return find_marker(body, kind) is not None


def strip_markers(text: str | None) -> str:
    """Remove every specloop marker from untrusted text (issue bodies, comments) before use."""
    # one pass is not enough: removing an inner marker can join the pieces of an outer one
    # ("<!-- spec<!-- specloop:x -->loop:map -->"), so strip until nothing changes
    stripped = text or ""
    while True:
        again = _MARKER.sub("", stripped)
        if again == stripped:
            return stripped
        stripped = again
