"""Fixtures for the LLM double: `llm` is a loopback Messages API, reset for each test.

    def test_something(llm):
        llm.script({"rules": [...]}, overloaded(), "plain text")
        client = AsyncAnthropic(api_key="test", base_url=llm.base_url)
        ...
        assert llm.requests[0].body["output_config"] == {...}

A request the test did not script fails loudly: the double answers 500 and the test errors at teardown.
A test that expects one sets `llm.allow_unscripted = True`.

A request the real API would refuse (the double checks each against the SDK's own TypedDicts and the
API's rules, see app/sandbox/messages_api.py) is answered 400/404 like the API, and the test errors at
teardown even when the code under test swallowed the error into a comment. A test that sends such
requests on purpose sets `llm.allow_refused = True`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.sandbox.messages_api import MessagesDouble


class LLMFixture(MessagesDouble):
    """The double plus per-test switches for tests that expect an unscripted or a refused request."""

    allow_unscripted: bool = False
    allow_refused: bool = False


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
    _llm_server.allow_refused = False
    yield _llm_server
    unscripted = list(_llm_server.unscripted)
    refused = list(_llm_server.refused)
    allow_refused = _llm_server.allow_refused
    _llm_server.reset()
    if unscripted and not _llm_server.allow_unscripted:
        pytest.fail(f"the LLM double got {len(unscripted)} request(s) nobody scripted; "
                    f"first system prompt: {unscripted[0].system_text[:200]!r}")
    if refused and not allow_refused:
        first = refused[0].response or {}
        pytest.fail(f"the LLM double refused {len(refused)} request(s) as the real API would; first: "
                    f"{refused[0].status} {first.get('error')!r}")
