"""Fixtures for the LLM double: `llm` is a loopback Messages API, reset for each test.

    def test_something(llm):
        llm.script({"rules": [...]}, overloaded(), "plain text")
        client = AsyncAnthropic(api_key="test", base_url=llm.base_url)
        ...
        assert llm.requests[0].body["tool_choice"] == {...}

A request the test did not script fails loudly: the double answers 500 and the test errors at teardown.
A test that expects one sets `llm.allow_unscripted = True`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.sandbox.messages_api import MessagesDouble


class LLMFixture(MessagesDouble):
    """The double plus a per-test switch for tests that expect an unscripted request."""

    allow_unscripted: bool = False


@pytest.fixture(scope="session")
def _llm_server() -> Iterator[LLMFixture]:
    # One server per session: starting uvicorn per test would cost more than the tests themselves.
    double = LLMFixture().start()
    yield double
    double.stop()


@pytest.fixture
def llm(_llm_server: LLMFixture) -> Iterator[LLMFixture]:
    """The LLM double, with an empty script and no recorded requests."""
    _llm_server.reset()
    _llm_server.allow_unscripted = False
    yield _llm_server
    unscripted = list(_llm_server.unscripted)
    _llm_server.reset()
    if unscripted and not _llm_server.allow_unscripted:
        pytest.fail(f"the LLM double got {len(unscripted)} request(s) nobody scripted; "
                    f"first system prompt: {unscripted[0].system_text[:200]!r}")
