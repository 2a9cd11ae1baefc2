"""Rendering the `specloop/qa` check run: GitHub's size and annotation limits for any number of scenarios."""

from __future__ import annotations

from app.domain.markers import find_marker
from app.domain.qa_results import RunResult, ScenarioResult, StepResult
from app.render.qa_check import (
    MAX_ANNOTATIONS_PER_REQUEST,
    MAX_OUTPUT,
    SPEC_CHANGED,
    render_qa_progress,
    render_qa_result,
    render_spec_changed,
)

REPORTS = {"html": "https://specloop/r/report.html?sig=a&exp=9", "junit": "https://specloop/r/junit.xml?sig=b&exp=9",
           "ndjson": "https://specloop/r/cucumber-messages.ndjson?sig=c&exp=9"}


def _scenario(i: int, failed: bool) -> ScenarioResult:
    steps = [StepResult("Given", 'I am on "/"', 3 + i, "passed", screenshot=f"/tmp/s{i}-1.png"),
             StepResult("Then", f'I should see "thing {i}"', 4 + i, "failed" if failed else "passed",
                        error=("Expected to see it " + "x" * 3000) if failed else None,
                        screenshot=f"/tmp/s{i}-2.png")]
    return ScenarioResult(id=str(i), name=f"Scenario number {i} " + "y" * 100, uri="features/big.feature",
                          line=2 + i, feature="Big", rule=f"Rule {i % 7}", status="failed" if failed else "passed",
                          steps=steps, screenshots=[s.screenshot for s in steps if s.screenshot])


def _big_run(count: int) -> RunResult:
    return RunResult(base_url="http://app", scenarios=[_scenario(i, i % 2 == 0) for i in range(count)])


def test_the_output_stays_within_githubs_limits_for_thousands_of_scenarios() -> None:
    result = _big_run(3000)
    urls = {s.screenshots[-1]: f"https://specloop/a/{s.id}.png" for s in result.scenarios}
    check = render_qa_result(result, sha="abc", image_urls=urls)
    assert len(check.summary) <= MAX_OUTPUT and len(check.text) <= MAX_OUTPUT
    assert "more rows" in check.summary and "more failed scenarios" in check.text
    assert find_marker(check.summary, "qa") == {"passed": False, "sha": "abc", "state": "completed"}
    payloads = check.requests()
    assert len(payloads) == 1500 // MAX_ANNOTATIONS_PER_REQUEST  # every failure annotated, 50 per request
    for payload in payloads:
        assert len(payload["output"].get("annotations", [])) <= MAX_ANNOTATIONS_PER_REQUEST
        assert payload["output"]["title"] == check.title and payload["output"]["summary"] == check.summary
    assert payloads[0]["conclusion"] == "failure" and payloads[0]["actions"][0]["identifier"] == "rerun-qa"
    assert "conclusion" not in payloads[1]


def test_the_summary_groups_scenarios_by_rule_and_images_show_failures_first() -> None:
    result = _big_run(6)
    urls = {s.screenshots[-1]: f"https://specloop/a/{s.id}.png" for s in result.scenarios}
    check = render_qa_result(result, sha="abc", image_urls=urls)
    for rule in ("Rule 0", "Rule 1", "Rule 5"):
        assert f"Rule: {rule}" in check.summary
    assert [image["alt"].split(":")[0] for image in check.images] == ["failed"] * 3 + ["passed"] * 3
    annotation = check.annotations[0]
    assert (annotation["path"], annotation["start_line"], annotation["annotation_level"]) == \
        ("features/big.feature", 4, "failure")


def test_progress_is_in_progress_without_a_conclusion() -> None:
    payload = render_qa_progress(3, 10, {"passed": 2, "failed": 1}, base_url="http://app", sha="abc").requests()[0]
    assert payload["status"] == "in_progress" and "conclusion" not in payload
    assert "3/10" in payload["output"]["title"]


def test_a_changed_spec_names_the_files() -> None:
    check = render_spec_changed(["features/a.feature", "features/steps/x.py"], sha="abc")
    assert check.conclusion == "failure" and SPEC_CHANGED in check.summary
    assert "`features/steps/x.py`" in check.summary
    assert [a["path"] for a in check.annotations] == ["features/a.feature"]


def test_the_summary_links_the_reports_and_each_failed_scenarios_trace() -> None:
    result = _big_run(4)
    traces = {s.id: f"https://specloop/t/{s.id}.zip?exp=9" for s in result.scenarios}
    check = render_qa_result(result, sha="abc", trace_urls=traces, report_urls=REPORTS)
    assert (f"[HTML report]({REPORTS['html']}) · [JUnit XML]({REPORTS['junit']}) · "
            f"[Cucumber Messages (NDJSON)]({REPORTS['ndjson']})") in check.summary
    failed = {s.id for s in result.scenarios if s.failed}
    linked = {s.id for s in result.scenarios if f"([trace]({traces[s.id]}))" in check.summary}
    assert linked == failed and len(failed) == 2  # a passing scenario keeps no trace to link
    assert all(f"[Playwright trace]({traces[i]})" in check.text for i in failed)


def test_without_stored_reports_the_note_says_why_and_nothing_is_linked() -> None:
    note = "_No artifact store is configured._"
    check = render_qa_result(_big_run(2), sha="abc", report_note=note)
    assert note in check.summary and "Reports:" not in check.summary
