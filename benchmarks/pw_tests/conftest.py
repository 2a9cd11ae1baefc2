"""pytest-playwright set-up for the benchmark: system Chromium with Specloop's launch flags."""

from __future__ import annotations

from typing import Any

import pytest

from app.qa.browser import LAUNCH_ARGS, require_chromium


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": require_chromium(), "args": LAUNCH_ARGS}
