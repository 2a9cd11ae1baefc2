"""`check_spec`: validate every feature file of a spec PR's head, post `specloop/spec`, guard the gate.

Also home of the GitHub reads and writes the spec jobs share (PR, spec files at a commit, the check
run, the status chain), so write/revise/approve/check agree on how the spec is read.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from typing import Any

from githubkit.exception import RequestFailed

from app.context import deps
from app.domain.fingerprint import Fingerprint, build_manifest, is_spec_file
from app.domain.gherkin import ParsedFeature, parse_feature
from app.domain.spec_lint import Finding, check_feature, static_step_registry
from app.github import post_comment
from app.queue import JobRequest, enqueue, story_of
from app.render.markers import find_marker
from app.render.spec_check import CheckOutput, render_spec_check
from app.render.spec_pr import gate_closed_comment, with_approval
from app.repo_config import RepoConfig, load_repo_config

log = logging.getLogger(__name__)

GH = Any  # githubkit.GitHub; kept loose because jobs only call `arequest`


def split_repo(repo: str) -> tuple[str, str]:
    """ "owner/name" -> ("owner", "name")."""
    owner, name = repo.split("/", 1)
    return owner, name


async def get_json(gh: GH, method: str, url: str, **kwargs: Any) -> Any:
    """One API call's JSON body."""
    return (await gh.arequest(method, url, **kwargs)).json()


async def get_pull(gh: GH, repo: str, number: int) -> dict[str, Any]:
    """The pull request as GitHub has it now (head SHA, body, fork-ness, author)."""
    return dict(await get_json(gh, "GET", f"/repos/{repo}/pulls/{number}"))


def is_fork(pull: dict[str, Any]) -> bool:
    """Whether the PR's head lives in another repository (a fork), or in a deleted one."""
    head_repo = (pull.get("head") or {}).get("repo") or {}
    base_repo = (pull.get("base") or {}).get("repo") or {}
    return (
        not head_repo
        or str(head_repo.get("full_name", "")).lower() != str(base_repo.get("full_name", "")).lower()
    )


def recorded_fingerprint(pull: dict[str, Any]) -> Fingerprint | None:
    """The approval recorded in the PR body's hidden marker (None when not approved)."""
    return Fingerprint.from_data(find_marker(pull.get("body") or "", "fingerprint"))


def spec_pr_data(pull: dict[str, Any]) -> dict[str, Any]:
    """The data of the PR body's `spec-pr` marker (issue number, branch, paths), {} when absent."""
    return find_marker(pull.get("body") or "", "spec-pr") or {}


async def spec_files_at(gh: GH, repo: str, sha: str, features_dir: str) -> dict[str, str]:
    """Every spec file (features and step definitions) in the tree of commit `sha`: path -> text."""
    tree = await get_json(gh, "GET", f"/repos/{repo}/git/trees/{sha}", params={"recursive": "1"})
    files: dict[str, str] = {}
    for entry in tree.get("tree", []):
        path = str(entry.get("path", ""))
        if entry.get("type") != "blob" or not is_spec_file(path, features_dir):
            continue
        blob = await get_json(gh, "GET", f"/repos/{repo}/git/blobs/{entry['sha']}")
        raw = (
            base64.b64decode(blob.get("content") or "")
            if blob.get("encoding") == "base64"
            else str(blob.get("content") or "").encode("utf-8")
        )
        files[path] = raw.decode("utf-8", errors="replace")
    return files


@dataclass
class SpecState:
    """The spec at one commit: its files, findings per feature, parsed features and manifest."""

    sha: str
    files: dict[str, str]
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    parsed: list[ParsedFeature] = field(default_factory=list)
    manifest: dict[str, str] = field(default_factory=dict)

    @property
    def has_errors(self) -> bool:
        """Whether any feature file has a parse or lint error."""
        return any(f.level == "error" for fs in self.findings.values() for f in fs)

    @property
    def scenario_count(self) -> int:
        return sum(len(p.scenarios()) for p in self.parsed)


def max_steps(config: RepoConfig) -> int:
    """The scenario size limit (`spec.max_steps` when the config has it)."""
    return config.spec.max_steps


def evaluate(sha: str, files: dict[str, str], config: RepoConfig) -> SpecState:
    """Parse and lint every feature among `files`, with repository steps read statically (never run)."""
    registry = static_step_registry({p: t for p, t in files.items() if p.endswith(".py")})
    state = SpecState(sha=sha, files=files, manifest=build_manifest(files, config.features_dir))
    for path in sorted(p for p in files if p.endswith(".feature")):
        state.findings[path] = check_feature(files[path], path, max_steps=max_steps(config), extra=registry)
        parsed = parse_feature(files[path], path)
        if isinstance(parsed, ParsedFeature):
            state.parsed.append(parsed)
    return state


async def read_spec(gh: GH, repo: str, sha: str, config: RepoConfig) -> SpecState:
    """The spec as it is at commit `sha`."""
    return evaluate(sha, await spec_files_at(gh, repo, sha, config.features_dir), config)


async def publish_check(
    gh: GH, repo: str, sha: str, out: CheckOutput, *, details_url: str | None = None
) -> int:
    """Create or update the check run `out.name` on `sha`; annotations in batches of 50, never twice.

    GitHub appends annotations on every update, so a re-check of the same commit (same files, same
    findings) updates the title, summary and conclusion but sends the annotations only if the existing
    run has none yet.
    """
    runs = await get_json(
        gh,
        "GET",
        f"/repos/{repo}/commits/{sha}/check-runs",
        params={"check_name": out.name, "filter": "latest"},
    )
    existing = next(iter(runs.get("check_runs") or []), None)
    batches = out.batches()
    if existing and int((existing.get("output") or {}).get("annotations_count") or 0) > 0:
        batches = [[]]
    common: dict[str, Any] = {"status": "completed", "conclusion": out.conclusion}
    if details_url:
        common["details_url"] = details_url
    if out.external_id:
        common["external_id"] = out.external_id
    first = {**common, "output": out.output(batches[0])}
    if existing:
        run_id = int(existing["id"])
        await gh.arequest("PATCH", f"/repos/{repo}/check-runs/{run_id}", json=first)
    else:
        created = await get_json(
            gh, "POST", f"/repos/{repo}/check-runs", json={"name": out.name, "head_sha": sha, **first}
        )
        run_id = int(created["id"])
    for batch in batches[1:]:
        await gh.arequest("PATCH", f"/repos/{repo}/check-runs/{run_id}", json={"output": out.output(batch)})
    return run_id


async def post_spec_check(
    gh: GH,
    repo: str,
    pull: dict[str, Any],
    state: SpecState,
    *,
    approved: Fingerprint | None = None,
    changed: list[str] | None = None,
) -> int:
    """The `specloop/spec` check for `state.sha` on this PR."""
    out = render_spec_check(
        state.findings,
        sha=state.sha,
        approved=approved,
        changed=changed or [],
        scenario_count=state.scenario_count,
    )
    url = f"{pull.get('html_url', '')}/files" if pull.get("html_url") else None
    return await publish_check(gh, repo, state.sha, out, details_url=url)


async def update_status(gh: GH, repo: str, issue: int | None, *, bot_login: str, **changes: Any) -> None:
    """Advance the story's status chain in the issue's map comment (best effort: it is a view, not state)."""
    if not issue:
        return
    try:
        from app.story_status import update_story_status
    except ImportError:  # the map comment's owner builds it in parallel; the spec flow does not depend on it
        log.info("story status not available; chain not updated", extra={"changes": list(changes)})
        return
    owner, name = split_repo(repo)
    try:
        await update_story_status(gh, owner, name, int(issue), bot_login=bot_login, **changes)
    except (RequestFailed, TypeError, ValueError, KeyError) as error:
        log.warning("could not update the story status", extra={"error": repr(error)})


async def close_gate_for(
    gh: GH,
    repo: str,
    pull: dict[str, Any],
    approved: Fingerprint,
    *,
    reason: str,
    bot_login: str,
    files: list[str] | None = None,
    actor: str | None = None,
) -> None:
    """Remove the recorded approval from the PR body and say why (the caller posts the check)."""
    number = int(pull["number"])
    body = with_approval(pull.get("body") or "", None)
    await gh.arequest("PATCH", f"/repos/{repo}/pulls/{number}", json={"body": body})
    pull["body"] = body
    await post_comment(
        gh,
        repo,
        number,
        gate_closed_comment(reason, files=files or [], actor=actor, approved_sha=approved.sha),
    )
    await update_status(
        gh, repo, spec_pr_data(pull).get("issue"), bot_login=bot_login, approved_by=None, approved_sha=None
    )


async def run_check(
    d: Any,
    gh: GH,
    repo: str,
    number: int,
    sha: str,
    config: RepoConfig,
    *,
    installation_id: int,
    bot_login: str,
    delivery: str | None = None,
) -> dict[str, Any]:
    """The whole check of commit `sha` on spec PR `number` (shared by check_spec and the bot's own pushes)."""
    pull = await get_pull(gh, repo, number)
    state = await read_spec(gh, repo, sha, config)
    approved = recorded_fingerprint(pull)
    head = str((pull.get("head") or {}).get("sha", ""))
    if approved is None:
        await post_spec_check(gh, repo, pull, state)
        return {"status": "checked", "errors": state.has_errors}
    changed = approved.changed(state.manifest)
    if changed:
        if sha == head:  # only the head decides the gate; an older commit's check is history
            await close_gate_for(
                gh, repo, pull, approved, reason="changed", files=changed, bot_login=bot_login
            )
        await post_spec_check(gh, repo, pull, state, changed=changed)
        return {"status": "gate closed", "changed": changed}
    await post_spec_check(gh, repo, pull, state, approved=approved)
    if sha == head and sha != approved.sha:
        # a push after approval that left the spec alone is code: run the approved scenarios on it
        await enqueue(
            d.redis,
            JobRequest(
                function="run_qa",
                queue="heavy",
                story=story_of(repo, number),
                kwargs={
                    "installation_id": int(installation_id),
                    "repo": repo,
                    "number": int(number),
                    "sha": sha,
                    "base_url": None,
                    "delivery": delivery or f"check:{sha}",
                },
                key=f"qa:{sha}",
            ),
        )
        return {"status": "approved; qa queued"}
    return {"status": "approved"}


async def check_spec(
    ctx: dict[str, Any],
    *,
    installation_id: int,
    repo: str,
    number: int,
    sha: str,
    delivery: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """Validate the spec at `sha`, post `specloop/spec`, re-close the gate or start QA for code pushes."""
    d = deps(ctx)
    gh = d.github.installation(int(installation_id))
    owner, name = split_repo(repo)
    config = await load_repo_config(gh, owner, name)
    return await run_check(
        d,
        gh,
        repo,
        int(number),
        sha,
        config,
        installation_id=int(installation_id),
        bot_login=d.settings.bot_login,
        delivery=delivery,
    )
