"""Step definitions and the matcher: which definition a step's text calls, with which arguments.

The spec lint (`spec_lint`) and the QA runner (`app.qa`) both call `match_step`, so a step the lint
accepts is exactly a step the runner can execute. The built-in phrasings are data
(`step_vocabulary`); `app.qa.actions` performs them.

A pattern is a Cucumber Expression (the official `cucumber-expressions` package):
`I add {int} {string} to the cart`, with the built-in parameter types `{string}` (double or single
quotes, `\\"` inside), `{int}`, `{float}`, `{word}` and `{}`, optional text `item(s)` and alternatives
`click/press`; or a regular expression, when it starts with `^` or ends with `$` (or is an
`re.Pattern`). Matching is case-sensitive and covers the whole text, without the Gherkin keyword
(Given/When/Then/And), as in Cucumber.

Project steps live in `<features>/steps/*.py`:

    from app.domain.steps import parameter_type, step

    parameter_type("colour", r"red|green|blue")

    @step("I add {int} {colour} item(s) to the cart")
    async def add_to_cart(page, count, colour):
        ...

A step function receives the expression's arguments positionally, in order, plus any of `page`,
`ctx`, `base_url`, `data_table`, `doc_string`, `timeout` (the expect timeout in ms) and `world` (a
namespace the scenario's steps share) it names in its signature (`INJECTED`). A step raises
`Pending` when it is not written yet, `Skipped` to skip the rest of its scenario.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cucumber_expressions.argument import Argument
from cucumber_expressions.ast import Node, NodeType
from cucumber_expressions.errors import CucumberExpressionError, UndefinedParameterTypeError
from cucumber_expressions.expression import CucumberExpression
from cucumber_expressions.expression_generator import CucumberExpressionGenerator
from cucumber_expressions.expression_parser import CucumberExpressionParser
from cucumber_expressions.group import Group
from cucumber_expressions.parameter_type import ParameterType
from cucumber_expressions.parameter_type_registry import ParameterTypeRegistry
from cucumber_expressions.regular_expression import RegularExpression
from cucumber_expressions.tree_regexp import TreeRegexp

from app.domain.step_vocabulary import VOCABULARY

StepFunc = Callable[..., Any]
MatchStatus = Literal["matched", "undefined", "ambiguous"]
ExpressionType = Literal["CUCUMBER_EXPRESSION", "REGULAR_EXPRESSION"]
BUILTIN_PREFIX = "builtin:"
# What a step function gets by naming it in its signature; the expression's arguments fill the rest.
INJECTED = ("page", "ctx", "base_url", "data_table", "doc_string", "timeout", "world")

MAX_PLACEHOLDERS = 6
MAX_PATTERN_LENGTH = 300
_PLACEHOLDER = re.compile(r"(?<![{\\])\{[^{}]*\}(?!\})")
_UNBOUNDED = re.compile(r"(?<!\\)(?:[*+]|\{\d*,\})")
_PARSE_FORMAT = re.compile(r"^\w+:[^{}]*$")  # `{count:d}`: the `parse` library's typed placeholder
BUILTIN_TYPES = "{string}, {int}, {float}, {word} or {}"


class StepDefinitionError(Exception):
    """A project step file could not be loaded (syntax error, bad pattern); names the file."""


class Pending(Exception):
    """Raised by a step or hook that is not implemented yet: it is reported PENDING, not failed."""


class Skipped(Exception):
    """Raised by a step or hook to skip the rest of its scenario: it is reported SKIPPED."""


class ArgumentError(Exception):
    """A parameter type's transformer failed on a step's text; the step fails with this message."""


@dataclass
class StepDefinition:
    """One step pattern and what performs it: a project's function, or a built-in action (`func` None)."""

    pattern: str
    func: StepFunc | None
    source: str  # "file.py:line" for project steps, "builtin:<action>" for the vocabulary
    doc: str = ""
    example: str = ""
    expression_type: ExpressionType = "CUCUMBER_EXPRESSION"
    uri: str | None = None  # the step file's path, for the message stream
    line: int | None = None
    flags: int = 0  # a compiled `re.Pattern`'s flags
    undefined_type: str | None = field(default=None, repr=False)  # a `{type}` nobody registered
    _expression: CucumberExpression | RegularExpression | None = field(default=None, repr=False)
    _fallback: CucumberExpression | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.expression_type == "CUCUMBER_EXPRESSION" and (
            self.pattern.startswith("^") or self.pattern.endswith("$")
        ):
            self.expression_type = "REGULAR_EXPRESSION"
        # Every parameter becomes a regex group, and matching backtracks over every way of splitting the
        # text between them: the time grows exponentially with their count (a project step with a dozen
        # stalled a worker for seconds). Real step patterns need a handful.
        placeholders = self._complexity()
        if len(self.pattern) > MAX_PATTERN_LENGTH or placeholders > MAX_PLACEHOLDERS:
            raise StepDefinitionError(
                f"step pattern too complex ({self.source}): at most {MAX_PLACEHOLDERS} placeholders and "
                f"{MAX_PATTERN_LENGTH} characters, this one has {placeholders} and {len(self.pattern)}")
        if self.expression_type == "REGULAR_EXPRESSION":
            try:
                compiled = re.compile(self.pattern, self.flags)
            except re.error as exc:
                raise self._error(f"not a valid regular expression: {exc}") from exc
            if compiled.groupindex:
                raise self._error("named groups `(?P<name>...)` are not supported; use plain groups `(...)`")
        else:
            try:
                self._parameter_names()
            except CucumberExpressionError as exc:
                raise self._error(str(exc)) from exc

    def _complexity(self) -> int:
        if self.expression_type == "REGULAR_EXPRESSION":
            return max(len(_UNBOUNDED.findall(self.pattern)), self.pattern.count("(") - self.pattern.count("(?"))
        return len(_PLACEHOLDER.findall(self.pattern))

    def _error(self, problem: str) -> StepDefinitionError:
        return StepDefinitionError(f"bad step pattern {self.pattern!r} ({self.source}): {problem}")

    def _parameter_names(self) -> list[str]:
        """The `{type}` names of a Cucumber Expression, in order (its syntax checked, no types needed)."""

        def walk(node: Node) -> Iterator[str]:
            if node.ast_type == NodeType.PARAMETER:
                yield node.text or ""
            for child in node.nodes or []:
                yield from walk(child)

        return list(walk(CucumberExpressionParser().parse(self.pattern)))

    @property
    def name(self) -> str:
        """How reports name this definition: its pattern and where it is defined."""
        return f'"{self.pattern}" ({self.source})'

    @property
    def action(self) -> str | None:
        """The built-in action's name (`visit`, `fill`, ...), or None for a project step."""
        return self.source.removeprefix(BUILTIN_PREFIX) if self.source.startswith(BUILTIN_PREFIX) else None

    @property
    def parameter_count(self) -> int:
        """How many arguments a match of this definition passes to its function."""
        if self.expression_type == "REGULAR_EXPRESSION":
            return len(TreeRegexp(re.compile(self.pattern, self.flags)).group_builder.children)
        return len(self._parameter_names())

    def compile(self, types: ParameterTypeRegistry) -> None:
        """Build the matcher with the registry's parameter types; an unknown type leaves it unmatched."""
        self.undefined_type = None
        if self.expression_type == "REGULAR_EXPRESSION":
            self._expression = RegularExpression(re.compile(self.pattern, self.flags), types)
            return
        try:
            self._expression = CucumberExpression(self.pattern, types)
        except UndefinedParameterTypeError:
            unknown_names = [n for n in self._parameter_names() if types.lookup_by_type_name(n) is None]
            # `"{item}"` or `{count:d}`: a pattern written for the `parse` library Specloop used before
            old = [n for n in unknown_names if _PARSE_FORMAT.match(n) or f'"{{{n}}}"' in self.pattern
                   or f"'{{{n}}}'" in self.pattern]
            if old:
                raise self._error(
                    f"{{{old[0]}}} is not a parameter type: Specloop steps are Cucumber Expressions, write "
                    f"{BUILTIN_TYPES} (no quotes around {{string}}) or register it with "
                    f"parameter_type(...), e.g. {_rewrite_parse_style(self.pattern)!r}") from None
            self.undefined_type = unknown_names[0]
            self._expression = None
            # The same expression with `{}` for its unknown types: tells which undefined steps it was meant for.
            loose = re.sub(r"(?<!\\)\{([^{}]*)\}", lambda m: "{}" if m.group(1) in unknown_names else m.group(0),
                           self.pattern)
            try:
                self._fallback = CucumberExpression(loose, types)
            except CucumberExpressionError:
                self._fallback = None
        except CucumberExpressionError as exc:
            raise self._error(str(exc)) from exc

    def forget(self) -> None:
        """Drop the compiled matcher, so that the next `StepRegistry.compile` builds it again."""
        self.undefined_type = None
        self._expression = self._fallback = None

    @property
    def compiled(self) -> bool:
        """Whether `compile` ran (a definition naming an unknown type is compiled but never matches)."""
        return self._expression is not None or self.undefined_type is not None

    def meant_for(self, text: str) -> bool:
        """Whether a definition naming an unknown type would match `text` if that type matched anything."""
        return self._fallback is not None and self._fallback.tree_regexp.regexp.fullmatch(text) is not None

    def match(self, text: str) -> list[Argument] | None:
        """The expression's arguments when `text` matches the whole pattern, else None."""
        if self._expression is None:
            return None
        expression = self._expression
        tree = expression.tree_regexp
        found = tree.regexp.fullmatch(text)  # the whole text, even for a regular expression without `^...$`
        if found is None:
            return None
        group = tree.group_builder.build(found, iter(range(len(found.groups()) + 1)))
        types = _group_types(expression, text) if isinstance(expression, RegularExpression) \
            else expression.parameter_types
        return [Argument(child, parameter_type) for child, parameter_type in zip(group.children or [], types,
                                                                               strict=False)]


def _group_types(expression: RegularExpression, text: str) -> list[ParameterType]:
    """The parameter type of each group of a regular expression: the one whose regexp the group is written
    as (`(\\d+)` is {int}'s), else text; text too when several types claim the same regexp."""
    try:
        return list(expression.generate_parameter_types(text))
    except CucumberExpressionError:
        return [ParameterType(None, child.source, str, lambda *values: values[0], False, False)
                for child in expression.tree_regexp.group_builder.children]


def _rewrite_parse_style(pattern: str) -> str:
    """An old `parse` pattern written as a Cucumber Expression (`"{item}"` -> `{string}`, `{n:d}` -> `{int}`)."""
    pattern = re.sub(r"[\"']\{\w*(?::[^{}]*)?\}[\"']", "{string}", pattern)
    types = {"d": "int", "n": "int", "f": "float", "g": "float", "e": "float", "w": "word"}
    return re.sub(r"\{\w*:([^{}]*)\}", lambda m: "{" + types.get(m.group(1), "") + "}", pattern)


def group_json(group: Group | None) -> dict[str, Any]:
    """A Cucumber `Group` message: `start`/`value` when the group took part, `children` when it has any."""
    if group is None:
        return {}
    data: dict[str, Any] = {}
    if group.value is not None:
        data["start"] = group.start
        data["value"] = group.value
    if group.children:
        data["children"] = [group_json(child) for child in group.children]
    return data


def argument_json(argument: Argument) -> dict[str, Any]:
    """A Cucumber `StepMatchArgument` message for one argument of a match."""
    data: dict[str, Any] = {"group": group_json(argument.group)}
    if argument.parameter_type.name is not None:
        data["parameterTypeName"] = argument.parameter_type.name
    return data


def _values(arguments: list[Argument]) -> list[Any]:
    """The arguments' transformed values; a transformer's error becomes an `ArgumentError` value."""
    values: list[Any] = []
    for argument in arguments:
        try:
            values.append(argument.value)
        except Exception as exc:  # noqa: BLE001 - a project's transformer failed on this step's text
            name = argument.parameter_type.name
            values.append(ArgumentError(f"parameter type {{{name}}} could not transform "
                                        f"{argument.group.value!r}: {type(exc).__name__}: {exc}"))
    return values


@dataclass
class StepMatch:
    """The matcher's verdict for one step text."""

    status: MatchStatus
    text: str
    definition: StepDefinition | None = None
    arguments: list[Any] = field(default_factory=list)  # the matched definition's values, positional
    candidates: list[StepDefinition] = field(default_factory=list)
    argument_lists: list[list[dict[str, Any]]] = field(default_factory=list)  # StepMatchArgument JSON
    undefined_types: list[dict[str, Any]] = field(default_factory=list)  # definitions meant for it

    @property
    def message(self) -> str:
        """A one-line explanation for reports and lint findings."""
        if self.status == "undefined":
            note = "".join(f"; {{{u['name']}}} in \"{u['expression']}\" is not a parameter type, so that "
                           "step definition never matches" for u in self.undefined_types)
            return f'Undefined step "{self.text}": no step definition matches it{note}'
        if self.status == "ambiguous":
            names = " and ".join(c.name for c in self.candidates)
            return f'Ambiguous step "{self.text}": it matches {names}'
        return f'"{self.text}" matches {self.definition.name if self.definition else "?"}'


def signature_problem(func: StepFunc, count: int) -> str | None:
    """Why `func` cannot take `count` positional arguments (besides the `INJECTED` names), or None."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return None
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                  and p.name not in INJECTED]
    required = [p for p in positional if p.default is p.empty]
    varargs = any(p.kind is p.VAR_POSITIONAL for p in params)
    if len(required) <= count and (count <= len(positional) or varargs):
        return None
    takes = str(len(required)) if len(required) == len(positional) else f"{len(required)} to {len(positional)}"
    if varargs:
        takes = f"{len(required)} or more"
    names = ", ".join(p.name for p in positional) or "none"
    return (f"its expression gives {count} argument(s), but {getattr(func, '__name__', 'the function')}() "
            f"takes {takes} ({names}); the arguments fill its parameters in order, and only "
            f"{', '.join(INJECTED)} are passed by name")


@dataclass(frozen=True)
class _Source:
    file: str
    line: int

    @property
    def label(self) -> str:
        return f"{Path(self.file).name}:{self.line}"


def _source_of(obj: Any) -> _Source:
    try:
        return _Source(inspect.getsourcefile(obj) or "?", inspect.getsourcelines(obj)[1])
    except (OSError, TypeError):
        return _Source("?", 0)


def _caller() -> _Source:
    """Where the step file called us (for `parameter_type`, which has no function to inspect)."""
    frame = inspect.currentframe()
    try:
        outer = frame.f_back.f_back if frame and frame.f_back else None
        return _Source(outer.f_code.co_filename, outer.f_lineno) if outer else _Source("?", 0)
    finally:
        del frame


class StepRegistry:
    """An ordered collection of step definitions (the built-ins, or a project's steps), with the
    parameter types and hooks the project registered."""

    def __init__(self) -> None:
        self.definitions: list[StepDefinition] = []
        self.hooks: list[Any] = []  # filled by `app.domain.hooks`
        self.parameter_types: list[dict[str, Any]] = []  # the custom types, as the message stream shows them
        self.undefined_parameter_types: list[dict[str, Any]] = []  # {"expression", "name"}
        self.types = ParameterTypeRegistry()
        self._stale = False  # a definition or parameter type was added since the last `compile`

    def __iter__(self) -> Iterator[StepDefinition]:
        return iter(self.definitions)

    def __len__(self) -> int:
        return len(self.definitions)

    def add(
        self, pattern: str | re.Pattern[str], func: StepFunc | None, source: str, doc: str = "",
        example: str = "", *, uri: str | None = None, line: int | None = None,
    ) -> StepDefinition:
        """Register a definition (compiled by `compile`, or at the first match)."""
        if isinstance(pattern, re.Pattern):
            definition = StepDefinition(pattern.pattern, func, source, doc=doc, example=example,
                                        expression_type="REGULAR_EXPRESSION", uri=uri, line=line,
                                        flags=pattern.flags & ~re.UNICODE)
        elif isinstance(pattern, str):
            definition = StepDefinition(pattern, func, source, doc=doc, example=example, uri=uri, line=line)
        else:
            raise StepDefinitionError(f"a step pattern is a string or an re.Pattern ({source}), not {pattern!r}")
        self.definitions.append(definition)
        self._stale = True
        return definition

    def define_parameter_type(
        self, name: str, regexp: str | re.Pattern[str] | Sequence[str | re.Pattern[str]],
        transformer: Callable[..., Any] | None = None, *, use_for_snippets: bool = True,
        prefer_for_regexp_match: bool = False, source: str = "?", uri: str | None = None,
        line: int | None = None,
    ) -> None:
        """Register a custom parameter type, usable as `{name}` by every definition of this registry."""
        regexps = list(regexp) if isinstance(regexp, (list, tuple)) else [regexp]
        try:
            parameter = ParameterType(name, regexps, str, transformer or _default_transformer,
                                      use_for_snippets, prefer_for_regexp_match)
            for pattern in parameter.regexps:
                re.compile(pattern)
            self.types.define_parameter_type(parameter)
        except (CucumberExpressionError, re.error, TypeError) as exc:
            raise StepDefinitionError(f"bad parameter type {{{name}}} ({source}): {exc}") from exc
        self.parameter_types.append({
            "name": name, "regularExpressions": parameter.regexps,
            "preferForRegularExpressionMatch": prefer_for_regexp_match, "useForSnippets": use_for_snippets,
            "source": source, "uri": uri, "line": line,
        })
        for definition in self.definitions:
            if definition.undefined_type == name:
                definition.forget()  # compiled again, now that its type exists
                self._stale = True

    def compile(self) -> list[StepDefinitionError]:
        """Compile every definition not compiled yet; the broken ones are dropped and their errors returned.

        Runs after a project's step files are loaded, so a definition may use a parameter type a later
        file registers. A definition naming a type nobody registered stays, never matches, and is listed
        in `undefined_parameter_types`.
        """
        errors: list[StepDefinitionError] = []
        if not self._stale:
            return errors
        self._stale = False
        for definition in list(self.definitions):
            if definition.compiled:
                continue
            try:
                definition.compile(self.types)
            except StepDefinitionError as exc:
                errors.append(exc)
                self.definitions.remove(definition)
        self.undefined_parameter_types = [
            {"expression": d.pattern, "name": d.undefined_type} for d in self.definitions if d.undefined_type
        ]
        return errors

    def matches(self, text: str) -> list[tuple[StepDefinition, list[Argument]]]:
        """Every definition that matches `text`, with its arguments."""
        errors = self.compile()
        if errors:
            raise errors[0]
        found = []
        for definition in self.definitions:
            arguments = definition.match(text)
            if arguments is not None:
                found.append((definition, arguments))
        return found


def _default_transformer(*values: str | None) -> Any:
    """A custom type without a transformer: its text, or the texts of its groups when it has several."""
    return values[0] if len(values) == 1 else list(values)


_collector: list[StepRegistry] = []


@contextmanager
def collecting(registry: StepRegistry) -> Iterator[None]:
    """While step files are imported, send the definitions their `@step` decorators register to `registry`."""
    _collector.append(registry)
    try:
        yield
    finally:
        _collector.pop()


def current_registry() -> StepRegistry:
    """The registry step files being loaded register into (PROJECT_STEPS outside a load)."""
    return _collector[-1] if _collector else PROJECT_STEPS


def step(pattern: str | re.Pattern[str]) -> Callable[[StepFunc], StepFunc]:
    """Decorator for project step definitions: `@step("I add {int} {string} to the cart")`."""

    def register(func: StepFunc) -> StepFunc:
        where = _source_of(func)
        definition = current_registry().add(pattern, func, where.label, doc=(func.__doc__ or "").strip(),
                                            uri=where.file, line=where.line)
        problem = signature_problem(func, definition.parameter_count)
        if problem is not None:
            current_registry().definitions.remove(definition)
            raise StepDefinitionError(f"step {definition.pattern!r} ({where.label}): {problem}")
        return func

    return register


# Aliases so step files can read like the feature files.
given = when = then = step


def parameter_type(
    name: str, regexp: str | re.Pattern[str] | Sequence[str | re.Pattern[str]],
    transformer: Callable[..., Any] | None = None, *, use_for_snippets: bool = True,
    prefer_for_regexp_match: bool = False,
) -> None:
    """Register a custom parameter type in a step file: `parameter_type("colour", "red|green|blue")`.

    `transformer` gets the text of each capture group of `regexp` (or the whole match when it has
    none) and returns the value the step function receives.
    """
    where = _caller()
    current_registry().define_parameter_type(
        name, regexp, transformer, use_for_snippets=use_for_snippets,
        prefer_for_regexp_match=prefer_for_regexp_match, source=where.label, uri=where.file, line=where.line)


PROJECT_STEPS = StepRegistry()
BUILTIN = StepRegistry()
for _entry in VOCABULARY:
    for _pattern in _entry.patterns:
        BUILTIN.add(_pattern, None, BUILTIN_PREFIX + _entry.action, doc=_entry.doc, example=_entry.example)
if BUILTIN.compile():  # pragma: no cover - the vocabulary's own tests catch a bad phrasing
    raise StepDefinitionError("a built-in step phrasing does not compile")


def match_step(text: str, extra: StepRegistry | None = None) -> StepMatch:
    """Match a step's text (without its keyword) against the built-ins and `extra` project steps."""
    found = BUILTIN.matches(text)
    if extra is not None:
        found += extra.matches(text)
    lists = [[argument_json(a) for a in arguments] for _, arguments in found]
    if not found:
        meant = [{"expression": d.pattern, "name": d.undefined_type}
                 for d in (extra.definitions if extra is not None else []) if d.undefined_type and d.meant_for(text)]
        return StepMatch("undefined", text, undefined_types=meant)
    if len(found) > 1:
        return StepMatch("ambiguous", text, candidates=[d for d, _ in found], argument_lists=lists)
    definition, arguments = found[0]
    return StepMatch("matched", text, definition=definition, arguments=_values(arguments),
                     candidates=[definition], argument_lists=lists)


_SNIPPET_NAMES = {"int": "number", "float": "number", "string": "text", "word": "word", "": "arg"}


SNIPPET_IMPORTS = "from playwright.async_api import expect\n\nfrom app.domain.steps import Pending, step\n"


def snippets(text: str, *, data_table: bool = False, doc_string: bool = False,
             registry: StepRegistry | None = None) -> list[str]:
    """Cucumber's suggestion for an undefined step: one step definition per expression Cucumber's
    `CucumberExpressionGenerator` proposes for the text (with the registry's custom parameter types), in
    Specloop's step-file format, its arguments positional (`SNIPPET_IMPORTS` is what they need)."""
    types = (registry if registry is not None else BUILTIN).types
    found = []
    for expression in CucumberExpressionGenerator(types).generate_expressions(text.strip()):
        used: dict[str, int] = {}
        params = ["page"]
        for parameter in expression.parameter_types:
            base = _SNIPPET_NAMES.get(parameter.name, re.sub(r"\W+", "_", parameter.name).strip("_") or "arg")
            used[base] = used.get(base, 0) + 1
            params.append(base if used[base] == 1 else f"{base}{used[base]}")
        params += ["data_table"] * data_table + ["doc_string"] * doc_string
        words = re.sub(r"\{[^}]*\}", " ", expression.source.lower())
        name = re.sub(r"[^a-z]+", "_", words).strip("_")[:60] or "step"
        found.append(f"@step({expression.source!r})\n"
                     f"async def {name}({', '.join(params)}):\n"
                     f"    raise Pending({('write this step: ' + text.strip())!r})\n")
    return found


def snippet(text: str, *, data_table: bool = False, doc_string: bool = False,
            registry: StepRegistry | None = None) -> str:
    """A ready-to-paste step file for an undefined step: the first of `snippets`, the other expressions
    Cucumber proposes as comments above it."""
    return snippet_file(snippets(text, data_table=data_table, doc_string=doc_string, registry=registry))


def snippet_file(found: Sequence[str]) -> str:
    """The step file `snippet` gives, from `snippets`' definitions already generated."""
    first, *rest = found
    others = "".join("# or: " + other.split("\n", 1)[0] + "\n" for other in rest[:3])
    return f"{SNIPPET_IMPORTS}\n\n{others}{first}"
