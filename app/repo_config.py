"""Per-repository config, `.github/specloop.yml`, read from the default branch only.

Reading it from the default branch (never a PR's head) means a pull request cannot change its own
rules. When the repository has no file, the organisation's `.github` repository is the fallback (as
Probot does); with neither, defaults apply. A file that is present but invalid raises `ConfigError`
naming the key and line, so the bot reports it instead of silently using defaults.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from githubkit import GitHub
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.domain.origins import origin_of
from app.domain.tag_filter import normalise_tags, tag_expression_problem
from app.gh.models import RepoRef
from app.gh.repos import file_text, get_repository
from app.permissions import DEFAULT_TABLE, table_with
from app.qa.options import MAX_RETRY, ScreenshotPolicy

CONFIG_PATH = ".github/specloop.yml"

# The actions of the permission table (app.permissions.DEFAULT_TABLE) and the roles GitHub knows.
Action = Literal["map", "help", "spec", "status", "revise", "code", "qa", "approve"]
Role = Literal["read", "triage", "write", "maintain", "admin"]
ORG_CONFIG_REPO = ".github"


class Section(BaseModel):
    """Config sections refuse unknown keys: a misspelt key should be reported, not ignored."""

    model_config = ConfigDict(extra="forbid")


class Labels(Section):
    """Label names (the trigger label and the state labels), with their colours and descriptions."""

    story: str = "story"
    needs_answers: str = "needs-answers"
    ready_for_spec: str = "ready-for-spec"
    colors: dict[str, str] = Field(default_factory=lambda: {
        "story": "1d76db", "needs_answers": "d93f0b", "ready_for_spec": "0e8a16",
    })
    descriptions: dict[str, str] = Field(default_factory=lambda: {
        "story": "A user story for Specloop to map into examples",
        "needs_answers": "Specloop's example map has open questions",
        "ready_for_spec": "The example map is settled: Specloop writes the spec",
    })

    def all(self) -> list[tuple[str, str, str]]:
        """(name, colour, description) for every label Specloop manages."""
        roles = ("story", "needs_answers", "ready_for_spec")
        return [(getattr(self, role), self.colors.get(role, "ededed"), self.descriptions.get(role, ""))
                for role in roles]


class MapConfig(Section):
    """Example mapping."""

    max_rules: int = Field(default=6, ge=1)  # more rules than this: the story is probably too big
    debounce_seconds: float = Field(default=30.0, ge=0)


class SpecConfig(Section):
    """Spec PRs."""

    auto: bool = True  # open the spec PR by itself once the map has no open questions
    max_steps: int = Field(default=12, ge=1)  # scenario size limit the spec lint enforces


class ModelConfig(Section):
    """Model choice for this repository (the operator's default when unset)."""

    name: str | None = None
    max_tokens: int = Field(default=8192, ge=256)


class BudgetConfig(Section):
    """Spending caps."""

    story_usd: float = Field(default=2.0, ge=0)
    installation_daily_usd: float = Field(default=20.0, ge=0)


def _http_origin(value: str) -> str:
    """An origin of `qa.allowed_origins`, normalised (`https://cdn.example`), or a ValueError saying why not."""
    origin = origin_of(value)
    # An origin is scheme, host and port: a path would suggest a confinement QA does not enforce.
    if origin is None or urlsplit(value.strip()).path not in ("", "/") or "?" in value or "#" in value:
        raise ValueError(f"`{value}` is not an http(s) origin (like `https://cdn.example.com`)")
    return origin


def _tag_expression(value: str | None) -> str | None:
    """A `qa.tags` Cucumber tag expression, stripped (None when empty), or a ValueError with the parser's message."""
    value = normalise_tags(value)
    if value is not None and (problem := tag_expression_problem(value)) is not None:
        raise ValueError(f"`{value:.200}` is not a valid tag expression ({problem}); write one like "
                         "`@smoke and not @wip`")
    return value


class QaConfig(Section):
    """Where and how QA runs."""

    base_url: str | None = None  # may contain {branch} / {pr} for preview deployments
    start: str | None = None  # command run on a checkout when the operator allows repository code
    ready_path: str = "/"
    ready_timeout: float = Field(default=60.0, gt=0)
    environments: list[str] | None = None  # None: every environment except production
    contexts: int = Field(default=4, ge=1, le=32)
    screenshots: ScreenshotPolicy = "every_step"
    timeout_ms: int = Field(default=10_000, ge=100)  # per step
    env: dict[str, str] = Field(default_factory=dict)  # extra environment for `qa.start`
    # Commands run in the checkout, in the sandbox, before `qa.start` (installing dependencies, building).
    install: list[str] = Field(default_factory=list)
    install_timeout: float = Field(default=600.0, gt=0)  # seconds for all of them together
    # The install commands need the network (a package registry): granted only where the operator allows
    # it (ALLOW_INSTALL_NETWORK); the app and the QA browser never have it.
    install_network: bool = False
    # Origins besides the app's own the QA browser may reach (a CDN, an API); anything else is blocked.
    allowed_origins: list[Annotated[str, AfterValidator(_http_origin)]] = Field(default_factory=list)
    # Only the approved scenarios whose tags satisfy this Cucumber tag expression run (`@smoke and not @wip`);
    # a scenario inherits its feature's, rule's and examples' tags. Unset: every approved scenario runs.
    tags: Annotated[str | None, AfterValidator(_tag_expression)] = None
    # A scenario that fails runs again, in a fresh browser context, up to this many more times (Cucumber's
    # retry); one that passes on a retry passes the run and is reported as flaky.
    retry: int = Field(default=0, ge=0, le=MAX_RETRY)

    def accepts_environment(self, environment: str | None) -> bool:
        """Whether a deployment to `environment` should trigger QA."""
        if self.environments is None:
            return (environment or "").lower() != "production"
        return environment in self.environments


class CodeConfig(Section):
    """Code generation: the agent that implements an approved spec on its PR branch (docs/code-generation.md)."""

    model: str | None = None  # None: `model.name`, else the operator's MODEL
    # Commands run in the checkout, in the sandbox, before the agent starts (dependencies, a build);
    # empty: `qa.install`. The network only with `network: true` and the operator's ALLOW_INSTALL_NETWORK.
    install: list[str] = Field(default_factory=list)
    network: bool = False
    test: str | None = None  # the project's own test command, which must stay green
    test_timeout: float = Field(default=600.0, gt=0)
    max_turns: int = Field(default=40, ge=1, le=500)
    max_minutes: float = Field(default=20.0, gt=0, le=25)  # the heavy queue's job timeout is 30 minutes
    max_usd: float = Field(default=2.0, ge=0)  # a hard cap per run, from the model's prices
    max_tokens: int = Field(default=16000, ge=1024)  # per model turn
    allow_test_deletion: bool = False


class RepoConfig(Section):
    """Everything a repository can configure, with defaults."""

    labels: Labels = Field(default_factory=Labels)
    features_dir: str = "features"
    base_branch: str | None = None  # None: the repository's default branch
    permissions: dict[Action, Role] = Field(default_factory=dict)
    approvers: list[str] = Field(default_factory=list)  # empty: anyone with the `approve` role
    approval_count: int = Field(default=1, ge=1)
    protected_paths: list[str] = Field(default_factory=list)
    map: MapConfig = Field(default_factory=MapConfig)
    spec: SpecConfig = Field(default_factory=SpecConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    qa: QaConfig = Field(default_factory=QaConfig)
    code: CodeConfig = Field(default_factory=CodeConfig)

    @field_validator("features_dir")
    @classmethod
    def _relative_folder(cls, value: str) -> str:
        cleaned = value.strip().strip("/")
        if not cleaned or ".." in cleaned.split("/"):
            raise ValueError("must be a folder inside the repository, e.g. `features`")
        return cleaned

    @property
    def permission_table(self) -> dict[str, str]:
        """The permission table for this repository (defaults plus overrides)."""
        return table_with(self.permissions)


class ConfigError(Exception):
    """An invalid config file: which file, which key, which line, what is wrong."""

    def __init__(self, path: str, key: str | None, line: int | None, message: str) -> None:
        self.path, self.key, self.line, self.message = path, key, line, message
        where = ", ".join(part for part in (f"key `{key}`" if key else "", f"line {line}" if line else "") if part)
        super().__init__(f"{path}{f' ({where})' if where else ''}: {message}")


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` merged into a copy of `base`, recursing into nested mappings."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _key_lines(node: yaml.Node | None, prefix: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Map each key path in a composed YAML document to its 1-based line."""
    lines: dict[tuple[Any, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = (*prefix, key_node.value)
            lines[path] = key_node.start_mark.line + 1
            lines.update(_key_lines(value_node, path))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = (*prefix, index)
            lines[path] = item.start_mark.line + 1
            lines.update(_key_lines(item, path))
    return lines


def read_config_file(text: str, path: str = CONFIG_PATH) -> tuple[dict[str, Any], dict[tuple[Any, ...], int]]:
    """A config file's YAML as a mapping ({} when empty) and the line of each key; ConfigError when not YAML."""
    try:
        data = yaml.safe_load(text)
        lines = _key_lines(yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(path, None, mark.line + 1 if mark else None, f"not valid YAML: {problem}") from None
    if data is None:
        return {}, lines  # an empty file means "defaults"
    if not isinstance(data, dict):
        raise ConfigError(path, None, 1, "the file must be a mapping of settings (key: value)")
    return data, lines


def parse_repo_config(text: str, path: str = CONFIG_PATH) -> RepoConfig:
    """Parse and validate a config file's text; raises ConfigError naming the key and line."""
    data, lines = read_config_file(text, path)
    return validate_config(data, lines, path)


def validate_config(data: dict[str, Any], lines: dict[tuple[Any, ...], int], path: str) -> RepoConfig:
    """The settings over the defaults; ConfigError naming the first bad key and its line in `path`."""
    try:
        return RepoConfig.model_validate(deep_merge(RepoConfig().model_dump(), data))
    except ValidationError as error:
        first = error.errors()[0]
        loc = tuple(first["loc"])
        # the closest key the file itself spells out (the failing one may be a default filled in)
        line = next((lines[loc[:i]] for i in range(len(loc), 0, -1) if loc[:i] in lines), None)
        key = ".".join(str(part) for part in loc) or None
        message = first["msg"]
        if first["type"] == "value_error":  # our own validators' message, without pydantic's "Value error, "
            message = str(first.get("ctx", {}).get("error", message))
        if first["type"] == "extra_forbidden":
            message = "unknown setting (check its spelling and indentation)"
        if loc and loc[-1] == "[key]":
            key = ".".join(str(part) for part in loc[:-2] + (loc[-2],))
            message = f"unknown name (use one of: {', '.join(DEFAULT_TABLE)})"
        raise ConfigError(path, key, line, message) from None


EXTENDS = "_extends"
MAX_EXTENDS = 3  # a chain of bases deeper than this is a mistake (or a loop)
_EXTENDS_TARGET = re.compile(r"^(?:(?P<owner>[A-Za-z0-9-]+)/)?(?P<repo>[A-Za-z0-9._-]+)(?::(?P<path>[^\s:]+))?$")


def extends_target(value: object, repo: RepoRef) -> tuple[RepoRef, str] | None:
    """Probot's `_extends`: `repo`, `owner/repo` or `owner/repo:path/to/file.yml` -> (repository, path)."""
    match = _EXTENDS_TARGET.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    base = RepoRef(match["owner"] or repo.owner, match["repo"])
    return base, match["path"] or CONFIG_PATH


async def _with_bases(gh: GitHub[Any], repo: RepoRef, data: dict[str, Any], source: str,
                      seen: tuple[str, ...]) -> dict[str, Any]:
    """`data` over the config it `_extends` (recursively), the extending file's values winning."""
    if EXTENDS not in data:
        return data
    data = dict(data)
    target = extends_target(data.pop(EXTENDS), repo)
    if target is None:
        raise ConfigError(source, EXTENDS, None, "must name a repository: `repo`, `owner/repo` or "
                                                  "`owner/repo:path/to/file.yml`")
    base_repo, base_path = target
    base_source = f"{base_repo}:{base_path}"
    if base_source in seen or len(seen) > MAX_EXTENDS:
        raise ConfigError(source, EXTENDS, None, f"`{base_source}` extends back into itself (or the chain is "
                                                  f"longer than {MAX_EXTENDS})")
    text = await file_text(gh, base_repo, base_path, None)
    if text is None:
        raise ConfigError(source, EXTENDS, None, f"`{base_source}` was not found (is Specloop installed on "
                                                  f"{base_repo}, and is the path right?)")
    base, _ = read_config_file(text, base_source)
    return deep_merge(await _with_bases(gh, base_repo, base, base_source, (*seen, base_source)), data)


async def load_repo_config(gh: GitHub[Any], repo: RepoRef, default_branch: str | None = None) -> RepoConfig:
    """The repository's config from its default branch, else the org's `.github` repo, else defaults.

    Like Probot's, a file may `_extends` another repository's config (its default branch), whose values
    it overrides. A job reads the config once, through its `JobScope`, which the permission check shares.
    """
    if default_branch is None:
        default_branch = (await get_repository(gh, repo)).default_branch
    # An explicit ref: the default branch only, never a PR head, so a PR cannot change its own rules.
    text = await file_text(gh, repo, CONFIG_PATH, default_branch)
    source, home = f"{repo}:{CONFIG_PATH}", repo
    if text is None and repo.name != ORG_CONFIG_REPO:
        # Probot's convention: `{owner}/.github` holds organisation-wide defaults (its default branch)
        home = RepoRef(repo.owner, ORG_CONFIG_REPO)
        text = await file_text(gh, home, CONFIG_PATH, None)
        source = f"{home}:{CONFIG_PATH}"
    if text is None:
        return RepoConfig()
    data, lines = read_config_file(text, source)
    return validate_config(await _with_bases(gh, home, data, source, (source,)), lines, source)
