"""Fixtures for the GitHub double: `github` is a started double with octo-org/shop, its people and the app installed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.sandbox.github import GitHubDouble

SHOP = "octo-org/shop"
SHOP_FILES = {
    "README.md": "# Shop\n\nA tiny shop used by the Specloop tests.\n",
    "app.py": 'def hello() -> str:\n    return "hello"\n',
}
# login -> role on octo-org/shop; mallory has no role (a public repo still lets her read)
PEOPLE = {"alice": "admin", "bob": "write", "tina": "triage", "rita": "read", "mallory": None}


def make_double(**kwargs: object) -> GitHubDouble:
    """A started double with the standard repo, people and installation (for fixtures and demos)."""
    double = GitHubDouble(**kwargs).start()  # type: ignore[arg-type]
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
        double.stop()
