"""Step patterns and the matcher: which definition a step's text calls, with which arguments.

The spec lint (`spec_lint`) and the QA runner (`app.qa`) both call `match_step`, so a step the lint
accepts is exactly a step the runner can execute. The built-in phrasings are data
(`step_vocabulary`); `app.qa.actions` performs them.

Patterns use the `parse` library (`I fill in "{label}" with "{value}"`). A quoted placeholder
`"{name}"` matches text without a double quote, so `I should see "a"` and
`I should see "a" within "b"` never match each other's pattern. Matching ignores the Gherkin
keyword (Given/When/Then/And), as Cucumber does.

Project steps live in `<features>/steps/*.py`:

    from app.domain.steps import step

    @step('I add {count:d} "{item}" to the cart')
    async def add_to_cart(page, count, item):
        ...

A step function receives its pattern's named arguments plus any of `page`, `ctx`, `base_url`,
`data_table`, `doc_string` and `timeout` (the expect timeout in ms) it names in its signature.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import parse

from app.domain.step_vocabulary import VOCABULARY

StepFunc = Callable[..., Any]
MatchStatus = Literal["matched", "undefined", "ambiguous"]
BUILTIN_PREFIX = "builtin:"


def _quoted(text: str) -> str:
    return text


# `"{name}"` in a pattern means "anything up to the closing quote": without it `{}` would swallow
# quotes and `I should see "a" within "b"` would also match `I should see "{text}"`.
_quoted.pattern = r'[^"]*'  # type: ignore[attr-defined]
_EXTRA_TYPES: dict[str, Callable[[str], Any]] = {"q": _quoted}
_PLAIN_QUOTED = re.compile(r'"\{(\w+)\}"')


MAX_PLACEHOLDERS = 6
MAX_PATTERN_LENGTH = 300
_PLACEHOLDER = re.compile(r"(?<!\{)\{[^{}]*\}(?!\})")


class StepDefinitionError(Exception):
    """A project step file could not be loaded (syntax error, bad pattern); names the file."""


@dataclass
class StepDefinition:
    """One step pattern and what performs it: a project's function, or a built-in action (`func` None)."""

    pattern: str
    func: StepFunc | None
    source: str  # "file.py:line" for project steps, "builtin:<action>" for the vocabulary
    doc: str = ""
    example: str = ""
    _compiled: parse.Parser | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # A pattern's placeholders become lazy regex groups, and matching backtracks over every way of
        # splitting the text between them: the time grows exponentially with their count (a project step
        # with a dozen stalled a worker for seconds). Real step patterns need a handful.
        placeholders = len(_PLACEHOLDER.findall(self.pattern))
        if len(self.pattern) > MAX_PATTERN_LENGTH or placeholders > MAX_PLACEHOLDERS:
            raise StepDefinitionError(
                f"step pattern too complex ({self.source}): at most {MAX_PLACEHOLDERS} placeholders and "
                f"{MAX_PATTERN_LENGTH} characters, this one has {placeholders} and {len(self.pattern)}")
        try:
            self._compiled = parse.compile(
                _PLAIN_QUOTED.sub(r'"{\1:q}"', self.pattern), extra_types=_EXTRA_TYPES, case_sensitive=False
            )
        except (ValueError, re.error) as exc:
            raise StepDefinitionError(f"bad step pattern {self.pattern!r} ({self.source}): {exc}") from exc

    @property
    def name(self) -> str:
        """How reports name this definition: its pattern and where it is defined."""
        return f'"{self.pattern}" ({self.source})'

    @property
    def action(self) -> str | None:
        """The built-in action's name (`visit`, `fill`, ...), or None for a project step."""
        return self.source.removeprefix(BUILTIN_PREFIX) if self.source.startswith(BUILTIN_PREFIX) else None

    def match(self, text: str) -> dict[str, Any] | None:
        """The named arguments when `text` matches the whole pattern, else None."""
        assert self._compiled is not None
        result = self._compiled.parse(text.strip())
        if not isinstance(result, parse.Result):
            return None
        return dict(result.named)


@dataclass
class StepMatch:
    """The matcher's verdict for one step text."""

    status: MatchStatus
    text: str
    definition: StepDefinition | None = None
    args: dict[str, Any] = field(default_factory=dict)
    candidates: list[StepDefinition] = field(default_factory=list)

    @property
    def message(self) -> str:
        """A one-line explanation for reports and lint findings."""
        if self.status == "undefined":
            return f'Undefined step "{self.text}": no step definition matches it'
        if self.status == "ambiguous":
            names = " and ".join(c.name for c in self.candidates)
            return f'Ambiguous step "{self.text}": it matches {names}'
        return f'"{self.text}" matches {self.definition.name if self.definition else "?"}'


class StepRegistry:
    """An ordered collection of step definitions (the built-ins, or a project's steps)."""

    def __init__(self) -> None:
        self.definitions: list[StepDefinition] = []

    def __iter__(self) -> Iterator[StepDefinition]:
        return iter(self.definitions)

    def __len__(self) -> int:
        return len(self.definitions)

    def add(
        self, pattern: str, func: StepFunc | None, source: str, doc: str = "", example: str = ""
    ) -> StepDefinition:
        """Register a definition."""
        definition = StepDefinition(pattern, func, source, doc=doc, example=example)
        self.definitions.append(definition)
        return definition

    def matches(self, text: str) -> list[tuple[StepDefinition, dict[str, Any]]]:
        """Every definition that matches `text`, with its arguments."""
        found = []
        for definition in self.definitions:
            args = definition.match(text)
            if args is not None:
                found.append((definition, args))
        return found


_collector: list[StepRegistry] = []


@contextmanager
def collecting(registry: StepRegistry) -> Iterator[None]:
    """While step files are imported, send the definitions their `@step` decorators register to `registry`."""
    _collector.append(registry)
    try:
        yield
    finally:
        _collector.pop()


def step(pattern: str) -> Callable[[StepFunc], StepFunc]:
    """Decorator for project step definitions: `@step('I add "{item}" to the cart')`."""

    def register(func: StepFunc) -> StepFunc:
        try:
            file = inspect.getsourcefile(func) or "?"
            line = inspect.getsourcelines(func)[1]
        except (OSError, TypeError):
            file, line = "?", 0
        source = f"{Path(file).name}:{line}"
        if _collector:
            _collector[-1].add(pattern, func, source, doc=(func.__doc__ or "").strip())
        else:
            # imported outside a loader (e.g. a project's own unit test): keep it for `extra` use
            PROJECT_STEPS.add(pattern, func, source, doc=(func.__doc__ or "").strip())
        return func

    return register


# Aliases so step files can read like the feature files.
given = when = then = step

PROJECT_STEPS = StepRegistry()
BUILTIN = StepRegistry()
for _entry in VOCABULARY:
    for _pattern in _entry.patterns:
        BUILTIN.add(_pattern, None, BUILTIN_PREFIX + _entry.action, doc=_entry.doc, example=_entry.example)


def match_step(text: str, extra: StepRegistry | None = None) -> StepMatch:
    """Match a step's text (without its keyword) against the built-ins and `extra` project steps."""
    found = BUILTIN.matches(text)
    if extra is not None:
        found += extra.matches(text)
    if not found:
        return StepMatch("undefined", text)
    if len(found) > 1:
        return StepMatch("ambiguous", text, candidates=[d for d, _ in found])
    definition, args = found[0]
    return StepMatch("matched", text, definition=definition, args=args, candidates=[definition])


_SNIPPET_ARG = re.compile(r'"[^"]*"|(?<![\w.])-?\d+(\.\d+)?(?![\w.])')


def snippet(text: str, *, data_table: bool = False, doc_string: bool = False) -> str:
    """A ready-to-paste project step definition for an undefined step."""
    args: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        if match.group(0).startswith('"'):
            args.append(f"text{len(args) + 1}")
            return '"{' + args[-1] + '}"'
        args.append(f"number{len(args) + 1}")
        return "{" + args[-1] + (":f}" if match.group(1) else ":d}")

    pattern = _SNIPPET_ARG.sub(placeholder, text.strip()).replace("\\", "\\\\").replace("'", "\\'")
    name = re.sub(r"[^a-z]+", "_", _SNIPPET_ARG.sub(" ", text.lower())).strip("_")[:60] or "step"
    params = ["page", *args]
    if data_table:
        params.append("data_table")
    if doc_string:
        params.append("doc_string")
    return (
        "from playwright.async_api import expect\n\n"
        "from app.domain.steps import step\n\n\n"
        f"@step('{pattern}')\n"
        f"async def {name}({', '.join(params)}):\n"
        f"    raise NotImplementedError({('write this step: ' + text.strip())!r})\n"
    )
