"""The built-in step actions: what each phrasing of the vocabulary (`app.domain.step_vocabulary`) does
in the page, through Playwright, failing with a message written for the person reading the report.

Locators are the ones people see: roles with accessible names, labels, placeholders and text, never
CSS selectors, so a spec reads like the page.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import expect

from app.domain.step_vocabulary import VOCABULARY
from app.domain.steps import StepDefinition, StepFunc
from app.qa.network import BLOCKED
from app.qa.step_context import StepContext, StepFailure, short_error


async def _guard(what: str, action: Awaitable[Any]) -> Any:
    """Run a Playwright call; turn its timeout/strictness errors into a clear step failure."""
    try:
        return await action
    except (PlaywrightError, AssertionError) as exc:
        if isinstance(exc, StepFailure):
            raise
        raise StepFailure(f"{what}\n{short_error(exc)}") from None


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


async def visit(ctx: StepContext, path: str) -> None:
    """Open a path of the application (relative to the base URL); nothing outside the app under test."""
    url = ctx.url(path)
    fence = ctx.fence()
    # Refused before `goto`: a step must not open a local file, a browser page or another site, whose
    # contents would otherwise end up in the run's screenshots, traces and reports.
    if not fence.allows(url):
        raise StepFailure(f"QA only visits the app under test ({fence.describe()}); `{path}` is not part of it")
    # A listed origin counts by the addresses its name resolves to (pinned for the scenario).
    problem = await ctx.network.refusal(url) if ctx.network is not None else None
    if problem is not None:
        raise StepFailure(f"QA only visits the app under test ({fence.describe()}); `{path}` is refused: "
                          f"{problem.removeprefix(BLOCKED + ': ')}")
    response = await _guard(f'Could not open "{url}"', ctx.page.goto(url))
    if response is not None and response.status >= 400:
        raise StepFailure(f'Opening "{path}" returned HTTP {response.status}')


async def visit_home(ctx: StepContext) -> None:
    """Open the application's home page (the base URL)."""
    await visit(ctx, "/")


async def press_button(ctx: StepContext, name: str) -> None:
    """Click a button by its accessible name (its text, label or value)."""
    await _guard(
        f'Could not click the button "{name}": no such enabled button within {_seconds(ctx)}',
        ctx.page.get_by_role("button", name=name).click(),
    )


async def follow_link(ctx: StepContext, name: str) -> None:
    """Click a link by its text."""
    await _guard(
        f'Could not follow the link "{name}": no such link within {_seconds(ctx)}',
        ctx.page.get_by_role("link", name=name).click(),
    )


async def click(ctx: StepContext, name: str) -> None:
    """Click a button or a link by its name."""
    page = ctx.page
    target = page.get_by_role("button", name=name).or_(page.get_by_role("link", name=name))
    await _guard(f'Could not click "{name}": no button or link with that name within {_seconds(ctx)}',
                 target.click())


async def fill(ctx: StepContext, label: str, value: str) -> None:
    """Type a value into the field with that label (or placeholder), replacing what was there."""
    await _guard(f'Could not fill in "{label}": no field with that label or placeholder within {_seconds(ctx)}',
                 _field(ctx, label).fill(value))


async def fill_doc_string(ctx: StepContext, label: str) -> None:
    """Fill a field (typically a textarea) with the step's doc string."""
    if ctx.doc_string is None:
        raise StepFailure(f'This step needs a doc string below it: I fill in "{label}" with:')
    await fill(ctx, label, ctx.doc_string)


async def fill_form(ctx: StepContext) -> None:
    """Fill several fields from a two-column data table: label | value."""
    for row in _need_table(ctx, "I fill in the form with:"):
        if len(row) < 2:
            raise StepFailure(f"Each row of the table needs a label and a value, got: {' | '.join(row)}")
        await fill(ctx, row[0], row[1])


async def select(ctx: StepContext, option: str, label: str) -> None:
    """Choose an option (by its visible text) in the drop-down with that label."""
    await _guard(f'Could not select "{option}" from "{label}" within {_seconds(ctx)}',
                 _field(ctx, label).select_option(label=option))


async def check(ctx: StepContext, label: str) -> None:
    """Tick the checkbox (or choose the radio button) with that label."""
    await _guard(f'Could not check "{label}": no checkbox with that label within {_seconds(ctx)}',
                 ctx.page.get_by_label(label).check())


async def uncheck(ctx: StepContext, label: str) -> None:
    """Untick the checkbox with that label."""
    await _guard(f'Could not uncheck "{label}": no checkbox with that label within {_seconds(ctx)}',
                 ctx.page.get_by_label(label).uncheck())


async def press_key(ctx: StepContext, key: str, label: str | None = None) -> None:
    """Press a keyboard key (Enter, Tab, Escape, ArrowDown, ...), optionally in a field."""
    if label is not None:
        await _guard(f'Could not press "{key}" in "{label}" within {_seconds(ctx)}', _field(ctx, label).press(key))
    else:
        await _guard(f'Could not press the key "{key}"', ctx.page.keyboard.press(key))


async def see(ctx: StepContext, text: str, region: str | None = None) -> None:
    """Assert that the text is visible on the page (or within a named region or landmark)."""
    where = f' within "{region}"' if region else " on the page"
    await _guard(
        f'Expected to see "{text}"{where}, but it did not appear within {_seconds(ctx)}',
        expect(_scope(ctx, region).get_by_text(text).filter(visible=True).first).to_be_visible(timeout=ctx.timeout),
    )


async def not_see(ctx: StepContext, text: str, region: str | None = None) -> None:
    """Assert that the text is not visible on the page (or within a named region)."""
    where = f' within "{region}"' if region else " on the page"
    await _guard(
        f'Expected not to see "{text}"{where}, but it is there',
        expect(_scope(ctx, region).get_by_text(text).filter(visible=True)).to_have_count(0, timeout=ctx.timeout),
    )


async def wait_for_text(ctx: StepContext, text: str) -> None:
    """Wait (up to three times the usual timeout) until the text is visible."""
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


async def url_is(ctx: StepContext, path: str) -> None:
    """Assert the page's URL is this path (query string and fragment ignored unless given)."""
    await _guard(
        f'Expected to be on "{path}", but the page is at "{ctx.page.url}"',
        expect(ctx.page).to_have_url(_url_pattern(ctx, path), timeout=ctx.timeout),
    )


async def url_contains(ctx: StepContext, part: str) -> None:
    """Assert the page's URL contains this text."""
    await _guard(
        f'Expected the URL to contain "{part}", but it is "{ctx.page.url}"',
        expect(ctx.page).to_have_url(re.compile(re.escape(part)), timeout=ctx.timeout),
    )


async def field_value(ctx: StepContext, label: str, value: str) -> None:
    """Assert the value of the field with that label (or placeholder)."""
    await _guard(
        f'Expected the "{label}" field to have the value "{value}"',
        expect(_field(ctx, label)).to_have_value(value, timeout=ctx.timeout),
    )


async def is_checked(ctx: StepContext, label: str) -> None:
    """Assert the checkbox with that label is ticked."""
    await _guard(f'Expected "{label}" to be checked, but it is not',
                 expect(ctx.page.get_by_label(label)).to_be_checked(timeout=ctx.timeout))


async def is_not_checked(ctx: StepContext, label: str) -> None:
    """Assert the checkbox with that label is not ticked."""
    await _guard(f'Expected "{label}" not to be checked, but it is',
                 expect(ctx.page.get_by_label(label)).not_to_be_checked(timeout=ctx.timeout))


async def table_contains(ctx: StepContext, name: str) -> None:
    """Assert that, for each row of the data table, the named table has a row with all those cells."""
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


async def list_contains(ctx: StepContext, name: str) -> None:
    """Assert that the named list has an item with each text of the one-column data table."""
    items = ctx.page.get_by_role("list", name=name).get_by_role("listitem")
    for row in _need_table(ctx, f'the "{name}" list should contain:'):
        text = row[0] if row else ""
        await _guard(
            f'Expected the "{name}" list to contain "{text}", but it does not within {_seconds(ctx)}',
            expect(items.filter(has_text=text).first).to_be_visible(timeout=ctx.timeout),
        )


ACTIONS: dict[str, StepFunc] = {func.__name__: func for func in (
    visit, visit_home, press_button, follow_link, click, fill, fill_doc_string, fill_form, select, check,
    uncheck, press_key, see, not_see, wait_for_text, url_is, url_contains, field_value, is_checked,
    is_not_checked, table_contains, list_contains,
)}


_NAMES: dict[tuple[str, str], tuple[str, ...]] = {
    (entry.action, pattern): names
    for entry in VOCABULARY for pattern in entry.patterns if (names := entry.names_for(pattern)) is not None
}


def step_function(definition: StepDefinition) -> StepFunc:
    """What performs a definition: the project's function, or the built-in action it names.

    A phrasing's positional arguments fill the action's parameters in order, or the ones its
    vocabulary entry names (`I enter {string} in {string}` gives the value, then the label).
    """
    if definition.func is not None:
        return definition.func
    if definition.action is None or definition.action not in ACTIONS:
        raise LookupError(f"no action performs {definition.name}")
    action = ACTIONS[definition.action]
    names = _NAMES.get((definition.action, definition.pattern))
    if names is None:
        return action

    async def named(ctx: StepContext, *args: Any) -> None:
        await action(ctx, **dict(zip(names, args, strict=True)))

    return named
