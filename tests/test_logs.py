"""Structured logs: one JSON object per line, delivery/job ids from context, secrets redacted."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.logs import (
    _SECRET_PATTERNS,
    REDACTED,
    configure_logging,
    log_context,
    redact_every_pattern,
    redact_text,
)

TOKEN = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """Configure JSON logging into a buffer; restore the root logger afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def read(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_line_is_one_json_object_with_the_standard_fields(lines: io.StringIO) -> None:
    logging.getLogger("specloop.test").info("queued %d jobs", 2, extra={"repo": "octo/app", "number": 5})
    [entry] = read(lines)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "specloop.test"
    assert entry["msg"] == "queued 2 jobs"
    assert entry["repo"] == "octo/app" and entry["number"] == 5
    assert entry["delivery_id"] is None and entry["job_id"] is None
    assert entry["ts"].endswith("+00:00")


def test_delivery_and_job_ids_come_from_the_context(lines: io.StringIO) -> None:
    log = logging.getLogger("specloop.test")
    with log_context(delivery_id="d-1"):
        log.info("outer")
        with log_context(job_id="map_story:o/r#1:d-1"):
            log.info("inner")
    log.info("after")
    outer, inner, after = read(lines)
    assert (outer["delivery_id"], outer["job_id"]) == ("d-1", None)
    assert (inner["delivery_id"], inner["job_id"]) == ("d-1", "map_story:o/r#1:d-1")
    assert (after["delivery_id"], after["job_id"]) == (None, None)


@pytest.mark.parametrize(
    "message",
    [
        f"installation token {TOKEN} issued",
        f"headers: Authorization: token {TOKEN}",
        f"git clone https://x-access-token:{TOKEN}@github.com/o/r.git",
        "calling model with sk-ant-api03-abcdefghijklmnop",
        f"url https://specloop.example/a/1.png?sig={TOKEN}",
    ],
)
def test_tokens_in_messages_are_redacted(lines: io.StringIO, message: str) -> None:
    logging.getLogger("specloop.test").warning(message)
    text = lines.getvalue()
    assert REDACTED in text
    assert TOKEN not in text and "sk-ant-api03-abcdefghijklmnop" not in text


def test_secret_named_fields_and_nested_headers_are_redacted(lines: io.StringIO) -> None:
    logging.getLogger("specloop.test").info(
        "request", extra={"token": "plain-value", "headers": {"Authorization": "Bearer abc", "Accept": "json"},
                          "webhook_secret": "s3cr3t-value"},
    )
    [entry] = read(lines)
    assert entry["token"] == REDACTED
    assert entry["webhook_secret"] == REDACTED
    assert entry["headers"] == {"Authorization": REDACTED, "Accept": "json"}


def test_a_private_key_in_an_exception_is_redacted(lines: io.StringIO) -> None:
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEsecretsecret\n-----END RSA PRIVATE KEY-----"
    try:
        raise ValueError(f"bad key {pem}")
    except ValueError:
        logging.getLogger("specloop.test").exception("could not sign")
    [entry] = read(lines)
    assert "ValueError" in entry["exc"]
    assert "MIIEsecretsecret" not in lines.getvalue()


def test_configuring_twice_does_not_double_the_lines(lines: io.StringIO) -> None:
    configure_logging("INFO", stream=lines)
    logging.getLogger("specloop.test").info("once")
    assert len(read(lines)) == 1


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def test_a_terminal_gets_readable_lines_and_a_pipe_gets_json(restore_root: None) -> None:
    terminal, pipe = Terminal(), io.StringIO()
    configure_logging("INFO", stream=terminal)
    with log_context(delivery_id="d-1"):
        logging.getLogger("specloop.test").info("queued %d jobs", 2, extra={"repo": "octo/app"})
    configure_logging("INFO", stream=pipe)
    logging.getLogger("specloop.test").info("queued %d jobs", 2)
    [line] = terminal.getvalue().splitlines()
    assert "INFO" in line and "specloop.test: queued 2 jobs" in line and "delivery=d-1" in line
    assert "repo=octo/app" in line and not line.startswith("{")
    assert json.loads(pipe.getvalue())["msg"] == "queued 2 jobs"


def test_log_format_overrides_the_guess(restore_root: None) -> None:
    terminal, pipe = Terminal(), io.StringIO()
    configure_logging("INFO", stream=terminal, fmt="json")
    logging.getLogger("specloop.test").info("hello")
    configure_logging("INFO", stream=pipe, fmt="console")
    logging.getLogger("specloop.test").info("hello")
    assert json.loads(terminal.getvalue())["msg"] == "hello" and "specloop.test: hello" in pipe.getvalue()


def test_json_lines_carry_no_terminal_escape_sequences(lines: io.StringIO) -> None:
    # text from an issue title or a library can hold colour codes, or codes that rewrite an operator's screen
    logging.getLogger("specloop.test").warning("\x1b[31mred\x1b[0m title\x1b]0;owned\x07", extra={"t": "\x1b[2Jx"})
    raw = lines.getvalue()
    assert "\x1b" not in raw and "\\u001b" not in raw
    entry = read(lines)[0]
    assert entry["msg"] == "red title" and entry["t"] == "x"


def test_console_lines_are_redacted_too(restore_root: None) -> None:
    terminal = Terminal()
    configure_logging("INFO", stream=terminal)
    logging.getLogger("specloop.test").info("token %s", TOKEN)
    assert TOKEN not in terminal.getvalue() and REDACTED in terminal.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
@pytest.mark.parametrize("pattern", [pattern for pattern, _ in _SECRET_PATTERNS], ids=lambda p: p.pattern[:20])
def test_the_shortcut_for_text_without_secret_shapes_never_changes_a_redaction(pattern: re.Pattern[str],
                                                                                data: st.DataObject) -> None:
    # text holding a match of the pattern somewhere, whatever surrounds it
    text = data.draw(st.from_regex(pattern, fullmatch=False))
    assert redact_text(text) == redact_every_pattern(text)


def test_text_with_none_of_the_shapes_is_returned_as_it_is() -> None:
    plain = "webhook answered: queued map_story for octo-org/shop#12 in 1.2 ms"
    assert redact_text(plain) is plain
