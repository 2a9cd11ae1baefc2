"""In-memory state of the GitHub double: apps, users, repositories, what happens in them, and its knobs."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .gitstore import GitRepo

_IDS = itertools.count(1000)
ROLES = ("read", "triage", "write", "maintain", "admin")
# The permission API's `permission` field folds the two newer roles into the classic three.
CLASSIC_PERMISSION = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read"}

DEFAULT_PERMISSIONS = {"issues": "write", "pull_requests": "write", "contents": "write", "checks": "write",
                       "deployments": "read", "metadata": "read"}
DEFAULT_EVENTS = ["issues", "issue_comment", "pull_request", "pull_request_review", "check_run",
                  "check_suite", "deployment_status"]
# `X-GitHub-Api-Version` values GitHub accepts (newest first); anything else is a 400.
API_VERSIONS = ("2026-03-10", "2022-11-28")
# GitHub lists at most 100,000 entries in a (recursive) tree, then says `truncated: true`.
TREE_ENTRY_LIMIT = 100_000


def now() -> datetime:
    """Current UTC time without microseconds (GitHub timestamps have second precision)."""
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime | None) -> str | None:
    """GitHub's timestamp format: `2024-01-01T00:00:00Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


@dataclass
class User:
    """A person, an organisation or a bot account."""

    login: str
    id: int
    type: str = "User"  # User | Organization | Bot


@dataclass
class App:
    """A registered GitHub App (the double holds one current app; manifests create new ones)."""

    id: int
    slug: str
    name: str
    owner: User
    private_key_pem: str
    public_key_pem: str
    webhook_secret: str
    client_id: str
    client_secret: str
    bot: User
    webhook_url: str | None = None
    description: str = ""
    external_url: str = "https://example.com"
    permissions: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PERMISSIONS))
    events: list[str] = field(default_factory=lambda: list(DEFAULT_EVENTS))
    created_at: datetime = field(default_factory=now)


@dataclass
class Installation:
    """The app installed on an account for some repositories."""

    id: int
    account: User
    repos: list[str]
    created_at: datetime = field(default_factory=now)
    suspended_at: datetime | None = None
    deleted: bool = False


@dataclass
class Token:
    """An access token: an installation's (`ghs_`) or a person's (`ghp_`)."""

    value: str
    expires_at: datetime | None
    installation_id: int | None = None
    login: str | None = None
    app_id: int | None = None  # the App whose JWT asked for an installation token


@dataclass
class Label:
    """A repository label."""

    id: int
    name: str
    color: str = "ededed"
    description: str | None = None
    default: bool = False


@dataclass
class Reaction:
    """An emoji reaction on an issue or a comment."""

    id: int
    content: str
    user: User
    created_at: datetime = field(default_factory=now)


@dataclass
class Issue:
    """An issue or the issue half of a pull request (they share numbers, as on GitHub)."""

    number: int
    id: int
    title: str
    body: str | None
    user: User
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    closed_at: datetime | None = None
    reactions: list[Reaction] = field(default_factory=list)
    via_app: bool = False
    is_pull: bool = False
    state_reason: str | None = None


@dataclass
class Comment:
    """An issue (or PR conversation) comment."""

    id: int
    number: int
    body: str
    user: User
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    reactions: list[Reaction] = field(default_factory=list)
    via_app: bool = False


@dataclass
class Pull:
    """The pull request half of a PR."""

    number: int
    id: int
    head_ref: str
    base_ref: str
    head_sha: str
    base_sha: str
    fork: bool = False
    fork_owner: str | None = None
    draft: bool = False
    merged: bool = False
    requested_reviewers: list[User] = field(default_factory=list)
    maintainer_can_modify: bool = False


@dataclass
class ReviewComment:
    """A line comment belonging to a review."""

    id: int
    review_id: int
    number: int
    path: str
    line: int | None
    body: str
    user: User
    commit_id: str
    side: str = "RIGHT"
    created_at: datetime = field(default_factory=now)


@dataclass
class Review:
    """A pull request review."""

    id: int
    number: int
    user: User
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED | PENDING
    body: str
    commit_id: str
    submitted_at: datetime = field(default_factory=now)
    comment_ids: list[int] = field(default_factory=list)


@dataclass
class CheckSuite:
    """A check suite: one per (app, head sha)."""

    id: int
    head_sha: str
    head_branch: str | None
    app_id: int
    status: str = "queued"
    conclusion: str | None = None
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)


@dataclass
class CheckRun:
    """A check run with its output, annotations (appended across updates), images and actions."""

    id: int
    name: str
    head_sha: str
    suite_id: int
    app_id: int
    status: str = "queued"
    conclusion: str | None = None
    started_at: datetime | None = field(default_factory=now)
    completed_at: datetime | None = None
    details_url: str | None = None
    external_id: str | None = None
    output: dict[str, Any] = field(default_factory=lambda: {"title": None, "summary": None, "text": None})
    annotations: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Deployment:
    """A deployment of a sha to an environment."""

    id: int
    sha: str
    ref: str
    environment: str
    creator: User
    task: str = "deploy"
    description: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=now)
    statuses: list[DeploymentStatus] = field(default_factory=list)


@dataclass
class DeploymentStatus:
    """One status of a deployment."""

    id: int
    state: str
    creator: User
    environment: str
    environment_url: str | None = None
    target_url: str | None = None
    description: str = ""
    created_at: datetime = field(default_factory=now)


@dataclass
class Repo:
    """A repository: metadata, the bare git repo and everything that hangs off it."""

    id: int
    owner: User
    name: str
    git: GitRepo
    default_branch: str = "main"
    private: bool = False
    fork: bool = False
    roles: dict[str, str] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)  # lower-cased name -> label
    issues: dict[int, Issue] = field(default_factory=dict)
    pulls: dict[int, Pull] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    reviews: dict[int, Review] = field(default_factory=dict)
    review_comments: dict[int, ReviewComment] = field(default_factory=dict)
    check_suites: dict[int, CheckSuite] = field(default_factory=dict)
    check_runs: dict[int, CheckRun] = field(default_factory=dict)
    deployments: dict[int, Deployment] = field(default_factory=dict)
    dismiss_stale_reviews: bool = False
    created_at: datetime = field(default_factory=now)
    pushed_at: datetime = field(default_factory=now)
    api_commits: set[str] = field(default_factory=set)  # commits created through the API (verified)

    @property
    def full_name(self) -> str:
        """`owner/name`."""
        return f"{self.owner.login}/{self.name}"

    def next_number(self) -> int:
        """Issues and PRs share one counter per repository."""
        return max(self.issues, default=0) + 1


@dataclass
class RecordedRequest:
    """One API request the app made (Authorization header left out)."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    status: int | None = None
    actor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class State:
    """Everything the double knows, guarded by one lock (the server and test threads both write)."""

    root: Path
    lock: threading.RLock = field(default_factory=threading.RLock)
    users: dict[str, User] = field(default_factory=dict)
    repos: dict[str, Repo] = field(default_factory=dict)  # "owner/name" lower-cased
    installations: dict[int, Installation] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    user_tokens: dict[str, str] = field(default_factory=dict)  # login -> token
    apps: dict[int, App] = field(default_factory=dict)  # every registered App (ours and others')
    app_id: int = 0  # the App the double plays (a manifest registration switches it)
    requests: list[RecordedRequest] = field(default_factory=list)
    unhandled: list[str] = field(default_factory=list)  # "METHOD /path" of requests no route answered
    git_pushes: list[dict[str, Any]] = field(default_factory=list)
    manifest_codes: dict[str, Any] = field(default_factory=dict)
    tokens_issued: int = 0
    token_lifetime: timedelta = timedelta(hours=1)
    web_user: str = "alice"  # the person "signed in" on the web pages (manifest registration)
    tree_entry_limit: int = TREE_ENTRY_LIMIT
    api_versions: tuple[str, ...] = API_VERSIONS

    @property
    def app(self) -> App:
        """The App the double plays: its bot answers installation calls, its secret signs webhooks."""
        return self.apps[self.app_id]

    def next_id(self) -> int:
        """A fresh id, unique across all objects AND all doubles of the process: clients such as
        githubkit cache tokens per (app id, installation id), so two doubles must never reuse ids."""
        return next(_IDS)

    def user(self, login: str, type: str = "User") -> User:
        """Get or create a user account."""
        with self.lock:
            key = login.lower()
            if key not in self.users:
                self.users[key] = User(login, self.next_id(), type)
            return self.users[key]

    def repo(self, full_name: str) -> Repo | None:
        """A repository by `owner/name` (case-insensitive, as on GitHub)."""
        return self.repos.get(full_name.lower())

    def installation_for(self, repo: Repo) -> Installation | None:
        """The live (not deleted) installation covering a repository."""
        for inst in self.installations.values():
            if not inst.deleted and repo.full_name.lower() in inst.repos:
                return inst
        return None

    def role(self, repo: Repo, login: str) -> str | None:
        """A person's role on a repository (None = no access; public repos grant read)."""
        if login.lower() == repo.owner.login.lower() and repo.owner.type == "User":
            return "admin"
        role = repo.roles.get(login.lower())
        if role is None and not repo.private:
            return "read"
        return role
