"""Shared fixtures: each area's fixtures live in one module under tests/support/."""

pytest_plugins = [
    "tests.support.stopping",  # first: the fixture modules below import it
    "tests.support.redis",
    "tests.support.github",
    "tests.support.llm",
    "tests.support.service",
    "tests.support.browser",
    "tests.support.spec",
    "tests.support.code",
]
