"""The map comment: readable cards, a valid marker carrying the revision, and GitHub's size limit."""

from __future__ import annotations

import re

from app.domain.example_map import Example, ExampleMap, Question, Readiness, Rule, Story
from app.domain.map_revision import Change, revise
from app.domain.markers import find_marker
from app.domain.story import StoryStatus
from app.model.usage import Usage
from app.render.map_comment import (
    GITHUB_LIMIT,
    MapState,
    read_map_state,
    readiness_lines,
    render_map_comment,
)
from app.render.status_chain import status_chain


def sample(questions: bool = True) -> ExampleMap:
    return revise(None, ExampleMap(
        story=Story(title="Save cart", as_a="shopper", i_want="to save my cart", so_that="I can buy later"),
        rules=[Rule(id="", text="A saved cart keeps its items for 30 days",
                    examples=[Example(id="", title="the one where Ann's 2 items are still there on day 29",
                                      given=['"ann@example.com" saved 2 items 29 days ago'],
                                      when=["she opens her cart"], then=["she sees 2 items"])])],
        questions=[Question(id="", text="What about out-of-stock items?")] if questions else [],
        scenarios=["Ann's 2 items are still there on day 29"],
    )).map


def test_cards_are_emoji_with_words_and_questions_are_a_task_list():
    body = render_map_comment(MapState(map=sample(), revision=1, offline=True))
    assert "🟨 Story" in body and "🟦 R1 · rule:" in body and "🟩 **E1 · example:** the one where" in body
    assert re.search(r"^- \[ \] 🟥 \*\*Q1\*\* · question: What about out-of-stock items\?$", body, re.MULTILINE)
    assert "**As a** shopper, **I want** to save my cart, **so that** I can buy later." in body
    assert "1. Ann's 2 items are still there on day 29" in body


def test_marker_carries_the_revision_map_and_status_for_the_next_run():
    status = StoryStatus(spec_pr=12, spec_pr_url="https://x/pull/12")
    example_map = sample()
    body = render_map_comment(MapState(map=example_map, revision=3, status=status, counters={"R": 4, "E": 2, "Q": 1}, offline=True))
    state = read_map_state(body)
    assert state is not None
    assert state.revision == 3 and state.map == example_map and state.status == status
    assert state.counters == {"R": 4, "E": 2, "Q": 1} and state.offline


def test_readiness_verdicts_are_spelled_out():
    assert "ready for the spec" in render_map_comment(MapState(map=sample(False), revision=1, offline=True))
    assert "has 1 open question" in render_map_comment(MapState(map=sample(), revision=1, offline=True))
    bare = sample(False)
    bare.rules.append(Rule(id="R2", text="Prices are current"))
    assert "a rule without examples** (R2)" in render_map_comment(MapState(map=bare, revision=1, offline=True))
    big = sample(False)
    big.split_suggestion = ["Save cart: part one", "Save cart: part two"]
    text = render_map_comment(MapState(map=big, revision=1, max_rules=0, offline=True), readiness=Readiness.TOO_BIG)
    assert "too big" in text and "- Save cart: part two" in text


def test_status_chain_links_spec_pr_approval_code_and_qa():
    chain = status_chain(StoryStatus(spec_pr=12, spec_pr_url="https://g/pull/12", approved_by="bob",
                                     approved_sha="0123456789abcdef", code_sha="fedcba9876543210",
                                     qa_conclusion="success", qa_url="https://g/runs/5"), 2)
    assert chain.index("map r2") < chain.index("[#12](https://g/pull/12)") < chain.index("approved by @bob on `0123456`")
    assert "code `fedcba9`" in chain and "QA [✅ passed](https://g/runs/5)" in chain


def test_what_changed_and_the_model_footer():
    usage = Usage(input_tokens=1200, output_tokens=300, cache_read_input_tokens=900, cost_usd=0.0123, calls=1)
    body = render_map_comment(MapState(map=sample(), revision=2, changes=[Change("added", "rule", "R1", "A saved cart ...")],
                                       usage=usage.as_dict(), model_name="claude-sonnet-4-6"))
    assert "What changed in revision 2" in body and "- added rule **R1**" in body
    assert "<details><summary>Model and token usage</summary>" in body and "`claude-sonnet-4-6`" in body
    assert "cache read 900" in body and "$0.0123" in body
    offline = render_map_comment(MapState(map=sample(), revision=1, offline=True))
    assert "Built without a model" in offline


def test_huge_issue_stays_under_githubs_limit_with_a_valid_marker():
    long = "word " * 400
    huge = ExampleMap(
        story=Story(title="Huge " + long, as_a="user", i_want=long, so_that=long),
        rules=[Rule(id=f"R{i}", text=f"Rule {i} {long}",
                    examples=[Example(id=f"E{i}", title=f"the one where {i} {long}", given=[long] * 5, when=[long],
                                      then=[long])]) for i in range(300)],
        questions=[Question(id=f"Q{i}", text=f"Question {i} {long}?") for i in range(300)],
        scenarios=[f"Scenario {i} {long}" for i in range(300)],
    )
    changes = [Change("added", "rule", f"R{i}", long) for i in range(300)]
    body = render_map_comment(MapState(map=huge, revision=5, changes=changes, max_rules=6, offline=True))
    assert len(body) < GITHUB_LIMIT
    data = find_marker(body, "map")
    assert data is not None and data["revision"] == 5
    state = read_map_state(body)
    assert state is not None and state.map is not None and state.map.rules[0].id == "R0"
    assert "more rules, not shown" in body


def test_card_text_cannot_hide_the_rest_of_the_comment():
    tricky = sample()
    tricky.rules[0].text = "Rule <!-- hidden"
    body = render_map_comment(MapState(map=tricky, revision=1, offline=True))
    assert "Rule &lt;!-- hidden" in body
    assert read_map_state(body) is not None


def test_a_ready_map_without_a_spec_pr_says_the_spec_pr_comes_next():
    assert "Specloop opens the spec pull request next." in render_map_comment(MapState(map=sample(False), revision=1, offline=True))
    manual = render_map_comment(MapState(map=sample(False), revision=1, offline=True, auto_spec=False))
    assert "Comment `/specloop spec` to open the spec pull request." in manual


def test_once_the_spec_pr_exists_the_map_sends_reviewers_there():
    status = StoryStatus(spec_pr=12, spec_pr_url="https://g/pull/12")
    body = render_map_comment(MapState(map=sample(False), revision=2, status=status, offline=True))
    assert "opens the spec pull request" not in body
    assert "The spec is in [#12](https://g/pull/12) — review and approve it there." in body


def test_after_approval_the_map_names_the_approver_commit_and_what_comes_next():
    status = StoryStatus(spec_pr=12, spec_pr_url="https://g/pull/12", approved_by="bob",
                         approved_sha="0123456789abcdef")
    body = render_map_comment(MapState(map=sample(False), revision=2, status=status, offline=True))
    assert "The spec in [#12](https://g/pull/12) is approved by @bob on `0123456`; next: code, then QA." in body
    assert "review and approve it there" not in body


def test_open_questions_after_the_spec_pr_still_point_to_it():
    status = StoryStatus(spec_pr=12, spec_pr_url="https://g/pull/12")
    lines = readiness_lines(sample(), Readiness.OPEN_QUESTIONS, 6, status=status)
    assert "has 1 open question" in lines[0] and "proceeds anyway" not in lines[0]
    assert lines[-1] == "The spec is in [#12](https://g/pull/12) — review and approve it there."


def test_code_that_could_not_run_shows_in_the_chain_with_a_link_to_the_check_run():
    approved = StoryStatus(spec_pr=12, approved_by="bob", approved_sha="0123456789abcdef")
    chain = status_chain(approved.model_copy(update={"code_state": "could not run",
                                                     "code_url": "https://g/runs/7"}), 2)
    assert "💻 code: [could not run](https://g/runs/7) (" in chain and "code: not yet" not in chain
    generating = status_chain(approved.model_copy(update={"code_state": "generating",
                                                          "code_url": "https://g/runs/8"}), 2)
    assert "💻 code: [generating](https://g/runs/8)" in generating
    assert "💻 code: not yet" in status_chain(approved, 2)


def test_a_closed_gate_hides_a_stale_code_state():
    reopened = StoryStatus(spec_pr=12, code_state="could not run", code_url="https://g/runs/7")
    assert "💻 code: not yet" in status_chain(reopened, 3) and "could not run" not in status_chain(reopened, 3)
