"""The domain boundary: `app/domain/` is plain Python that imports no web, queue, render, QA-execution,
browser, subprocess or HTTP code, at module level or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parent.parent / "app" / "domain"
FORBIDDEN = (
    "app.render", "app.web", "app.webhook", "app.queue", "app.qa", "playwright", "subprocess", "fastapi", "arq", "redis",
    "githubkit", "httpx",
)


def imported_modules(source: str, package: str) -> set[str]:
    """Every module an `import` or `from ... import` anywhere in `source` names (relative ones resolved)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1] + ([node.module] if node.module else [])
                module = ".".join(parts)
            else:
                module = node.module or ""
            found.add(module)
            # `from app import qa` imports the module `app.qa`
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def forbidden_in(modules: set[str]) -> list[str]:
    """The imported modules that are, or live under, a forbidden one."""
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))


def domain_modules() -> list[Path]:
    """Every Python module under app/domain/."""
    return sorted(DOMAIN.rglob("*.py"))


def test_the_domain_has_modules_to_check() -> None:
    assert {"steps.py", "scenario_plan.py", "qa_results.py", "qa_reports.py"} <= {p.name for p in domain_modules()}


@pytest.mark.parametrize("path", domain_modules(), ids=lambda p: p.relative_to(DOMAIN).as_posix())
def test_a_domain_module_imports_nothing_outside_the_domain_boundary(path: Path) -> None:
    package = ".".join(path.relative_to(DOMAIN.parent.parent).with_suffix("").parts[:-1])
    assert forbidden_in(imported_modules(path.read_text(encoding="utf-8"), package)) == []


@pytest.mark.parametrize("source", [
    "import subprocess\n",
    "from playwright.async_api import expect\n",
    "def run():\n    from app.qa.runner import run\n",
    "async def f():\n    import httpx.client\n",
    "from app import web\n",
    "from ..render.qa_check import render_qa_result\n",
    "class C:\n    def m(self):\n        from redis.asyncio import Redis\n",
    "if True:\n    import fastapi as f, arq\n",
])
def test_the_check_catches_a_forbidden_import_wherever_it_is(source: str) -> None:
    assert forbidden_in(imported_modules(source, "app.domain")) != []


@pytest.mark.parametrize("source", [
    "from app.domain.steps import match_step\n",
    "from . import steps\n",
    "import parse\nimport re\n",
    "from app.domain import qa_results\n",
    "import app.queueing_theory\n",
])
def test_the_check_lets_plain_domain_imports_through(source: str) -> None:
    assert forbidden_in(imported_modules(source, "app.domain")) == []


ROOT = DOMAIN.parent.parent
JOBS_DIR = ROOT / "jobs"


@pytest.mark.parametrize("path", sorted(p for p in JOBS_DIR.glob("*.py") if p.name not in {"__init__.py", "worker.py"}),
                         ids=lambda p: p.name)
def test_no_job_imports_another_job(path: Path) -> None:
    # shared work lives in app/; only the worker (the wiring) knows every job
    imported = imported_modules(path.read_text(encoding="utf-8"), "jobs")
    assert sorted(m for m in imported if m == "jobs" or m.startswith("jobs.")) == []


@pytest.mark.parametrize("folder", ["app", "handlers"])
def test_app_and_handlers_import_no_job(folder: str) -> None:
    # dependencies point one way: handlers/ and jobs/ import app/, app/ imports neither, except the
    # outermost wiring that starts workers (the CLI, and the harness the demo and tests run on)
    wiring = {ROOT / "app" / "cli.py", ROOT / "app" / "sandbox" / "harness.py"}
    offenders = {
        str(path.relative_to(ROOT)): found for path in sorted((ROOT / folder).rglob("*.py"))
        if path not in wiring and ROOT / "app" / "demo" not in path.parents
        and (found := sorted(m for m in imported_modules(path.read_text(encoding="utf-8"), folder)
                             if m == "jobs" or m.startswith("jobs.")))
    }
    assert offenders == {}
