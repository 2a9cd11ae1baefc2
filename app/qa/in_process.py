"""A QA run in this process: compile the features, load project steps if allowed, then run every
scenario in one Chromium, each in a fresh browser context, up to `RunOptions.contexts` at a time."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright, expect

from app.domain.origins import web_url_problem
from app.domain.qa_results import Progress, RunResult, ScenarioResult
from app.domain.scenario_plan import FeatureError, PlannedScenario, compile_features
from app.domain.steps import BUILTIN, StepDefinitionError, StepRegistry
from app.qa.browser import launch
from app.qa.options import RunOptions
from app.qa.scenario import run_scenario
from app.qa.step_files import load_step_files


def _load_registry(options: RunOptions) -> tuple[StepRegistry | None, list[FeatureError]]:
    if not (options.allow_repo_steps and options.steps_dir):
        return None, []
    try:
        return load_step_files(options.steps_dir), []
    except StepDefinitionError as exc:
        return None, [FeatureError(options.steps_dir, None, None, str(exc))]


def _definitions_json(registry: StepRegistry | None) -> list[dict[str, Any]]:
    defs = list(BUILTIN) + (list(registry) if registry is not None else [])
    return [{"pattern": d.pattern, "source": d.source} for d in defs]


async def run_async(
    features: Sequence[str | Path], base_url: str, options: RunOptions | None = None, *,
    root: str | Path | None = None, browser: Any = None, progress: Progress | None = None,
) -> RunResult:
    """Run every scenario of `features` against `base_url` (in this process; see `app.qa.runner.run`)."""
    options = options or RunOptions()
    run = RunResult(base_url=base_url, started_at=time.time())
    started = time.perf_counter()
    compiled = compile_features(features, root)
    registry, load_errors = _load_registry(options)
    run.errors = compiled.errors + load_errors
    run.documents, run.pickles = compiled.documents, compiled.pickles
    run.step_definitions = _definitions_json(registry)
    problem = web_url_problem(base_url)
    if problem is not None:
        # The browser would open it as the app under test: only an http(s) app is one.
        run.errors.append(FeatureError("", None, None, f"the base URL must be an http or https URL with a host; "
                                                       f"`{base_url}` is not ({problem})"))
    if load_errors or problem is not None or not compiled.scenarios:
        if not compiled.scenarios and not run.errors:
            run.errors.append(FeatureError("", None, None, "no scenarios found in the feature files"))
        run.duration = time.perf_counter() - started
        return run
    # Project steps may call `expect(...)` without a timeout: give them the run's timeout.
    expect.set_options(timeout=options.timeout_ms)
    out_dir = Path(options.out_dir or tempfile.mkdtemp(prefix="specloop-qa-"))
    semaphore = asyncio.Semaphore(max(1, options.contexts))
    done = 0
    total = len(compiled.scenarios)

    async def one(planned: PlannedScenario, live_browser: Any) -> ScenarioResult:
        nonlocal done
        async with semaphore:
            result = await run_scenario(live_browser, planned, registry, base_url, options, out_dir)
        done += 1
        if progress is not None:
            progress(result, done, total)
        return result

    async def all_scenarios(live_browser: Any) -> list[ScenarioResult]:
        return list(await asyncio.gather(*(one(p, live_browser) for p in compiled.scenarios)))

    if browser is not None:
        run.scenarios = await all_scenarios(browser)
    else:
        async with async_playwright() as playwright:
            own = await launch(playwright, options.chromium_path)
            try:
                run.scenarios = await all_scenarios(own)
            finally:
                await own.close()
    run.duration = time.perf_counter() - started
    return run
