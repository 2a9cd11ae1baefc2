"""The demo's terminal output: phase headings, what happened, short excerpts of GitHub text, links."""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Sequence
from typing import TextIO


class Narrator:
    """Writes the demo's story to the terminal: phases, what happened, short excerpts, links."""

    def __init__(self, out: TextIO, color: bool | None = None, width: int = 100) -> None:
        self.out = out
        if color is None:
            color = out.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
        self.color = color
        self.width = width

    def _style(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def bold(self, text: str) -> str:
        """`text` in bold (when colours are on)."""
        return self._style(text, "1")

    def dim(self, text: str) -> str:
        """`text` dimmed (when colours are on)."""
        return self._style(text, "2")

    def write(self, text: str = "") -> None:
        """One line, as is."""
        print(text, file=self.out, flush=True)

    def banner(self, title: str, subtitle: str) -> None:
        """The opening lines."""
        self.write(self.bold(title))
        self.write(self.dim(subtitle))

    def phase(self, number: int, total: int, title: str) -> None:
        """A phase heading: `── 3/8 · alice labels the issue `story` ───`."""
        head = f"── {number}/{total} · {title} "
        self.write()
        self.write(self.bold(head + "─" * max(3, self.width - len(head))))

    def say(self, text: str) -> None:
        """A line of narration, wrapped."""
        for line in textwrap.wrap(text, self.width - 2, break_on_hyphens=False) or [""]:
            self.write(f"  {line}")

    def ok(self, text: str) -> None:
        """Something the bot did, checked on the double."""
        self.write(f"  {self._style('✓', '32')} {text}")

    def fail(self, text: str) -> None:
        """What went wrong."""
        self.write(f"  {self._style('✗', '31')} {text}")

    def field(self, name: str, value: str, width: int = 12) -> None:
        """`name  value`, aligned."""
        self.write(f"    {self.dim(f'{name:<{width}}')} {value}")

    def quote(self, lines: Sequence[str], limit: int = 40) -> None:
        """An excerpt of something on GitHub (comment, file, check run), indented behind a bar."""
        shown = list(lines)[:limit]
        for line in shown:
            self.write(f"    {self.dim('│')} {line}")
        if len(lines) > limit:
            self.write(f"    {self.dim('│')} {self.dim(f'… {len(lines) - limit} more lines')}")


def plain(markdown: str) -> str:
    """One line of GitHub markdown as terminal text: no emphasis markers, tags, task boxes or table bars."""
    if re.fullmatch(r"\s*\|[\s|:-]*\|\s*", markdown):
        return ""  # a table's header separator
    text = markdown
    if text.strip().startswith("|") and text.strip().endswith("|"):
        text = "  ·  ".join(cell.strip() for cell in text.strip()[1:-1].split("|"))
    text = re.sub(r"<[^>]+>", "", text)
    text = text.replace("**", "").replace("`", "")
    text = re.sub(r"(?<!\w)_(.+?)_(?!\w)", r"\1", text)
    text = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1 (\2)", text)  # links keep their URL: the double's
    text = re.sub(r"^- \[x\] ", "☑ ", text)
    text = re.sub(r"^- \[ \] ", "☐ ", text)
    return text.strip()


def markdown_lines(markdown: str | None, *, skip_markers: bool = True) -> list[str]:
    """The visible lines of a GitHub markdown text (hidden markers and blank lines dropped)."""
    lines = []
    for raw in (markdown or "").splitlines():
        if skip_markers and raw.strip().startswith("<!--"):
            continue
        text = plain(raw)
        if text:
            lines.append(text)
    return lines
