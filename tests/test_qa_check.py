"""Rendering the `specloop/qa` check run: GitHub's size and annotation limits for any number of scenarios."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from app.agent.qa_tool import describe_result
from app.domain.markers import find_marker
from app.domain.qa_reports import junit_xml
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


def _flaky_run() -> RunResult:
    """Two scenarios: one that passed on its second attempt after a failure, one that passed at once."""
    first = ScenarioResult(id="1", name="Checkout", uri="features/shop.feature", line=3, feature="Shop",
                           status="failed", steps=[StepResult("Then", 'I should see "Paid"', 5, "failed",
                                                              error="Expected to see \"Paid\", the page said Pending")])
    flaky = ScenarioResult(id="1", name="Checkout", uri="features/shop.feature", line=3, feature="Shop",
                           status="passed", attempt=1, previous_attempts=[first],
                           steps=[StepResult("Then", 'I should see "Paid"', 5, "passed")])
    steady = ScenarioResult(id="2", name="Browse", uri="features/shop.feature", line=8, feature="Shop",
                            status="passed", steps=[StepResult("Given", "I am on the home page", 9, "passed")])
    return RunResult(base_url="http://app", scenarios=[steady, flaky], tags="@smoke and not @wip", retry=2)


def test_a_flaky_scenario_passes_the_run_but_is_shown_as_flaky_with_its_earlier_failure() -> None:
    check = render_qa_result(_flaky_run(), sha="abc")
    assert check.conclusion == "success" and check.title == "All scenarios pass (2, 1 flaky)"
    assert "**2 scenarios**: 2 passed (**1 flaky**: passed only on a retry)" in check.summary
    rows = [line for line in check.summary.splitlines() if line.startswith("| ")]
    assert rows[1].startswith("| Checkout (`features/shop.feature:3`) | ⚠️ flaky (passed on attempt 2) |")
    assert rows[2].startswith("| Browse (`features/shop.feature:8`) | ✅ passed |")
    assert "### ⚠️ flaky: Checkout" in check.text
    assert "attempt 1: failed at `Then I should see \"Paid\"` (line 5)" in check.text
    assert "the page said Pending" in check.text
    (annotation,) = check.annotations
    assert (annotation["annotation_level"], annotation["start_line"]) == ("warning", 5)
    assert annotation["title"].startswith("flaky: Checkout")


def test_the_summary_names_the_tag_expression_and_the_retry_setting() -> None:
    summary = render_qa_result(_flaky_run(), sha="abc").summary
    assert "Scenarios selected by the tag expression `@smoke and not @wip` (`qa.tags`)." in summary
    assert "A failed scenario was run again up to 2 more times (`qa.retry`)." in summary
    plain = render_qa_result(_big_run(2), sha="abc").summary
    assert "tag expression" not in plain and "qa.retry" not in plain and "flaky" not in plain


def _skipped_run(*, also_passing: bool) -> RunResult:
    skipped = ScenarioResult(id="s", name="Feature flag off", uri="features/a.feature", line=2, feature="A",
                             status="skipped", steps=[StepResult("Given", "the beta is off", 3, "skipped",
                                                                 error="skipped: the beta flag is off")])
    scenarios = [skipped]
    if also_passing:
        scenarios.append(ScenarioResult(id="p", name="Works", uri="features/a.feature", line=6, feature="A",
                                        status="passed", steps=[StepResult("Given", "it works", 7, "passed")]))
    return RunResult(base_url="http://app", scenarios=scenarios)


def test_a_skipped_scenario_does_not_fail_the_run_but_a_run_of_only_skipped_scenarios_tested_nothing() -> None:
    mixed = _skipped_run(also_passing=True)
    assert mixed.passed
    assert render_qa_result(mixed, sha="abc").conclusion == "success"
    only_skipped = _skipped_run(also_passing=False)
    assert not only_skipped.passed
    check = render_qa_result(only_skipped, sha="abc")
    assert check.conclusion == "failure"
    assert check.title == "Every scenario was skipped: nothing was tested"


def test_junit_reports_a_skipped_scenario_as_skipped_with_the_reason() -> None:
    suite = ET.fromstring(junit_xml(_skipped_run(also_passing=True))).find("testsuite")
    assert suite is not None and suite.get("skipped") == "1" and suite.get("failures") == "0"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    skipped = cases["Feature flag off"].find("skipped")
    assert skipped is not None and skipped.get("message") == "skipped: the beta flag is off"
    assert cases["Works"].find("skipped") is None


def test_the_code_agent_is_told_a_skipped_scenario_does_not_count_as_passing() -> None:
    text = describe_result(_skipped_run(also_passing=True))
    assert "- PASSED: Works" in text
    assert "- SKIPPED: Feature flag off" in text and "does not count as passing" in text
    assert "skipped: the beta flag is off" in text
