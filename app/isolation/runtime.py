"""What a sandboxed command needs to run this worker's Python: the virtualenv and the interpreter it was
made from, read-only, and never the project directory around them (its `.env`, its data)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from app.isolation.base import DEFAULT_PATH

# Already visible read-only in every sandbox: a path under one of these needs no bind of its own.
_SYSTEM = (Path("/usr"), Path("/bin"), Path("/lib"), Path("/lib64"), Path("/etc"))


def needs_bind(path: Path) -> bool:
    return not any(path == root or path.is_relative_to(root) for root in _SYSTEM)


def python_runtime(*packages: str) -> tuple[tuple[Path, ...], dict[str, str]]:
    """(read-only paths, environment) for running `sys.executable` in a sandbox.

    The paths are the virtualenv (`sys.prefix`), the interpreter's installation (`sys.base_prefix`, e.g.
    a pyenv version under /root), and the directory of each named top-level package that lives outside
    them (an editable install of `app` points into the project: only `<project>/app` is bound, not the
    project). The environment puts the virtualenv's `bin` first on PATH.
    """
    paths: list[Path] = []
    for candidate in (Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent.parent):
        candidate = candidate.resolve()
        if needs_bind(candidate) and not any(candidate.is_relative_to(p) for p in paths):
            paths.append(candidate)
    for name in packages:
        spec = importlib.util.find_spec(name)
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        if spec is not None and not locations and spec.origin:
            locations = [str(Path(spec.origin).parent)]
        for location in locations:
            path = Path(location).resolve()
            if needs_bind(path) and not any(path.is_relative_to(p) for p in paths):
                paths.append(path)
    env = {"PATH": f"{Path(sys.prefix) / 'bin'}:{DEFAULT_PATH}"}
    if sys.prefix != sys.base_prefix:
        env["VIRTUAL_ENV"] = sys.prefix
    return tuple(paths), env
