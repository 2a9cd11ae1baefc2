"""The spec of a spec PR and its gate: the spec at a commit, the `specloop/spec` check, the recorded approval.

Shared by the spec jobs (write, revise, check, approve, close) and by QA and code generation, so all of
them read the spec, and the approval recorded in the PR body, the same way. The gate only exists on a
spec PR the bot opened itself from this repository, and the recorded approval only counts when the
service's signature on it matches this repository, PR number, SHA, approver and manifest, and while the
approvals behind it still stand on GitHub (`approved_fingerprint`): the body is writable by every writer,
so a signed record pasted back after its approval was dismissed or withdrawn opens nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from githubkit import GitHub
from redis.asyncio import Redis

from app.context import JobScope
from app.domain.fingerprint import Fingerprint, is_spec_file
from app.domain.markers import find_marker
from app.domain.spec_state import SpecInput, SpecState
from app.gh import checks, git_data, issues, pulls
from app.gh.models import CheckRun, Pull, RepoRef, Review, User
from app.gh.repos import collaborator_role
from app.job_args import RunQa
from app.permissions import may
from app.queue import JobRequest, enqueue
from app.render.spec_check import CheckOutput, render_spec_check
from app.render.spec_pr import gate_closed_comment, with_approval
from app.repo_config import RepoConfig
from app.spec_check_process import evaluate_bounded
from app.story_status import advance_status

GH = GitHub[Any]
BRANCH_PREFIX = "specloop/"


def opened_by_bot(pull: Pull, bot_login: str) -> bool:
    """Whether the bot itself opened `pull` from a branch of this repository (never a fork)."""
    return not pull.is_fork and pull.user is not None and pull.user.login.lower() == bot_login.lower()


def spec_pr_data(pull: Pull) -> dict[str, Any]:
    """The data of the PR body's `spec-pr` marker (issue number, branch, paths), {} when absent."""
    return find_marker(pull.body or "", "spec-pr") or {}


def story_issue(pull: Pull) -> int | None:
    """The story issue a spec PR belongs to (from its `spec-pr` marker)."""
    issue = spec_pr_data(pull).get("issue")
    return int(issue) if isinstance(issue, int | str) and str(issue).isdigit() else None


async def spec_files_at(gh: GH, repo: RepoRef, sha: str, features_dir: str) -> dict[str, str]:
    """Every spec file (features and step definitions) at commit `sha`: path -> text."""
    return await git_data.files_under(gh, repo, sha, features_dir, lambda path: is_spec_file(path, features_dir))


async def read_spec(gh: GH, repo: RepoRef, sha: str, config: RepoConfig) -> SpecState:
    """The spec as it is at commit `sha`, checked off the event loop within `LINT_DEADLINE_SECONDS`."""
    files = await spec_files_at(gh, repo, sha, config.features_dir)
    return await evaluate_bounded(SpecInput(sha, files, config.features_dir, config.spec.max_steps,
                                            tuple(config.qa.allowed_origins)))


async def publish_check(gh: GH, repo: RepoRef, sha: str, out: CheckOutput, *, app_id: int,
                        details_url: str | None = None) -> CheckRun:
    """Create or update our check run `out.name` on `sha`; annotations in batches of 50, never twice.

    GitHub appends annotations on every update, so a re-check of the same commit (same files, same
    findings) updates the title, summary and conclusion but sends the annotations only if the existing
    run has none yet.
    """
    existing = await checks.find_check_run(gh, repo, sha, out.name, app_id=app_id)
    batches = out.batches()
    if existing is not None and existing.output.annotations_count > 0:
        batches = [[]]
    common: dict[str, Any] = {"status": "completed", "conclusion": out.conclusion}
    if details_url:
        common["details_url"] = details_url
    if out.external_id:
        common["external_id"] = out.external_id
    first = {**common, "output": out.output(batches[0])}
    if existing is not None:
        run = await checks.update_check_run(gh, repo, existing.id, first)
    else:
        run = await checks.create_check_run(gh, repo, sha, out.name, first)
    for batch in batches[1:]:
        await checks.update_check_run(gh, repo, run.id, {"output": out.output(batch)})
    return run


@dataclass
class SpecPr:
    """A spec pull request in the job that handles it: where it lives, who acts, the approval-signing key."""

    gh: GH
    repo: RepoRef
    app_id: int
    bot_login: str
    key: bytes = field(repr=False, default=b"")

    @classmethod
    def of(cls, scope: JobScope) -> SpecPr:
        """The spec PR handle for a job's repository."""
        return cls(scope.gh, scope.repo, scope.deps.github.app_id, scope.bot_login, scope.deps.settings.gate_key())

    def owns(self, pull: Pull) -> bool:
        """Whether `pull` is a spec PR the bot opened itself (the only PRs Specloop gates)."""
        return opened_by_bot(pull, self.bot_login)

    def sign(self, pull: Pull, fingerprint: Fingerprint) -> Fingerprint:
        """`fingerprint` signed for this repository and `pull`."""
        if not self.key:
            raise ValueError("no approval-signing key")
        return fingerprint.signed(self.key, self.repo.full_name, pull.number)


def signed_record(spec: SpecPr, pull: Pull) -> Fingerprint | None:
    """The approval record in the PR body, when the bot opened the PR and signed it for this PR (else None).

    Only the record: whether the approval behind it still stands is `approved_fingerprint`'s question.
    The body is writable by the PR's author and by every writer of the repository, so a record is trusted
    only with the service's signature over this repository, PR number, SHA, approver and manifest digest.
    """
    if not spec.key or not spec.owns(pull):
        return None
    found = Fingerprint.from_data(find_marker(pull.body or "", "fingerprint"))
    if found is None or not found.verify(spec.key, spec.repo.full_name, pull.number):
        return None
    return found


async def approved_fingerprint(spec: SpecPr, pull: Pull, config: RepoConfig) -> Fingerprint | None:
    """The approval in force: a signed record whose approvals still stand on GitHub now (else None).

    A signature proves the service once wrote the record for this PR and commit, not that the approval
    is still given: after a dismissal (or a reviewer's later "changes requested") a writer could paste
    the old record back into the body. Reviews are what nobody but their author (and a dismissal, which
    is final) can change, so the gate is open only while `approval_count` people allowed to approve
    have an approval of the recorded commit (or of the head, whose spec callers compare) as their
    latest deciding review. GitHub is read on every check; the webhook and the body are never the word.
    """
    record = signed_record(spec, pull)
    if record is None:
        return None
    standing = await approvals_of(spec, pull.number, {record.sha, pull.head.sha}, config)
    return record if len(standing) >= config.approval_count else None


def is_app(user: User | None, bot_login: str) -> bool:
    """Whether `user` is the App itself (or any bot): its reviews never count."""
    return user is not None and (user.is_bot or user.login.lower() == bot_login.lower())


async def may_approve(spec: SpecPr, login: str, config: RepoConfig) -> bool:
    """Write/maintain/admin (the `approve` entry of the permission table), or a configured approver."""
    if login.lower() in {a.lower() for a in config.approvers}:
        return True
    return may(await collaborator_role(spec.gh, spec.repo, login), "approve", config.permission_table)


async def approvals_of(spec: SpecPr, number: int, shas: str | set[str], config: RepoConfig) -> list[str]:
    """Distinct people allowed to approve whose latest deciding review approves one of commits `shas`."""
    wanted = {shas} if isinstance(shas, str) else shas
    latest: dict[str, Review] = {}
    for review in await pulls.list_reviews(spec.gh, spec.repo, number):
        if review.verdict == "COMMENTED" or review.user is None or is_app(review.user, spec.bot_login):
            continue  # a comment does not withdraw an approval; the app's reviews never count
        latest[review.user.login.lower()] = review  # a dismissed approval is DISMISSED here: it withdraws
    counted = []
    for _, review in sorted(latest.items()):
        login = review.user.login if review.user else ""
        if review.verdict == "APPROVED" and review.commit_id in wanted and await may_approve(spec, login, config):
            counted.append(login)
    return counted


async def post_spec_check(spec: SpecPr, pull: Pull, state: SpecState, *, approved: Fingerprint | None = None,
                          changed: list[str] | None = None) -> CheckRun:
    """The `specloop/spec` check for `state.sha` on this PR."""
    out = render_spec_check(state.findings, sha=state.sha, approved=approved, changed=changed or [],
                            scenario_count=state.scenario_count)
    url = f"{pull.html_url}/files" if pull.html_url else None
    return await publish_check(spec.gh, spec.repo, state.sha, out, app_id=spec.app_id, details_url=url)


async def record_approval(spec: SpecPr, pull: Pull, fingerprint: Fingerprint | None) -> Pull:
    """Write (or, with None, remove) the approval recorded in the PR body, signed for this PR."""
    signed = spec.sign(pull, fingerprint) if fingerprint is not None else None
    return await pulls.update_pull(spec.gh, spec.repo, pull.number, body=with_approval(pull.body or "", signed))


async def close_gate_for(spec: SpecPr, pull: Pull, approved: Fingerprint, *, reason: str,
                         files: list[str] | None = None, actor: str | None = None) -> Pull:
    """Remove the recorded approval from the PR body and say why (the caller posts the check)."""
    pull = await record_approval(spec, pull, None)
    await issues.create_comment(spec.gh, spec.repo, pull.number,
                                gate_closed_comment(reason, files=files or [], actor=actor, approved_sha=approved.sha))
    await advance_status(spec.gh, spec.repo, story_issue(pull), bot_login=spec.bot_login, approved_by=None,
                         approved_sha=None)
    return pull


async def run_check(spec: SpecPr, redis: Redis, number: int, sha: str, config: RepoConfig, *,
                    installation_id: int) -> dict[str, Any]:
    """The whole check of commit `sha` on spec PR `number` (check_spec, and the bot's own pushes).

    It validates the spec, re-closes the gate when a feature changed after approval (only the head
    decides), and queues QA once for a later commit that left the approved spec alone (that is code).
    """
    pull = await pulls.get_pull(spec.gh, spec.repo, number)
    if not spec.owns(pull):
        # a fork or a person's own PR on a `specloop/` branch: no gate, so no check that could look like one
        return {"status": "not a specloop pull request"}
    state = await read_spec(spec.gh, spec.repo, sha, config)
    record = signed_record(spec, pull)
    approved = await approved_fingerprint(spec, pull, config) if record is not None else None
    if record is not None and approved is None and sha == pull.head.sha:
        # a record whose approvals no longer stand (dismissed, withdrawn, or pasted back): take it out
        pull = await close_gate_for(spec, pull, record, reason="the approval behind it no longer stands")
    if approved is None:
        await post_spec_check(spec, pull, state)
        return {"status": "checked", "errors": state.has_errors}
    changed = approved.changed(state.manifest)
    if changed:
        if sha == pull.head.sha:  # only the head decides the gate; an older commit's check is history
            pull = await close_gate_for(spec, pull, approved, reason="changed", files=changed)
        await post_spec_check(spec, pull, state, changed=changed)
        return {"status": "gate closed", "changed": changed}
    await post_spec_check(spec, pull, state, approved=approved)
    if sha == pull.head.sha and sha != approved.sha:
        qa = RunQa(installation_id=installation_id, repo=spec.repo.full_name, number=number, sha=sha)
        await enqueue(redis, JobRequest.of(qa, key=f"qa:{sha}", once=f"qa:{spec.repo}:{sha}"))
        return {"status": "approved; qa queued"}
    return {"status": "approved"}


async def find_spec_pull(gh: GH, repo: RepoRef, issue: int, *, bot_login: str) -> Pull | None:
    """The open spec PR for `issue` the bot opened: head branch `specloop/<issue>-...` of this repository."""
    for branch in await git_data.branches_with_prefix(gh, repo, f"{BRANCH_PREFIX}{issue}-"):
        pull = await pulls.open_pull_for_branch(gh, repo, branch)
        if pull is not None and opened_by_bot(pull, bot_login):
            return pull
    return None

