"""Attachments a step or hook adds to its result (`ctx.attach`, `ctx.log`, `ctx.link`), as Cucumber's.

Text is kept as it is (`contentEncoding` IDENTITY), bytes base64-encoded (BASE64). Step code is
repository code, possibly hostile: the attachments of one run share a byte budget (`MAX_RUN_BYTES`,
counted before encoding) and a number of attachments (`MAX_RUN_ATTACHMENTS`), and an attachment beyond
either fails the step that made it, saying why.
"""

from __future__ import annotations

import base64
from contextvars import ContextVar
from typing import Any

LOG_MEDIA_TYPE = "text/x.cucumber.log+plain"
LINK_MEDIA_TYPE = "text/uri-list"
MAX_RUN_BYTES = 10 * 1024 * 1024
# Empty attachments cost no bytes, but each one is a dict in the result and an envelope in the report:
# a step attaching "" a million times must meet a limit too.
MAX_RUN_ATTACHMENTS = 10_000
MAX_MEDIA_TYPE_LENGTH = 255
MAX_FILE_NAME_LENGTH = 255


class AttachmentError(ValueError):
    """An attachment was refused (wrong type, or over the run's budget); the message says why."""


class AttachmentBudget:
    """The bytes of attachments one run may still take."""

    def __init__(self, limit: int = MAX_RUN_BYTES, max_count: int = MAX_RUN_ATTACHMENTS) -> None:
        self.limit = limit
        self.used = 0
        self.max_count = max_count
        self.count = 0

    def take(self, size: int) -> None:
        """Count one attachment of `size` bytes, or refuse it when the run's total would go over a limit."""
        if self.count >= self.max_count:
            raise AttachmentError(f"attachment refused: a run may attach at most {self.max_count} attachments "
                                  "in total")
        if self.used + size > self.limit:
            raise AttachmentError(
                f"attachment of {size} bytes refused: the attachments of this run are limited to "
                f"{_size(self.limit)} in total and {self.used} bytes are already attached")
        self.used += size
        self.count += 1


def _size(count: int) -> str:
    return f"{count / (1024 * 1024):g} MB" if count >= 1024 * 1024 else f"{count} bytes"


# The running QA run's budget; the scenarios of a run (asyncio tasks) share the object it holds.
_budget: ContextVar[AttachmentBudget | None] = ContextVar("specloop_attachment_budget", default=None)


def start_budget(limit: int = MAX_RUN_BYTES) -> AttachmentBudget:
    """Give the run started in this context (and the tasks it starts) a fresh attachment budget."""
    budget = AttachmentBudget(limit)
    _budget.set(budget)
    return budget


def current_budget() -> AttachmentBudget:
    """The running run's budget (a fresh one outside a run)."""
    return _budget.get() or AttachmentBudget()


def attachment(
    body: str | bytes, media_type: str, file_name: str | None = None, *, budget: AttachmentBudget | None = None
) -> dict[str, Any]:
    """An attachment in the results' form (`StepResult.attachments`), counted against `budget`."""
    if not isinstance(media_type, str) or not media_type.strip() or len(media_type) > MAX_MEDIA_TYPE_LENGTH:
        raise AttachmentError(f"an attachment needs a media type such as \"text/plain\" or \"image/png\" "
                              f"(at most {MAX_MEDIA_TYPE_LENGTH} characters), not {media_type!r:.80}")
    if file_name is not None and (not isinstance(file_name, str) or len(file_name) > MAX_FILE_NAME_LENGTH):
        raise AttachmentError(f"an attachment's file name is a string of at most {MAX_FILE_NAME_LENGTH} "
                              f"characters, not {file_name!r:.80}")
    if isinstance(body, (bytes, bytearray, memoryview)):
        raw = bytes(body)
        (budget or current_budget()).take(len(raw))
        return {"body": base64.b64encode(raw).decode("ascii"), "mediaType": media_type,
                "contentEncoding": "BASE64", "fileName": file_name}
    if isinstance(body, str):
        (budget or current_budget()).take(len(body.encode("utf-8", "surrogatepass")))
        return {"body": body, "mediaType": media_type, "contentEncoding": "IDENTITY", "fileName": file_name}
    raise AttachmentError(f"an attachment's body is text (str) or bytes, not {type(body).__name__}")
