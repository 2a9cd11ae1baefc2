"""`specloop qa` and its reports: progress lines, summary, exit codes, JUnit XML, NDJSON, HTML."""

from __future__ import annotations

import contextlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from app.qa.cli import main
from tests.sample_app import SampleApp

FEATURE = """Feature: Sign-up smoke test
  Rule: Sign-up works
    Scenario: The form is there
      Given I am on "/signup"
      Then I should see "Create your account"

    Scenario: A page that does not exist
      Given I am on "/"
      Then I should see "Free shipping"
"""


@pytest.fixture(scope="module")
def cli_run(sample_app: SampleApp, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, Path]:
    folder = tmp_path_factory.mktemp("cli")
    features = folder / "features"
    features.mkdir()
    (features / "smoke.feature").write_text(FEATURE)
    out = folder / "reports"
    capture = folder / "stdout.txt"
    with capture.open("w") as handle, contextlib.redirect_stdout(handle):
        code = main(["--base-url", sample_app.url, str(features), "--out", str(out), "--timeout", "4",
                     "--contexts", "2", "--screenshots", "final"])
    return code, capture.read_text(), out


def test_the_cli_prints_a_progress_line_per_scenario_and_a_summary(cli_run: tuple[int, str, Path]) -> None:
    code, output, _ = cli_run
    assert code == 1
    progress = [line for line in output.splitlines() if line.startswith("[")]
    assert len(progress) == 2 and {"[1/2]", "[2/2]"} == {line.split()[0] for line in progress}
    assert "smoke.feature:9: Then I should see \"Free shipping\"" in output
    assert "FAILED: 2 scenarios (1 failed, 1 passed)" in output


def test_the_junit_report_has_one_case_per_scenario_with_the_failure(cli_run: tuple[int, str, Path]) -> None:
    root = ET.parse(cli_run[2] / "junit.xml").getroot()
    cases = root.findall(".//testcase")
    assert [c.get("name") for c in cases] == ["Sign-up works / The form is there",
                                              "Sign-up works / A page that does not exist"]
    failure = cases[1].find("failure")
    assert failure is not None and "Free shipping" in (failure.get("message") or "")
    assert cases[0].find("failure") is None


def test_the_ndjson_report_is_valid_cucumber_messages(cli_run: tuple[int, str, Path]) -> None:
    envelopes = [json.loads(line) for line in (cli_run[2] / "cucumber-messages.ndjson").read_text().splitlines()]
    kinds = [next(iter(e)) for e in envelopes]
    assert kinds[0] == "meta" and kinds[-1] == "testRunFinished"
    assert {"source", "gherkinDocument", "pickle", "testCase", "testStepFinished", "attachment"} <= set(kinds)
    pickles = {e["pickle"]["id"] for e in envelopes if "pickle" in e}
    assert {e["testCase"]["pickleId"] for e in envelopes if "testCase" in e} == pickles
    statuses = {e["testStepFinished"]["testStepResult"]["status"] for e in envelopes if "testStepFinished" in e}
    assert statuses == {"PASSED", "FAILED"}
    assert envelopes[-1]["testRunFinished"]["success"] is False


def test_the_html_report_is_self_contained_with_screenshots(cli_run: tuple[int, str, Path]) -> None:
    page = (cli_run[2] / "report.html").read_text()
    assert page.count("src='data:image/png;base64,") == 2  # one final screenshot per scenario
    assert "http://" not in page.split("<code>", 1)[0]  # no external assets before the run's own URL
    assert "Free shipping" in page


def test_the_cli_exits_zero_when_every_scenario_passes(sample_app: SampleApp, tmp_path: Path) -> None:
    feature = tmp_path / "ok.feature"
    feature.write_text(FEATURE.split("    Scenario: A page")[0])
    assert main(["--base-url", sample_app.url, str(feature), "--out", str(tmp_path / "r"), "--timeout", "8",
                 "--screenshots", "failures"]) == 0


def test_the_cli_refuses_a_missing_feature_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--base-url", "http://127.0.0.1:9", str(tmp_path / "nope")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_a_bad_chromium_flag_is_named_as_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    feature = tmp_path / "smoke.feature"
    feature.write_text(FEATURE)
    code = main(["--base-url", "http://127.0.0.1:9", str(feature), "--chromium", str(tmp_path / "no-such-chrome")])
    assert code == 2
    assert "--chromium" in capsys.readouterr().err
