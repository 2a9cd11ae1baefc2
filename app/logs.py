"""Structured logs: JSON lines for machines, a readable line on a terminal; the delivery and job id on
every line, secrets redacted, no terminal escape codes in JSON."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
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


# What every pattern above needs somewhere in the text (case ignored): most log text has none of these
# and skips the seven substitutions. tests/test_logs.py checks that the shortcut never changes a result.
_MAY_HOLD_SECRET = re.compile(r"(?i)-----begin|authorization|bearer|token|basic|gh[pousr]_|github_pat_|sk-ant-|"
                              r"://|sig=|signature=|secret=")


def redact_text(text: str) -> str:
    """`text` with anything that looks like a token, key or Authorization value replaced."""
    if not _MAY_HOLD_SECRET.search(text):
        return text
    return redact_every_pattern(text)


def redact_every_pattern(text: str) -> str:
    """`redact_text` without the shortcut: every pattern applied."""
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


# ANSI escape sequences (colours, cursor moves) that a library or an attacker's text may carry: in a
# JSON line they are noise at best and, replayed in a terminal, a way to rewrite what an operator sees.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


def strip_ansi(text: str) -> str:
    """`text` without terminal escape sequences."""
    return _ANSI.sub("", text)


class RedactingFilter(logging.Filter):
    """Redacts secrets (and strips terminal escape sequences) in the message, its arguments and extra
    fields before any handler formats them."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string must not lose the line
            message = str(record.msg)
        record.msg = strip_ansi(redact_text(message))
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS:
                clean = redact_value(key, value)
                setattr(record, key, strip_ansi(clean) if isinstance(clean, str) else clean)
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
            entry["exc"] = strip_ansi(redact_text(self.formatException(record.exc_info)))
        return json.dumps(entry, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """One readable line: time, level, logger, message, then delivery, job and extra fields as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        """The line a person reads in a terminal."""
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        fields = {"delivery": getattr(record, "delivery_id", None) or delivery_id_var.get(),
                  "job": getattr(record, "job_id", None) or job_id_var.get()}
        fields.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and k not in
                       {"delivery_id", "job_id"}})
        tail = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        line = f"{when} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if tail:
            line += f"  [{tail}]"
        if record.exc_info:
            line += "\n" + strip_ansi(redact_text(self.formatException(record.exc_info)))
        return line


class _SpecloopHandler(logging.StreamHandler[TextIO]):
    """The handler `configure_logging` installs; the marker lets a second call replace it."""

    _specloop = True


def configure_logging(level: str | int = "INFO", stream: TextIO | None = None, fmt: str = "auto") -> None:
    """Send every logger's output to `stream` (stderr), secrets redacted: `fmt` "json" lines, "console"
    lines for people, or "auto" (console on a terminal, JSON otherwise: what a log collector reads)."""
    out = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if out.isatty() else "json"
    handler = _SpecloopHandler(out)
    handler.setFormatter(ConsoleFormatter() if fmt == "console" else JsonFormatter())
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


class _SkipPaths(logging.Filter):
    """Drops uvicorn access lines for paths whose handler writes a fuller line of its own."""

    def __init__(self, paths: frozenset[str]) -> None:
        super().__init__()
        self.paths = paths

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the line unless its request path (uvicorn's third argument) is one of ours."""
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3:
            return str(args[2]).partition("?")[0] not in self.paths
        return True


def quiet_access_log(paths: Iterable[str]) -> None:
    """Leave `paths` out of uvicorn's access log (the webhook logs each delivery with its outcome)."""
    access = logging.getLogger("uvicorn.access")
    for old in [f for f in access.filters if isinstance(f, _SkipPaths)]:
        access.removeFilter(old)
    access.addFilter(_SkipPaths(frozenset(paths)))


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
