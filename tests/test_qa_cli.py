"""`specloop qa` and its reports: progress lines, summary, exit codes, JUnit XML, NDJSON, HTML."""

from __future__ import annotations

import contextlib
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from app.domain.qa_results import HookResult, RunResult
from app.isolation import sandbox_available
from app.qa.cli import main, print_summary
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


# Project step files from the command line: in the repository-code sandbox (docs/sandbox.md) when one can be
# made, refused (naming bubblewrap) when none can, and in the scrubbed child only with an explicit --no-sandbox.
CLI_SECRET = "cli-s3cr3t-5b7e"

SANDBOX_FEATURE = """Feature: Steps from the project
  Scenario: The step code runs where it should
    Given I am on "/signup"
    Then I should see "Create your account"
    And the step code says where it runs
"""

WHERE_STEPS = '''
import os, socket
from pathlib import Path

from app.domain.steps import step


@step("the step code says where it runs")
def where():
    report = Path({report!r})
    try:
        report.write_text("host")
    except OSError:
        pass  # read-only in the sandbox
    seen = [p for p in {probes!r} if os.path.exists(p)]
    secret = any({secret!r} in v for v in os.environ.values())
    print("WHERE", socket.gethostname(), "seen=" + ",".join(seen), "secret=" + str(secret), flush=True)
    assert not secret, "the environment reached the step code"
    if (Path(__file__).parent / "expect-sandbox").exists():
        assert socket.gethostname() == "sandbox", "not in the sandbox"
        assert not seen, "LEAKED: " + ",".join(seen)
'''


def _project_with_steps(folder: Path, report: Path, probes: list[str]) -> Path:
    features = folder / "features"
    (features / "steps").mkdir(parents=True)
    (features / "sandbox.feature").write_text(SANDBOX_FEATURE)
    (features / "steps" / "where_steps.py").write_text(
        WHERE_STEPS.format(report=str(report), probes=probes, secret=CLI_SECRET))
    return features


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """A project beside a private file, run from its folder with a secret in the environment: (features,
    the file the step code tries to write beside the project, the private file)."""
    home = tmp_path / "home"
    home.mkdir()
    private = home / "id_ed25519"
    private.write_text("PRIVATE KEY")
    root = tmp_path / "project"
    root.mkdir()
    report = tmp_path / "written-by-steps"
    features = _project_with_steps(root, report, [str(private)])
    monkeypatch.chdir(root)
    monkeypatch.setenv("SPECLOOP_CLI_SECRET", CLI_SECRET)
    return features, report, private


needs_bwrap = pytest.mark.skipif(sandbox_available() is not None, reason=str(sandbox_available()))


@needs_bwrap
def test_project_step_files_run_in_the_sandbox_with_the_hosts_network(
    sample_app: SampleApp, project: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    features, written, _ = project
    (features / "steps" / "expect-sandbox").touch()
    out = tmp_path / "reports"
    code = main(["--base-url", sample_app.url, str(features), "--allow-repo-steps", "--out", str(out),
                 "--timeout", "8", "--screenshots", "final"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "(project steps in a sandbox)" in printed and "[1/1]" in printed
    assert not written.exists()  # outside the sandbox's workspace: not writable
    shots = list((out / "evidence").rglob("*.png"))
    assert shots  # the evidence came out of the sandbox's temporary workspace into --out
    page = (out / "report.html").read_text()
    assert "src='data:image/png;base64," in page


@needs_bwrap
def test_the_sandboxed_step_code_sees_no_secret_and_no_file_beside_the_project(
    sample_app: SampleApp, project: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    features, _, private = project
    (features / "steps" / "expect-sandbox").touch()
    code = main(["--base-url", sample_app.url, str(features), "--allow-repo-steps", "--out",
                 str(tmp_path / "r"), "--timeout", "8", "--screenshots", "failures"])
    printed = capsys.readouterr().out
    assert code == 0, printed  # the step asserts it sees neither the environment's secret nor the private file
    assert private.exists()


def test_without_a_sandbox_project_steps_are_refused_naming_bubblewrap(
    project: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    features, written, _ = project
    monkeypatch.setattr("app.qa.cli.sandbox_available",
                        lambda: "bubblewrap is not installed (no `bwrap` on PATH)")
    code = main(["--base-url", "http://127.0.0.1:9", str(features), "--allow-repo-steps"])
    err = capsys.readouterr().err
    assert code == 2
    assert "bubblewrap" in err and "--no-sandbox" in err and "only in a sandbox" in err
    assert not written.exists()  # nothing of the project ran


def test_no_sandbox_runs_project_steps_in_the_scrubbed_child(
    sample_app: SampleApp, project: tuple[Path, Path, Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    features, written, _ = project
    monkeypatch.setattr("app.qa.cli.sandbox_available", lambda: "bubblewrap is not installed")
    code = main(["--base-url", sample_app.url, str(features), "--allow-repo-steps", "--no-sandbox",
                 "--out", str(tmp_path / "r"), "--timeout", "8", "--screenshots", "failures"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "(project steps without a sandbox)" in printed
    assert written.read_text() == "host"  # the old path: the step code wrote beside the project


def test_the_help_documents_the_sandbox_and_no_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--no-sandbox" in text and "bubblewrap" in text and "scrubbed environment" in text


TAGGED_FEATURE = """@shop
Feature: Tagged
  @smoke
  Scenario: The form is there
    Given I am on "/signup"
    Then I should see "Create your account"

  @smoke
  Scenario: A page that does not exist
    Given I am on "/"
    Then I should see "Free shipping"

  @smoke @wip
  Scenario: Not ready
    Given I am on "/"
    Then I should see "Not built yet"
"""


def test_tags_select_the_scenarios_and_retry_runs_a_failure_again(
    sample_app: SampleApp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feature = tmp_path / "tagged.feature"
    feature.write_text(TAGGED_FEATURE)
    out = tmp_path / "r"
    code = main(["--base-url", sample_app.url, str(feature), "--out", str(out), "--timeout", "4",
                 "--screenshots", "failures", "--tags", "@smoke and not @wip", "--retry", "1"])
    printed = capsys.readouterr().out
    assert code == 1
    assert "Not ready" not in printed  # deselected by the tag expression
    assert "tagged.feature:9, " in printed and ", attempt 2)" in printed
    assert "FAILED: 2 scenarios selected by `@smoke and not @wip` (1 failed, 1 passed)" in printed
    (case,) = [c for c in ET.parse(out / "junit.xml").getroot().iter("testcase") if c.find("failure") is not None]
    assert len(case.findall("rerunFailure")) == 1  # the first attempt, as Maven Surefire writes a rerun
    assert "<code>@smoke and not @wip</code>" in (out / "report.html").read_text()


@pytest.mark.parametrize("flags, expected", [
    (["--retry", "6"], "argument --retry: must be a whole number from 0 to 5, not '6'"),
    (["--retry", "once"], "argument --retry: must be a whole number from 0 to 5, not 'once'"),
])
def test_a_bad_retry_count_is_a_usage_error(
    flags: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--base-url", "http://127.0.0.1:9", *flags])
    assert exited.value.code == 2 and expected in capsys.readouterr().err


def test_a_bad_tag_expression_is_refused_with_the_parsers_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feature = tmp_path / "smoke.feature"
    feature.write_text(FEATURE)
    assert main(["--base-url", "http://127.0.0.1:9", str(feature), "--tags", "@smoke and"]) == 2
    err = capsys.readouterr().err
    assert "--tags: `@smoke and` is not a valid tag expression: and: Too few operands" in err
    assert "Traceback" not in err


def test_a_tag_expression_that_selects_nothing_fails_the_run_saying_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feature = tmp_path / "smoke.feature"
    feature.write_text(FEATURE)
    assert main(["--base-url", "http://127.0.0.1:9", str(feature), "--out", str(tmp_path / "r"),
                 "--tags", "@nightly"]) == 1
    assert "no scenario matches the tag expression `@nightly` (2 scenarios in the feature files, none selected)" \
        in capsys.readouterr().out


def test_the_help_documents_tags_and_retry_with_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--tags EXPR" in text and '--tags "@smoke and not @wip"' in text
    assert "--retry N" in text and "(0 to 5, default: 0)" in text and "flaky" in text


def test_the_summary_names_a_failed_before_all_hook() -> None:
    """A run whose BeforeAll hook failed ran no scenario: the summary must say why, not just `0 scenarios`."""
    result = RunResult(base_url="http://app", run_hooks=[HookResult(
        hook="seed.py:4", kind="before_all", name="seed the database", status="failed",
        error="ConnectionRefusedError: [Errno 111] Connection refused")])
    out = io.StringIO()
    print_summary(result, out)
    text = out.getvalue()
    assert 'BeforeAll hook "seed the database" (seed.py:4) failed: ConnectionRefusedError' in text
    assert "FAILED" in text
