"""`run_qa` against the GitHub double: the check run, annotations, served screenshots, traces and reports,
spec lock, start failures, a missing browser, and the story's status chain."""

from __future__ import annotations

import contextlib
import json
import re
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest

from app.context import deps
from app.domain.markers import find_marker, marker
from app.isolation import sandbox_available
from app.job_args import RunQa
from app.render.map_comment import read_map_state
from app.render.qa_check import SPEC_CHANGED
from jobs.worker import JOBS, run_job, wrap
from tests.sample_app import SampleApp
from tests.support.github import SHOP
from tests.support.service import Service
from tests.support.spec import bot_approved_pull, mapped_issue

FEATURE_PATH = "features/shop.feature"
# Two rules, three scenarios: on the broken sample app the first two fail, the third passes.
FEATURE = """Feature: Shopping
  Rule: Visitors can sign up
    Example: Signing up
      Given I am on "/signup"
      When I fill in "Name" with "Ann"
      And I press "Create account"
      Then I should see "Welcome, Ann!"
      And I should be on "/welcome"

  Rule: Shoppers can browse and search products
    Example: Browsing products
      Given I am on "/products"
      Then the "Products" table should contain:
        | Tea   | 3.50 |
        | Cocoa | 2.80 |

    Example: Saying hello
      Given I am on the home page
      When I click "Say hello"
      Then I should see "Clicked!"
"""
BRANCH = "specloop/1-shopping"


def _line_of(text: str) -> int:
    return next(i for i, line in enumerate(FEATURE.splitlines(), start=1) if text in line)


def _config(qa: str) -> str:
    return f"qa:\n{qa}  contexts: 4\n  timeout_ms: 5000\n  screenshots: final\n"


SMALL = """Feature: Smoke
  Scenario: The shop opens
    Given I am on the home page
    Then I should see "Welcome to the shop"

  Scenario: Products are listed
    Given I am on "/products"
    Then I should see "Cocoa"
"""


def open_approved_pr(github: Any, qa_config: str, feature: str = FEATURE, issue: int | None = None) -> tuple[int, str]:
    """A spec PR whose body records an approval of its head (the fingerprint marker), for `issue` if given."""
    files = {FEATURE_PATH: feature, ".github/specloop.yml": _config(qa_config)}
    sha = github.push_files(SHOP, BRANCH, files, "Spec and config")
    # the config is read from the default branch, as the app does
    github.push_files(SHOP, "main", {".github/specloop.yml": _config(qa_config)}, "Config")
    story = marker("spec-pr", issue=issue) + "\n" if issue else ""
    # only the bot's own PR with an approval signed for it counts (security finding 2)
    number = bot_approved_pull(github, BRANCH, sha, files, title="Spec: shopping", body=story + "The spec.\n")
    return number, sha



def _qa_run(github: Any, sha: str) -> Any:
    runs = github.check_runs(SHOP, head_sha=sha, name="specloop/qa")
    assert len(runs) == 1
    return runs[0]


def _links(markdown: str, label: str) -> list[str]:
    """The targets of every `[label](url)` link in `markdown`."""
    return re.findall(r"\[" + re.escape(label) + r"\]\(([^)\s]+)\)", markdown)


@pytest.mark.parametrize("service", [{"qa_allow_private_hosts": True}], indirect=True)  # the app is on 127.0.0.1
async def test_a_failing_run_posts_summary_annotations_screenshots_and_traces_that_serve(
    github: Any, service: Service, qa_ctx: Any, broken_sample_app: SampleApp
) -> None:
    number, sha = open_approved_pr(github, f"  base_url: {broken_sample_app.url}\n")
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP,
                                                number=number))
    assert outcome["conclusion"] == "failure"
    run = _qa_run(github, sha)
    assert run.status == "completed" and run.conclusion == "failure"
    summary = run.output["summary"]
    assert "Rule: Visitors can sign up" in summary and "Rule: Shoppers can browse and search products" in summary
    assert "| Browsing products" in summary and "2 failed, " in summary, run.output["text"][:3000]
    assert "Browsing products" in run.output["text"] and "Saying hello" not in run.output["text"]
    lines = {(a["path"], a["start_line"]) for a in run.annotations}
    assert lines == {(FEATURE_PATH, _line_of('Then I should see "Welcome, Ann!"')),
                     (FEATURE_PATH, _line_of('Then the "Products" table should contain:'))}
    assert [a["identifier"] for a in run.actions] == ["rerun-qa"]
    assert len(run.images) == 3 and all(i["image_url"].startswith(service.url + "/artifacts/") for i in run.images)
    assert [i["alt"].split(":")[0] for i in run.images] == ["failed", "failed", "passed"]  # failures first
    async with httpx.AsyncClient() as http:
        for image in run.images[:2]:
            response = await http.get(image["image_url"])
            assert response.status_code == 200 and response.headers["content-type"] == "image/png"
            assert response.content[:4] == b"\x89PNG"
        tampered = await http.get(run.images[0]["image_url"].replace("sig=", "sig=x"))
        assert tampered.status_code == 403
        # each failed scenario links its Playwright trace (an expiring link) that serves the zip
        traces = _links(run.output["text"], "Playwright trace")
        assert len(traces) == 2 and all("exp=" in url for url in traces)
        assert set(_links(summary, "trace")) == set(traces)
        for url in traces:
            response = await http.get(url)
            assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
            assert response.content[:2] == b"PK"


@pytest.mark.parametrize("service", [{"qa_allow_private_hosts": True}], indirect=True)  # the app is on 127.0.0.1
async def test_the_check_run_links_the_html_junit_and_cucumber_reports_and_they_serve(
    github: Any, service: Service, qa_ctx: Any, sample_app: SampleApp
) -> None:
    number, sha = open_approved_pr(github, f"  base_url: {sample_app.url}\n", SMALL)
    await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=number))
    summary = _qa_run(github, sha).output["summary"]
    (html_url,) = _links(summary, "HTML report")
    (junit_url,) = _links(summary, "JUnit XML")
    (ndjson_url,) = _links(summary, "Cucumber Messages (NDJSON)")
    for url in (html_url, junit_url, ndjson_url):
        assert url.startswith(service.url + "/artifacts/") and "exp=" in url  # reports hold page contents
    async with httpx.AsyncClient() as http:
        page = await http.get(html_url)
        junit = await http.get(junit_url)
        ndjson = await http.get(ndjson_url)
        expired = await http.get(re.sub(r"exp=\d+", "exp=1", html_url))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "The shop opens" in page.text and "Products are listed" in page.text and "data:image/png" in page.text
    assert junit.status_code == 200
    suite = ET.fromstring(junit.content).find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("2", "0")
    envelopes = [json.loads(line) for line in ndjson.text.splitlines()]
    assert envelopes[-1]["testRunFinished"]["success"] is True
    assert expired.status_code == 403


@pytest.mark.parametrize("service", [{"qa_allow_private_hosts": True}], indirect=True)  # the app is on 127.0.0.1
async def test_qa_advances_the_storys_status_chain_with_a_link_to_the_check_run(
    github: Any, service: Service, qa_ctx: Any, sample_app: SampleApp
) -> None:
    issue = mapped_issue(github)
    number, sha = open_approved_pr(github, f"  base_url: {sample_app.url}\n", SMALL, issue=issue)
    await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=number))
    run_url = f"{github.web_url}/{SHOP}/runs/{_qa_run(github, sha).id}"
    (comment,) = [c for c in github.comments(SHOP, issue) if find_marker(c.body, "map") is not None]
    state = read_map_state(comment.body)
    assert state is not None and (state.status.qa_conclusion, state.status.qa_url) == ("success", run_url)
    assert f"🧪 QA [✅ passed]({run_url})" in comment.body


@pytest.mark.parametrize("service", [{"chromium_path": "/opt/no-such-browser/chrome"}], indirect=True)
async def test_a_misconfigured_browser_fails_the_check_run_naming_the_setting(
    github: Any, service: Service, qa_ctx: Any, sample_app: SampleApp
) -> None:
    number, sha = open_approved_pr(github, f"  base_url: {sample_app.url}\n", SMALL)
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP,
                                                number=number))
    assert outcome["status"] == "error"
    run = _qa_run(github, sha)
    assert (run.status, run.conclusion) == ("completed", "failure")
    summary = run.output["summary"]
    assert summary.startswith("QA could not start a browser: CHROMIUM_PATH is set to '/opt/no-such-browser/chrome'")
    assert "Traceback" not in summary + (run.output.get("text") or "")


@pytest.mark.parametrize("service", [{"qa_allow_private_hosts": True}], indirect=True)  # the app is on 127.0.0.1
async def test_a_passing_run_concludes_success(
    github: Any, service: Service, qa_ctx: Any, sample_app: SampleApp
) -> None:
    number, sha = open_approved_pr(github, f"  base_url: {sample_app.url}\n", SMALL)
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP,
                                                number=number))
    run = _qa_run(github, sha)
    assert outcome["conclusion"] == "success" and run.conclusion == "success"
    assert run.annotations == [] and "2 passed" in run.output["summary"]


async def test_a_spec_changed_after_approval_fails_qa_naming_the_file(
    github: Any, service: Service, qa_ctx: Any, sample_app: SampleApp
) -> None:
    number, _ = open_approved_pr(github, f"  base_url: {sample_app.url}\n")
    new_sha = github.push_files(SHOP, BRANCH, {FEATURE_PATH: FEATURE.replace("Welcome, Ann!", "Hi Ann")},
                                "Edit the spec after approval")
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP,
                                                number=number, sha=new_sha))
    assert outcome["status"] == "spec changed"
    run = _qa_run(github, new_sha)
    assert run.conclusion == "failure"
    assert SPEC_CHANGED in run.output["summary"] and f"`{FEATURE_PATH}`" in run.output["summary"]


@pytest.mark.skipif(sandbox_available() is not None, reason=str(sandbox_available()))  # `qa.start` runs in it
@pytest.mark.parametrize("service", [{"allow_repo_code": True}], indirect=True)
async def test_an_app_that_fails_to_start_reports_its_last_output_lines(
    github: Any, service: Service, qa_ctx: Any
) -> None:
    start = "  start: \"echo booting; echo 'fatal: database is not reachable' >&2; exit 3\"\n  ready_timeout: 20\n"
    number, sha = open_approved_pr(github, start)
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP,
                                                number=number))
    assert outcome["status"] == "error"
    run = _qa_run(github, sha)
    assert run.conclusion == "failure" and "did not start" in run.output["summary"]
    assert "fatal: database is not reachable" in run.output["text"] and "booting" in run.output["text"]


async def test_qa_start_is_refused_where_repository_code_may_not_run(
    github: Any, service: Service, qa_ctx: Any
) -> None:
    number, sha = open_approved_pr(github, "  start: \"python -m http.server $PORT\"\n")
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP,
                                                number=number))
    assert outcome["status"] == "error"
    assert "does not run repository code" in _qa_run(github, sha).output["summary"]


@pytest.mark.parametrize("service", [{"qa_allow_private_hosts": True}], indirect=True)  # the app is on 127.0.0.1
async def test_a_deployment_finds_the_story_pr_by_sha_and_skips_production(
    github: Any, service: Service, qa_ctx: Any, sample_app: SampleApp
) -> None:
    _, sha = open_approved_pr(github, "  base_url: http://127.0.0.1:9\n", SMALL)
    skipped = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP,
                                                number=None, sha=sha, base_url=sample_app.url,
                                                environment="production"))
    assert "production" in skipped["status"] and github.check_runs(SHOP, head_sha=sha, name="specloop/qa") == []
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP,
                                                number=None, sha=sha, base_url=sample_app.url,
                                                environment="preview"))
    assert outcome["conclusion"] == "success"


def _progress_writes(github: Any) -> list[Any]:
    """Check-run updates that report progress (a running count), as opposed to the final result."""
    return [r for r in github.requests_to("PATCH", r"/check-runs/\d+$")
            if (r.json or {}).get("status") == "in_progress" and "done (" in str((r.json or {}).get("output"))]


@pytest.mark.parametrize("service", [{"qa_allow_private_hosts": True}], indirect=True)  # the app is on 127.0.0.1
@pytest.mark.parametrize("interval, expect_progress", [(3600.0, False), (0.01, True)])
async def test_progress_is_written_at_most_once_per_interval(
    github: Any, service: Service, qa_ctx: Any, sample_app: SampleApp, monkeypatch: pytest.MonkeyPatch,
    interval: float, expect_progress: bool,
) -> None:
    # GitHub throttles rapid check-run writes: progress waits a whole interval between writes, so with an
    # hour-long interval a short run writes none, and with a tiny one every finished scenario shows up.
    monkeypatch.setattr("jobs.run_qa.PROGRESS_INTERVAL", interval)
    qa = f"  base_url: {sample_app.url}\n"
    number, sha = open_approved_pr(github, qa)
    github.push_files(SHOP, "main", {".github/specloop.yml": f"qa:\n{qa}  contexts: 1\n  timeout_ms: 5000\n"
                                     "  screenshots: final\n"}, "One browser context")
    await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=number))
    assert _qa_run(github, sha).status == "completed"
    assert bool(_progress_writes(github)) is expect_progress


TAGGED = """Feature: Smoke
  @smoke
  Scenario: The shop opens
    Given I am on the home page
    Then I should see "Welcome to the shop"

  @wip
  Scenario: Not built yet
    Given I am on the home page
    Then I should see "Gift cards"
"""


@pytest.mark.parametrize("service", [{"qa_allow_private_hosts": True}], indirect=True)  # the app is on 127.0.0.1
async def test_qa_tags_select_the_approved_scenarios_that_run_and_the_check_says_which(
    github: Any, service: Service, qa_ctx: Any, sample_app: SampleApp
) -> None:
    number, sha = open_approved_pr(github, f"  base_url: {sample_app.url}\n  tags: \"not @wip\"\n  retry: 1\n",
                                   TAGGED)
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP,
                                                number=number))
    assert outcome["conclusion"] == "success" and outcome["counts"] == {"passed": 1}
    summary = _qa_run(github, sha).output["summary"]
    assert "The shop opens" in summary and "Not built yet" not in summary
    assert "Scenarios selected by the tag expression `not @wip` (`qa.tags`)." in summary
    assert "up to 1 more time (`qa.retry`)" in summary


@pytest.mark.parametrize("service", [{"qa_allow_private_hosts": True}], indirect=True)  # the app is on 127.0.0.1
async def test_qa_tags_that_select_no_approved_scenario_fail_the_check_saying_so(
    github: Any, service: Service, qa_ctx: Any, sample_app: SampleApp
) -> None:
    number, sha = open_approved_pr(github, f"  base_url: {sample_app.url}\n  tags: \"@nightly\"\n", TAGGED)
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP,
                                                number=number))
    assert outcome["conclusion"] == "failure"
    run = _qa_run(github, sha)
    assert run.conclusion == "failure"
    assert "no scenario matches the tag expression `@nightly` (2 scenarios in the feature files, none selected)" \
        in run.output["summary"]


async def test_a_bad_qa_tags_expression_is_reported_as_a_config_error(
    github: Any, service: Service, qa_ctx: Any
) -> None:
    number, sha = open_approved_pr(github, "  base_url: http://127.0.0.1:9\n  tags: \"@smoke and\"\n", TAGGED)
    # as the worker runs it: the wrapper turns the job's ConfigError into the config-error reply
    job = wrap("run_qa", JOBS["run_qa"], "heavy")
    with contextlib.suppress(Exception):
        await job({**qa_ctx, "job_id": "bad-tags", "job_try": 9},
                  **RunQa(installation_id=github.installation_id, repo=SHOP, number=number).model_dump())
    bodies = [c.body for c in github.comments(SHOP, number)]
    assert any("`qa.tags`" in b and "`@smoke and` is not a valid tag expression (and: Too few operands" in b
               for b in bodies), bodies
    assert github.check_runs(SHOP, head_sha=sha, name="specloop/qa") == []  # nothing ran
