"""What the image is built from: the lock file pins every runtime dependency, as the tests ran them."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lock() -> dict[str, str]:
    """requirements.lock as name -> version."""
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, pinned = line.partition("==")
            pins[name.strip().lower()] = pinned.strip()
    return pins


def declared() -> list[str]:
    """The runtime dependencies pyproject.toml names (without extras, markers or versions)."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [re.split(r"[\[<>=!~;\s]", item, maxsplit=1)[0].lower() for item in data["project"]["dependencies"]]


def test_every_runtime_dependency_is_pinned_in_the_lock_file() -> None:
    assert sorted(name for name in declared() if name not in lock()) == []


def test_the_lock_file_pins_what_the_tests_run_against() -> None:
    # a lock that drifted from the environment would build an image nobody tested
    assert {name: pinned for name, pinned in lock().items() if version(name) != pinned} == {}


def test_the_image_installs_dependencies_before_copying_the_code() -> None:
    steps = (ROOT / "Dockerfile").read_text()
    assert steps.index("pip install -r requirements.lock") < steps.index("COPY app ./app")
    assert "pip install --no-deps ." in steps
