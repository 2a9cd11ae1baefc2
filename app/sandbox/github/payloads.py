"""JSON shapes of issues, pull requests, checks and deployments, built from the double's state."""

from __future__ import annotations

from typing import Any

from .payloads_core import CoreShapes, node_id
from .state import (
    App,
    CheckRun,
    CheckSuite,
    Comment,
    Deployment,
    DeploymentStatus,
    Issue,
    Pull,
    Repo,
    Review,
    ReviewComment,
    iso,
)

__all__ = ["Shapes", "node_id"]


class Shapes(CoreShapes):
    """Renders state objects to GitHub's JSON (REST answers and webhook payloads)."""

    # -- issues -----------------------------------------------------------------------------
    def issue(self, r: Repo, i: Issue, app: App) -> dict[str, Any]:
        """An issue object (PRs appear with a `pull_request` block, as on GitHub)."""
        base = f"{self.api}/repos/{r.full_name}/issues/{i.number}"
        labels = [self.label(r, r.labels[name.lower()]) for name in i.labels if name.lower() in r.labels]
        comments = sum(1 for c in r.comments.values() if c.number == i.number)
        data: dict[str, Any] = {
            "url": base, "repository_url": f"{self.api}/repos/{r.full_name}",
            "labels_url": f"{base}/labels{{/name}}", "comments_url": f"{base}/comments",
            "events_url": f"{base}/events", "timeline_url": f"{base}/timeline",
            "html_url": f"{self.web}/{r.full_name}/{'pull' if i.is_pull else 'issues'}/{i.number}",
            "id": i.id, "node_id": node_id("I", i.id), "number": i.number, "title": i.title,
            "user": self.user(i.user), "labels": labels, "state": i.state, "locked": False,
            "assignee": None, "assignees": [], "milestone": None, "comments": comments,
            "created_at": iso(i.created_at), "updated_at": iso(i.updated_at), "closed_at": iso(i.closed_at),
            "author_association": self.association(r, i.user), "active_lock_reason": None,
            "body": i.body, "reactions": self.reactions(f"{base}/reactions", i.reactions),
            "performed_via_github_app": self.app(app) if i.via_app else None,
            "state_reason": i.state_reason, "draft": False,
        }
        if i.is_pull:
            pull = r.pulls[i.number]
            data["draft"] = pull.draft
            data["pull_request"] = {
                "url": f"{self.api}/repos/{r.full_name}/pulls/{i.number}",
                "html_url": f"{self.web}/{r.full_name}/pull/{i.number}",
                "diff_url": f"{self.web}/{r.full_name}/pull/{i.number}.diff",
                "patch_url": f"{self.web}/{r.full_name}/pull/{i.number}.patch", "merged_at": None,
            }
        return data

    def comment(self, r: Repo, c: Comment, app: App) -> dict[str, Any]:
        """An issue comment object."""
        url = f"{self.api}/repos/{r.full_name}/issues/comments/{c.id}"
        kind = "pull" if r.issues[c.number].is_pull else "issues"
        return {
            "url": url, "html_url": f"{self.web}/{r.full_name}/{kind}/{c.number}#issuecomment-{c.id}",
            "issue_url": f"{self.api}/repos/{r.full_name}/issues/{c.number}", "id": c.id,
            "node_id": node_id("IC", c.id), "user": self.user(c.user), "created_at": iso(c.created_at),
            "updated_at": iso(c.updated_at), "author_association": self.association(r, c.user),
            "body": c.body, "reactions": self.reactions(f"{url}/reactions", c.reactions),
            "performed_via_github_app": self.app(app) if c.via_app else None,
        }

    # -- pulls ------------------------------------------------------------------------------
    def pull(self, r: Repo, p: Pull, app: App, fork_repo: dict[str, Any] | None = None,
             full: bool = True) -> dict[str, Any]:
        """A pull-request object (full when `full`, else pull-request-simple)."""
        i = r.issues[p.number]
        base = f"{self.api}/repos/{r.full_name}/pulls/{p.number}"
        issue_url = f"{self.api}/repos/{r.full_name}/issues/{p.number}"
        html = f"{self.web}/{r.full_name}/pull/{p.number}"
        head_repo = fork_repo if p.fork and fork_repo else self.repo(r, full=False)
        head_owner = head_repo["owner"]
        labels = [self.label(r, r.labels[name.lower()]) for name in i.labels if name.lower() in r.labels]
        data: dict[str, Any] = {
            "url": base, "id": p.id, "node_id": node_id("PR", p.id), "html_url": html,
            "diff_url": f"{html}.diff", "patch_url": f"{html}.patch", "issue_url": issue_url,
            "number": p.number, "state": i.state, "locked": False, "title": i.title, "user": self.user(i.user),
            "body": i.body, "created_at": iso(i.created_at), "updated_at": iso(i.updated_at),
            "closed_at": iso(i.closed_at), "merged_at": None, "merge_commit_sha": None,
            "assignee": None, "assignees": [], "requested_reviewers": [self.user(u) for u in p.requested_reviewers],
            "requested_teams": [], "labels": labels, "milestone": None, "draft": p.draft,
            "commits_url": f"{base}/commits", "review_comments_url": f"{base}/comments",
            "review_comment_url": f"{self.api}/repos/{r.full_name}/pulls/comments{{/number}}",
            "comments_url": f"{issue_url}/comments",
            "statuses_url": f"{self.api}/repos/{r.full_name}/statuses/{p.head_sha}",
            "head": {"label": f"{head_owner['login']}:{p.head_ref}", "ref": p.head_ref, "sha": p.head_sha,
                     "user": head_owner, "repo": head_repo},
            "base": {"label": f"{r.owner.login}:{p.base_ref}", "ref": p.base_ref, "sha": p.base_sha,
                     "user": self.user(r.owner), "repo": self.repo(r, full=False)},
            "_links": {k: {"href": v} for k, v in {
                "self": base, "html": html, "issue": issue_url, "comments": f"{issue_url}/comments",
                "review_comments": f"{base}/comments",
                "review_comment": f"{self.api}/repos/{r.full_name}/pulls/comments{{/number}}",
                "commits": f"{base}/commits",
                "statuses": f"{self.api}/repos/{r.full_name}/statuses/{p.head_sha}"}.items()},
            "author_association": self.association(r, i.user), "auto_merge": None, "active_lock_reason": None,
        }
        if full:
            data.update({
                "merged": p.merged, "mergeable": None, "rebaseable": None, "mergeable_state": "unknown",
                "merged_by": None, "comments": sum(1 for c in r.comments.values() if c.number == p.number),
                "review_comments": sum(1 for c in r.review_comments.values() if c.number == p.number),
                "maintainer_can_modify": p.maintainer_can_modify, "commits": 0, "additions": 0,
                "deletions": 0, "changed_files": 0,
            })
        return data

    def review(self, r: Repo, rv: Review) -> dict[str, Any]:
        """A pull-request-review object."""
        html = f"{self.web}/{r.full_name}/pull/{rv.number}#pullrequestreview-{rv.id}"
        pr_url = f"{self.api}/repos/{r.full_name}/pulls/{rv.number}"
        return {
            "id": rv.id, "node_id": node_id("PRR", rv.id), "user": self.user(rv.user), "body": rv.body,
            "state": rv.state, "html_url": html, "pull_request_url": pr_url, "commit_id": rv.commit_id,
            "submitted_at": iso(rv.submitted_at), "author_association": self.association(r, rv.user),
            "_links": {"html": {"href": html}, "pull_request": {"href": pr_url}},
        }

    def review_comment(self, r: Repo, c: ReviewComment) -> dict[str, Any]:
        """A pull-request-review-comment object."""
        url = f"{self.api}/repos/{r.full_name}/pulls/comments/{c.id}"
        html = f"{self.web}/{r.full_name}/pull/{c.number}#discussion_r{c.id}"
        pr_url = f"{self.api}/repos/{r.full_name}/pulls/{c.number}"
        return {
            "url": url, "pull_request_review_id": c.review_id, "id": c.id, "node_id": node_id("PRRC", c.id),
            "diff_hunk": f"@@ -{c.line or 1},1 +{c.line or 1},1 @@", "path": c.path, "position": c.line,
            "original_position": c.line, "commit_id": c.commit_id, "original_commit_id": c.commit_id,
            "user": self.user(c.user), "body": c.body, "created_at": iso(c.created_at),
            "updated_at": iso(c.created_at), "html_url": html, "pull_request_url": pr_url,
            "author_association": self.association(r, c.user), "line": c.line, "original_line": c.line,
            "side": c.side, "start_line": None, "original_start_line": None, "start_side": None,
            "subject_type": "line", "in_reply_to_id": None,
            "_links": {"self": {"href": url}, "html": {"href": html}, "pull_request": {"href": pr_url}},
            "reactions": self.reactions(f"{url}/reactions", []),
        }

    # -- checks -----------------------------------------------------------------------------
    def check_suite(self, r: Repo, s: CheckSuite, app: App, pulls: list[dict[str, Any]],
                    runs: int, head_commit: dict[str, Any] | None) -> dict[str, Any]:
        """A check-suite object."""
        return {
            "id": s.id, "node_id": node_id("CS", s.id), "head_branch": s.head_branch, "head_sha": s.head_sha,
            "status": s.status, "conclusion": s.conclusion,
            "url": f"{self.api}/repos/{r.full_name}/check-suites/{s.id}", "before": None, "after": s.head_sha,
            "pull_requests": pulls, "app": self.app(app), "repository": self.repo(r, full=False),
            "created_at": iso(s.created_at), "updated_at": iso(s.updated_at), "head_commit": head_commit,
            "latest_check_runs_count": runs, "check_runs_url": f"{self.api}/repos/{r.full_name}/check-suites/{s.id}/check-runs",
            "rerequestable": True, "runs_rerequestable": True,
        }

    def check_run(self, r: Repo, c: CheckRun, app: App, pulls: list[dict[str, Any]]) -> dict[str, Any]:
        """A check-run object."""
        url = f"{self.api}/repos/{r.full_name}/check-runs/{c.id}"
        return {
            "id": c.id, "head_sha": c.head_sha, "node_id": node_id("CR", c.id), "external_id": c.external_id or "",
            "url": url, "html_url": f"{self.web}/{r.full_name}/runs/{c.id}", "details_url": c.details_url,
            "status": c.status, "conclusion": c.conclusion, "started_at": iso(c.started_at),
            "completed_at": iso(c.completed_at), "name": c.name,
            "output": {"title": c.output.get("title"), "summary": c.output.get("summary"),
                       "text": c.output.get("text"), "annotations_count": len(c.annotations),
                       "annotations_url": f"{url}/annotations"},
            "check_suite": {"id": c.suite_id}, "app": self.app(app), "pull_requests": pulls,
        }

    def annotation(self, r: Repo, c: CheckRun, a: dict[str, Any]) -> dict[str, Any]:
        """A check-annotation object."""
        return {"path": a["path"], "start_line": a["start_line"], "end_line": a["end_line"],
                "start_column": a.get("start_column"), "end_column": a.get("end_column"),
                "annotation_level": a["annotation_level"], "title": a.get("title"), "message": a["message"],
                "raw_details": a.get("raw_details"),
                "blob_href": f"{self.web}/{r.full_name}/blob/{c.head_sha}/{a['path']}"}

    # -- deployments ------------------------------------------------------------------------
    def deployment(self, r: Repo, d: Deployment) -> dict[str, Any]:
        """A deployment object."""
        url = f"{self.api}/repos/{r.full_name}/deployments/{d.id}"
        return {
            "url": url, "id": d.id, "node_id": node_id("DE", d.id), "sha": d.sha, "ref": d.ref, "task": d.task,
            "payload": d.payload, "original_environment": d.environment, "environment": d.environment,
            "description": d.description, "creator": self.user(d.creator), "created_at": iso(d.created_at),
            "updated_at": iso(d.created_at), "statuses_url": f"{url}/statuses",
            "repository_url": f"{self.api}/repos/{r.full_name}", "transient_environment": False,
            "production_environment": d.environment == "production", "performed_via_github_app": None,
        }

    def deployment_status(self, r: Repo, d: Deployment, s: DeploymentStatus) -> dict[str, Any]:
        """A deployment-status object."""
        url = f"{self.api}/repos/{r.full_name}/deployments/{d.id}/statuses/{s.id}"
        return {
            "url": url, "id": s.id, "node_id": node_id("DS", s.id), "state": s.state,
            "creator": self.user(s.creator), "description": s.description, "environment": s.environment,
            "target_url": s.target_url or "", "environment_url": s.environment_url or "",
            "log_url": s.target_url or "", "created_at": iso(s.created_at), "updated_at": iso(s.created_at),
            "deployment_url": f"{self.api}/repos/{r.full_name}/deployments/{d.id}",
            "repository_url": f"{self.api}/repos/{r.full_name}", "performed_via_github_app": None,
        }
