"""Fixtures for the GitHub double: `github` is a started double with octo-org/shop, its people and the app installed.

Also small helpers for tests that drive the double with githubkit (clients as an App or an installation,
and typed access to githubkit's list answers and paginators).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from githubkit import AppAuthStrategy, GitHub

from app.sandbox.github import GitHubDouble
from tests.support.stopping import stop_later

SHOP = "octo-org/shop"
SHOP_FILES = {
    "README.md": "# Shop\n\nA tiny shop used by the Specloop tests.\n",
    "app.py": 'def hello() -> str:\n    return "hello"\n',
}
# login -> role on octo-org/shop; mallory has no role (a public repo still lets her read)
PEOPLE = {"alice": "admin", "bob": "write", "tina": "triage", "rita": "read", "mallory": None}
Client = GitHub[Any]


def make_double(*, slug: str = "specloop", webhook_url: str | None = None, root: Path | None = None,
                fresh_key: bool = False) -> GitHubDouble:
    """A started double with the standard repo, people and installation (for fixtures and demos)."""
    double = GitHubDouble(slug=slug, webhook_url=webhook_url, root=root, fresh_key=fresh_key).start()
    double.create_repo(SHOP, files=dict(SHOP_FILES), default_branch="main")
    for login, role in PEOPLE.items():
        double.add_user(login, role, repo=SHOP if role else None)
    double.install("octo-org", [SHOP])
    return double


@pytest.fixture
def github() -> Iterator[GitHubDouble]:
    """A fresh GitHub double per test; fails the test if the app called a route the double does not know."""
    double = make_double()
    try:
        yield double
        double.wait_for_deliveries(timeout=10)
        if double.unhandled:
            pytest.fail(f"requests to routes the GitHub double does not implement: {double.unhandled}")
    finally:
        stop_later(double.stop)  # the port and temp folder are the test's own: the next test need not wait


def installation_id(double: GitHubDouble) -> int:
    """The installation `make_double` created (the double types it optional until something is installed)."""
    assert double.installation_id is not None, "nothing is installed on the double"
    return double.installation_id


def app_client(double: GitHubDouble, app_id: int | None = None, **kwargs: Any) -> Client:
    """githubkit as an App (the double's by default), pointed at the double like a GitHub Enterprise Server."""
    app = double.apps[app_id or double.app_id]
    return GitHub(AppAuthStrategy(app.id, app.private_key_pem), base_url=double.api_url, **kwargs)


def installation_client(double: GitHubDouble, app_id: int | None = None, **kwargs: Any) -> Client:
    """githubkit as the installation on octo-org (tokens asked for by the given App, the double's by default)."""
    gh = app_client(double, app_id, **kwargs)
    return gh.with_auth(gh.auth.as_installation(installation_id(double)))


def items(data: Any) -> list[Any]:
    """A parsed list answer as a plain list (mypy cannot iterate githubkit's generated list types directly)."""
    return list(data)


async def collect(paginator: Any) -> list[Any]:
    """Every item a githubkit paginator yields, following `Link: rel="next"` page after page."""
    return [item async for item in paginator]
