"""Calling a step: what a running step can use (page, base URL, table, doc string) and how it fails."""

from __future__ import annotations

import inspect
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from app.domain.origins import Confinement
from app.domain.steps import ArgumentError, StepFunc, signature_problem
from app.qa.attachments import LINK_MEDIA_TYPE, LOG_MEDIA_TYPE, attachment

if TYPE_CHECKING:
    from app.qa.network import NetworkFence


_WORLDS: weakref.WeakKeyDictionary[Any, SimpleNamespace] = weakref.WeakKeyDictionary()


class StepFailure(AssertionError):
    """A step's expectation did not hold; the message is written for the person reading the report."""


@dataclass
class StepContext:
    """What a running step can use: the page, the base URL, the step's data table or doc string."""

    page: Any  # playwright.async_api.Page
    base_url: str
    timeout: float = 5000.0  # expect / action timeout in milliseconds
    data_table: list[list[str]] | None = None
    doc_string: str | None = None
    confinement: Confinement | None = None  # where the page may go; None: the base URL's origin only
    network: NetworkFence | None = None  # the context's resolved, pinned view of that (host names count)
    attachments: list[dict[str, Any]] = field(default_factory=list)  # what `attach` recorded, for the result
    world: Any = None  # what the scenario's steps share (`world.count = 3`); by default one per page

    def scenario_world(self) -> Any:
        """The scenario's shared namespace: `world` when given, else the one of this step's page (each
        scenario has its own browser context and page, so its steps and hooks share it)."""
        if self.world is None:
            try:
                self.world = _WORLDS.setdefault(self.page, SimpleNamespace())
            except TypeError:  # a page that cannot be weakly referenced (a stand-in): a world of its own
                self.world = SimpleNamespace()
        return self.world

    def attach(self, body: str | bytes, media_type: str, file_name: str | None = None) -> None:
        """Attach text or bytes to this step's (or hook's) result: `ctx.attach(png, "image/png", "cart.png")`."""
        self.attachments.append(attachment(body, media_type, file_name))

    def log(self, text: str) -> None:
        """Attach a line of log text to the result (Cucumber's `log`)."""
        self.attach(str(text), LOG_MEDIA_TYPE)

    def link(self, url: str) -> None:
        """Attach a link to the result (Cucumber's `link`, media type `text/uri-list`)."""
        self.attach(str(url), LINK_MEDIA_TYPE)

    def fence(self) -> Confinement:
        """Where this step's page may go: the app under test (and the origins the repository allows)."""
        return self.confinement or Confinement.around(self.base_url)

    def url(self, path: str) -> str:
        """An absolute URL for a path relative to the application under test."""
        return urljoin(self.base_url.rstrip("/") + "/", path.lstrip("/")) if not _is_absolute(path) else path


def _is_absolute(path: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*://", path, re.IGNORECASE))


def short_error(exc: BaseException) -> str:
    """The useful first lines of a Playwright error, without its long call log."""
    text = str(exc).strip()
    text = text.split("Call log:")[0].strip()
    # "Actual value: None" and the bare "Locator expected ..." repeat what our own message says.
    noise = ("Actual value: None", "Locator expected to be visible")
    lines = [line.rstrip() for line in text.splitlines() if line.strip() and line.strip() not in noise]
    return "\n".join(lines[:3])


async def call_step(func: StepFunc, ctx: StepContext, arguments: Sequence[Any]) -> None:
    """Call a step function: the expression's arguments fill its parameters in order, and the context
    values (`INJECTED`: page, ctx, base_url, data_table, doc_string, timeout, world) go to the ones named so."""
    for argument in arguments:
        if isinstance(argument, ArgumentError):
            raise StepFailure(str(argument))
    available: dict[str, Any] = {
        "ctx": ctx,
        "page": ctx.page,
        "base_url": ctx.base_url,
        "data_table": ctx.data_table,
        "doc_string": ctx.doc_string,
        "timeout": ctx.timeout,
        "world": ctx.scenario_world(),
    }
    problem = signature_problem(func, len(arguments))
    if problem is not None:
        raise StepFailure(f"Cannot call the step definition: {problem}")
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    pending = list(arguments)
    by_keyword = False  # once a parameter with a default is left out, later ones can only go by name
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            if param.name in available:
                if by_keyword:
                    keywords[param.name] = available[param.name]
                else:
                    positional.append(available[param.name])
            elif pending and not by_keyword:
                positional.append(pending.pop(0))
            else:
                by_keyword = True
        elif param.kind is param.VAR_POSITIONAL and not by_keyword:
            positional.extend(pending)
            pending = []
        elif param.kind is param.KEYWORD_ONLY and param.name in available:
            keywords[param.name] = available[param.name]
    result = func(*positional, **keywords)
    if inspect.isawaitable(result):
        await result
