"""Slash commands in comments: `/specloop <cmd> [args]`, ignoring code and quoted text.

People quote earlier comments and paste examples in code blocks; a command inside those is not an
instruction, so only plain lines count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PREFIX = "/specloop"

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
# an unclosed "<!--" hides the rest of the body from readers, so it runs to the end here too
_HTML_COMMENT = re.compile(r"<!--(?:.*?-->|.*\Z)", re.DOTALL)
_COMMAND = re.compile(r"^/specloop(?:\s+(.*))?$", re.IGNORECASE)
# A name is echoed back in replies: nothing that could mention someone or break out of a code span.
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,19}")


def valid_command_name(name: str) -> bool:
    """Whether `name` looks like a command name (letters, digits and `-`, at most 20), safe to echo."""
    return _NAME.fullmatch(name.lower()) is not None


@dataclass(frozen=True)
class Command:
    """One parsed command: `name` (lower-case) and its arguments."""

    name: str
    args: list[str] = field(default_factory=list)


def _plain_lines(body: str) -> list[str]:
    """The lines of `body` that are neither code (fenced or indented) nor block quotes."""
    lines: list[str] = []
    fence: str | None = None
    previous_blank = True
    for raw in body.replace("\r\n", "\n").split("\n"):
        opened = _FENCE.match(raw)
        if fence is not None:
            # a fence closes with the same character, at least as long
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence) and \
                    not raw.strip()[len(opened.group(1)):].strip():
                fence = None
            continue
        if opened:
            fence = opened.group(1)
            continue
        expanded = raw.expandtabs(4)
        # an indented code block starts after a blank line (inside a paragraph it is a continuation)
        if previous_blank and expanded.startswith("    ") and expanded.strip():
            continue
        previous_blank = not raw.strip()
        if raw.lstrip().startswith(">"):
            continue
        lines.append(raw)
    return lines


def parse_commands(body: str | None) -> list[Command]:
    """Every `/specloop <cmd> [args]` line in `body` outside code blocks, inline code and quotes."""
    if not body:
        return []
    found: list[Command] = []
    for line in _plain_lines(_HTML_COMMENT.sub("", body)):
        text = _INLINE_CODE.sub("", line).strip()
        match = _COMMAND.match(text)
        if not match:
            continue
        words = (match.group(1) or "").split()
        if not words:
            found.append(Command("help"))  # a bare "/specloop" asks what it can do
            continue
        found.append(Command(words[0].lower(), words[1:]))
    return found
