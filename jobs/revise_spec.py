"""`revise_spec`: answer a "changes requested" review (or `/specloop revise`) with ONE revision commit."""

from __future__ import annotations

import logging
from typing import Any

from app.context import deps
from app.domain.fingerprint import sha256_hex
from app.github import post_comment
from app.queue import story_of
from app.render.spec_pr import (
    needs_model_reply,
    revision_reply,
    revision_unchanged_reply,
    spec_invalid_reply,
    with_written,
)
from app.repo_config import load_repo_config
from jobs.check_spec import (
    GH,
    get_json,
    get_pull,
    is_fork,
    run_check,
    spec_files_at,
    spec_pr_data,
    split_repo,
)
from jobs.write_spec import commit_files

log = logging.getLogger(__name__)

REVIEW_TRAILER = "Specloop-Review"


async def _pages(gh: GH, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        batch = await get_json(gh, "GET", url, params={"per_page": 100, "page": page})
        found += batch
        if len(batch) < 100:
            return found
        page += 1


def _from_person(item: dict[str, Any], bot_login: str) -> bool:
    user = item.get("user") or {}
    return user.get("type") != "Bot" and str(user.get("login", "")).lower() != bot_login.lower()


async def review_comments(
    gh: GH, repo: str, number: int, review_id: int | None, bot_login: str
) -> list[dict[str, Any]]:
    """What the reviewers asked: the review's body and its line comments (all open requests for a command)."""
    if review_id:
        review = await get_json(gh, "GET", f"/repos/{repo}/pulls/{number}/reviews/{review_id}")
        reviews = [review]
        line_comments = await _pages(gh, f"/repos/{repo}/pulls/{number}/reviews/{review_id}/comments")
    else:
        reviews = [
            r
            for r in await _pages(gh, f"/repos/{repo}/pulls/{number}/reviews")
            if str(r.get("state", "")).upper() == "CHANGES_REQUESTED"
        ]
        line_comments = await _pages(gh, f"/repos/{repo}/pulls/{number}/comments")
    comments = [
        {"body": r["body"], "path": None, "line": None}
        for r in reviews
        if (r.get("body") or "").strip() and _from_person(r, bot_login)
    ]
    comments += [
        {"body": c.get("body", ""), "path": c.get("path"), "line": c.get("line") or c.get("original_line")}
        for c in line_comments
        if (c.get("body") or "").strip() and _from_person(c, bot_login)
    ]
    return comments


async def already_revised(gh: GH, repo: str, number: int, review_id: int | None) -> bool:
    """Whether a commit on the PR already answers this review (a second delivery pushes nothing)."""
    if not review_id:
        return False
    trailer = f"{REVIEW_TRAILER}: {review_id}"
    commits = await _pages(gh, f"/repos/{repo}/pulls/{number}/commits")
    return any(trailer in str((c.get("commit") or {}).get("message", "")) for c in commits)


async def revise_spec(
    ctx: dict[str, Any],
    *,
    installation_id: int,
    repo: str,
    number: int,
    actor: str | None = None,
    review_id: int | None = None,
    delivery: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """Ask the model to revise the feature from the review and push one commit that answers it."""
    d = deps(ctx)
    gh = d.github.installation(int(installation_id))
    owner, name = split_repo(repo)
    bot_login = d.settings.bot_login
    pull = await get_pull(gh, repo, number)
    if is_fork(pull) or str(pull.get("state", "open")) != "open":
        return {"status": "not revisable"}
    if await already_revised(gh, repo, number, review_id):
        return {"status": "already revised", "review": review_id}
    comments = await review_comments(gh, repo, number, review_id, bot_login)
    if not comments:
        return {"status": "nothing to answer"}
    if d.model is None:
        await post_comment(gh, repo, number, needs_model_reply(actor))
        return {"status": "needs a model"}

    from app.model.spec_prompts import SpecWriteError, revise_feature

    config = await load_repo_config(gh, owner, name)
    head = str(pull["head"]["sha"])
    data = spec_pr_data(pull)
    files = await spec_files_at(gh, repo, head, config.features_dir)
    features = [p for p in files if p.endswith(".feature")]
    wanted = [str(p) for p in data.get("paths") or [] if p in files]
    commented = [str(c["path"]) for c in comments if c.get("path") in files]
    candidates = commented or wanted or sorted(features)
    path = candidates[0] if candidates else None
    if path is None:
        return {"status": "no feature file"}
    issue = data.get("issue")
    try:
        drafted = await revise_feature(
            d.model,
            files[path],
            comments,
            issue_number=issue,
            uri=path,
            story=story_of(repo, issue or number),
            installation_id=int(installation_id),
        )
    except SpecWriteError as error:
        await post_comment(gh, repo, number, spec_invalid_reply(path, error.errors))
        return {"status": "invalid revision"}
    if drafted.text == files[path]:
        await post_comment(gh, repo, number, revision_unchanged_reply(drafted.summary))
        return {"status": "unchanged"}
    trailer = f"\n\n{REVIEW_TRAILER}: {review_id}" if review_id else ""
    sha = await commit_files(
        gh,
        repo,
        branch=str(pull["head"]["ref"]),
        parent=head,
        files={path: drafted.text},
        message=f"Revise spec from review comments{trailer}",
        create_branch=False,
    )
    await gh.arequest(
        "PATCH",
        f"/repos/{repo}/pulls/{number}",
        json={"body": with_written(pull.get("body"), sha256_hex(drafted.text))},
    )
    # the app's own push is not acted on by the router, so the new commit is checked here
    await run_check(
        d,
        gh,
        repo,
        number,
        sha,
        config,
        installation_id=int(installation_id),
        bot_login=bot_login,
        delivery=delivery,
    )
    await post_comment(
        gh,
        repo,
        number,
        revision_reply(sha, drafted.summary, drafted.answers, [str(c["body"]) for c in comments]),
    )
    return {"status": "revised", "sha": sha}
