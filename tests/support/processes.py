"""Finding the processes a test started, by a mark in their command line."""

from __future__ import annotations

import os
from pathlib import Path


def processes_with(mark: str) -> list[str]:
    """Host pids whose command line holds `mark` (a /proc scan: a sandbox's processes are in a pid namespace
    of their own, but visible here by their host pids)."""
    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if mark.encode() in cmdline:
            found.append(pid)
    return found
