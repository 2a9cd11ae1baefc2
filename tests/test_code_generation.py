"""Code generation end to end: a scripted agent implements a feature the sample app lacks, on the story PR's
branch, in the sandbox; the job commits through the Git Data API and QA passes on the new head.

Real Redis, the GitHub double over HTTP (webhooks and git), the LLM double behind the real SDK's tool
runner, real git, bubblewrap and Chromium. The approval is a person's review on the double: everything
after it (approve_spec, generate_code, the push's synchronize, check_spec, run_qa) runs in the worker.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from app.domain.markers import find_marker
from app.isolation import sandbox_available
from app.render.map_comment import read_map_state
from app.sandbox.messages_api import Slow, ToolCalls, ToolUse
from tests.support.code import AFTER, BRANCH, CONFIG, FEATURE, editor, story_pr
from tests.support.github import SHOP
from tests.support.service import Service

pytestmark = pytest.mark.skipif(sandbox_available() is not None, reason=str(sandbox_available()))

def code_runs(github: Any, sha: str) -> list[Any]:
    return github.check_runs(SHOP, head_sha=sha, name="specloop/code")


def nothing_pushed(github: Any, number: int, head: str, conclusion: str, title: str, *,
                   checked: str | None = None) -> Any:
    """The branch is still at `head`, and the one `specloop/code` run (on `checked`, default `head`) says so."""
    assert github.pull(SHOP, number).head_sha == head
    (code,) = code_runs(github, checked or head)
    assert (code.conclusion, code.output["title"]) == (conclusion, title), code.output
    return code


@pytest.mark.parametrize("service", [{"allow_repo_code": True}], indirect=True)
async def test_a_scripted_agent_implements_the_story_and_qa_passes_on_the_pushed_head(
    github: Any, llm: Any, service: Service, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("jobs.generate_code.PROGRESS_INTERVAL", 0.0)  # every turn's progress is written
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

    # live progress on the check run while the agent worked: turn, files, last command and QA, spend
    progress = [r.json["output"] for r in github.requests_to("PATCH", rf"/check-runs/{code.id}$")
                if r.json.get("status") == "in_progress"]
    titles = [o["title"] for o in progress]
    assert "Preparing the workspace" in titles and "Generating code: turn 4 of 8" in titles
    turn4 = progress[titles.index("Generating code: turn 4 of 8")]["summary"]
    assert "**Files changed:** 1: `app.py`" in turn4 and "0 of 1 scenarios pass" in turn4
    assert "`python3 -m unittest discover -s tests -q` (exit code 0)" in progress[titles.index(
        "Generating code: turn 5 of 8")]["summary"]
    assert "1 of 1 scenarios pass" in progress[titles.index("Generating code: turn 6 of 8")]["summary"]

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
    code = nothing_pushed(github, number, approved, "failure", "Nothing pushed")
    assert "no approved scenario passes with this change" in code.output["summary"]


@pytest.mark.parametrize("service", [{"allow_repo_code": True}], indirect=True)
async def test_without_a_sandbox_the_check_run_says_what_to_install_and_nothing_runs(
    github: Any, llm: Any, service: Service, monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = "bubblewrap is not installed (no `bwrap` on PATH): install the Debian package `bubblewrap`"
    monkeypatch.setattr("jobs.generate_code.sandbox_available", lambda: message)
    _, number, approved = story_pr(github)
    github.submit_review(SHOP, number, "APPROVED", by="bob", commit_id=approved)
    assert (await service.drain())["failed"] == 0
    (code,) = code_runs(github, approved)
    assert code.conclusion == "neutral" and message in code.output["summary"]
    assert "only in a sandbox" in code.output["summary"] and llm.requests == []


@pytest.mark.parametrize("service", [{"allow_repo_code": False}], indirect=True)
async def test_without_repository_code_allowed_the_check_run_says_so(github: Any, llm: Any, service: Service) -> None:
    _, number, approved = story_pr(github)
    github.submit_review(SHOP, number, "APPROVED", by="bob", commit_id=approved)
    totals = await service.drain()
    assert totals["failed"] == 0, totals
    (code,) = code_runs(github, approved)
    assert code.conclusion == "neutral" and "ALLOW_REPO_CODE" in code.output["summary"]
    assert llm.requests == []




TWO_RULES = FEATURE + """
  Rule: The shop tells who it is
    Scenario: the one where a visitor reads about the shop
      Given I am on "/"
      Then I should see "About the shop"
"""


@pytest.mark.parametrize("service", [{"allow_repo_code": True}], indirect=True)
# turns and minutes end a run the same way (tests/test_agent_loop.py): the dollar cap stands for them here
@pytest.mark.parametrize(("limit", "said"), [
    ("max_turns: 8\n  max_usd: 0.00001", "cost cap of $0.00 (`code.max_usd`) is spent"),
], ids=["dollars"])
async def test_turns_or_budget_running_out_with_some_scenarios_passing_push_a_draft_and_say_what_fails(
    github: Any, llm: Any, service: Service, limit: str, said: str, no_follow_up_qa: list[str],
) -> None:
    config = CONFIG.replace("max_turns: 8", limit)
    github.push_files(SHOP, "main", {".github/specloop.yml": config}, "Fewer turns")
    issue, number, _ = story_pr(github, config=config)
    head = github.push_files(SHOP, BRANCH.format(n=issue), {"features/greeting.feature": TWO_RULES}, "Two rules")
    llm.script(
        ToolCalls(editor(command="str_replace", path="app.py", old_str="Coming soon", new_str="Hello, shop visitors")),
        ToolCalls(ToolUse({"command": "echo thinking"}, name="bash")),
    )
    github.submit_review(SHOP, number, "APPROVED", by="bob", commit_id=head)
    assert (await service.drain())["failed"] == 0
    pull = github.pull(SHOP, number)
    assert pull.head_sha != head and pull.draft and no_follow_up_qa == [pull.head_sha]  # checked once pushed
    (code,) = code_runs(github, head)
    assert code.conclusion == "neutral" and code.output["title"] == "Partial code pushed: 1 of 2 scenarios pass"
    assert said in code.output["summary"]
    (comment,) = [c.body for c in github.comments(SHOP, number) if find_marker(c.body, "code")]
    assert "pushed a partial implementation" in comment and "The pull request is a draft" in comment
    assert "**Still failing:**" in comment and "the one where a visitor reads about the shop" in comment
    assert "About the shop" in comment  # the step that failed
    assert "Implement #" in github.repo(SHOP).git.read_commit(pull.head_sha).message


@pytest.mark.parametrize("service", [{"allow_repo_code": True}], indirect=True)
async def test_a_persons_push_during_the_run_means_nothing_is_pushed_over_it(
    github: Any, llm: Any, service: Service,
) -> None:
    issue, number, approved = story_pr(github)
    llm.script(
        ToolCalls(editor(command="str_replace", path="app.py", old_str="Coming soon", new_str="Hello, shop visitors")),
        Slow(ToolCalls(ToolUse({"summary": "Done."}, name="finish")), 2.0),
    )
    github.submit_review(SHOP, number, "APPROVED", by="bob", commit_id=approved)
    drain = asyncio.ensure_future(service.drain())
    deadline = time.monotonic() + 120  # a hang guard, not a timing
    while len(llm.requests) < 2 and not drain.done() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    theirs = github.push_files(SHOP, BRANCH.format(n=issue), {"NOTES.md": "alice's notes\n"}, "Notes", by="alice")
    assert (await drain)["failed"] == 0
    code = nothing_pushed(github, number, theirs, "neutral", "Nothing pushed: the branch moved", checked=approved)
    assert "/specloop code" in code.output["summary"]


@pytest.mark.parametrize("service", [{"allow_repo_code": True}], indirect=True)
async def test_specloop_code_runs_again_on_the_branch_head_keeping_a_persons_commit(
    github: Any, llm: Any, service: Service, no_follow_up_qa: list[str],
) -> None:
    issue, number, approved = story_pr(github)
    github.submit_review(SHOP, number, "APPROVED", by="bob", commit_id=approved)
    llm.script(ToolCalls(ToolUse({"summary": "Nothing to do yet."}, name="finish")))
    assert (await service.drain())["failed"] == 0
    theirs = github.push_files(SHOP, BRANCH.format(n=issue), {"NOTES.md": "alice's notes\n"}, "Alice's notes",
                               by="alice")
    assert (await service.drain())["failed"] == 0
    llm.script(
        ToolCalls(editor(command="str_replace", path="app.py", old_str="Coming soon", new_str="Hello, shop visitors")),
        ToolCalls(ToolUse({"summary": "Greets visitors."}, name="finish")),
    )
    github.comment(SHOP, number, "/specloop code keep the page short", by="bob")
    assert (await service.drain())["failed"] == 0
    pushed = github.pull(SHOP, number).head_sha
    assert pushed != theirs and github.repo(SHOP).git.read_commit(pushed).parents == [theirs]
    assert github.file(SHOP, "NOTES.md", ref=pushed) == "alice's notes\n"
    (run,) = code_runs(github, theirs)
    assert run.conclusion == "success"
    first = llm.requests[-2].body["messages"][0]["content"][0]["text"]
    assert "keep the page short" in first and "Alice's notes" in first


@pytest.mark.parametrize("service", [{"allow_repo_code": True}], indirect=True)
async def test_two_approvals_at_once_give_one_run(github: Any, llm: Any, service: Service,
                                                  no_follow_up_qa: list[str]) -> None:
    _, number, approved = story_pr(github)
    github.add_user("carol", "write", SHOP)
    llm.script(
        ToolCalls(editor(command="str_replace", path="app.py", old_str="Coming soon", new_str="Hello, shop visitors")),
        ToolCalls(ToolUse({"summary": "Done."}, name="finish")),
    )
    github.submit_review(SHOP, number, "APPROVED", by="bob", commit_id=approved)
    github.submit_review(SHOP, number, "APPROVED", by="carol", commit_id=approved)
    assert (await service.drain())["failed"] == 0
    assert len(code_runs(github, approved)) == 1
    pushes = [p for p in github.git_pushes if p["ref"].startswith("refs/heads/specloop/")
              and p["pusher"] == github.bot.login]
    assert len(pushes) == 1 and llm.remaining == 0
