"""`write_spec`: write the story's feature from its latest map, commit it, open or update the spec PR."""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass
from typing import Any

from app.context import JobScope
from app.domain.example_map import ExampleMap
from app.domain.feature_writer import feature_path, slugify, write_feature
from app.domain.fingerprint import sha256_hex
from app.domain.gherkin import ParsedFeature, parse_feature
from app.gh import git_data, issues, pulls
from app.gh.models import Issue, Pull
from app.gh.repos import get_repository
from app.job_args import WriteSpec, story_of
from app.model.client import ModelClient
from app.model.spec_prompts import FEATURE_MAX_TOKENS, SpecWriteError, draft_feature
from app.render.spec_pr import (
    SpecPrView,
    human_edit_reply,
    no_map_reply,
    render_spec_pr_body,
    spec_invalid_reply,
    spec_pr_title,
    with_approval,
)
from app.repo_config import RepoConfig
from app.spec_gate import (
    BRANCH_PREFIX,
    SpecPr,
    find_spec_pull,
    run_check,
    signed_record,
    spec_files_at,
    spec_pr_data,
)
from app.story_status import advance_status, find_map

log = logging.getLogger(__name__)


@dataclass
class MapSource:
    """The latest example map of an issue and where it is shown."""

    example_map: ExampleMap
    revision: int
    url: str | None


def unified_diff(path: str, current: str, proposed: str) -> str:
    """The change from `current` to `proposed`, as `git diff` shows it."""
    return "".join(difflib.unified_diff(current.splitlines(keepends=True), proposed.splitlines(keepends=True),
                                        fromfile=f"a/{path}", tofile=f"b/{path}"))


async def build_feature(model: ModelClient | None, example_map: ExampleMap, *, issue: int, uri: str, repo: str,
                        installation_id: int, max_tokens: int = FEATURE_MAX_TOKENS) -> tuple[str, str] | list[Any]:
    """(feature text, "model"|"offline"), or the parser's errors when the model's file never parsed."""
    if model is None:
        return write_feature(example_map, issue), "offline"
    try:
        drafted = await draft_feature(model, example_map, issue_number=issue, uri=uri, story=story_of(repo, issue),
                                      installation_id=installation_id, max_tokens=max_tokens)
    except SpecWriteError as error:
        return list(error.errors)
    return drafted.text, "model"


@dataclass
class Target:
    """Where the feature goes: the story's branch, its file, and the commit it builds on."""

    branch: str
    path: str
    head: str | None  # the branch's commit, None before the branch exists
    parent: str
    current: str | None  # the file's text on the branch, None when absent


async def _target(scope: JobScope, issue: Issue, pull: Pull | None, source: MapSource, config: RepoConfig,
                  base: str) -> Target:
    marker_data = spec_pr_data(pull) if pull else {}
    branch = pull.head.ref if pull else f"{BRANCH_PREFIX}{issue.number}-{slugify(issue.title)}"
    paths = marker_data.get("paths") or []
    path = str(paths[0]) if paths else feature_path(config.features_dir, source.example_map.story.title or issue.title)
    head = await git_data.branch_sha(scope.gh, scope.repo, branch)
    parent = head or await git_data.branch_sha(scope.gh, scope.repo, base)
    if parent is None:
        raise LookupError(f"the base branch {base!r} does not exist")
    current = (await spec_files_at(scope.gh, scope.repo, parent, config.features_dir)).get(path) if head else None
    return Target(branch, path, head, parent, current)


async def _request_reviewers(scope: JobScope, issue: Issue, pull: Pull, config: RepoConfig, *,
                             created: bool) -> None:
    """Ask the story's author and the configured approvers for a review, those who have not reviewed yet.

    Not only when this run opened the PR: a run that died after GitHub opened it leaves the retry an
    existing PR with nobody asked. GitHub ignores a request for someone already asked, and people who
    reviewed already are left alone (a request would ask them again).
    """
    author = issue.user.login if issue.user else ""
    wanted = dict.fromkeys(p for p in [author, *config.approvers] if p and not p.endswith("[bot]"))
    if not created and wanted:
        reviewed = {r.user.login.lower() for r in await pulls.list_reviews(scope.gh, scope.repo, pull.number)
                    if r.user is not None}
        wanted = dict.fromkeys(login for login in wanted if login.lower() not in reviewed)
    for login in wanted:
        await pulls.request_reviewer(scope.gh, scope.repo, pull.number, login)


async def _open_or_update_pull(scope: JobScope, issue: Issue, pull: Pull | None, view: SpecPrView, base: str,
                               config: RepoConfig) -> Pull:
    body = render_spec_pr_body(view)
    title = spec_pr_title(view.story_title)
    created = pull is None
    if pull is not None:
        # an existing approval stays in the body; check_spec closes the gate if the files changed
        pull = await pulls.update_pull(scope.gh, scope.repo, pull.number, title=title,
                                       body=with_approval(body, signed_record(SpecPr.of(scope), pull)))
    else:
        pull = await pulls.create_pull(scope.gh, scope.repo, title=title, head=view.branch, base=base, body=body)
    await _request_reviewers(scope, issue, pull, config, created=created)
    return pull


async def write_spec(scope: JobScope, args: WriteSpec) -> dict[str, Any]:
    """Write (or rewrite) the spec PR for the issue; one branch and one PR per story."""
    gh, repo, number = scope.gh, scope.repo, args.number
    default_branch = (await get_repository(gh, repo)).default_branch
    config = await scope.config(default_branch)
    base = config.base_branch or default_branch or "main"
    issue = await issues.get_issue(gh, repo, number)
    if issue.pull_request:
        return {"status": "not an issue"}
    found = await find_map(gh, repo, number, bot_login=scope.bot_login)
    if found is None or found.map is None:
        await issues.create_comment(gh, repo, number, no_map_reply(number))
        return {"status": "no map"}
    source = MapSource(found.map, found.state.revision, found.comment.url)

    pull = await find_spec_pull(gh, repo, number, bot_login=scope.bot_login)
    target = await _target(scope, issue, pull, source, config, base)
    # a repository that raised `model.max_tokens` (the advice a cut-off answer gives) gets it here too
    built = await build_feature(scope.deps.model, source.example_map, issue=number, uri=target.path,
                                repo=repo.full_name, installation_id=args.installation_id,
                                max_tokens=max(FEATURE_MAX_TOKENS, config.model.max_tokens))
    if isinstance(built, list):
        await issues.create_comment(gh, repo, number, spec_invalid_reply(target.path, built))
        return {"status": "invalid feature", "errors": len(built)}
    text, written_by = built
    parsed = parse_feature(text, target.path)
    if not isinstance(parsed, ParsedFeature):  # the deterministic writer must never get here; say so if it does
        await issues.create_comment(gh, repo, number, spec_invalid_reply(target.path, parsed))
        return {"status": "invalid feature", "errors": len(parsed)}

    last_written = spec_pr_data(pull).get("written") if pull else None
    current = target.current
    edited_by_person = current is not None and last_written and sha256_hex(current) != last_written
    if edited_by_person and current is not None and not args.regenerate and current != text:
        # people's edits on the branch win; show what the bot would change instead of overwriting them
        if pull is not None:
            await issues.create_comment(gh, repo, pull.number,
                                        human_edit_reply(target.path, unified_diff(target.path, current, text)))
        return {"status": "kept human edits", "pull": pull.number if pull else None}

    sha = target.parent
    if current != text:
        verb = "Regenerate" if args.regenerate else ("Update" if target.head else "Add")
        sha = await git_data.commit_files(
            gh, repo, branch=target.branch, parent=target.parent, files={target.path: text},
            message=f"{verb} spec for #{number}: {source.example_map.story.title}\n\n"
                    f"From example map revision {source.revision}.",
            create_branch=target.head is None,
        )
    view = SpecPrView(
        issue_number=number, story_title=source.example_map.story.title or issue.title, branch=target.branch,
        features=[parsed], map_url=source.url, map_revision=source.revision,
        rule_count=len(source.example_map.rules),
        example_count=sum(len(r.examples) for r in source.example_map.rules),
        written_by=written_by, written_digest=sha256_hex(text),
    )
    pull = await _open_or_update_pull(scope, issue, pull, view, base, config)
    # the app's own push sends no webhook Specloop acts on (the router drops the app's events): check here
    await run_check(SpecPr.of(scope), scope.deps.redis, pull.number, sha, config,
                    installation_id=args.installation_id)
    await advance_status(gh, repo, number, bot_login=scope.bot_login, spec_pr=pull.number,
                         spec_pr_url=pull.html_url)
    return {"status": "written", "pull": pull.number, "sha": sha, "branch": target.branch}
