"""A QA run in this process: compile the features, load project steps if allowed, then run every
scenario in one Chromium, each in a fresh browser context, up to `RunOptions.contexts` at a time."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright, expect

from app.domain.origins import web_url_problem
from app.domain.qa_results import Progress, RunResult, ScenarioResult
from app.domain.scenario_plan import Compiled, FeatureError, PlannedScenario, compile_features, select_by_tags
from app.domain.steps import BUILTIN, StepDefinitionError, StepRegistry
from app.domain.tag_filter import normalise_tags, tag_expression_problem
from app.qa.attachments import start_budget
from app.qa.browser import launch
from app.qa.options import RunOptions
from app.qa.scenario import run_global_hooks, run_scenario
from app.qa.step_files import load_step_files


def _load_registry(options: RunOptions) -> tuple[StepRegistry | None, list[FeatureError]]:
    if not (options.allow_repo_steps and options.steps_dir):
        return None, []
    try:
        return load_step_files(options.steps_dir), []
    except StepDefinitionError as exc:
        return None, [FeatureError(options.steps_dir, None, None, str(exc))]


def _definitions_json(registry: StepRegistry | None) -> list[dict[str, Any]]:
    # A definition naming an unknown parameter type is listed in `undefined_parameter_types` instead (as
    # Cucumber does: it never matches, so it is no step definition of the run).
    defs = list(BUILTIN) + ([d for d in registry if not d.undefined_type] if registry is not None else [])
    return [{"pattern": d.pattern, "source": d.source, "name": d.name, "expression_type": d.expression_type,
             "uri": d.uri, "line": d.line} for d in defs]


def _select(compiled: Compiled, options: RunOptions, run: RunResult) -> tuple[Compiled, list[FeatureError]]:
    """The scenarios `options.tags` selects (all without it), recorded on `run`; a bad expression, or one that
    leaves no scenario to run, is an error: a run that tested nothing must not pass."""
    tags = normalise_tags(options.tags)
    run.tags, run.retry = tags, options.retry
    if tags is None:
        return compiled, []
    problem = tag_expression_problem(tags)
    if problem is not None:
        return compiled, [FeatureError("", None, None, f"`{tags}` is not a valid tag expression: {problem}")]
    selected = select_by_tags(compiled, tags)
    if compiled.scenarios and not selected.scenarios:
        count = len(compiled.scenarios)
        return selected, [FeatureError("", None, None, f"no scenario matches the tag expression `{tags}` "
                                                        f"({count} scenario{'' if count == 1 else 's'} in the "
                                                        "feature files, none selected)")]
    return selected, []


async def run_with_retries(attempt: Callable[[int], Awaitable[ScenarioResult]], retry: int) -> ScenarioResult:
    """Run a scenario (`attempt(n)`, n = 0 first) again while an attempt ends FAILED, at most `retry` more
    times, as Cucumber's `--retry` does: an undefined, ambiguous or pending scenario is not retried (running
    it again cannot change that). The result is the last attempt, with the earlier ones in
    `previous_attempts` (it is flaky when it passed after them)."""
    previous: list[ScenarioResult] = []
    for number in range(retry + 1):
        result = await attempt(number)
        result.attempt = number
        if result.status != "failed" or number == retry:
            break
        previous.append(result)
    result.previous_attempts = previous
    return result


async def run_async(
    features: Sequence[str | Path], base_url: str, options: RunOptions | None = None, *,
    root: str | Path | None = None, browser: Any = None, progress: Progress | None = None,
) -> RunResult:
    """Run every scenario of `features` against `base_url` (in this process; see `app.qa.runner.run`)."""
    options = options or RunOptions()
    run = RunResult(base_url=base_url, started_at=time.time())
    started = time.perf_counter()
    compiled = compile_features(features, root)
    compiled, tag_errors = _select(compiled, options, run)
    registry, load_errors = _load_registry(options)
    run.errors = compiled.errors + load_errors + tag_errors
    run.documents, run.pickles = compiled.documents, compiled.pickles
    run.step_definitions = _definitions_json(registry)
    if registry is not None:
        run.parameter_types = list(registry.parameter_types)
        run.undefined_parameter_types = list(registry.undefined_parameter_types)
    hooks = registry.hooks if registry is not None else []
    run.hook_definitions = [hook.to_json() for hook in hooks]
    problem = web_url_problem(base_url)
    if problem is not None:
        # The browser would open it as the app under test: only an http(s) app is one.
        run.errors.append(FeatureError("", None, None, f"the base URL must be an http or https URL with a host; "
                                                       f"`{base_url}` is not ({problem})"))
    if load_errors or tag_errors or problem is not None or not compiled.scenarios:
        if not compiled.scenarios and not run.errors:
            run.errors.append(FeatureError("", None, None, "no scenarios found in the feature files"))
        run.duration = time.perf_counter() - started
        return run
    # Project steps may call `expect(...)` without a timeout: give them the run's timeout.
    expect.set_options(timeout=options.timeout_ms)
    out_dir = Path(options.out_dir or tempfile.mkdtemp(prefix="specloop-qa-"))
    semaphore = asyncio.Semaphore(max(1, options.contexts))
    start_budget()  # the attachments of all this run's steps and hooks share one byte budget
    run.run_hooks = await run_global_hooks(hooks, "before_all", base_url, options)
    done = 0
    total = len(compiled.scenarios)

    async def one(planned: PlannedScenario, live_browser: Any) -> ScenarioResult:
        nonlocal done
        async with semaphore:
            # Each attempt in a fresh browser context; a retry's evidence in a folder of its own.
            result = await run_with_retries(lambda number: run_scenario(
                live_browser, planned, registry, base_url, options,
                out_dir if number == 0 else out_dir / f"retry-{number}"), options.retry)
        done += 1
        if progress is not None:
            progress(result, done, total)
        return result

    async def all_scenarios(live_browser: Any) -> list[ScenarioResult]:
        if run.failed_run_hooks():
            return []  # a BeforeAll hook failed: no scenario runs (the AfterAll hooks still do), as in Cucumber
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
    run.run_hooks += await run_global_hooks(hooks, "after_all", base_url, options)
    run.duration = time.perf_counter() - started
    return run
