"""The typed GitHub layer: every call in one package, pinned to one API version, exact about what it reads."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from app.context import deps
from app.gh import API_VERSION
from app.gh.models import RepoRef
from app.job_args import CheckSpec, GenerateCode, WriteSpec
from app.repo_config import RepoConfig
from app.spec_gate import read_spec
from jobs.worker import run_job
from tests.support.spec import PATH, SHOP, approve, pr, spec_check

ROOT = Path(__file__).resolve().parent.parent
SHOP_REF = RepoRef.parse(SHOP)
# Only app/gh names REST paths; the doubles are GitHub's side and may.
GITHUB_PACKAGE = ROOT / "app" / "gh"
DOUBLES = ROOT / "app" / "sandbox"
REST_PATH = re.compile(r"^/?(repos|app|installation|orgs|users)/")


def production_modules() -> list[Path]:
    """Every module of the service outside the GitHub package and the doubles."""
    return [path for folder in ("app", "handlers", "jobs") for path in sorted((ROOT / folder).rglob("*.py"))
            if GITHUB_PACKAGE not in path.parents and DOUBLES not in path.parents]


def raw_calls(source: str) -> list[str]:
    """Raw GitHub access in a module: `.arequest(`/`.request(` calls and REST path strings."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in {"arequest", "request"}:
            found.append(f"line {node.lineno}: .{node.func.attr}(")
        pieces: list[str] = []
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            pieces = [node.value]
        elif isinstance(node, ast.JoinedStr):
            pieces = ["".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))]
        found += [f"line {node.lineno}: {p!r}" for p in pieces if REST_PATH.match(p)]
    return found


def test_no_module_outside_the_github_package_makes_a_raw_call() -> None:
    offenders = {str(path.relative_to(ROOT)): calls for path in production_modules()
                 if (calls := raw_calls(path.read_text()))}
    assert offenders == {}


def test_the_raw_call_check_catches_what_it_bans() -> None:
    assert raw_calls('async def f(gh):\n    await gh.arequest("GET", "/repos/o/r")\n')
    assert raw_calls('def f(repo):\n    return f"/repos/{repo}/pulls"\n')
    assert not raw_calls('def f(gh):\n    return gh.rest.pulls.async_get("o", "r", 1)\n')


def test_the_pinned_api_version_is_the_one_githubkits_methods_are_generated_for() -> None:
    from githubkit.versions import LATEST_VERSION

    assert API_VERSION == LATEST_VERSION


def api_requests(github: Any) -> list[Any]:
    """The REST requests the app made (not git over HTTP, not githubkit's own token exchange)."""
    return [r for r in github.requests if REST_PATH.match(r.path.lstrip("/"))
            and not r.path.endswith("/access_tokens")]


async def test_every_rest_call_of_the_spec_flow_is_pinned_to_one_api_version(github: Any,
                                                                              spec_pr: dict[str, Any]) -> None:
    await approve(github, spec_pr)
    calls = api_requests(github)
    assert len(calls) > 20
    versions = {r.headers.get("x-github-api-version") for r in calls}
    assert versions == {API_VERSION}, [f"{r.method} {r.path}" for r in calls if
                                       r.headers.get("x-github-api-version") != API_VERSION]


async def test_another_apps_check_run_of_the_same_name_is_neither_updated_nor_taken_as_ours(
    github: Any, spec_pr: dict[str, Any]
) -> None:
    sha = github.push_files(SHOP, pr(github, spec_pr).head_ref, {"README.md": "more\n"}, by="bob")
    foreign = github.add_foreign_check_run(SHOP, sha, "specloop/spec", conclusion="failure")
    await run_job(deps(spec_pr["ctx"]), CheckSpec(installation_id=spec_pr["installation_id"], repo=SHOP,
                                                  number=spec_pr["number"], sha=sha))
    assert github.requests_to("PATCH", rf"/check-runs/{foreign.id}$") == []
    ours = spec_check(github, sha)
    assert ours.id != foreign.id and ours.app_id == github.app_id
    assert [r.conclusion for r in github.check_runs(SHOP, sha, "specloop/spec") if r.id == foreign.id] == ["failure"]


async def test_code_generation_is_not_fooled_by_another_apps_code_check(github: Any, spec_pr: dict[str, Any]) -> None:
    await approve(github, spec_pr)
    head = pr(github, spec_pr).head_sha
    github.add_foreign_check_run(SHOP, head, "specloop/code", conclusion="success")
    foreign = github.check_runs(SHOP, head_sha=head, name="specloop/code")[0]
    result = await run_job(deps(spec_pr["ctx"]), GenerateCode(installation_id=spec_pr["installation_id"],
                                                              repo=SHOP,
                                                              number=spec_pr["number"]))
    assert result["status"] == "refused"  # no model here: said on a check run of its own
    assert github.requests_to("PATCH", rf"/check-runs/{foreign.id}$") == []
    ours = [r for r in github.check_runs(SHOP, head_sha=head, name="specloop/code") if r.id != foreign.id]
    assert [r.conclusion for r in ours] == ["neutral"] and ours[0].app_id == github.app_id


async def test_spec_files_are_all_read_when_github_truncates_the_tree_listing(github: Any,
                                                                             spec_pr: dict[str, Any]) -> None:
    head = pr(github, spec_pr).head_sha
    gh = deps(spec_pr["ctx"]).github.installation(spec_pr["installation_id"])
    top = (await gh.rest.git.async_get_tree("octo-org", "shop", head)).parsed_data.tree
    everything = (await gh.rest.git.async_get_tree("octo-org", "shop", head, recursive="1")).parsed_data.tree
    # GitHub's limit is 100,000 entries: a big monorepo's recursive listing is cut, one folder's is not
    github.tree_entry_limit = len(top)
    assert len(everything) > len(top)
    cut = (await gh.rest.git.async_get_tree("octo-org", "shop", head, recursive="1")).parsed_data
    assert cut.truncated and PATH not in [e.path for e in cut.tree]  # a reader of that listing misses the spec
    state = await read_spec(gh, SHOP_REF, head, RepoConfig())
    assert list(state.files) == [PATH] and state.scenario_count > 0


async def test_the_story_pr_is_found_by_its_branch_not_by_paging_every_open_pr(github: Any,
                                                                               spec_pr: dict[str, Any]) -> None:
    await run_job(deps(spec_pr["ctx"]), WriteSpec(installation_id=spec_pr["installation_id"], repo=SHOP,
                                                  number=spec_pr["issue"], regenerate=True))
    listings = github.requests_to("GET", rf"^/repos/{SHOP}/pulls$")
    assert listings and all(r.query.get("head") == f"octo-org:{pr(github, spec_pr).head_ref}" for r in listings)


async def test_the_spec_pr_is_opened_without_a_fork_only_field(github: Any, spec_pr: dict[str, Any]) -> None:
    (created,) = github.requests_to("POST", rf"^/repos/{SHOP}/pulls$")
    assert "maintainer_can_modify" not in created.json
    assert created.json["head"] == pr(github, spec_pr).head_ref
