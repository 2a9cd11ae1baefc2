"""`make demo`: the whole loop against the GitHub double, as a person runs it (`specloop demo` in a shell).

The repository starts without the story's feature; after bob's approval the (scripted) model writes it on
the PR branch and QA passes against the app started from that branch, in the sandbox.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app import demo
from app.demo import ANSWER, STORY_BODY, STORY_TITLE, markdown_lines, plain, story
from app.demo.report import REPORT_KEYS
from app.demo.scripted import CODE_FILES, ScriptedModel, map_draft
from app.demo.stage import Stage
from app.domain.example_map import Readiness
from app.domain.map_revision import revise
from app.domain.offline_mapper import build_map
from app.domain.steps import match_step
from app.domain.story import Comment, read_story
from app.model.mapper import draft_to_map
from app.model.prompts import MapDraft
from app.sandbox import demo_app
from app.sandbox.messages_api import MessagesDouble, ToolCalls

BIN = Path(sys.executable).parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FEATURE = "features/visitors-can-subscribe-to-the-newsletter.feature"


class _Command:
    """A command started the way a person would run it (without colours or a model key) in a folder of its
    own, its output going to files there (no pipe to fill while nobody reads it); `result()` waits for it,
    with a generous bound."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.cwd = cwd
        self.stdout, self.stderr = cwd / "stdout.txt", cwd / "stderr.txt"
        env = {key: value for key, value in os.environ.items() if key != "ANTHROPIC_API_KEY"}
        with self.stdout.open("wb") as stdout, self.stderr.open("wb") as stderr:  # the child keeps its own copies
            self.process = subprocess.Popen(args, cwd=cwd, env={**env, "NO_COLOR": "1"}, stdout=stdout,
                                            stderr=stderr)

    def result(self) -> subprocess.CompletedProcess[str]:
        code = self.process.wait(timeout=300)
        return subprocess.CompletedProcess(self.process.args, code, self.stdout.read_text(), self.stderr.read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, _Command]]:
    """Both command-line demos, started at once: the whole loop (`specloop demo`) and the regression
    (`python -m app.demo --broken-app`). Each spends most of its time waiting on its jobs, its sandbox and
    Chromium, so running them side by side takes about as long as one; each has its own folder, doubles,
    Redis and ports, and each test below asserts on its own run."""
    whole, broken = tmp_path_factory.mktemp("demo"), tmp_path_factory.mktemp("demo-broken")
    started = {
        "whole": _Command([str(BIN / "specloop"), "demo", "--out", str(whole / "out"),
                           "--report", str(whole / "report.json")], cwd=whole),
        "broken": _Command([sys.executable, "-m", "app.demo", "--broken-app", "--no-reports", "--out", str(broken),
                            "--report", str(broken / "report.json")], cwd=broken),
    }
    try:
        yield started
    finally:
        for command in started.values():
            command.stop()


def _runs(pull: dict[str, Any], name: str, sha: str) -> list[dict[str, Any]]:
    return [run for run in pull["check_runs"] if run["name"] == name and run["head_sha"] == sha]


def _the_loop_as_github_shows_it(report: dict[str, Any], out: Path,
                                 code_conclusion: str = "success") -> tuple[dict[str, Any], str, str]:
    """The report's shape, and (the PR, the approved commit, the generated commit)."""
    assert tuple(report) == REPORT_KEYS
    assert report["artifacts_dir"] == str(out)
    issue = report["issue"]
    assert issue["number"] == 1 and issue["title"] == STORY_TITLE and issue["body"] == STORY_BODY
    assert "story" in issue["labels"]
    assert {"author", "body"} <= set(report["comments"][0])
    assert any(c["author"] == "alice" and c["body"] == ANSWER for c in report["comments"])
    assert any(c["author"] == "specloop[bot]" and "Example Map" in c["body"] for c in report["comments"])
    [pull] = report["pulls"]
    assert pull["number"] == 2 and pull["title"] == f"Spec: {STORY_TITLE}" and "Closes #1" in pull["body"]
    assert pull["head"] == "specloop/1-visitors-can-subscribe-to-the-newsletter" and pull["base"] == "main"
    assert pull["state"] == "open"
    [review] = pull["reviews"]
    assert review["state"] == "APPROVED" and review["author"] == "bob"
    approved, head = review["commit_id"], pull["head_sha"]
    assert head != approved  # the generated commit is the branch's head now, on top of the approved spec
    assert sorted(pull["files"]) == sorted([FEATURE, *CODE_FILES])
    assert pull["files"]["tests/test_subscribe.py"] == demo_app.SUBSCRIBE_TEST
    [spec] = _runs(pull, "specloop/spec", approved)
    assert spec["conclusion"] == "success"
    [code] = _runs(pull, "specloop/code", approved)
    assert code["status"] == "completed" and code["conclusion"] == code_conclusion
    assert "app.py" in code["output"]["summary"]
    assert not _runs(pull, "specloop/qa", approved)  # QA runs on the generated code, not on the spec alone
    return pull, approved, head


@pytest.mark.timeout(300)  # the run's own bound (it shares the machine with the regression run): a hang guard
def test_make_demo_runs_the_whole_loop_writes_the_code_and_qa_passes_on_it(demos: dict[str, _Command]) -> None:
    run = demos["whole"]
    out, report_path = run.cwd / "out", run.cwd / "report.json"
    result = run.result()
    text = result.stdout
    assert result.returncode == 0, text + result.stderr
    for line in [
        "1/8 · Starting Specloop and a local GitHub",
        "No ANTHROPIC_API_KEY: the demo runs a SCRIPTED model through the LLM double",
        "app.py       the newsletter page, without the sign-up: “Sign-up opens soon.”",
        "  start: python3 app.py",
        "posted the Example Map, revision 1: 3 rules, 3 examples, 1 open question",
        "☐ 🟥 Q1 · question: Should an address that is already subscribed",
        "Readiness: 🟥 has 1 open question",
        "labels: story, needs-answers",
        "re-mapped in place (same comment), revision 2: answered question Q1",
        "Readiness: ✅ ready for the spec",
        "opened the spec PR by itself (spec.auto): #2 “Spec: Visitors can subscribe to the newsletter”",
        "Rule: An address that is already subscribed is refused with a notice",
        "specloop/spec · completed · conclusion: action_required",
        "recorded the fingerprint in the PR body: approved by @bob",
        "specloop/spec is now success",
        "specloop/code · completed · conclusion: success",
        "“Implement #1: Visitors can subscribe to the newsletter” to specloop/1-visitors-can-subscribe",
        "modified  app.py",
        "added     tests/test_subscribe.py",
        "the push (",
        "specloop/qa · completed · conclusion: success",
        "All scenarios pass (3)",
        "fetched the first one: HTTP 200, image/png",
        "the same scenarios from a terminal, for CI, in a checkout of",
        "🧪 QA ✅ passed",
        "The whole loop ran: every phase did what it should, and QA passed on the generated code.",
    ]:
        assert line in text, f"missing from the demo's narrative: {line!r}\n{text}"
    assert '"level"' not in text and not result.stderr.strip()  # log lines stay in the log file

    report = json.loads(report_path.read_text())
    pull, _, head = _the_loop_as_github_shows_it(report, out)
    assert pull["draft"] is False
    assert pull["files"]["app.py"] == demo_app.signup_app()  # what the scripted agent wrote, pushed as is
    [qa] = _runs(pull, "specloop/qa", head)
    assert qa["status"] == "completed" and qa["conclusion"] == "success"
    assert qa["output"]["annotations"] == [] and qa["output"]["images"]
    assert {"title", "summary", "text"} <= set(qa["output"])
    assert f"💻 code [`{head[:7]}`]" in report["comments"][0]["body"]  # the status chain on the map comment

    assert (out / "screenshot.png").read_bytes().startswith(PNG_MAGIC)
    reports = out / "qa-report"
    assert 'failures="0"' in (reports / "junit.xml").read_text()
    assert (reports / "cucumber-messages.ndjson").read_text().strip()
    assert "<html" in (reports / "report.html").read_text().lower()
    assert (out / "demo.log").read_text().strip()


@pytest.mark.timeout(300)
def test_demo_with_broken_generated_code_shows_qa_catching_the_regression_and_where(
        demos: dict[str, _Command]) -> None:
    run = demos["broken"]
    out, report_path = run.cwd, run.cwd / "report.json"  # --out is the run's folder
    result = run.result()
    text = result.stdout
    assert result.returncode == 0, text + result.stderr  # QA catching the regression is the expected outcome
    assert "WITH A REGRESSION (--broken-app)" in text
    # the agent's own QA run saw the regression: the job pushed the code as partial
    assert "specloop/code · completed · conclusion: neutral" in text
    assert "QA caught the regression in the generated code" in text
    assert "specloop/qa · completed · conclusion: failure" in text
    assert "1 of 3 scenarios failed" in text
    # the annotation points at the Then step of the duplicate-address scenario
    assert f"{FEATURE}:31 · failed: The one where Grace" in text
    assert "🧪 QA ❌ failed" in text
    assert "QA caught the regression in the generated code and says where, as it should." in text
    assert (out / "screenshot.png").read_bytes().startswith(PNG_MAGIC)

    pull, _, head = _the_loop_as_github_shows_it(json.loads(report_path.read_text()), out, "neutral")
    assert pull["files"]["app.py"] == demo_app.signup_app(broken=True)
    assert pull["draft"] is True  # a partial implementation: the PR is a draft until every scenario passes
    assert "the PR is a draft again, and the bot said why on it" in text
    [qa] = _runs(pull, "specloop/qa", head)
    assert qa["conclusion"] == "failure"
    [note] = qa["output"]["annotations"]
    assert note["path"] == FEATURE and note["start_line"] == 31 and "Grace" in note["title"]


def test_a_phase_that_does_not_happen_stops_the_demo_with_exit_1_and_says_what(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # a reply that answers nothing: the map stays at revision 1, so phase 5 cannot do its job
    monkeypatch.setattr(story, "ANSWER", "Thanks, looking into it.")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    report_path = tmp_path / "report.json"
    code = demo.main(["--no-reports", "--out", str(tmp_path), "--color", "never", "--report", str(report_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "✗ The demo stopped: expected the answer to make map revision 2, it is 1" in out
    assert "6/8" not in out  # nothing after the failed phase ran
    assert str(tmp_path / "demo.log") in out
    report = json.loads(report_path.read_text())  # as far as it got: the issue, no PR
    assert report["issue"]["labels"] == ["story", "needs-answers"] and report["pulls"] == []


def test_the_demo_story_maps_to_runnable_rules_with_one_question_that_its_answer_settles() -> None:
    story = read_story(1, STORY_TITLE, STORY_BODY)
    first = revise(None, build_map(story))
    assert first.map.readiness(6) is Readiness.OPEN_QUESTIONS
    assert len(first.map.rules) == 3 and all(rule.examples for rule in first.map.rules)
    assert [q.id for q in first.map.open_questions()] == ["Q1"]
    steps = [s for r in first.map.rules for e in r.examples for s in (*e.given, *e.when, *e.then)]
    assert all(match_step(s).status == "matched" for s in steps), steps

    answered = read_story(1, STORY_TITLE, STORY_BODY, [Comment(author="alice", body=ANSWER)])
    second = revise(first.map, build_map(answered, previous=first.map), previous_revision=1,
                    counters=first.counters)
    assert second.map.readiness(6) is Readiness.READY
    assert [r.id for r in second.map.rules] == [r.id for r in first.map.rules]  # converged, not churned


def test_the_scripted_model_answers_what_the_offline_mapper_and_feature_writer_would() -> None:
    llm = MessagesDouble()  # not started: scripting only queues the answers
    scripted = ScriptedModel(llm, title=STORY_TITLE, body=STORY_BODY)
    first = scripted.first_map(1)
    # the model's answer, read back the way the map job reads any model answer, is the offline map
    draft = MapDraft.model_validate(map_draft(first))
    assert revise(None, draft_to_map(draft, STORY_TITLE)).map == first
    second = scripted.answered_map(1, ANSWER, by="alice")
    assert second.readiness(6) is Readiness.READY and llm.remaining == 3  # two maps and the feature
    turns = scripted.agent_run(FEATURE, broken=False)
    names = [[call.name for call in turn.calls] for turn in turns if isinstance(turn, ToolCalls)]
    assert names == [["str_replace_based_edit_tool"] * 2, ["str_replace_based_edit_tool"] * 2,
                     ["bash", "run_qa"], ["finish"]]
    assert llm.remaining == 3 + len(turns)
    written = {c.input["path"]: c.input["file_text"] for c in turns[1].calls}  # type: ignore[union-attr]
    assert written == {"app.py": demo_app.signup_app(), "tests/test_subscribe.py": demo_app.SUBSCRIBE_TEST}


def test_with_a_model_key_the_same_demo_talks_to_the_configured_api_and_starts_no_double_of_its_own(
        tmp_path: Path, llm: MessagesDouble, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # `llm` stands in for the Anthropic API here: the demo gets only a key and ANTHROPIC_BASE_URL, as a
    # person with a key (and a proxy) would run it, and must send every model call there
    scripted = ScriptedModel(llm, title=STORY_TITLE, body=STORY_BODY)
    scripted.first_map(1)
    scripted.answered_map(1, ANSWER, by="alice")
    scripted.agent_run(FEATURE, broken=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-the-real-one")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", llm.base_url)
    code = demo.main(["--no-reports", "--out", str(tmp_path), "--color", "never"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ANTHROPIC_API_KEY is set: the real model (" in out and "LLM double" not in out
    assert "mapped the story in a job with the model" in out and "(real model, the job's tools)" in out
    assert llm.remaining == 0 and len(llm.answered) == 3 + 4  # two maps, the feature, the agent's four turns
    assert all("sk-ant-api03-the-real-one" in (r.headers.get("x-api-key") or r.headers.get("authorization", ""))
               for r in llm.requests)


def test_with_a_model_key_the_demo_uses_the_real_model_except_for_the_scripted_regression(tmp_path: Path) -> None:
    narrator = demo.Narrator(sys.stdout, color=False)
    live = Stage(narrator, tmp_path, tmp_path / "live", model_key="sk-ant-real")
    assert live.scripted() is None and live.harness.llm is None
    broken = Stage(narrator, tmp_path, tmp_path / "broken", broken=True, model_key="sk-ant-real")
    assert broken.model_key is None and broken.model_key_ignored
    try:
        assert broken.scripted() is not None and broken.harness.llm is not None
    finally:
        broken.harness.stop()


def _post(url: str, email: str) -> str:
    data = urllib.parse.urlencode({"email": email}).encode()
    with urllib.request.urlopen(f"{url}/subscribe", data=data, timeout=5) as response:
        return str(response.read().decode())


def _notices(page: str) -> list[str]:
    return re.findall(r"<p role=\"\w+\">(.*?)</p>", page)


@pytest.mark.parametrize("broken", [False, True])
def test_the_demo_app_before_lacks_the_sign_up_and_the_generated_one_has_it(tmp_path: Path, broken: bool) -> None:
    (tmp_path / "app.py").write_text(demo_app.BEFORE)
    app = demo_app.BranchApp(tmp_path).start()
    try:
        with urllib.request.urlopen(app.url + "/", timeout=5) as response:
            page = response.read().decode()
    finally:
        app.stop()
    assert "Sign-up opens soon." in page and "<form" not in page

    (tmp_path / "app.py").write_text(demo_app.signup_app(broken=broken))
    app = demo_app.BranchApp(tmp_path).start()
    try:
        notices = [_notices(_post(app.url, e)) for e in ("grace@example.com", "grace.example.com", "grace@example.com")]
    finally:
        app.stop()
    again = ["Thanks! grace@example.com is subscribed"] if broken else ["grace@example.com is already subscribed"]
    assert notices == [["Thanks! grace@example.com is subscribed"], ["Please enter a valid email address"], again]


def test_markdown_from_github_reads_as_plain_terminal_text() -> None:
    assert plain("**🟦 R1 · rule:** A `valid` address") == "🟦 R1 · rule: A valid address"
    assert plain("- [x] 🟥 **Q1** · question: Why?") == "☑ 🟥 Q1 · question: Why?"
    assert plain("| scenario | status |") == "scenario  ·  status"
    assert plain("|---|---|") == ""
    assert plain("see [#2](http://127.0.0.1:1/acme/newsletter/pull/2)") == "see #2 (http://127.0.0.1:1/acme/newsletter/pull/2)"
    assert markdown_lines("<!-- specloop:map {} -->\n\n## Example Map\n") == ["## Example Map"]
