"""Browser fixtures: one real Chromium per test session, and the sample app on loopback ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.qa.browser import SharedBrowser, find_chromium
from tests.sample_app import SampleApp


@pytest.fixture(scope="session")
def browser() -> Iterator[SharedBrowser]:
    """One headless Chromium (Playwright, system executable) shared by every browser test."""
    if find_chromium() is None:
        pytest.fail("No Chromium for the browser tests: install `chromium` or set CHROMIUM_PATH")
    shared = SharedBrowser()
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture(scope="session")
def sample_app() -> Iterator[SampleApp]:
    """The sample web app (tests/sample_app) served on a free loopback port."""
    app = SampleApp()
    try:
        yield app
    finally:
        app.close()


@pytest.fixture(scope="session")
def broken_sample_app() -> Iterator[SampleApp]:
    """The deliberately broken variant of the sample app."""
    app = SampleApp(broken=True)
    try:
        yield app
    finally:
        app.close()
