"""Calling a step: what a running step can use (page, base URL, table, doc string) and how it fails."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from app.domain.origins import Confinement
from app.domain.steps import StepFunc

if TYPE_CHECKING:
    from app.qa.network import NetworkFence


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


async def call_step(func: StepFunc, ctx: StepContext, args: dict[str, Any]) -> None:
    """Call a step function with its pattern arguments and the context values it asks for."""
    available: dict[str, Any] = {
        "ctx": ctx,
        "page": ctx.page,
        "base_url": ctx.base_url,
        "data_table": ctx.data_table,
        "doc_string": ctx.doc_string,
        "timeout": ctx.timeout,
    }
    params = inspect.signature(func).parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in available.items() if k in params}
    kwargs.update({k: v for k, v in args.items() if k in params or takes_kwargs})
    result = func(**kwargs)
    if inspect.isawaitable(result):
        await result
