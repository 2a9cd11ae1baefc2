"""JSON shapes of GitHub objects, as the REST API and webhooks render them, built from the double's state."""

from __future__ import annotations

import base64
from typing import Any

from .gitstore import CommitInfo, FileChange, GitRepo, TreeEntry
from .state import (
    App,
    CheckRun,
    CheckSuite,
    Comment,
    Deployment,
    DeploymentStatus,
    Installation,
    Issue,
    Label,
    Pull,
    Reaction,
    Repo,
    Review,
    ReviewComment,
    User,
    iso,
)

REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket")


def node_id(kind: str, ident: int | str) -> str:
    """An opaque GraphQL-style node id (stable per object)."""
    return base64.b64encode(f"0:{kind}{ident}".encode()).decode().rstrip("=")


class Shapes:
    """Renders state objects to GitHub's JSON, with URLs pointing at the double."""

    def __init__(self, api_url: str, web_url: str) -> None:
        self.api = api_url.rstrip("/")
        self.web = web_url.rstrip("/")

    # -- accounts ---------------------------------------------------------------------------
    def user(self, u: User | None) -> dict[str, Any] | None:
        """A simple-user object."""
        if u is None:
            return None
        base = f"{self.api}/users/{u.login}"
        return {
            "login": u.login, "id": u.id, "node_id": node_id("U", u.id),
            "avatar_url": f"{self.web}/avatars/{u.id}", "gravatar_id": "", "url": base,
            "html_url": f"{self.web}/{'apps/' + u.login.removesuffix('[bot]') if u.type == 'Bot' else u.login}",
            "followers_url": f"{base}/followers", "following_url": f"{base}/following{{/other_user}}",
            "gists_url": f"{base}/gists{{/gist_id}}", "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{base}/subscriptions", "organizations_url": f"{base}/orgs",
            "repos_url": f"{base}/repos", "events_url": f"{base}/events{{/privacy}}",
            "received_events_url": f"{base}/received_events", "type": u.type,
            "user_view_type": "public", "site_admin": False,
        }

    def organization(self, u: User) -> dict[str, Any]:
        """The `organization` block of webhook payloads."""
        base = f"{self.api}/orgs/{u.login}"
        return {
            "login": u.login, "id": u.id, "node_id": node_id("O", u.id), "url": base,
            "repos_url": f"{base}/repos", "events_url": f"{base}/events", "hooks_url": f"{base}/hooks",
            "issues_url": f"{base}/issues", "members_url": f"{base}/members{{/member}}",
            "public_members_url": f"{base}/public_members{{/member}}",
            "avatar_url": f"{self.web}/avatars/{u.id}", "description": None,
        }

    def app(self, app: App) -> dict[str, Any]:
        """An integration (GitHub App) object."""
        return {
            "id": app.id, "slug": app.slug, "node_id": node_id("A", app.id), "client_id": app.client_id,
            "owner": self.user(app.owner), "name": app.name, "description": app.description,
            "external_url": app.external_url, "html_url": f"{self.web}/apps/{app.slug}",
            "created_at": iso(app.created_at), "updated_at": iso(app.created_at),
            "permissions": dict(app.permissions), "events": list(app.events), "installations_count": 1,
        }

    def installation(self, inst: Installation, app: App) -> dict[str, Any]:
        """A full installation object (`GET /app/installations/{id}`)."""
        return {
            "id": inst.id, "account": self.user(inst.account), "repository_selection": "selected",
            "access_tokens_url": f"{self.api}/app/installations/{inst.id}/access_tokens",
            "repositories_url": f"{self.api}/installation/repositories",
            "html_url": f"{self.web}/organizations/{inst.account.login}/settings/installations/{inst.id}",
            "app_id": app.id, "app_slug": app.slug, "client_id": app.client_id,
            "target_id": inst.account.id, "target_type": inst.account.type,
            "permissions": dict(app.permissions), "events": list(app.events),
            "created_at": iso(inst.created_at), "updated_at": iso(inst.created_at),
            "single_file_name": None, "has_multiple_single_files": False, "single_file_paths": [],
            "suspended_by": None, "suspended_at": iso(inst.suspended_at),
        }

    # -- repositories -----------------------------------------------------------------------
    def repo(self, r: Repo, full: bool = True) -> dict[str, Any]:
        """A repository object (full-repository when `full`)."""
        base = f"{self.api}/repos/{r.full_name}"
        data: dict[str, Any] = {
            "id": r.id, "node_id": node_id("R", r.id), "name": r.name, "full_name": r.full_name,
            "private": r.private, "owner": self.user(r.owner), "html_url": f"{self.web}/{r.full_name}",
            "description": None, "fork": r.fork, "url": base,
            "archive_url": f"{base}/{{archive_format}}{{/ref}}", "assignees_url": f"{base}/assignees{{/user}}",
            "blobs_url": f"{base}/git/blobs{{/sha}}", "branches_url": f"{base}/branches{{/branch}}",
            "collaborators_url": f"{base}/collaborators{{/collaborator}}",
            "comments_url": f"{base}/comments{{/number}}", "commits_url": f"{base}/commits{{/sha}}",
            "compare_url": f"{base}/compare/{{base}}...{{head}}", "contents_url": f"{base}/contents/{{+path}}",
            "contributors_url": f"{base}/contributors", "deployments_url": f"{base}/deployments",
            "downloads_url": f"{base}/downloads", "events_url": f"{base}/events", "forks_url": f"{base}/forks",
            "git_commits_url": f"{base}/git/commits{{/sha}}", "git_refs_url": f"{base}/git/refs{{/sha}}",
            "git_tags_url": f"{base}/git/tags{{/sha}}", "git_url": f"{self.web}/{r.full_name}.git",
            "issue_comment_url": f"{base}/issues/comments{{/number}}",
            "issue_events_url": f"{base}/issues/events{{/number}}", "issues_url": f"{base}/issues{{/number}}",
            "keys_url": f"{base}/keys{{/key_id}}", "labels_url": f"{base}/labels{{/name}}",
            "languages_url": f"{base}/languages", "merges_url": f"{base}/merges",
            "milestones_url": f"{base}/milestones{{/number}}",
            "notifications_url": f"{base}/notifications{{?since,all,participating}}",
            "pulls_url": f"{base}/pulls{{/number}}", "releases_url": f"{base}/releases{{/id}}",
            "ssh_url": f"git@127.0.0.1:{r.full_name}.git", "stargazers_url": f"{base}/stargazers",
            "statuses_url": f"{base}/statuses/{{sha}}", "subscribers_url": f"{base}/subscribers",
            "subscription_url": f"{base}/subscription", "tags_url": f"{base}/tags",
            "teams_url": f"{base}/teams", "trees_url": f"{base}/git/trees{{/sha}}",
            "clone_url": f"{self.web}/{r.full_name}.git", "mirror_url": None, "hooks_url": f"{base}/hooks",
            "svn_url": f"{self.web}/{r.full_name}", "homepage": None, "language": "Python",
            "forks_count": 0, "stargazers_count": 0, "watchers_count": 0, "size": 1,
            "default_branch": r.default_branch,
            "open_issues_count": sum(1 for i in r.issues.values() if i.state == "open"),
            "is_template": False, "topics": [], "has_issues": True, "has_projects": True, "has_wiki": True,
            "has_pages": False, "has_downloads": True, "has_discussions": False, "archived": False,
            "disabled": False, "visibility": "private" if r.private else "public",
            "pushed_at": iso(r.pushed_at), "created_at": iso(r.created_at), "updated_at": iso(r.pushed_at),
            "allow_forking": True, "web_commit_signoff_required": False, "license": None,
            "forks": 0, "open_issues": sum(1 for i in r.issues.values() if i.state == "open"), "watchers": 0,
            "custom_properties": {},
        }
        if full:
            data.update({"subscribers_count": 0, "network_count": 0, "temp_clone_token": None,
                         "allow_squash_merge": True, "allow_merge_commit": True, "allow_rebase_merge": True,
                         "allow_auto_merge": False, "delete_branch_on_merge": False})
            if r.owner.type == "Organization":
                data["organization"] = self.user(r.owner)
        return data

    def label(self, r: Repo, lab: Label) -> dict[str, Any]:
        """A label object."""
        return {"id": lab.id, "node_id": node_id("L", lab.id),
                "url": f"{self.api}/repos/{r.full_name}/labels/{lab.name}", "name": lab.name,
                "description": lab.description, "color": lab.color, "default": lab.default,
                "archived_at": None, "archived_by": None}

    def reactions(self, url: str, items: list[Reaction]) -> dict[str, Any]:
        """A reaction rollup."""
        data: dict[str, Any] = {"url": url, "total_count": len(items)}
        for kind in REACTIONS:
            data[kind] = sum(1 for x in items if x.content == kind)
        return data

    def reaction(self, x: Reaction) -> dict[str, Any]:
        """A reaction object."""
        return {"id": x.id, "node_id": node_id("RE", x.id), "user": self.user(x.user), "content": x.content,
                "created_at": iso(x.created_at)}

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

    def association(self, r: Repo, u: User) -> str:
        """author_association: OWNER, MEMBER, COLLABORATOR or NONE."""
        if u.login.lower() == r.owner.login.lower():
            return "OWNER"
        role = r.roles.get(u.login.lower())
        if role and r.owner.type == "Organization":
            return "MEMBER"
        return "COLLABORATOR" if role else "NONE"

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

    # -- git --------------------------------------------------------------------------------
    def git_commit(self, r: Repo, c: CommitInfo) -> dict[str, Any]:
        """A git-commit object (`/git/commits/{sha}`)."""
        verified = c.sha in r.api_commits
        return {
            "sha": c.sha, "node_id": node_id("C", c.sha), "url": f"{self.api}/repos/{r.full_name}/git/commits/{c.sha}",
            "html_url": f"{self.web}/{r.full_name}/commit/{c.sha}",
            "author": self.signature(c.author), "committer": self.signature(c.committer),
            "message": c.message.rstrip("\n") if c.message.endswith("\n") and c.message.count("\n") == 1
            else c.message,
            "tree": {"sha": c.tree, "url": f"{self.api}/repos/{r.full_name}/git/trees/{c.tree}"},
            "parents": [{"sha": p, "url": f"{self.api}/repos/{r.full_name}/git/commits/{p}",
                         "html_url": f"{self.web}/{r.full_name}/commit/{p}"} for p in c.parents],
            "verification": self.verification(verified), "comment_count": 0,
        }

    @staticmethod
    def verification(verified: bool) -> dict[str, Any]:
        """Commits made through the API by an app are signed by GitHub and shown as verified."""
        return {"verified": verified, "reason": "valid" if verified else "unsigned",
                "signature": "-----BEGIN PGP SIGNATURE-----\n(double)\n-----END PGP SIGNATURE-----"
                if verified else None, "payload": None, "verified_at": None}

    @staticmethod
    def signature(s: Any) -> dict[str, Any]:
        """Author/committer block."""
        return {"name": s.name, "email": s.email, "date": iso(s.date)}

    def commit(self, r: Repo, c: CommitInfo, files: list[FileChange] | None = None,
               users: dict[str, User] | None = None) -> dict[str, Any]:
        """A commit object (`/commits/{ref}`), with files when given."""
        base = f"{self.api}/repos/{r.full_name}"
        inner = self.git_commit(r, c)
        inner.pop("sha"), inner.pop("node_id"), inner.pop("html_url"), inner.pop("parents")
        author = (users or {}).get(c.author.name.lower())
        committer = (users or {}).get(c.committer.name.lower())
        data: dict[str, Any] = {
            "url": f"{base}/commits/{c.sha}", "sha": c.sha, "node_id": node_id("C", c.sha),
            "html_url": f"{self.web}/{r.full_name}/commit/{c.sha}", "comments_url": f"{base}/commits/{c.sha}/comments",
            "commit": inner, "author": self.user(author), "committer": self.user(committer),
            "parents": [{"sha": p, "url": f"{base}/commits/{p}", "html_url": f"{self.web}/{r.full_name}/commit/{p}"}
                        for p in c.parents],
        }
        if files is not None:
            data["files"] = [self.file_change(r, f, c.sha) for f in files]
            data["stats"] = {"additions": sum(f.additions for f in files),
                             "deletions": sum(f.deletions for f in files),
                             "total": sum(f.additions + f.deletions for f in files)}
        return data

    def file_change(self, r: Repo, f: FileChange, ref: str) -> dict[str, Any]:
        """A diff-entry object."""
        data: dict[str, Any] = {
            "sha": f.sha, "filename": f.filename, "status": f.status, "additions": f.additions,
            "deletions": f.deletions, "changes": f.additions + f.deletions,
            "blob_url": f"{self.web}/{r.full_name}/blob/{ref}/{f.filename}",
            "raw_url": f"{self.web}/{r.full_name}/raw/{ref}/{f.filename}",
            "contents_url": f"{self.api}/repos/{r.full_name}/contents/{f.filename}?ref={ref}",
            "patch": f.patch,
        }
        if f.previous_filename:
            data["previous_filename"] = f.previous_filename
        return data

    def ref(self, r: Repo, name: str, sha: str, obj_type: str = "commit") -> dict[str, Any]:
        """A git-ref object."""
        return {"ref": name, "node_id": node_id("REF", name), "url": f"{self.api}/repos/{r.full_name}/git/{name}",
                "object": {"sha": sha, "type": obj_type,
                           "url": f"{self.api}/repos/{r.full_name}/git/{obj_type}s/{sha}"}}

    def tree(self, r: Repo, sha: str, entries: list[TreeEntry]) -> dict[str, Any]:
        """A git-tree object."""
        base = f"{self.api}/repos/{r.full_name}/git"
        return {"sha": sha, "url": f"{base}/trees/{sha}", "truncated": False,
                "tree": [{"path": e.path, "mode": e.mode, "type": e.type, "sha": e.sha,
                          **({"size": e.size} if e.type == "blob" else {}),
                          "url": f"{base}/{e.type}s/{e.sha}"} for e in entries]}

    def content_item(self, r: Repo, ref: str, e: TreeEntry, git: GitRepo, with_content: bool) -> dict[str, Any]:
        """A contents-API entry (file with base64 content, or a directory listing item)."""
        kind = {"blob": "file", "tree": "dir", "commit": "submodule"}.get(e.type, "file")
        if e.mode == "120000":
            kind = "symlink"
        url = f"{self.api}/repos/{r.full_name}/contents/{e.path}?ref={ref}"
        git_url = f"{self.api}/repos/{r.full_name}/git/{'trees' if e.type == 'tree' else 'blobs'}/{e.sha}"
        html = f"{self.web}/{r.full_name}/{'tree' if e.type == 'tree' else 'blob'}/{ref}/{e.path}"
        data: dict[str, Any] = {
            "type": kind, "size": e.size or 0, "name": e.path.rsplit("/", 1)[-1], "path": e.path,
            "sha": e.sha, "url": url, "git_url": git_url, "html_url": html,
            "download_url": f"{self.web}/{r.full_name}/raw/{ref}/{e.path}" if kind == "file" else None,
            "_links": {"self": url, "git": git_url, "html": html},
        }
        if with_content and kind == "file":
            raw = git.read_blob(e.sha)
            # GitHub wraps the base64 at 60 characters; clients must tolerate the newlines.
            encoded = base64.b64encode(raw).decode()
            data["content"] = "\n".join(encoded[i:i + 60] for i in range(0, len(encoded), 60)) + "\n"
            data["encoding"] = "base64"
        return data

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
