"""`write_spec`: write the story's feature from its latest map, commit it, open or update the spec PR."""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from githubkit.exception import RequestFailed

from app.comments import find_comment
from app.context import deps
from app.domain.example_map import ExampleMap
from app.domain.feature_writer import feature_path, slugify, write_feature
from app.domain.fingerprint import sha256_hex
from app.domain.gherkin import ParsedFeature, parse_feature
from app.github import post_comment
from app.queue import story_of
from app.render.map_comment import KIND as MAP_KIND
from app.render.map_comment import read_map_state
from app.render.markers import find_marker
from app.render.spec_pr import (
    SpecPrView,
    human_edit_reply,
    no_map_reply,
    render_spec_pr_body,
    spec_invalid_reply,
    spec_pr_title,
    with_approval,
)
from app.repo_config import load_repo_config
from jobs.check_spec import (
    GH,
    get_json,
    recorded_fingerprint,
    run_check,
    spec_files_at,
    split_repo,
    update_status,
)

log = logging.getLogger(__name__)

BRANCH_PREFIX = "specloop/"


@dataclass
class MapSource:
    """The latest example map of an issue and where it is shown."""

    example_map: ExampleMap
    revision: int
    url: str | None


async def latest_map(gh: GH, repo: str, issue: int, bot_login: str) -> MapSource | None:
    """The map in the bot's own map comment on `issue` (markers in other people's comments are ignored)."""
    found = await find_comment(gh, repo, issue, MAP_KIND, bot_login=bot_login)
    state = read_map_state(found.body) if found else None
    if found is None or state is None or state.map is None:
        return None
    return MapSource(state.map, state.revision, found.url)


async def find_spec_pull(gh: GH, repo: str, issue: int) -> dict[str, Any] | None:
    """The open spec PR for `issue` (head branch `specloop/<issue>-...` in this repository), if any."""
    prefix = f"{BRANCH_PREFIX}{issue}-"
    page = 1
    while True:
        pulls = await get_json(
            gh, "GET", f"/repos/{repo}/pulls", params={"state": "open", "per_page": 100, "page": page}
        )
        for pull in pulls:
            head = pull.get("head") or {}
            same_repo = str((head.get("repo") or {}).get("full_name", "")).lower() == repo.lower()
            if same_repo and str(head.get("ref", "")).startswith(prefix):
                return dict(pull)
        if len(pulls) < 100:
            return None
        page += 1


async def branch_sha(gh: GH, repo: str, branch: str) -> str | None:
    """The commit a branch points at, None when it does not exist."""
    try:
        ref = await get_json(gh, "GET", f"/repos/{repo}/git/ref/heads/{quote(branch, safe='/')}")
    except RequestFailed as error:
        if error.response.status_code == 404:
            return None
        raise
    return str(ref["object"]["sha"])


async def commit_files(
    gh: GH, repo: str, *, branch: str, parent: str, files: dict[str, str], message: str, create_branch: bool
) -> str:
    """One commit on `branch` through the Git Data API (blob, tree, commit, ref) -> its SHA.

    No author or committer is given, so GitHub signs the commit as the app and shows it as verified.
    """
    parent_commit = await get_json(gh, "GET", f"/repos/{repo}/git/commits/{parent}")
    entries = []
    for path, text in sorted(files.items()):
        blob = await get_json(
            gh, "POST", f"/repos/{repo}/git/blobs", json={"content": text, "encoding": "utf-8"}
        )
        entries.append({"path": path, "mode": "100644", "type": "blob", "sha": blob["sha"]})
    tree = await get_json(
        gh,
        "POST",
        f"/repos/{repo}/git/trees",
        json={"base_tree": parent_commit["tree"]["sha"], "tree": entries},
    )
    commit = await get_json(
        gh,
        "POST",
        f"/repos/{repo}/git/commits",
        json={"message": message, "tree": tree["sha"], "parents": [parent]},
    )
    sha = str(commit["sha"])
    if create_branch:
        await gh.arequest("POST", f"/repos/{repo}/git/refs", json={"ref": f"refs/heads/{branch}", "sha": sha})
    else:
        # not forced: if someone pushed meanwhile, GitHub refuses and the job retries on fresh state
        await gh.arequest(
            "PATCH",
            f"/repos/{repo}/git/refs/heads/{quote(branch, safe='/')}",
            json={"sha": sha, "force": False},
        )
    return sha


def unified_diff(path: str, current: str, proposed: str) -> str:
    """The change from `current` to `proposed`, as `git diff` shows it."""
    return "".join(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            proposed.splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )


async def request_reviews(gh: GH, repo: str, number: int, people: list[str]) -> list[str]:
    """Ask each person for a review; people GitHub refuses (not collaborators, the author) are skipped."""
    requested = []
    for login in dict.fromkeys(p for p in people if p and not p.endswith("[bot]")):
        try:
            await gh.arequest(
                "POST", f"/repos/{repo}/pulls/{number}/requested_reviewers", json={"reviewers": [login]}
            )
        except RequestFailed as error:
            if error.response.status_code != 422:
                raise
            log.info("review request refused", extra={"reviewer": login})
            continue
        requested.append(login)
    return requested


async def build_feature(
    model: Any, example_map: ExampleMap, *, issue: int, uri: str, repo: str, installation_id: int
) -> tuple[str, str] | list[Any]:
    """(feature text, "model"|"offline"), or the parser's errors when the model's file never parsed."""
    if model is None:
        return write_feature(example_map, issue), "offline"
    from app.model.spec_prompts import SpecWriteError, draft_feature

    try:
        drafted = await draft_feature(
            model,
            example_map,
            issue_number=issue,
            uri=uri,
            story=story_of(repo, issue),
            installation_id=installation_id,
        )
    except SpecWriteError as error:
        return list(error.errors)
    return drafted.text, "model"


async def write_spec(
    ctx: dict[str, Any],
    *,
    installation_id: int,
    repo: str,
    number: int,
    actor: str | None = None,
    regenerate: bool = False,
    delivery: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """Write (or rewrite) the spec PR for issue `number`; one branch and one PR per story."""
    d = deps(ctx)
    gh = d.github.installation(int(installation_id))
    owner, name = split_repo(repo)
    repository = await get_json(gh, "GET", f"/repos/{repo}")
    config = await load_repo_config(gh, owner, name, repository.get("default_branch"))
    base = config.base_branch or str(repository.get("default_branch") or "main")
    issue = await get_json(gh, "GET", f"/repos/{repo}/issues/{number}")
    if issue.get("pull_request"):
        return {"status": "not an issue"}
    bot_login = d.settings.bot_login
    source = await latest_map(gh, repo, number, bot_login)
    if source is None:
        await post_comment(gh, repo, number, no_map_reply(number))
        return {"status": "no map"}

    pull = await find_spec_pull(gh, repo, number)
    marker_data = (find_marker(pull.get("body"), "spec-pr") or {}) if pull else {}
    branch = (
        str(pull["head"]["ref"])
        if pull
        else f"{BRANCH_PREFIX}{number}-{slugify(str(issue.get('title', '')))}"
    )
    paths = marker_data.get("paths") or []
    path = (
        str(paths[0])
        if paths
        else feature_path(config.features_dir, source.example_map.story.title or str(issue.get("title", "")))
    )

    built = await build_feature(
        d.model, source.example_map, issue=number, uri=path, repo=repo, installation_id=int(installation_id)
    )
    if isinstance(built, list):
        await post_comment(gh, repo, number, spec_invalid_reply(path, built))
        return {"status": "invalid feature", "errors": len(built)}
    text, written_by = built
    parsed = parse_feature(text, path)
    if not isinstance(
        parsed, ParsedFeature
    ):  # the deterministic writer must never get here; say so if it does
        await post_comment(gh, repo, number, spec_invalid_reply(path, parsed))
        return {"status": "invalid feature", "errors": len(parsed)}

    head = await branch_sha(gh, repo, branch)
    parent = head or str(
        (await get_json(gh, "GET", f"/repos/{repo}/git/ref/heads/{quote(base, safe='/')}"))["object"]["sha"]
    )
    current = (await spec_files_at(gh, repo, parent, config.features_dir)).get(path) if head else None
    last_written = marker_data.get("written")
    edited_by_person = current is not None and last_written and sha256_hex(current) != last_written
    if edited_by_person and current is not None and not regenerate and current != text:
        # people's edits on the branch win; show what the bot would change instead of overwriting them
        if pull is not None:
            await post_comment(
                gh, repo, int(pull["number"]), human_edit_reply(path, unified_diff(path, current, text))
            )
        return {"status": "kept human edits", "pull": pull["number"] if pull else None}

    sha = parent
    if current != text:
        verb = "Regenerate" if regenerate else ("Update" if head else "Add")
        sha = await commit_files(
            gh,
            repo,
            branch=branch,
            parent=parent,
            files={path: text},
            message=f"{verb} spec for #{number}: {source.example_map.story.title}\n\n"
            f"From example map revision {source.revision}.",
            create_branch=head is None,
        )

    example_count = sum(len(r.examples) for r in source.example_map.rules)
    view = SpecPrView(
        issue_number=number,
        story_title=source.example_map.story.title or str(issue.get("title")),
        branch=branch,
        features=[parsed],
        map_url=source.url,
        map_revision=source.revision,
        rule_count=len(source.example_map.rules),
        example_count=example_count,
        written_by=written_by,
        written_digest=sha256_hex(text),
    )
    body = render_spec_pr_body(view)
    title = spec_pr_title(view.story_title)
    if pull is None:
        pull = await get_json(
            gh,
            "POST",
            f"/repos/{repo}/pulls",
            json={"title": title, "head": branch, "base": base, "body": body, "maintainer_can_modify": True},
        )
        await request_reviews(
            gh,
            repo,
            int(pull["number"]),
            [str((issue.get("user") or {}).get("login", "")), *config.approvers],
        )
    else:
        # an existing approval stays in the body; check_spec closes the gate if the files changed
        body = with_approval(body, recorded_fingerprint(pull))
        pull = await get_json(
            gh, "PATCH", f"/repos/{repo}/pulls/{pull['number']}", json={"title": title, "body": body}
        )
    # the app's own push sends no webhook Specloop acts on (the router drops the app's events): check here
    await run_check(
        d,
        gh,
        repo,
        int(pull["number"]),
        sha,
        config,
        installation_id=int(installation_id),
        bot_login=bot_login,
        delivery=delivery,
    )
    await update_status(
        gh, repo, number, bot_login=bot_login, spec_pr=int(pull["number"]), spec_pr_url=pull.get("html_url")
    )
    return {"status": "written", "pull": int(pull["number"]), "sha": sha, "branch": branch}
