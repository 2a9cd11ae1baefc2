"""Running one planned scenario in a fresh browser context: its steps, screenshots, trace, console errors."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from app.domain.hooks import Hook, HookKind, ScenarioInfo, hooks_for
from app.domain.origins import Confinement
from app.domain.qa_results import HookResult, ScenarioResult, StepResult, scenario_status, worst_status
from app.domain.scenario_plan import PlannedScenario, PlannedStep
from app.domain.steps import Pending, Skipped, StepRegistry, match_step, snippet_file, snippets
from app.qa.actions import step_function
from app.qa.network import BLOCKED, NetworkFence
from app.qa.options import RunOptions
from app.qa.step_context import StepContext, StepFailure, call_step, short_error


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "scenario"


async def _screenshot(page: Any, path: Path) -> str | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(path), timeout=5000)
        return str(path)
    except Exception:  # noqa: BLE001 - a crashed or closed page must not hide the step's own error
        return None


PAGE_TEXT_MAX = 2000  # characters of the page's text kept at a failure


async def _page_text(page: Any) -> str | None:
    """The visible text of the page at a failure, shortened (what the page said instead)."""
    try:
        text = str(await page.inner_text("body", timeout=2000))
    except Exception:  # noqa: BLE001 - a crashed or blank page has no text to show
        return None
    text = "\n".join(line.strip() for line in text.splitlines() if line.strip())
    return text[:PAGE_TEXT_MAX] + (" …" if len(text) > PAGE_TEXT_MAX else "")


async def _configure(context: Any, options: RunOptions) -> None:
    """Give a scenario's fresh browser context the run's timeouts, and start tracing when asked."""
    context.set_default_timeout(options.timeout_ms)
    context.set_default_navigation_timeout(max(options.timeout_ms, 15000))
    if options.trace:
        await context.tracing.start(screenshots=True, snapshots=True)


async def _confine(context: Any, network: NetworkFence, result: ScenarioResult, blocked: set[str]) -> None:
    """Abort every request and WebSocket of the context that leaves the app under test, and report it.

    Request interception sees navigations and sub-resources alike (images, scripts, fetches, frames,
    redirects), and WebSocket routing the sockets a page opens, so neither a step nor a page of the app
    can make the browser read a local file, a cloud metadata address or another site into the run's
    screenshots and traces. A host name counts by what it resolves to (`NetworkFence`); and whatever
    escapes both (a worker's socket) still meets the context's proxy, which refuses it the same way.
    """

    async def guard(route: Any) -> None:
        request = route.request
        problem = await network.refusal(request.url)
        if problem is None:
            await route.fallback()
            return
        blocked.add(request.url)
        result.failed_requests.append(f"{request.method} {request.url}: {problem}")
        await route.abort("blockedbyclient")

    async def guard_socket(socket: Any) -> None:
        problem = await network.refusal(socket.url)
        if problem is None:
            socket.connect_to_server()
            return
        result.failed_requests.append(f"WebSocket {socket.url}: {problem}")
        await socket.close(code=1008, reason=BLOCKED)

    await context.route("**/*", guard)
    await context.route_web_socket(lambda url: True, guard_socket)


def _listen(page: Any, result: ScenarioResult, blocked: set[str]) -> None:
    """Collect the page's console errors, uncaught errors and failed requests into `result`."""
    page.on("console", lambda msg: result.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda err: result.console_errors.append(f"uncaught: {err}"))
    # A request the confinement aborted is already reported, with the reason.
    page.on("requestfailed", lambda req: None if req.url in blocked else result.failed_requests.append(
        f"{req.method} {req.url}: {req.failure or 'failed'}"))
    page.on("response", lambda resp: result.failed_requests.append(
        f"{resp.request.method} {resp.url}: HTTP {resp.status}") if resp.status >= 400 else None)


async def _perform(step_result: StepResult, func: Any, args: list[Any], ctx: StepContext,
                   options: RunOptions) -> None:
    """Run one step within the step timeout; any error fails the step with a readable message."""
    await _settle(step_result, lambda: call_step(func, ctx, args), options, "step")
    step_result.attachments = ctx.attachments


async def _settle(outcome: StepResult | HookResult, call: Callable[[], Awaitable[Any]], options: RunOptions,
                  what: str) -> None:
    """Await a step's or hook's call within the step timeout and record its status, error and duration:
    `Pending` makes it pending, `Skipped` skipped, and any other error fails it with a readable message."""
    started = time.perf_counter()

    async def guarded() -> Any:
        # SystemExit, KeyboardInterrupt and GeneratorExit from project code would leave the asyncio task and
        # end the whole run (every scenario's result with it): they fail this step or hook instead.
        try:
            return await call()
        except (KeyboardInterrupt, SystemExit, GeneratorExit) as exc:
            raise StepFailure(f"the {what} raised {type(exc).__name__}") from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the step timeout (or the run) is cancelling it: a real cancellation
            raise StepFailure(f"the {what} raised CancelledError") from None

    try:
        await asyncio.wait_for(guarded(), options.step_timeout_s())
        outcome.status = "passed"
    except TimeoutError:
        outcome.status = "failed"
        outcome.error = f"the {what} did not finish within {options.step_timeout_s():g} s"
        outcome.exception = {"type": "TimeoutError", "message": outcome.error}
    except Exception as exc:  # noqa: BLE001 - any error in a step or hook (project code too) fails it
        try:
            _record_error(outcome, exc, what)
        except Exception:  # noqa: BLE001 - project code's exception whose __str__ (or class) raises in turn
            outcome.status, outcome.error = "failed", f"the {what} raised an exception whose message does not read"
            outcome.exception = {"type": "Exception", "message": outcome.error}
    outcome.duration = time.perf_counter() - started


def _record_error(outcome: StepResult | HookResult, exc: Exception, what: str) -> None:
    """Record what a step or hook raised: `Pending` makes it pending, `Skipped` skipped, anything else failed."""
    if isinstance(exc, Pending):
        outcome.status, outcome.error = "pending", str(exc) or f"the {what} is pending (not written yet)"
        outcome.exception = {"type": type(exc).__name__, "message": outcome.error}
    elif isinstance(exc, Skipped):
        outcome.status, outcome.error = "skipped", str(exc) or None
        outcome.exception = {"type": type(exc).__name__, "message": outcome.error} if outcome.error else None
    elif isinstance(exc, StepFailure):
        outcome.status, outcome.error = "failed", str(exc)
        outcome.exception = {"type": type(exc).__name__, "message": outcome.error}
    elif isinstance(exc, AssertionError):
        outcome.status, outcome.error = "failed", short_error(exc) or "assertion failed"
        outcome.exception = {"type": type(exc).__name__, "message": outcome.error}
    else:
        outcome.status, outcome.error = "failed", f"{type(exc).__name__}: {short_error(exc)}"
        outcome.exception = {"type": type(exc).__name__, "message": short_error(exc)}


async def run_hook(hook: Hook, ctx: StepContext, options: RunOptions, scenario: ScenarioInfo | None = None,
                   *, skip: bool = False) -> HookResult:
    """Run one hook (or only report it skipped); what it attaches goes into its result."""
    result = HookResult(hook=hook.key, kind=hook.kind, name=hook.name, status="skipped", started_at=time.time())
    if skip:
        return result
    available = {"ctx": ctx, "base_url": ctx.base_url, "timeout": ctx.timeout}
    if hook.kind in ("before", "after"):
        available.update(page=ctx.page, scenario=scenario, world=ctx.scenario_world())

    async def call() -> None:
        value = hook.call(available)
        if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
            await value

    await _settle(result, call, options, "hook")
    result.attachments = ctx.attachments
    return result


async def run_global_hooks(hooks: Sequence[Hook], kind: HookKind, base_url: str, options: RunOptions) -> list[HookResult]:
    """Run every BeforeAll (or AfterAll) hook once, in order; one failing does not stop the others (Cucumber)."""
    results = []
    for hook in hooks_for(hooks, kind):
        ctx = StepContext(page=None, base_url=base_url, timeout=options.timeout_ms)
        results.append(await run_hook(hook, ctx, options))
    return results


async def _scenario_hooks(kind: HookKind, hooks: Sequence[Hook], page: Any, planned: PlannedScenario, base_url: str,
                          options: RunOptions, network: NetworkFence, result: ScenarioResult) -> bool:
    """Run the scenario's Before (or After) hooks into `result`; False when a Before hook did not pass.

    After a Before hook fails, is pending or skips, the remaining Before hooks are skipped (and so are the
    steps); every After hook runs whatever happened before it, and sees the scenario's status so far.
    """
    done = result.before_hooks if kind == "before" else result.after_hooks
    for hook in hooks_for(hooks, kind, planned.tags):
        so_far = [*result.before_hooks, *result.after_hooks]
        status = scenario_status(result.steps, so_far) if result.steps else worst_status(h.status for h in so_far)
        info = ScenarioInfo(name=planned.name, uri=planned.uri, line=planned.line, tags=tuple(planned.tags),
                            status=status)
        ctx = StepContext(page=page, base_url=base_url, timeout=options.timeout_ms,
                          confinement=network.confinement, network=network)
        skip = kind == "before" and any(h.status != "passed" for h in done)
        done.append(await run_hook(hook, ctx, options, info, skip=skip))
        if done[-1].status == "failed" and result.page_text is None:
            result.page_text = await _page_text(page)  # what the page said when, say, logging in failed
    return all(h.status == "passed" for h in done)


def _hook_failures(result: ScenarioResult) -> str | None:
    """What failed around the scenario's steps, naming each hook, for the scenario's error."""
    lines = [f"{h.label} {h.status}: {h.error or h.status}" for h in result.failed_hooks()]
    return "\n".join(lines) or None


async def _run_steps(page: Any, planned: PlannedScenario, registry: StepRegistry | None, base_url: str,
                     options: RunOptions, folder: Path, result: ScenarioResult, network: NetworkFence,
                     *, skip: bool = False) -> None:
    """Every step in order; after a step that did not pass (failed, pending, skipped), or with `skip` (a
    Before hook did not pass), the rest are skipped. Undefined and ambiguous ones are still reported, except
    after a step or Before hook that skipped: then everything is skipped, as in Cucumber."""
    failed = skip
    skipping = next((h.status for h in result.before_hooks if h.status != "passed"), None) == "skipped"
    last_page_step: StepResult | None = None
    for index, planned_step in enumerate(planned.steps, start=1):
        step_result = StepResult(
            keyword=planned_step.keyword, text=planned_step.text, line=planned_step.line, status="skipped",
            data_table=planned_step.data_table, doc_string=planned_step.doc_string,
        )
        result.steps.append(step_result)
        match = match_step(planned_step.text, registry)
        step_result.definitions = [d.name for d in match.candidates]
        step_result.match_arguments = match.argument_lists
        if match.status != "matched":
            # Reported even after a failure, so every missing definition shows up at once.
            if not skipping:
                _unmatched(step_result, planned_step, match.status, match.message, registry)
            failed = True
            continue
        assert match.definition is not None
        step_result.definition = match.definition.name
        if failed:
            continue
        ctx = StepContext(page=page, base_url=base_url, timeout=options.timeout_ms,
                          data_table=planned_step.data_table, doc_string=planned_step.doc_string,
                          confinement=network.confinement, network=network)
        await _perform(step_result, step_function(match.definition), match.arguments, ctx, options)
        failed = step_result.status != "passed"
        skipping = step_result.status == "skipped"
        last_page_step = step_result
        if step_result.status == "failed":
            result.page_text = await _page_text(page)
        if options.screenshots == "every_step" or (
            options.screenshots == "failures" and step_result.status == "failed"
        ):
            step_result.screenshot = await _screenshot(page, folder / f"step-{index:02d}.png")
    if options.screenshots == "final" and last_page_step is not None:
        last_page_step.screenshot = await _screenshot(page, folder / "final.png")


MAX_SNIPPETS = 8  # suggested definitions kept per undefined step (the message stream's `suggestion`)
MAX_SNIPPET_TEXT = 1000  # a longer undefined step gets no suggested definition


def _unmatched(step_result: StepResult, planned_step: PlannedStep, status: str, message: str,
               registry: StepRegistry | None) -> None:
    """Mark a step no definition (or more than one) matches; an undefined one gets a snippet."""
    step_result.error = message
    if status == "undefined":
        step_result.status = "undefined"
        if len(planned_step.text) > MAX_SNIPPET_TEXT:  # nobody pastes it, and generating it takes seconds
            return
        shape = {"data_table": planned_step.data_table is not None, "doc_string": planned_step.doc_string is not None}
        # Cucumber's generator proposes up to 256 expressions for a step full of numbers: keep a few.
        found = snippets(planned_step.text, **shape, registry=registry)
        step_result.snippets = found[:MAX_SNIPPETS]
        step_result.snippet = snippet_file(found)
    else:
        step_result.status = "ambiguous"


async def _close(context: Any, result: ScenarioResult, options: RunOptions, folder: Path) -> None:
    """Close the context, keeping its trace when the scenario failed."""
    try:
        if options.trace:
            if result.failed:
                folder.mkdir(parents=True, exist_ok=True)
                trace_path = folder / "trace.zip"
                await context.tracing.stop(path=str(trace_path))
                result.trace = str(trace_path)
            else:
                await context.tracing.stop()
        await context.close()
    except Exception:  # noqa: BLE001, S110 - closing a crashed context must not replace the result
        pass


async def run_scenario(
    browser: Any, planned: PlannedScenario, registry: StepRegistry | None, base_url: str,
    options: RunOptions, out_dir: Path,
) -> ScenarioResult:
    """Run one scenario in its own browser context; evidence goes to a folder of `out_dir`."""
    result = ScenarioResult(
        id=planned.pickle["id"], name=planned.name, uri=planned.uri, line=planned.line,
        feature=planned.feature, rule=planned.rule, tags=planned.tags, started_at=time.time(),
    )
    folder = out_dir / f"{_slug(planned.name)}-{planned.pickle['id']}"
    started = time.perf_counter()
    context = None
    network: NetworkFence | None = None
    try:
        fence = Confinement.around(base_url, options.allowed_origins, allow_private=options.allow_private_hosts,
                                   private_app=options.private_app)
        network = NetworkFence(fence, report=result.failed_requests.append)
        # Service workers would fetch outside request interception: blocked, so every request is seen.
        # Every connection goes through the fence's proxy, which resolves names itself and pins them.
        context = await browser.new_context(
            base_url=base_url, viewport={"width": options.viewport[0], "height": options.viewport[1]},
            service_workers="block", proxy=await network.start(),
        )
        blocked: set[str] = set()
        await _confine(context, network, result, blocked)
        await _configure(context, options)
        page = await context.new_page()
        _listen(page, result, blocked)
        hooks = registry.hooks if registry is not None else []
        try:
            ready = await _scenario_hooks("before", hooks, page, planned, base_url, options, network, result)
            await _run_steps(page, planned, registry, base_url, options, folder, result, network, skip=not ready)
        finally:
            await _scenario_hooks("after", hooks, page, planned, base_url, options, network, result)
        result.screenshots = [s.screenshot for s in result.steps if s.screenshot]
        result.status = scenario_status(result.steps, [*result.before_hooks, *result.after_hooks])
        result.error = result.error or _hook_failures(result)
    except Exception as exc:  # noqa: BLE001 - the browser itself failed: the scenario cannot pass
        result.status = "failed"
        result.error = f"{type(exc).__name__}: {short_error(exc)}"
    finally:
        if context is not None:
            await _close(context, result, options, folder)
        if network is not None:
            await network.close()
    result.duration = time.perf_counter() - started
    return result
