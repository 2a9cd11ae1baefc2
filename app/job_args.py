"""Every job's name, queue and typed arguments: one model shared by the handler that asks and the job that runs.

Arguments are plain values (ids, repository, numbers, SHAs, logins), never tokens or payloads. They go
through the queue as a dict (`model_dump`) and the worker validates them back into the same model, so a
misspelt or missing argument fails where it is made, not half-way through a job. `extra="forbid"`:
an argument no job reads is a bug, not something to carry along.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from app.gh.models import RepoRef

Queue = Literal["light", "heavy"]


class JobArgs(BaseModel):
    """What every job gets: the installation it acts as."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    NAME: ClassVar[str]
    QUEUE: ClassVar[Queue] = "light"

    installation_id: int

    @property
    def story(self) -> str:
        """What the job's lock is about: here the installation (repository jobs: the issue or PR)."""
        return f"installation:{self.installation_id}"

    def queue_kwargs(self) -> dict[str, Any]:
        """The arguments as the queue stores them (JSON-safe plain values)."""
        return self.model_dump(mode="json")


class RepoJobArgs(JobArgs):
    """A job about one issue or pull request of one repository."""

    repo: str  # "owner/name"
    number: int | None = None
    actor: str | None = None  # who asked, when a person did (the worker checks their permission)

    @property
    def repo_ref(self) -> RepoRef:
        """The repository, split."""
        return RepoRef.parse(self.repo)

    @property
    def story(self) -> str:
        """The story key: jobs for one story run one at a time (`?` when the number is not known yet)."""
        return story_of(self.repo, self.number if self.number is not None else "?")


def story_of(repo: str, number: int | str) -> str:
    """The story key for an issue or pull request."""
    return f"{repo}#{number}"


class MapStory(RepoJobArgs):
    """Map (or re-map) an issue as a story."""

    NAME: ClassVar[str] = "map_story"
    number: int
    trigger: Literal["label", "command", "conversation"]
    label: str | None = None


class Reply(RepoJobArgs):
    """Answer a command in the thread."""

    NAME: ClassVar[str] = "reply"
    number: int
    kind: Literal["help", "status", "unknown_command", "refusal"]
    detail: str | None = None


class WriteSpec(RepoJobArgs):
    """Write (or rewrite) the story's spec pull request."""

    NAME: ClassVar[str] = "write_spec"
    number: int
    regenerate: bool = False


class CheckSpec(RepoJobArgs):
    """Check one commit of a spec pull request."""

    NAME: ClassVar[str] = "check_spec"
    number: int
    sha: str


class ReviseSpec(RepoJobArgs):
    """Answer a "changes requested" review (or `/specloop revise`: every open request)."""

    NAME: ClassVar[str] = "revise_spec"
    number: int
    review_id: int | None = None


class ApproveSpec(RepoJobArgs):
    """Open the approval gate for an approving review."""

    NAME: ClassVar[str] = "approve_spec"
    number: int
    review_id: int
    sha: str
    reviewer: str | None = None


class CloseGate(RepoJobArgs):
    """Close the approval gate again (a person dismissed a review)."""

    NAME: ClassVar[str] = "close_gate"
    number: int
    reason: Literal["dismissed", "changed"] = "dismissed"


class GenerateCode(RepoJobArgs):
    """Generate the code for an approved spec: `sha` is the approved commit the approval queued it for;
    None (`/specloop code`, the Re-run button) means the branch's current head, keeping what people pushed."""

    NAME: ClassVar[str] = "generate_code"
    QUEUE: ClassVar[Queue] = "heavy"
    number: int
    sha: str | None = None
    digest: str | None = None
    instructions: str | None = None  # the free text after `/specloop code`, passed to the agent


class RunQa(RepoJobArgs):
    """Run the approved scenarios against the app; a deployment names a commit and URL, not a pull request."""

    NAME: ClassVar[str] = "run_qa"
    QUEUE: ClassVar[Queue] = "heavy"
    sha: str | None = None
    base_url: str | None = None
    environment: str | None = None


class DropInstallation(JobArgs):
    """Forget an uninstalled or suspended installation's tokens and queued jobs."""

    NAME: ClassVar[str] = "drop_installation"


ALL: tuple[type[JobArgs], ...] = (MapStory, Reply, WriteSpec, CheckSpec, ReviseSpec, ApproveSpec, CloseGate,
                                  GenerateCode, RunQa, DropInstallation)
BY_NAME: dict[str, type[JobArgs]] = {args.NAME: args for args in ALL}
