"""The step vocabulary: step patterns, the matcher, and the Playwright actions behind each step.

One module on purpose: the spec lint (`spec_lint`) and the QA runner (`qa_runner`) both call
`match_step`, so a step the lint accepts is exactly a step the runner can execute.

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

import importlib.util
import inspect
import re
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin

import parse

StepFunc = Callable[..., Any]
MatchStatus = Literal["matched", "undefined", "ambiguous"]


def _quoted(text: str) -> str:
    return text


# `"{name}"` in a pattern means "anything up to the closing quote": without it `{}` would swallow
# quotes and `I should see "a" within "b"` would also match `I should see "{text}"`.
_quoted.pattern = r'[^"]*'  # type: ignore[attr-defined]
_EXTRA_TYPES: dict[str, Callable[[str], Any]] = {"q": _quoted}
_PLAIN_QUOTED = re.compile(r'"\{(\w+)\}"')


class StepFailure(AssertionError):
    """A step's expectation did not hold; the message is written for the person reading the report."""


class StepDefinitionError(Exception):
    """A project step file could not be loaded (syntax error, bad pattern); names the file."""


@dataclass
class StepContext:
    """What a running step can use: the page, the base URL, the step's data table or doc string."""

    page: Any  # playwright.async_api.Page; typed loosely so the lint imports no browser code
    base_url: str
    timeout: float = 5000.0  # expect / action timeout in milliseconds
    data_table: list[list[str]] | None = None
    doc_string: str | None = None

    def url(self, path: str) -> str:
        """An absolute URL for a path relative to the application under test."""
        return urljoin(self.base_url.rstrip("/") + "/", path.lstrip("/")) if not _is_absolute(path) else path


def _is_absolute(path: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*://", path, re.IGNORECASE))


@dataclass
class StepDefinition:
    """One step pattern and the function that performs it."""

    pattern: str
    func: StepFunc
    source: str  # "file.py:line" for project steps, "builtin:<name>" for the vocabulary
    doc: str = ""
    example: str = ""
    _compiled: parse.Parser | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
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

    def match(self, text: str) -> dict[str, Any] | None:
        """The named arguments when `text` matches the whole pattern, else None."""
        assert self._compiled is not None
        result = self._compiled.parse(text.strip())
        if result is None:
            return None
        return dict(result.named)

    async def invoke(self, ctx: StepContext, args: dict[str, Any]) -> None:
        """Call the step function with its pattern arguments and the context values it asks for."""
        available: dict[str, Any] = {
            "ctx": ctx,
            "page": ctx.page,
            "base_url": ctx.base_url,
            "data_table": ctx.data_table,
            "doc_string": ctx.doc_string,
            "timeout": ctx.timeout,
        }
        params = inspect.signature(self.func).parameters
        takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        kwargs = {k: v for k, v in available.items() if k in params}
        kwargs.update({k: v for k, v in args.items() if k in params or takes_kwargs})
        result = self.func(**kwargs)
        if inspect.isawaitable(result):
            await result


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

    def add(self, pattern: str, func: StepFunc, source: str, doc: str = "", example: str = "") -> StepDefinition:
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

    @classmethod
    def load_dir(cls, steps_dir: str | Path) -> StepRegistry:
        """Import every `*.py` in `steps_dir` (repository code: call only where it is allowed)."""
        registry = cls()
        directory = Path(steps_dir)
        if not directory.is_dir():
            return registry
        for path in sorted(directory.glob("*.py")):
            registry.load_file(path)
        return registry

    def load_file(self, path: Path) -> None:
        """Import one step file, collecting the definitions its `@step` decorators register."""
        module_name = f"specloop_project_steps.{path.stem}_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise StepDefinitionError(f"cannot load step file {path}")
        module = importlib.util.module_from_spec(spec)
        with _collecting(self):
            try:
                sys.modules[module_name] = module
                spec.loader.exec_module(module)
            except StepDefinitionError:
                raise
            except Exception as exc:  # a broken step file is the project's error; name file and cause
                raise StepDefinitionError(f"error loading step file {path}: {type(exc).__name__}: {exc}") from exc


_collector: list[StepRegistry] = []


@contextmanager
def _collecting(registry: StepRegistry) -> Iterator[None]:
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


# ---------------------------------------------------------------------------------------------
# The built-in web vocabulary. Locators are the ones people see: roles with accessible names,
# labels, placeholders and text, never CSS selectors, so a spec reads like the page.
# ---------------------------------------------------------------------------------------------


def builtin(*patterns: str, example: str) -> Callable[[StepFunc], StepFunc]:
    """Register a built-in action under one or more phrasings (classic web steps and clearer ones)."""

    def register(func: StepFunc) -> StepFunc:
        doc = (func.__doc__ or "").strip()
        for pattern in patterns:
            BUILTIN.add(pattern, func, f"builtin:{func.__name__}", doc=doc, example=example)
        return func

    return register


def _short(exc: BaseException) -> str:
    """The useful first lines of a Playwright error, without its long call log."""
    text = str(exc).strip()
    text = text.split("Call log:")[0].strip()
    # "Actual value: None" and the bare "Locator expected ..." repeat what our own message says.
    noise = ("Actual value: None", "Locator expected to be visible")
    lines = [line.rstrip() for line in text.splitlines() if line.strip() and line.strip() not in noise]
    return "\n".join(lines[:3])


async def _guard(what: str, action: Awaitable[Any]) -> Any:
    """Run a Playwright call; turn its timeout/strictness errors into a clear step failure."""
    from playwright.async_api import Error as PlaywrightError

    try:
        return await action
    except (PlaywrightError, AssertionError) as exc:
        if isinstance(exc, StepFailure):
            raise
        raise StepFailure(f"{what}\n{_short(exc)}") from None


def _seconds(ctx: StepContext) -> str:
    return f"{ctx.timeout / 1000:g} s"


def _field(ctx: StepContext, label: str) -> Any:
    # A label first; a placeholder as fallback for fields whose only name is their placeholder.
    return ctx.page.get_by_label(label).or_(ctx.page.get_by_placeholder(label))


_REGION_ROLES = (
    "region", "navigation", "main", "complementary", "banner", "contentinfo", "form", "dialog",
    "list", "table", "group", "article",
)


def _scope(ctx: StepContext, region: str | None) -> Any:
    """The page, or the landmark / region whose accessible name is `region`."""
    if region is None:
        return ctx.page
    locator = ctx.page.get_by_role(_REGION_ROLES[0], name=region)
    for role in _REGION_ROLES[1:]:
        locator = locator.or_(ctx.page.get_by_role(role, name=region))
    return locator.first


def _need_table(ctx: StepContext, text: str) -> list[list[str]]:
    if not ctx.data_table:
        raise StepFailure(f"This step needs a data table below it: {text}")
    return ctx.data_table


@builtin('I am on "{path}"', 'I go to "{path}"', 'I visit "{path}"', 'I open "{path}"',
         example='Given I am on "/signup"')
async def visit(ctx: StepContext, path: str) -> None:
    """Open a path of the application (relative to the base URL) or an absolute URL."""
    url = ctx.url(path)
    response = await _guard(f'Could not open "{url}"', ctx.page.goto(url))
    if response is not None and response.status >= 400:
        raise StepFailure(f'Opening "{path}" returned HTTP {response.status}')


@builtin("I am on the home page", "I go to the home page", example="Given I am on the home page")
async def visit_home(ctx: StepContext) -> None:
    """Open the application's home page (the base URL)."""
    await visit(ctx, "/")


@builtin('I press "{name}"', 'I click the "{name}" button', example='When I press "Create account"')
async def press_button(ctx: StepContext, name: str) -> None:
    """Click a button by its accessible name (its text, label or value)."""
    await _guard(
        f'Could not click the button "{name}": no such enabled button within {_seconds(ctx)}',
        ctx.page.get_by_role("button", name=name).click(),
    )


@builtin('I follow "{name}"', 'I click the "{name}" link', example='When I follow "Products"')
async def follow_link(ctx: StepContext, name: str) -> None:
    """Click a link by its text."""
    await _guard(
        f'Could not follow the link "{name}": no such link within {_seconds(ctx)}',
        ctx.page.get_by_role("link", name=name).click(),
    )


@builtin('I click "{name}"', example='When I click "Sign up"')
async def click(ctx: StepContext, name: str) -> None:
    """Click a button or a link by its name."""
    page = ctx.page
    target = page.get_by_role("button", name=name).or_(page.get_by_role("link", name=name))
    await _guard(f'Could not click "{name}": no button or link with that name within {_seconds(ctx)}',
                 target.click())


@builtin('I fill in "{label}" with "{value}"', 'I fill "{label}" with "{value}"',
         'I enter "{value}" in "{label}"', example='When I fill in "Email" with "ann@example.com"')
async def fill(ctx: StepContext, label: str, value: str) -> None:
    """Type a value into the field with that label (or placeholder), replacing what was there."""
    await _guard(f'Could not fill in "{label}": no field with that label or placeholder within {_seconds(ctx)}',
                 _field(ctx, label).fill(value))


@builtin('I fill in "{label}" with:', example='When I fill in "About you" with:\n  """\n  Two lines\n  of text\n  """')
async def fill_doc_string(ctx: StepContext, label: str) -> None:
    """Fill a field (typically a textarea) with the step's doc string."""
    if ctx.doc_string is None:
        raise StepFailure(f'This step needs a doc string below it: I fill in "{label}" with:')
    await fill(ctx, label, ctx.doc_string)


@builtin("I fill in the following:", "I fill in the form with:",
         example='When I fill in the form with:\n  | Name  | Ann             |\n  | Email | ann@example.com |')
async def fill_form(ctx: StepContext) -> None:
    """Fill several fields from a two-column data table: label | value."""
    for row in _need_table(ctx, "I fill in the form with:"):
        if len(row) < 2:
            raise StepFailure(f"Each row of the table needs a label and a value, got: {' | '.join(row)}")
        await fill(ctx, row[0], row[1])


@builtin('I select "{option}" from "{label}"', example='When I select "Pro" from "Plan"')
async def select(ctx: StepContext, option: str, label: str) -> None:
    """Choose an option (by its visible text) in the drop-down with that label."""
    await _guard(f'Could not select "{option}" from "{label}" within {_seconds(ctx)}',
                 _field(ctx, label).select_option(label=option))


@builtin('I check "{label}"', example='When I check "I accept the terms"')
async def check(ctx: StepContext, label: str) -> None:
    """Tick the checkbox (or choose the radio button) with that label."""
    await _guard(f'Could not check "{label}": no checkbox with that label within {_seconds(ctx)}',
                 ctx.page.get_by_label(label).check())


@builtin('I uncheck "{label}"', example='When I uncheck "Send me news"')
async def uncheck(ctx: StepContext, label: str) -> None:
    """Untick the checkbox with that label."""
    await _guard(f'Could not uncheck "{label}": no checkbox with that label within {_seconds(ctx)}',
                 ctx.page.get_by_label(label).uncheck())


@builtin('I press the "{key}" key', 'I press "{key}" in "{label}"', example='When I press the "Enter" key')
async def press_key(ctx: StepContext, key: str, label: str | None = None) -> None:
    """Press a keyboard key (Enter, Tab, Escape, ArrowDown, ...), optionally in a field."""
    if label is not None:
        await _guard(f'Could not press "{key}" in "{label}" within {_seconds(ctx)}', _field(ctx, label).press(key))
    else:
        await _guard(f'Could not press the key "{key}"', ctx.page.keyboard.press(key))


@builtin('I should see "{text}"', 'I see "{text}"', 'I should see "{text}" within "{region}"',
         'I see "{text}" within "{region}"', example='Then I should see "Welcome, Ann!"')
async def see(ctx: StepContext, text: str, region: str | None = None) -> None:
    """Assert that the text is visible on the page (or within a named region or landmark)."""
    from playwright.async_api import expect

    where = f' within "{region}"' if region else " on the page"
    await _guard(
        f'Expected to see "{text}"{where}, but it did not appear within {_seconds(ctx)}',
        expect(_scope(ctx, region).get_by_text(text).filter(visible=True).first).to_be_visible(timeout=ctx.timeout),
    )


@builtin('I should not see "{text}"', 'I do not see "{text}"', 'I should not see "{text}" within "{region}"',
         example='Then I should not see "Error"')
async def not_see(ctx: StepContext, text: str, region: str | None = None) -> None:
    """Assert that the text is not visible on the page (or within a named region)."""
    from playwright.async_api import expect

    where = f' within "{region}"' if region else " on the page"
    await _guard(
        f'Expected not to see "{text}"{where}, but it is there',
        expect(_scope(ctx, region).get_by_text(text).filter(visible=True)).to_have_count(0, timeout=ctx.timeout),
    )


@builtin('I wait for "{text}"', 'I wait for the text "{text}"', example='When I wait for "Loaded"')
async def wait_for_text(ctx: StepContext, text: str) -> None:
    """Wait (up to three times the usual timeout) until the text is visible."""
    from playwright.async_api import expect

    timeout = ctx.timeout * 3
    await _guard(
        f'Waited {timeout / 1000:g} s for "{text}", but it did not appear',
        expect(ctx.page.get_by_text(text).filter(visible=True).first).to_be_visible(timeout=timeout),
    )


def _url_pattern(ctx: StepContext, path: str) -> re.Pattern[str]:
    url = ctx.url(path)
    # `I should be on "/welcome"` is about the path: a query string or fragment does not matter,
    # unless the step names one itself.
    suffix = "" if ("?" in path or "#" in path) else r"(?:[?#].*)?"
    return re.compile("^" + re.escape(url) + suffix + "$")


@builtin('I should be on "{path}"', 'the URL should be "{path}"', 'I am taken to "{path}"',
         example='Then I should be on "/welcome"')
async def url_is(ctx: StepContext, path: str) -> None:
    """Assert the page's URL is this path (query string and fragment ignored unless given)."""
    from playwright.async_api import expect

    await _guard(
        f'Expected to be on "{path}", but the page is at "{ctx.page.url}"',
        expect(ctx.page).to_have_url(_url_pattern(ctx, path), timeout=ctx.timeout),
    )


@builtin('the URL should contain "{part}"', example='Then the URL should contain "q=shoes"')
async def url_contains(ctx: StepContext, part: str) -> None:
    """Assert the page's URL contains this text."""
    from playwright.async_api import expect

    await _guard(
        f'Expected the URL to contain "{part}", but it is "{ctx.page.url}"',
        expect(ctx.page).to_have_url(re.compile(re.escape(part)), timeout=ctx.timeout),
    )


@builtin('the "{label}" field should contain "{value}"', 'the "{label}" field should have the value "{value}"',
         example='Then the "Email" field should contain "ann@example.com"')
async def field_value(ctx: StepContext, label: str, value: str) -> None:
    """Assert the value of the field with that label (or placeholder)."""
    from playwright.async_api import expect

    await _guard(
        f'Expected the "{label}" field to have the value "{value}"',
        expect(_field(ctx, label)).to_have_value(value, timeout=ctx.timeout),
    )


@builtin('the "{label}" checkbox should be checked', example='Then the "Send me news" checkbox should be checked')
async def is_checked(ctx: StepContext, label: str) -> None:
    """Assert the checkbox with that label is ticked."""
    from playwright.async_api import expect

    await _guard(f'Expected "{label}" to be checked, but it is not',
                 expect(ctx.page.get_by_label(label)).to_be_checked(timeout=ctx.timeout))


@builtin('the "{label}" checkbox should not be checked',
         example='Then the "I accept the terms" checkbox should not be checked')
async def is_not_checked(ctx: StepContext, label: str) -> None:
    """Assert the checkbox with that label is not ticked."""
    from playwright.async_api import expect

    await _guard(f'Expected "{label}" not to be checked, but it is',
                 expect(ctx.page.get_by_label(label)).not_to_be_checked(timeout=ctx.timeout))


@builtin('the "{name}" table should contain:', 'I should see the following rows in "{name}":',
         example='Then the "Products" table should contain:\n  | Name | Price |\n  | Tea  | 3.50  |')
async def table_contains(ctx: StepContext, name: str) -> None:
    """Assert that, for each row of the data table, the named table has a row with all those cells."""
    from playwright.async_api import expect

    table = ctx.page.get_by_role("table", name=name)
    for row in _need_table(ctx, f'the "{name}" table should contain:'):
        match = table.get_by_role("row")
        for cell in row:
            if cell:
                match = match.filter(has=ctx.page.get_by_role("cell", name=cell, exact=True).or_(
                    ctx.page.get_by_role("columnheader", name=cell, exact=True)))
        await _guard(
            f'Expected the "{name}" table to have a row {" | ".join(row)}, but it has none within {_seconds(ctx)}',
            expect(match.first).to_be_visible(timeout=ctx.timeout),
        )


@builtin('the "{name}" list should contain:', 'I should see the following items in "{name}":',
         example='Then the "Categories" list should contain:\n  | Tea    |\n  | Coffee |')
async def list_contains(ctx: StepContext, name: str) -> None:
    """Assert that the named list has an item with each text of the one-column data table."""
    from playwright.async_api import expect

    items = ctx.page.get_by_role("list", name=name).get_by_role("listitem")
    for row in _need_table(ctx, f'the "{name}" list should contain:'):
        text = row[0] if row else ""
        await _guard(
            f'Expected the "{name}" list to contain "{text}", but it does not within {_seconds(ctx)}',
            expect(items.filter(has_text=text).first).to_be_visible(timeout=ctx.timeout),
        )


def vocabulary() -> list[StepDefinition]:
    """The built-in definitions, in the order they are documented."""
    return list(BUILTIN)
