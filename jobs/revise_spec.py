"""`revise_spec`: answer a "changes requested" review (or `/specloop revise`) with ONE revision commit."""

from __future__ import annotations

import logging
from typing import Any

from app.comments import find_comment
from app.context import JobScope
from app.domain.fingerprint import sha256_hex
from app.gh import git_data, issues, pulls
from app.gh.models import Pull, PullCommit, User
from app.job_args import ReviseSpec, story_of
from app.model.spec_prompts import REVISION_MAX_TOKENS, SpecWriteError, revise_feature
from app.render.spec_pr import (
    needs_model_reply,
    revision_reply,
    revision_unchanged_reply,
    spec_invalid_reply,
    with_written,
)
from app.spec_gate import SpecPr, run_check, spec_files_at, spec_pr_data, story_issue

log = logging.getLogger(__name__)

REVIEW_TRAILER = "Specloop-Review"


def _from_person(user: User | None, bot_login: str) -> bool:
    return user is not None and user.type != "Bot" and user.login.lower() != bot_login.lower()


async def review_comments(scope: JobScope, number: int, review_id: int | None) -> list[dict[str, Any]]:
    """What the reviewers asked: the review's body and its line comments (all open requests for a command)."""
    gh, repo = scope.gh, scope.repo
    if review_id:
        reviews = [await pulls.get_review(gh, repo, number, review_id)]
    else:
        reviews = [r for r in await pulls.list_reviews(gh, repo, number) if r.verdict == "CHANGES_REQUESTED"]
    line_comments = await pulls.review_comments(gh, repo, number, review_id)
    comments: list[dict[str, Any]] = [
        {"body": r.body, "path": None, "line": None}
        for r in reviews if (r.body or "").strip() and _from_person(r.user, scope.bot_login)
    ]
    comments += [
        {"body": c.body or "", "path": c.path, "line": c.line or c.original_line}
        for c in line_comments if (c.body or "").strip() and _from_person(c.user, scope.bot_login)
    ]
    return comments


async def revision_commit(scope: JobScope, number: int, review_id: int | None) -> PullCommit | None:
    """The commit on the PR that already answers this review (a second delivery pushes nothing), if any."""
    if not review_id:
        return None
    trailer = f"{REVIEW_TRAILER}: {review_id}"
    for commit in await pulls.list_commits(scope.gh, scope.repo, number):
        if trailer in commit.commit.message.splitlines():  # a whole line: review 12 is not review 123
            return commit
    return None


def revised_path(pull: Pull, files: dict[str, str], comments: list[dict[str, Any]]) -> str | None:
    """The feature file a revision rewrites: the one the comments point at, else the PR's, else the first."""
    features = [p for p in files if p.endswith(".feature")]
    wanted = [str(p) for p in spec_pr_data(pull).get("paths") or [] if p in files]
    commented = [str(c["path"]) for c in comments if c.get("path") in files]
    candidates = commented or wanted or sorted(features)
    return candidates[0] if candidates else None


async def finish_revision(scope: JobScope, spec: SpecPr, pull: Pull, commit: PullCommit,
                          comments: list[dict[str, Any]], installation_id: int) -> dict[str, Any]:
    """What follows the revision commit, for a run that finds the commit pushed already: a second delivery
    of the review, or arq's retry of a run that died after the push. Each step finds what exists instead
    of repeating it: the digest in the body, the check of the new commit, the reply naming the commit.
    The model is not asked again, so a reply posted here names the commit without the model's answers.
    """
    gh, repo, number, sha = scope.gh, scope.repo, pull.number, commit.sha
    if pull.head.sha == sha:
        # once someone pushed on top, the body's digest and the head's check are that push's to set
        config = await scope.config()
        files = await spec_files_at(gh, repo, sha, config.features_dir)
        path = revised_path(pull, files, comments)
        if path is not None and spec_pr_data(pull).get("written") != sha256_hex(files[path]):
            await pulls.update_pull(gh, repo, number, body=with_written(pull.body, sha256_hex(files[path])))
        await run_check(spec, scope.deps.redis, number, sha, config, installation_id=installation_id)
    replied = await find_comment(gh, repo, number, "reply", bot_login=scope.bot_login,
                                 match={"type": "spec_revised", "sha": sha})
    if replied is None:
        await issues.create_comment(gh, repo, number, revision_reply(sha, "", [], []))
    return {"status": "already revised", "sha": sha}


async def revise_spec(scope: JobScope, args: ReviseSpec) -> dict[str, Any]:
    """Ask the model to revise the feature from the review and push one commit that answers it."""
    gh, repo, number = scope.gh, scope.repo, args.number
    pull = await pulls.get_pull(gh, repo, number)
    spec = SpecPr.of(scope)
    if not spec.owns(pull) or not pull.is_open:
        # only the spec PRs the bot opened (never a fork) are the bot's to revise
        return {"status": "not revisable"}
    done = await revision_commit(scope, number, args.review_id)
    comments = await review_comments(scope, number, args.review_id)
    if done is not None:
        result = await finish_revision(scope, spec, pull, done, comments, args.installation_id)
        return {**result, "review": args.review_id}
    if not comments:
        return {"status": "nothing to answer"}
    model = scope.deps.model
    if model is None:
        await issues.create_comment(gh, repo, number, needs_model_reply(args.actor))
        return {"status": "needs a model"}

    config = await scope.config()
    head = pull.head.sha
    files = await spec_files_at(gh, repo, head, config.features_dir)
    path = revised_path(pull, files, comments)
    if path is None:
        return {"status": "no feature file"}
    issue = story_issue(pull)
    try:
        drafted = await revise_feature(model, files[path], comments, issue_number=issue, uri=path,
                                       story=story_of(repo.full_name, issue or number),
                                       installation_id=args.installation_id,
                                       max_tokens=max(REVISION_MAX_TOKENS, config.model.max_tokens))
    except SpecWriteError as error:
        await issues.create_comment(gh, repo, number, spec_invalid_reply(path, error.errors))
        return {"status": "invalid revision"}
    if drafted.text == files[path]:
        await issues.create_comment(gh, repo, number, revision_unchanged_reply(drafted.summary))
        return {"status": "unchanged"}
    trailer = f"\n\n{REVIEW_TRAILER}: {args.review_id}" if args.review_id else ""
    sha = await git_data.commit_files(gh, repo, branch=pull.head.ref, parent=head, files={path: drafted.text},
                                      message=f"Revise spec from review comments{trailer}", create_branch=False)
    await pulls.update_pull(gh, repo, number, body=with_written(pull.body, sha256_hex(drafted.text)))
    # the app's own push is not acted on by the router, so the new commit is checked here
    await run_check(spec, scope.deps.redis, number, sha, config, installation_id=args.installation_id)
    await issues.create_comment(gh, repo, number, revision_reply(sha, drafted.summary, drafted.answers,
                                                                 [str(c["body"]) for c in comments]))
    return {"status": "revised", "sha": sha}
