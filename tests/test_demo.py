"""`make demo`: the whole loop against the GitHub double, as a person runs it (`specloop demo` in a shell)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import demo
from app.demo import ANSWER, STORY_BODY, STORY_TITLE, markdown_lines, plain, story
from app.domain.example_map import Readiness
from app.domain.map_revision import revise
from app.domain.offline_mapper import build_map
from app.domain.steps import match_step
from app.domain.story import Comment, read_story

BIN = Path(sys.executable).parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a command the way a person would, without colours, with a generous bound."""
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=110, check=False)


def test_make_demo_runs_the_whole_loop_and_narrates_every_phase(tmp_path: Path) -> None:
    result = _run([str(BIN / "specloop"), "demo"], cwd=tmp_path)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    # the narrative a person reads, phase by phase
    for line in [
        "1/8 · Starting Specloop and a local GitHub",
        "posted the Example Map, revision 1: 3 rules, 3 examples, 1 open question",
        "☐ 🟥 Q1 · question: Should an address that is already subscribed",
        "Readiness: 🟥 has 1 open question",
        "labels: story, needs-answers",
        "re-mapped in place (same comment), revision 2: answered question Q1",
        "Readiness: ✅ ready for the spec",
        "opened the spec PR by itself (spec.auto): #2 “Spec: Visitors can subscribe to the newsletter”",
        "specloop/1-visitors-can-subscribe-to-the-newsletter → main",
        "Rule: An address that is already subscribed is refused with a notice",
        "specloop/spec · completed · conclusion: action_required",
        "recorded the fingerprint in the PR body: approved by @bob",
        "specloop/spec is now success",
        "specloop/code · completed · conclusion: neutral",
        "Code generation not available yet",
        "specloop/qa · completed · conclusion: success",
        "All scenarios pass (3)",
        "fetched the first one: HTTP 200, image/png",
        "🧪 QA ✅ passed",
        "The whole loop ran: every phase did what it should.",
    ]:
        assert line in out, f"missing from the demo's narrative: {line!r}\n{out}"
    # log lines stay in the log file, not on the terminal
    assert '"level"' not in out and not result.stderr.strip()
    demo_dir = tmp_path / ".specloop" / "demo"
    assert (demo_dir / "screenshot.png").read_bytes().startswith(PNG_MAGIC)
    reports = demo_dir / "qa-report"
    assert "<testsuite" in (reports / "junit.xml").read_text()
    assert (reports / "cucumber-messages.ndjson").read_text().strip()
    assert "<html" in (reports / "report.html").read_text().lower()
    assert (demo_dir / "demo.log").read_text().strip()


def test_demo_against_a_broken_app_shows_which_scenario_failed_and_where(tmp_path: Path) -> None:
    result = _run([sys.executable, "-m", "app.demo", "--broken-app", "--no-reports", "--out", str(tmp_path)],
                  cwd=tmp_path)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "QA caught the regression in the broken app" in out
    assert "specloop/qa · completed · conclusion: failure" in out
    assert "1 of 3 scenarios failed" in out
    # the annotation points at the Then step of the duplicate-address scenario
    assert "features/visitors-can-subscribe-to-the-newsletter.feature:31 · failed: The one where Grace" in out
    assert "🧪 QA ❌ failed" in out
    assert (tmp_path / "screenshot.png").read_bytes().startswith(PNG_MAGIC)


def test_a_phase_that_does_not_happen_stops_the_demo_with_exit_1_and_says_what(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # a reply that answers nothing: the map stays at revision 1, so phase 5 cannot do its job
    monkeypatch.setattr(story, "ANSWER", "Thanks, looking into it.")
    code = demo.main(["--no-reports", "--out", str(tmp_path), "--color", "never"])
    out = capsys.readouterr().out
    assert code == 1
    assert "✗ The demo stopped: expected the answer to make map revision 2, it is 1" in out
    assert "6/8" not in out  # nothing after the failed phase ran
    assert str(tmp_path / "demo.log") in out


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


def test_markdown_from_github_reads_as_plain_terminal_text() -> None:
    assert plain("**🟦 R1 · rule:** A `valid` address") == "🟦 R1 · rule: A valid address"
    assert plain("- [x] 🟥 **Q1** · question: Why?") == "☑ 🟥 Q1 · question: Why?"
    assert plain("| scenario | status |") == "scenario  ·  status"
    assert plain("|---|---|") == ""
    assert plain("see [#2](http://127.0.0.1:1/acme/newsletter/pull/2)") == "see #2 (http://127.0.0.1:1/acme/newsletter/pull/2)"
    assert markdown_lines("<!-- specloop:map {} -->\n\n## Example Map\n") == ["## Example Map"]
