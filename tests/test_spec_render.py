"""What the bot posts for a spec: the PR body, the specloop/spec check output, the specloop/code check."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.fingerprint import Fingerprint, build_manifest
from app.domain.gherkin import ParsedFeature, parse_feature
from app.domain.markers import find_marker
from app.domain.spec_lint import Finding, check_feature
from app.model.usage import Usage
from app.render.code_check import (
    CODE_CHECK_NAME,
    CodeProgress,
    CodeReport,
    render_code_progress,
    render_code_result,
)
from app.render.spec_check import (
    MAX_ANNOTATIONS_PER_REQUEST,
    SPEC_CHECK_NAME,
    TITLE_APPROVED,
    TITLE_CHANGED,
    TITLE_INVALID,
    TITLE_WAITING,
    annotation,
    render_spec_check,
)
from app.render.spec_pr import NOT_APPROVED, SpecPrView, render_spec_pr_body, spec_pr_title, with_approval

FEATURE = """\
@issue-7
Feature: Sign in
  As a user
  I want to sign in

  Background:
    Given I am on "/login"

  Rule: right password
    Example: the one where Ana signs in
      When I press "Sign in"
      Then I should see "Welcome | Ana"

  Rule: wrong password
    Example: the one where Bo mistypes
      When I fill in "Password" with "x"
      Then I should see "Wrong"
"""
BAD = Path(__file__).parent / "fixtures" / "gherkin" / "bad"


def parsed() -> ParsedFeature:
    result = parse_feature(FEATURE, "features/sign-in.feature")
    assert isinstance(result, ParsedFeature)
    return result


def view(**overrides: object) -> SpecPrView:
    data: dict[str, object] = {
        "issue_number": 7,
        "story_title": "Sign in",
        "branch": "specloop/7-sign-in",
        "features": [parsed()],
        "map_url": "https://github.test/o/r/issues/7#issuecomment-1",
        "map_revision": 3,
        "rule_count": 2,
        "example_count": 2,
    }
    data.update(overrides)
    return SpecPrView(**data)  # type: ignore[arg-type]


def fingerprint() -> Fingerprint:
    return Fingerprint.of("c" * 40, "mona", build_manifest({"features/sign-in.feature": FEATURE}))


def test_pr_title_names_the_story() -> None:
    assert spec_pr_title("  Sign   in ") == "Spec: Sign in"


def test_pr_body_shows_scenarios_by_rule_the_map_link_next_steps_and_closes_the_issue() -> None:
    body = render_spec_pr_body(view())
    assert find_marker(body, "spec-pr") == {
        "issue": 7,
        "branch": "specloop/7-sign-in",
        "paths": ["features/sign-in.feature"],
    }
    assert body.index("**Rule: right password**") < body.index("**Rule: wrong password**")
    assert (
        '| the one where Ana signs in | **When** I press "Sign in"<br>**Then** I should see "Welcome \\| Ana" |'
        in body
    )
    assert 'Background: **Given** I am on "/login"' in body
    assert "(https://github.test/o/r/issues/7#issuecomment-1) (revision 3)" in body
    assert "### What happens after approval" in body
    assert "\nCloses #7\n" in body
    assert NOT_APPROVED in body and find_marker(body, "fingerprint") is None


def test_recording_an_approval_adds_the_fingerprint_marker_and_keeps_human_edits() -> None:
    edited = render_spec_pr_body(view()).replace(
        "### Scenarios", "Reviewer note: looks good\n\n### Scenarios"
    )
    approved = with_approval(edited, fingerprint())
    assert Fingerprint.from_data(find_marker(approved, "fingerprint")) == fingerprint()
    assert "Reviewer note: looks good" in approved
    assert "Approved** by @mona on commit ccccccc" in approved and NOT_APPROVED not in approved
    cleared = with_approval(approved, None)
    assert find_marker(cleared, "fingerprint") is None and NOT_APPROVED in cleared
    assert cleared.count("### Approval") == 1 and "Reviewer note" in cleared


def test_a_pasted_fingerprint_marker_does_not_survive_a_cleared_approval() -> None:
    body = render_spec_pr_body(view()).replace(
        "### Scenarios", with_approval("", fingerprint()) + "\n### Scenarios"
    )
    assert find_marker(with_approval(body, None), "fingerprint") is None


def test_huge_spec_keeps_the_body_under_githubs_limit() -> None:
    rules = "".join(
        f"  Rule: rule {r}\n"
        + "".join(
            f'    Example: example {r}-{e} {"x" * 80}\n      When I press "{"b" * 60}"\n'
            f'      Then I should see "{"t" * 60}"\n'
            for e in range(20)
        )
        for r in range(40)
    )
    big = parse_feature("Feature: big\n" + rules, "features/big.feature")
    assert isinstance(big, ParsedFeature)
    body = with_approval(render_spec_pr_body(view(features=[big])), fingerprint())
    assert len(body) < 65_536
    assert "Closes #7" in body and find_marker(body, "fingerprint") is not None


def test_check_waits_for_approval_when_the_spec_is_valid() -> None:
    out = render_spec_check(
        {"features/sign-in.feature": check_feature(FEATURE, "f")}, sha="a" * 40, scenario_count=2
    )
    assert (out.name, out.conclusion, out.title) == (SPEC_CHECK_NAME, "action_required", TITLE_WAITING)
    assert "aaaaaaa" in out.summary


def test_check_fails_with_annotations_on_errors() -> None:
    findings = [Finding(4, 7, "error", "boom", "parse"), Finding(9, None, "warning", "meh", "too-long")]
    out = render_spec_check({"features/x.feature": findings}, sha="a" * 40)
    assert (out.conclusion, out.title) == ("failure", TITLE_INVALID)
    assert out.annotations == [
        {
            "path": "features/x.feature",
            "start_line": 4,
            "end_line": 4,
            "start_column": 7,
            "end_column": 7,
            "annotation_level": "failure",
            "title": "Gherkin parse error",
            "message": "boom",
        },
        {
            "path": "features/x.feature",
            "start_line": 9,
            "end_line": 9,
            "annotation_level": "warning",
            "title": "spec lint: too-long",
            "message": "meh",
        },
    ]


def test_warnings_alone_do_not_fail_the_check() -> None:
    out = render_spec_check({"f.feature": [Finding(9, None, "warning", "meh", "too-long")]}, sha="a" * 40)
    assert out.conclusion == "action_required" and len(out.annotations) == 1


def test_approved_check_succeeds_and_carries_the_fingerprint() -> None:
    out = render_spec_check({"features/sign-in.feature": []}, sha="c" * 40, approved=fingerprint())
    assert (out.conclusion, out.title) == ("success", TITLE_APPROVED)
    assert Fingerprint.from_data(find_marker(out.summary, "fingerprint")) == fingerprint()
    assert fingerprint().digest in out.summary


def test_changed_spec_after_approval_names_the_files() -> None:
    out = render_spec_check(
        {"features/sign-in.feature": []}, sha="d" * 40, changed=["features/sign-in.feature"]
    )
    assert (out.conclusion, out.title) == ("action_required", TITLE_CHANGED)
    assert "`features/sign-in.feature`" in out.summary


def test_a_pull_request_without_feature_files_fails() -> None:
    assert render_spec_check({}, sha="a" * 40).conclusion == "failure"


def test_annotations_go_out_in_batches_of_fifty_each_repeating_title_and_summary() -> None:
    findings = [Finding(i, None, "warning", f"w{i}", "too-long") for i in range(1, 121)]
    out = render_spec_check({"f.feature": findings}, sha="a" * 40)
    batches = out.batches()
    assert [len(b) for b in batches] == [MAX_ANNOTATIONS_PER_REQUEST, MAX_ANNOTATIONS_PER_REQUEST, 20]
    assert all(
        out.output(b)["title"] == out.title and out.output(b)["summary"] == out.summary for b in batches
    )


@pytest.mark.parametrize("feature", sorted(BAD.glob("*.feature")), ids=lambda p: p.stem)
def test_every_parse_error_of_a_bad_file_is_annotated_at_its_line_and_column(feature: Path) -> None:
    findings = check_feature(feature.read_text(encoding="utf-8"), feature.name)
    out = render_spec_check({f"features/{feature.name}": findings}, sha="a" * 40)
    assert out.conclusion == "failure"
    for item, finding in zip(out.annotations, findings, strict=True):
        assert (item["start_line"], item.get("start_column")) == (finding.line, finding.column)
        if finding.column is None:  # end-of-file errors: line-only annotation
            assert "end_column" not in item


def test_annotation_without_column_has_no_column_keys() -> None:
    assert "start_column" not in annotation("f", Finding(3, None, "error", "eof", "parse"))


def test_a_code_run_that_could_not_start_is_a_neutral_check_saying_why() -> None:
    out = render_code_result(CodeReport(sha="e" * 40, outcome="refused", reason="no model key"))
    assert (out.name, out.conclusion, out.status) == (CODE_CHECK_NAME, "neutral", "completed")
    assert out.title == "Code generation could not run" and "no model key" in out.summary
    assert [a["identifier"] for a in out.actions] == ["rerun-code"]


def test_code_progress_names_the_turn_the_last_command_and_the_spend() -> None:
    progress = CodeProgress(sha="e" * 40, turn=3, max_turns=40, files_changed=["app.py"],
                            last_command="pytest -q\nmore", last_exit=1,
                            usage=Usage(input_tokens=200, output_tokens=300, cache_read_input_tokens=1000,
                                        cost_usd=0.0123))
    out = render_code_progress(progress)
    assert (out.status, out.title) == ("in_progress", "Generating code: turn 3 of 40")
    assert "`app.py`" in out.summary and "`pytest -q…` (exit code 1)" in out.summary
    assert "1,200 input + 300 output tokens, $0.01" in out.summary


def test_the_spec_check_summary_counts_in_words_people_read() -> None:
    from app.render.spec_check import plural

    assert [plural(1, "feature file"), plural(2, "error"), plural(0, "warning")] == [
        "1 feature file", "2 errors", "0 warnings"]


def test_a_code_report_names_the_approved_steps_nobody_defined() -> None:
    from app.domain.qa_results import RunResult, ScenarioResult, StepResult

    scenario = ScenarioResult(id="1", name="Pays", uri="features/pay.feature", line=3, feature="Pay",
                              status="undefined",
                              steps=[StepResult("Given ", 'I am on "/"', 4, "passed"),
                                     StepResult("When ", "I pay with a coupon", 5, "undefined")])
    report = CodeReport(sha="e" * 40, outcome="nothing", reason="no approved scenario passes",
                        qa=RunResult(base_url="http://x", scenarios=[scenario]))
    out = render_code_result(report)
    assert "no step definition" in out.summary and "`When I pay with a coupon`" in out.summary
    assert "Given I am on" not in out.summary.split("no step definition")[1].split("\n")[0]
