"""Small lenient models of the GitHub objects Specloop reads: only the fields it uses, everything else ignored.

Why not githubkit's generated models: they are strict (they require every field the OpenAPI description
marks required, and validate nested objects in full), so a payload that lacks a newer field, or carries
`null` where the schema says string, fails the whole job over data Specloop never looks at. These models
read what we use, default what GitHub may leave out, and ignore the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from githubkit import Response
from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class RepoRef:
    """A repository by owner and name (GitHub's `full_name` split once, where a job starts)."""

    owner: str
    name: str

    @classmethod
    def parse(cls, full_name: str) -> RepoRef:
        """ "owner/name" -> RepoRef; anything else is a programming error."""
        owner, sep, name = full_name.partition("/")
        if not sep or not owner or not name or "/" in name:
            raise ValueError(f"not an owner/name repository: {full_name!r}")
        return cls(owner, name)

    @property
    def full_name(self) -> str:
        """ "owner/name"."""
        return f"{self.owner}/{self.name}"

    def __str__(self) -> str:
        return self.full_name


class Lenient(BaseModel):
    """Base: unknown fields are ignored, instances are read-only."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class User(Lenient):
    """An account (person, bot or organisation)."""

    login: str = ""
    type: str | None = None

    @property
    def is_bot(self) -> bool:
        """Bots (Apps) by type or by their `[bot]` login suffix."""
        return self.type == "Bot" or self.login.lower().endswith("[bot]")


class Label(Lenient):
    """An issue label."""

    name: str


class Issue(Lenient):
    """An issue (or the issue side of a pull request)."""

    number: int
    title: str = ""
    body: str | None = None
    state: str = "open"
    user: User | None = None
    labels: list[Label | str] = Field(default_factory=list)
    pull_request: dict[str, Any] | None = None
    html_url: str | None = None

    @property
    def is_open(self) -> bool:
        """Closed stories get no work."""
        return self.state.lower() == "open"

    @property
    def label_names(self) -> list[str]:
        """The labels' names (GitHub sends objects; some payloads plain strings)."""
        return [label if isinstance(label, str) else label.name for label in self.labels]


class Comment(Lenient):
    """An issue or pull request conversation comment."""

    id: int
    body: str | None = None
    user: User | None = None
    html_url: str | None = None


class Repository(Lenient):
    """A repository as the pull request and repository endpoints show it."""

    full_name: str = ""
    default_branch: str | None = None


class Branch(Lenient):
    """One side of a pull request: its branch, commit and repository (None when that repository is gone)."""

    ref: str = ""
    sha: str = ""
    repo: Repository | None = None


class Pull(Lenient):
    """A pull request."""

    number: int
    node_id: str = ""  # the GraphQL id (what the draft mutations take)
    state: str = "open"
    title: str = ""
    body: str | None = None
    html_url: str | None = None
    draft: bool = False
    user: User | None = None
    head: Branch = Field(default_factory=Branch)
    base: Branch = Field(default_factory=Branch)

    @property
    def is_open(self) -> bool:
        """Whether the pull request is open."""
        return self.state.lower() == "open"

    @property
    def is_fork(self) -> bool:
        """Whether the head lives in another repository (a fork), or in a deleted one."""
        head, base = self.head.repo, self.base.repo
        return head is None or base is None or head.full_name.lower() != base.full_name.lower()


class Review(Lenient):
    """A pull request review."""

    id: int
    state: str = ""  # the REST API says APPROVED / CHANGES_REQUESTED / COMMENTED / DISMISSED
    body: str | None = None
    commit_id: str | None = None
    user: User | None = None

    @property
    def verdict(self) -> str:
        """The state in upper case (webhooks send it lower case)."""
        return self.state.upper()


class ReviewComment(Lenient):
    """A line comment of a review."""

    id: int
    body: str | None = None
    path: str | None = None
    line: int | None = None
    original_line: int | None = None
    user: User | None = None


class CommitDetail(Lenient):
    """The git side of a pull request's commit (its message)."""

    message: str = ""


class PullCommit(Lenient):
    """A commit in a pull request."""

    sha: str
    commit: CommitDetail = Field(default_factory=CommitDetail)


class CheckOutputSummary(Lenient):
    """What a check run says about its output (how many annotations it holds)."""

    annotations_count: int = 0


class CheckApp(Lenient):
    """The App that owns a check run."""

    id: int | None = None


class CheckRun(Lenient):
    """A check run."""

    id: int
    name: str = ""
    head_sha: str = ""
    status: str | None = None
    conclusion: str | None = None
    html_url: str | None = None
    output: CheckOutputSummary = Field(default_factory=CheckOutputSummary)
    app: CheckApp | None = None


class TreeEntry(Lenient):
    """One entry of a git tree: a blob (file), a tree (folder) or a commit (submodule)."""

    path: str
    type: str
    sha: str
    mode: str = ""


class Tree(Lenient):
    """A git tree listing; `truncated` when GitHub left entries out (over its limit)."""

    sha: str = ""
    tree: list[TreeEntry] = Field(default_factory=list)
    truncated: bool = False


class Blob(Lenient):
    """A git blob (base64 from the API)."""

    content: str = ""
    encoding: str = "base64"


class GitObject(Lenient):
    """What a ref or commit points at."""

    sha: str


class Ref(Lenient):
    """A git ref (`refs/heads/<branch>`)."""

    ref: str
    object: GitObject


class GitCommit(Lenient):
    """A git commit through the Git Data API."""

    sha: str
    tree: GitObject


class HookDelivery(Lenient):
    """One delivery attempt of the App's webhook."""

    id: int
    guid: str
    status_code: int = 0
    delivered_at: str
    event: str | None = None


M = TypeVar("M", bound=Lenient)


def read(model: type[M], response: Response[Any]) -> M:
    """One object of a response, read leniently."""
    return model.model_validate(response.json())


def read_list(model: type[M]) -> Callable[[Response[Any]], list[M]]:
    """A `map_func` for `gh.rest.paginate`: a page's items, read leniently."""

    def page(response: Response[Any]) -> list[M]:
        return [model.model_validate(item) for item in response.json()]

    return page
