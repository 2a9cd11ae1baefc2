"""Small lenient models of the webhook fields handlers read.

GitHub.com and Enterprise Server versions add and drop fields; githubkit's full webhook models are
strict and reject real payloads. These models read only what Specloop uses, ignore the rest, and make
anything that differs between versions optional, so an event is never dropped for a missing field.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Lenient(BaseModel):
    """Base for every payload model: unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")


class User(Lenient):
    """A user or bot account."""

    login: str = ""
    id: int | None = None
    type: str | None = None  # "User", "Bot", "Organization"

    @property
    def is_bot(self) -> bool:
        """Whether this account is a bot (GitHub Apps act as `<slug>[bot]` of type Bot)."""
        return self.type == "Bot" or self.login.endswith("[bot]")


class Installation(Lenient):
    """The installation the event was delivered for."""

    id: int
    account: User | None = None


class RepoOwner(Lenient):
    """A repository owner."""

    login: str = ""


class Repository(Lenient):
    """The repository the event is about."""

    id: int | None = None
    full_name: str
    name: str | None = None
    owner: RepoOwner | None = None
    default_branch: str | None = None

    @property
    def owner_login(self) -> str:
        """The owner's login, from `owner` or the full name."""
        return self.owner.login if self.owner and self.owner.login else self.full_name.split("/", 1)[0]

    @property
    def repo_name(self) -> str:
        """The repository's short name, from `name` or the full name."""
        return self.name or self.full_name.split("/", 1)[-1]


class Label(Lenient):
    """An issue or PR label."""

    name: str = ""


class App(Lenient):
    """A GitHub App (comment authorship, check-run ownership)."""

    id: int | None = None
    slug: str | None = None


class Issue(Lenient):
    """An issue (or a PR seen through the issues API, with `pull_request` set)."""

    number: int
    title: str = ""
    body: str | None = None
    state: str | None = None
    labels: list[Label] = Field(default_factory=list)
    user: User | None = None
    pull_request: dict[str, Any] | None = None

    @property
    def is_pull_request(self) -> bool:
        """Issue comments on PRs arrive as issue events with a `pull_request` key."""
        return self.pull_request is not None


class Comment(Lenient):
    """An issue or PR comment."""

    id: int
    body: str | None = None
    user: User | None = None
    performed_via_github_app: App | None = None


class BranchRepo(Lenient):
    """The repository a PR branch lives in (None when a fork was deleted)."""

    full_name: str | None = None
    fork: bool | None = None


class Branch(Lenient):
    """A PR's head or base."""

    ref: str = ""
    sha: str | None = None
    repo: BranchRepo | None = None


class PullRequest(Lenient):
    """A pull request."""

    number: int
    state: str | None = None
    head: Branch = Field(default_factory=Branch)
    base: Branch = Field(default_factory=Branch)
    user: User | None = None


class Review(Lenient):
    """A pull request review."""

    id: int
    state: str | None = None  # lower-case in webhooks: "approved", "changes_requested", "commented", ...
    commit_id: str | None = None
    user: User | None = None


class CheckRunPR(Lenient):
    """A pull request a check run or suite is attached to."""

    number: int
    head: Branch | None = None


class CheckRun(Lenient):
    """A check run."""

    id: int
    name: str = ""
    head_sha: str | None = None
    app: App | None = None
    pull_requests: list[CheckRunPR] = Field(default_factory=list)


class RequestedAction(Lenient):
    """The button a person pressed on a check run."""

    identifier: str = ""


class CheckSuite(Lenient):
    """A check suite."""

    id: int | None = None
    head_sha: str | None = None
    head_branch: str | None = None
    app: App | None = None
    pull_requests: list[CheckRunPR] = Field(default_factory=list)


class Deployment(Lenient):
    """A deployment."""

    id: int
    sha: str | None = None
    ref: str | None = None
    environment: str | None = None


class DeploymentStatus(Lenient):
    """A deployment's new status."""

    state: str | None = None
    environment: str | None = None
    environment_url: str | None = None
    target_url: str | None = None


class Event(Lenient):
    """Fields common to every event."""

    action: str | None = None
    sender: User | None = None
    installation: Installation | None = None
    repository: Repository | None = None


class IssuesEvent(Event):
    """`issues` events."""

    issue: Issue
    label: Label | None = None
    changes: dict[str, Any] | None = None


class IssueCommentEvent(Event):
    """`issue_comment` events."""

    issue: Issue
    comment: Comment
    changes: dict[str, Any] | None = None


class PullRequestEvent(Event):
    """`pull_request` events."""

    pull_request: PullRequest
    label: Label | None = None


class PullRequestReviewEvent(Event):
    """`pull_request_review` events."""

    review: Review
    pull_request: PullRequest


class CheckRunEvent(Event):
    """`check_run` events."""

    check_run: CheckRun
    requested_action: RequestedAction | None = None


class CheckSuiteEvent(Event):
    """`check_suite` events."""

    check_suite: CheckSuite


class DeploymentStatusEvent(Event):
    """`deployment_status` events."""

    deployment_status: DeploymentStatus
    deployment: Deployment


class InstallationEvent(Event):
    """`installation` events (no repository)."""

    installation: Installation


# Which model reads which event; events not listed are read with the common fields only.
EVENT_MODELS: dict[str, type[Event]] = {
    "issues": IssuesEvent,
    "issue_comment": IssueCommentEvent,
    "pull_request": PullRequestEvent,
    "pull_request_review": PullRequestReviewEvent,
    "check_run": CheckRunEvent,
    "check_suite": CheckSuiteEvent,
    "deployment_status": DeploymentStatusEvent,
    "installation": InstallationEvent,
}


def parse_event(event: str, payload: dict[str, Any]) -> Event:
    """Read `payload` with the model for `event`; raises pydantic.ValidationError when it cannot."""
    return EVENT_MODELS.get(event, Event).model_validate(payload)
