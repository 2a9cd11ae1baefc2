"""A story PR for code generation: a sample app that lacks the story's feature, its approved-to-be spec and
config, and the scripted agent's tool calls (shared by the code-generation, attack and recovery tests)."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.markers import marker
from app.sandbox.messages_api import ToolUse
from tests.support.github import SHOP
from tests.support.spec import mapped_issue

__all__ = ["AFTER", "APP", "BEFORE", "BRANCH", "CONFIG", "FEATURE", "UNIT_TEST", "editor", "no_follow_up_qa",
           "story_pr"]

BRANCH = "specloop/{n}-greeting"
FEATURE = """\
Feature: Greeting
  Rule: Visitors are greeted
    Scenario: the one where a visitor opens the home page
      Given I am on "/"
      Then I should see "Hello, shop visitors"
"""
APP = """\
import http.server, os

PAGE = {page!r}

class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""
BEFORE = APP.format(page="<h1>Shop</h1><p>Coming soon</p>")
AFTER = APP.format(page="<h1>Shop</h1><p>Hello, shop visitors</p>")
CONFIG = """\
qa:
  start: python3 app.py
  contexts: 1
  timeout_ms: 5000
  screenshots: failures
code:
  max_turns: 8
  test: python3 -m unittest discover -s tests -q
"""
UNIT_TEST = "import unittest\n\nclass T(unittest.TestCase):\n    def test_ok(self):\n        self.assertTrue(True)\n"


def editor(**data: Any) -> ToolUse:
    return ToolUse(data, name="str_replace_based_edit_tool")


def story_pr(github: Any, *, config: str = CONFIG) -> tuple[int, int, str]:
    """A mapped story and the bot's spec PR for it (feature, sample app, config): (issue, PR, head)."""
    github.push_files(SHOP, "main", {".github/specloop.yml": config, "app.py": BEFORE,
                                     "tests/test_app.py": UNIT_TEST}, "The app")
    issue = mapped_issue(github)
    branch = BRANCH.format(n=issue)
    head = github.push_files(SHOP, branch, {"features/greeting.feature": FEATURE}, "Spec: Greeting")
    body = "The spec.\n" + marker("spec-pr", issue=issue, branch=branch, paths=["features/greeting.feature"])
    number = int(github.open_pull(SHOP, branch, title="Spec: Greeting", body=body, by=github.bot.login))
    return issue, number, head




@pytest.fixture
def no_follow_up_qa(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The spec check (and so QA) the job runs on its own push is skipped, and the pushed SHAs recorded: for
    tests about the push itself (QA on the new head is the end-to-end test's)."""
    import jobs.generate_code

    pushed: list[str] = []

    async def recorded(*args: Any, **kwargs: Any) -> None:
        pushed.append(args[3])

    monkeypatch.setattr(jobs.generate_code, "run_check", recorded)
    return pushed
