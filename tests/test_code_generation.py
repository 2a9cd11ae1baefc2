"""Code generation end to end: a scripted agent implements a feature the sample app lacks, on the story PR's
branch, in the sandbox; the job commits through the Git Data API and QA passes on the new head.

Real Redis, the GitHub double over HTTP (webhooks and git), the LLM double behind the real SDK's tool
runner, real git, bubblewrap and Chromium. The approval is a person's review on the double: everything
after it (approve_spec, generate_code, the push's synchronize, check_spec, run_qa) runs in the worker.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.markers import find_marker, marker
from app.isolation import sandbox_available
from app.render.map_comment import read_map_state
from app.sandbox.messages_api import ToolCalls, ToolUse
from tests.support.github import SHOP
from tests.support.service import Service
from tests.support.spec import mapped_issue

pytestmark = pytest.mark.skipif(sandbox_available() is not None, reason=str(sandbox_available()))

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


def code_runs(github: Any, sha: str) -> list[Any]:
    return github.check_runs(SHOP, head_sha=sha, name="specloop/code")


@pytest.mark.parametrize("service", [{"allow_repo_code": True}], indirect=True)
async def test_a_scripted_agent_implements_the_story_and_qa_passes_on_the_pushed_head(
    github: Any, llm: Any, service: Service,
) -> None:
    issue, number, approved = story_pr(github)
    llm.script(
        ToolCalls(editor(command="view", path="app.py"), text="Let me look at the app."),
        ToolCalls(ToolUse({}, name="run_qa")),
        ToolCalls(editor(command="str_replace", path="app.py", old_str="Coming soon", new_str="Hello, shop visitors")),
        ToolCalls(ToolUse({"command": "python3 -m unittest discover -s tests -q"}, name="bash")),
        ToolCalls(ToolUse({}, name="run_qa")),
        ToolCalls(ToolUse({"summary": "The home page greets visitors."}, name="finish")),
    )
    github.submit_review(SHOP, number, "APPROVED", by="bob", commit_id=approved)
    totals = await service.drain()
    assert totals["failed"] == 0, totals

    pull = github.pull(SHOP, number)
    pushed = pull.head_sha
    assert pushed != approved
    assert github.file(SHOP, "app.py", ref=pushed) == AFTER
    assert github.file(SHOP, "features/greeting.feature", ref=pushed) == FEATURE
    commit = github.repo(SHOP).git.read_commit(pushed)
    assert commit.message.startswith(f"Implement #{issue}: Greeting")
    assert "- the one where a visitor opens the home page" in commit.message
    assert pushed in github.repo(SHOP).api_commits  # made through the Git Data API: GitHub shows it verified

    (code,) = code_runs(github, approved)
    assert code.status == "completed" and code.conclusion == "success", code.output
    assert code.output["title"] == "Code pushed: 1 of 1 scenarios pass"
    summary = code.output["summary"]
    assert "`app.py` | changed +1 −1" in summary and "Project tests:** passed" in summary
    assert "the one where a visitor opens the home page | ✅ passed" in summary
    assert "The home page greets visitors." in code.output["text"]

    (qa,) = github.check_runs(SHOP, head_sha=pushed, name="specloop/qa")
    assert qa.conclusion == "success", qa.output

    maps = [c for c in github.comments(SHOP, issue) if find_marker(c.body, "map")]
    status = read_map_state(maps[-1].body).status  # type: ignore[union-attr]
    assert status.code_sha == pushed and status.qa_conclusion == "success"

    # the agent's requests: cached static prefix with the story and the approved feature; the tools it is
    # trained on; the QA result it got back names the page's text at the failure
    first = llm.requests[0].body
    assert first["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert "Hello, shop visitors" in first["system"][0]["text"] and "<story>" in first["system"][0]["text"]
    types = {tool.get("type", "custom") for tool in first["tools"]}
    assert {"text_editor_20250728", "bash_20250124"} <= types
    qa_result = [b for b in llm.requests[2].body["messages"][-1]["content"] if b["type"] == "tool_result"]
    said = str(qa_result[0]["content"])
    assert "0 of 1 approved scenarios pass" in said and "Coming soon" in said


@pytest.mark.parametrize("service", [{"allow_repo_code": True}], indirect=True)
async def test_nothing_useful_pushes_nothing_and_says_why(github: Any, llm: Any, service: Service) -> None:
    _, number, approved = story_pr(github)
    llm.script(
        ToolCalls(editor(command="str_replace", path="app.py", old_str="Coming soon", new_str="Almost there")),
        ToolCalls(ToolUse({"summary": "I tried."}, name="finish")),
    )
    github.submit_review(SHOP, number, "APPROVED", by="bob", commit_id=approved)
    totals = await service.drain()
    assert totals["failed"] == 0, totals
    assert github.pull(SHOP, number).head_sha == approved
    (code,) = code_runs(github, approved)
    assert code.conclusion == "failure" and code.output["title"] == "Nothing pushed"
    assert "no approved scenario passes with this change" in code.output["summary"]


@pytest.mark.parametrize("service", [{"allow_repo_code": False}], indirect=True)
async def test_without_repository_code_allowed_the_check_run_says_so(github: Any, llm: Any, service: Service) -> None:
    _, number, approved = story_pr(github)
    github.submit_review(SHOP, number, "APPROVED", by="bob", commit_id=approved)
    totals = await service.drain()
    assert totals["failed"] == 0, totals
    (code,) = code_runs(github, approved)
    assert code.conclusion == "neutral" and "ALLOW_REPO_CODE" in code.output["summary"]
    assert llm.requests == []


