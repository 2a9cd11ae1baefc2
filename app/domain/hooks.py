"""Hooks for project steps: code that runs around every scenario (`Before`/`After`) or the whole run
(`BeforeAll`/`AfterAll`), as Cucumber's hooks do. Real suites need them to seed data or log in.

Hooks live in the project's step files (`<features>/steps/*.py`) and load with them, only where
repository code may run:

    from app.domain.hooks import after, before, before_all

    @before_all
    def seed(base_url):
        ...

    @before(tags="@auth", name="log in", order=5)
    async def log_in(page):
        ...

    @after
    async def note(ctx, scenario):
        ctx.log(f"{scenario.name}: {scenario.status}")

`Before` hooks run in definition order (a lower `order` first, default 10000), `After` hooks in the
reverse order, as in Cucumber; `AfterAll` hooks run in reverse definition order too. A tagged hook
runs only for the scenarios its tag expression (`cucumber-tag-expressions`) selects. A hook function
receives what it names among `page`, `ctx`, `base_url`, `timeout`, `world` (the namespace the
scenario's steps share) and `scenario` (a `ScenarioInfo`);
`BeforeAll`/`AfterAll` hooks run without a page or scenario (`ctx`, `base_url`, `timeout`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

from cucumber_tag_expressions import parse as parse_tags
from cucumber_tag_expressions.parser import TagExpressionError

from app.domain.steps import StepDefinitionError, StepFunc, current_registry
from app.domain.tag_filter import tag_expression_problem

HookKind = Literal["before", "after", "before_all", "after_all"]
DEFAULT_ORDER = 10000  # Cucumber's default hook order
SCENARIO_HOOK_ARGUMENTS = ("page", "ctx", "base_url", "timeout", "scenario", "world")
RUN_HOOK_ARGUMENTS = ("ctx", "base_url", "timeout")
KIND_LABEL: dict[str, str] = {"before": "Before", "after": "After", "before_all": "BeforeAll", "after_all": "AfterAll"}


@dataclass(frozen=True)
class ScenarioInfo:
    """What a Before/After hook can read about its scenario; `status` is the scenario's status so far."""

    name: str
    uri: str
    line: int
    tags: tuple[str, ...]
    status: str


@dataclass
class Hook:
    """One hook definition: its function, when it runs (kind, tag expression, order) and where it is defined."""

    kind: HookKind
    func: StepFunc
    source: str  # "file.py:line"; also the hook's key in results and messages
    name: str | None = None
    tags: str | None = None
    order: int = DEFAULT_ORDER
    _expression: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.tags is not None:
            if self.kind in ("before_all", "after_all"):
                raise StepDefinitionError(f"{self.label}: a {KIND_LABEL[self.kind]} hook runs once per run and "
                                          f"cannot take tags")
            if (problem := tag_expression_problem(self.tags)) is not None:  # too deep to evaluate, too
                raise StepDefinitionError(f"{self.label}: `{self.tags:.200}` is not a valid tag expression: {problem}")
            try:
                self._expression = parse_tags(self.tags)
            except TagExpressionError as exc:
                raise StepDefinitionError(f"{self.label}: `{self.tags}` is not a valid tag expression: {exc}") from exc
        allowed = RUN_HOOK_ARGUMENTS if self.kind in ("before_all", "after_all") else SCENARIO_HOOK_ARGUMENTS
        unknown = [p.name for p in _required_parameters(self.func) if p.name not in allowed]
        if unknown:
            raise StepDefinitionError(
                f"{self.label} asks for {', '.join(f'`{u}`' for u in unknown)}; a {KIND_LABEL[self.kind]} hook "
                f"can receive {', '.join(f'`{a}`' for a in allowed)}")

    @property
    def key(self) -> str:
        """The hook's identity in results and reports (`HookResult.hook`): its source."""
        return self.source

    @property
    def label(self) -> str:
        """How messages name the hook: `Before hook "log in" (auth_steps.py:12)`."""
        named = f' "{self.name}"' if self.name else ""
        return f"{KIND_LABEL[self.kind]} hook{named} ({self.source})"

    def applies_to(self, tags: Sequence[str]) -> bool:
        """Whether the hook runs for a scenario with these tags (an untagged hook runs for all)."""
        return self._expression is None or bool(self._expression.evaluate(list(tags)))

    def to_json(self) -> dict[str, Any]:
        """The definition as `RunResult.hook_definitions` records it."""
        return {"key": self.key, "kind": self.kind, "name": self.name, "tags": self.tags, "source": self.source}

    def call(self, available: dict[str, Any]) -> Any:
        """Call the function with the values it names (all of them if it takes `**kwargs`); may return an awaitable."""
        params = inspect.signature(self.func).parameters
        takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        return self.func(**{k: v for k, v in available.items() if k in params or takes_kwargs})


def _required_parameters(func: StepFunc) -> list[inspect.Parameter]:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p for p in params if p.default is inspect.Parameter.empty
            and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]


def _source(func: StepFunc) -> str:
    try:
        file = inspect.getsourcefile(func) or "?"
        line = inspect.getsourcelines(func)[1]
    except (OSError, TypeError):
        file, line = "?", 0
    return f"{Path(file).name}:{line}"


def _register(kind: HookKind, func: StepFunc, tags: str | None, name: str | None, order: int) -> StepFunc:
    if not callable(func):
        raise StepDefinitionError(f"@{kind} decorates a function, not {type(func).__name__}")
    if tags is not None and not isinstance(tags, str):
        raise StepDefinitionError(f"@{kind}(tags=...) takes a tag expression string such as \"@auth and not @wip\"")
    current_registry().hooks.append(Hook(kind, func, _source(func), name=name, tags=tags, order=order))
    return func


HookDecorator = Callable[[StepFunc], StepFunc]


@overload
def before(tags: StepFunc, *, name: str | None = None, order: int = DEFAULT_ORDER) -> StepFunc: ...
@overload
def before(tags: str | None = None, *, name: str | None = None, order: int = DEFAULT_ORDER) -> HookDecorator: ...
def before(tags: Any = None, *, name: str | None = None, order: int = DEFAULT_ORDER) -> Any:
    """A hook run before each scenario (its tag expression selects): `@before` or `@before(tags="@auth", name=...)`."""
    if callable(tags):
        return _register("before", tags, None, name, order)
    return lambda func: _register("before", func, tags, name, order)


@overload
def after(tags: StepFunc, *, name: str | None = None, order: int = DEFAULT_ORDER) -> StepFunc: ...
@overload
def after(tags: str | None = None, *, name: str | None = None, order: int = DEFAULT_ORDER) -> HookDecorator: ...
def after(tags: Any = None, *, name: str | None = None, order: int = DEFAULT_ORDER) -> Any:
    """A hook run after each scenario, whatever its outcome: `@after` or `@after(tags="@auth", name=...)`."""
    if callable(tags):
        return _register("after", tags, None, name, order)
    return lambda func: _register("after", func, tags, name, order)


@overload
def before_all(func: StepFunc, *, name: str | None = None) -> StepFunc: ...
@overload
def before_all(func: None = None, *, name: str | None = None) -> HookDecorator: ...
def before_all(func: StepFunc | None = None, *, name: str | None = None) -> Any:
    """A hook run once before any scenario; when it fails no scenario runs and the run fails."""
    if func is not None:
        return _register("before_all", func, None, name, DEFAULT_ORDER)
    return lambda f: _register("before_all", f, None, name, DEFAULT_ORDER)


@overload
def after_all(func: StepFunc, *, name: str | None = None) -> StepFunc: ...
@overload
def after_all(func: None = None, *, name: str | None = None) -> HookDecorator: ...
def after_all(func: StepFunc | None = None, *, name: str | None = None) -> Any:
    """A hook run once after every scenario (even when a BeforeAll hook failed); its failure fails the run."""
    if func is not None:
        return _register("after_all", func, None, name, DEFAULT_ORDER)
    return lambda f: _register("after_all", f, None, name, DEFAULT_ORDER)


def hooks_for(hooks: Sequence[Hook], kind: HookKind, tags: Sequence[str] = ()) -> list[Hook]:
    """The hooks of `kind` that apply to a scenario with `tags`, in the order they run.

    Before hooks: lower `order` first, then definition order. After hooks run in exactly the reverse
    of that (so a hook that set something up first tears it down last), as Cucumber does.
    """
    chosen = [(h.order, index, h) for index, h in enumerate(hooks) if h.kind == kind and h.applies_to(tags)]
    ordered = [h for _, _, h in sorted(chosen, key=lambda item: (item[0], item[1]))]
    return ordered[::-1] if kind in ("after", "after_all") else ordered
