"""JSON shapes of accounts, repositories and git objects, as GitHub's REST API and webhooks render them."""

from __future__ import annotations

import base64
from typing import Any

from .gitstore import CommitInfo, FileChange, GitRepo, TreeEntry
from .state import App, Installation, Label, Reaction, Repo, User, iso

REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket")


def node_id(kind: str, ident: int | str) -> str:
    """An opaque GraphQL-style node id (stable per object)."""
    return base64.b64encode(f"0:{kind}{ident}".encode()).decode().rstrip("=")


class CoreShapes:
    """Renders accounts, repositories and git objects to GitHub's JSON, with URLs pointing at the double."""

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

    def association(self, r: Repo, u: User) -> str:
        """author_association: OWNER, MEMBER, COLLABORATOR or NONE."""
        if u.login.lower() == r.owner.login.lower():
            return "OWNER"
        role = r.roles.get(u.login.lower())
        if role and r.owner.type == "Organization":
            return "MEMBER"
        return "COLLABORATOR" if role else "NONE"

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

    def tree(self, r: Repo, sha: str, entries: list[TreeEntry], truncated: bool = False) -> dict[str, Any]:
        """A git-tree object (`truncated` when GitHub's entry limit cut the listing short)."""
        base = f"{self.api}/repos/{r.full_name}/git"
        return {"sha": sha, "url": f"{base}/trees/{sha}", "truncated": truncated,
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
