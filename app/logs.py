"""Structured JSON logs: one object per line, the delivery and job id on every line, secrets redacted."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

delivery_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("delivery_id", default=None)
job_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)

REDACTED = "[redacted]"

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

# Field names whose values are secrets whatever they contain.
_SECRET_KEY = re.compile(r"(token|secret|password|passwd|private_key|api_key|apikey|authorization|cookie|jwt)",
                         re.IGNORECASE)

# Secrets recognisable by their shape, wherever they appear in a message or value.
_SECRET_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL),
     REDACTED),
    (re.compile(r"(?i)(authorization\s*[:=]\s*)(\"?)[^\"\r\n,}]+"), r"\1\2" + REDACTED),
    (re.compile(r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + REDACTED),
    (re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,})"), REDACTED),
    (re.compile(r"\bsk-ant-[A-Za-z0-9_-]{10,}"), REDACTED),
    # credentials inside URLs: https://x-access-token:TOKEN@host/...
    (re.compile(r"(?i)(://[^/:@\s]+:)[^@\s/]+@"), r"\1" + REDACTED + "@"),
    (re.compile(r"(?i)\b(sig|signature|token|secret|client_secret|access_token)=([^&\s\"']+)"),
     r"\1=" + REDACTED),
]


def redact_text(text: str) -> str:
    """`text` with anything that looks like a token, key or Authorization value replaced."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(key: str, value: Any) -> Any:
    """A log field's value, redacted by its name or its contents (recursing into dicts and lists)."""
    if _SECRET_KEY.search(key) and value not in (None, "", 0):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(key, v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """Redacts secrets in the message, its arguments and extra fields before any handler formats them."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string must not lose the line
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS:
                setattr(record, key, redact_value(key, value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, delivery_id, job_id, then any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialise the record; values JSON cannot represent are written with str()."""
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "delivery_id": getattr(record, "delivery_id", None) or delivery_id_var.get(),
            "job_id": getattr(record, "job_id", None) or job_id_var.get(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


class _SpecloopHandler(logging.StreamHandler[TextIO]):
    """The handler `configure_logging` installs; the marker lets a second call replace it."""

    _specloop = True


def configure_logging(level: str | int = "INFO", stream: TextIO | None = None) -> None:
    """Send every logger's output as JSON lines to `stream` (stderr), with secrets redacted."""
    handler = _SpecloopHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    # on the handler, not a logger: filters on loggers do not apply to records from child loggers
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_specloop", False):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # uvicorn's access log repeats what our request log says, in another format
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq", "arq.worker", "arq.jobs"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


@contextlib.contextmanager
def log_context(*, delivery_id: str | None = None, job_id: str | None = None) -> Iterator[None]:
    """Attach a delivery id and/or job id to every log line written inside the block."""
    tokens: list[tuple[contextvars.ContextVar[str | None], contextvars.Token[str | None]]] = []
    if delivery_id is not None:
        tokens.append((delivery_id_var, delivery_id_var.set(delivery_id)))
    if job_id is not None:
        tokens.append((job_id_var, job_id_var.set(job_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
