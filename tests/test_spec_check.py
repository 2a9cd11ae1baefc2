"""The specloop/spec check on every push: broken features get annotations at the parser's line and column."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.context import deps
from app.job_args import CheckSpec
from jobs.worker import run_job
from tests.support.spec import PATH, SHOP, open_spec_pr, spec_check

BAD = sorted((Path(__file__).parent / "fixtures" / "gherkin" / "bad").glob("*.feature"))


def expected(feature: Path) -> list[tuple[int, int | None]]:
    """(line, column) of each error the Gherkin project says its parser reports for `feature`."""
    rows = [
        json.loads(line)["parseError"]["source"]["location"]
        for line in feature.with_name(feature.name + ".errors.ndjson").read_text().splitlines()
        if line.strip()
    ]
    return [(row["line"], row.get("column")) for row in rows]


async def test_a_broken_feature_pushed_by_a_reviewer_is_annotated_at_the_parsers_line_and_column(
    github: Any, spec_pr: dict[str, Any]
) -> None:
    """Every failing file of the Gherkin project's test data, pushed in turn (one PR keeps the test fast)."""
    pull = spec_pr["pull"]
    assert BAD, "the Gherkin bad fixtures are missing"
    for feature in BAD:
        sha = github.push_files(SHOP, pull.head_ref, {PATH: feature.read_text(encoding="utf-8")}, by="bob")
        await run_job(deps(spec_pr["ctx"]), CheckSpec(installation_id=spec_pr["installation_id"], repo=SHOP,
                                                      number=pull.number, sha=sha))
        check = spec_check(github, sha)
        assert check.conclusion == "failure", feature.name
        parse = [a for a in check.annotations if a["title"] == "Gherkin parse error"]
        assert [(a["path"], a["start_line"], a.get("start_column")) for a in parse] == [
            (PATH, line, column) for line, column in expected(feature)
        ], feature.name
        assert all(a["annotation_level"] == "failure" and a["end_line"] == a["start_line"] for a in parse)
        # GitHub takes columns only on one-line annotations, and end-of-file errors have none
        assert all(("end_column" in a) == (a.get("start_column") is not None) for a in parse), feature.name


async def test_more_than_fifty_findings_are_sent_in_batches_and_not_repeated(
    github: Any, spec_pr: dict[str, Any]
) -> None:
    pull = spec_pr["pull"]
    scenarios = "".join(
        f'    Example: e{i}\n      When I press "x"\n' for i in range(60)
    )  # 60 without a Then
    sha = github.push_files(SHOP, pull.head_ref, {PATH: f"Feature: big\n  Rule: r\n{scenarios}"}, by="bob")
    for _ in range(2):  # the same request twice, as with "d1" and "d2"  # a re-check of the same commit must not append the annotations again
        await run_job(deps(spec_pr["ctx"]), CheckSpec(installation_id=spec_pr["installation_id"], repo=SHOP,
                                                      number=pull.number, sha=sha))
    check = spec_check(github, sha)
    assert len(github.check_runs(SHOP, head_sha=sha, name="specloop/spec")) == 1
    assert len([a for a in check.annotations if a["title"] == "spec lint: no-then"]) == 60
    patches = github.requests_to("PATCH", rf"/check-runs/{check.id}$")
    assert all(len((r.json.get("output") or {}).get("annotations") or []) <= 50 for r in patches)


async def test_a_reviewers_push_is_checked_through_the_webhook(github: Any, service: Any) -> None:
    _, pull = await open_spec_pr(github, service)
    sha = github.push_files(
        SHOP,
        pull.head_ref,
        {PATH: "Feature: x\n  Scenario: y\n    Given a\n   | a | b |\n   | c |\n"},
        by="bob",
    )
    assert (await service.drain())["failed"] == 0
    check = spec_check(github, sha)
    assert check.conclusion == "failure"
    assert [(a["start_line"], a.get("start_column")) for a in check.annotations] == [(5, 4)]


async def test_the_spec_check_flags_a_foreign_url_unless_the_repository_allows_its_origin(
    github: Any, spec_pr: dict[str, Any]
) -> None:
    pull = spec_pr["pull"]
    feature = ('Feature: Docs\n  Scenario: the handbook\n    Given I am on "https://docs.example.com/start"\n'
               '    Then I should see "Welcome"\n')
    sha = github.push_files(SHOP, pull.head_ref, {PATH: feature}, by="bob")
    await run_job(deps(spec_pr["ctx"]), CheckSpec(installation_id=spec_pr["installation_id"], repo=SHOP,
                                                  number=pull.number, sha=sha))
    flagged = spec_check(github, sha)
    assert flagged.conclusion == "failure"
    assert any("https://docs.example.com/start" in a["message"] for a in flagged.annotations)
    # the default branch's config lists that origin: the same step is fine
    github.push_files(SHOP, "main", {".github/specloop.yml": "qa:\n  allowed_origins: ['https://docs.example.com']\n"},
                      by="alice")
    again = github.push_files(SHOP, pull.head_ref, {PATH: feature + "\n"}, by="bob")
    await run_job(deps(spec_pr["ctx"]), CheckSpec(installation_id=spec_pr["installation_id"], repo=SHOP,
                                                  number=pull.number, sha=again))
    assert not any("docs.example.com" in a["message"] for a in spec_check(github, again).annotations)
