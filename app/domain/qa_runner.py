"""The QA runner: compile feature files to pickles and run every scenario in Chromium via Playwright.

Plain Python: no web or queue code. One browser per run, a fresh browser context per scenario,
scenarios in parallel up to `RunOptions.contexts`. When project step definitions (repository code)
are loaded, the whole run, browser included, executes in ONE child process with a scrubbed
environment (`python -m app.domain.qa_runner REQUEST.json RESULT.json`), so repository code never
sees the service's secrets.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from gherkin.ast_builder import AstBuilder
from gherkin.errors import CompositeParserException, ParserError, ParserException
from gherkin.parser import Parser
from gherkin.parser_types import Location
from gherkin.pickles.compiler import Compiler, GherkinDocumentWithURI
from gherkin.stream.id_generator import IdGenerator

from app.domain.steps import (
    StepContext,
    StepDefinitionError,
    StepFailure,
    StepRegistry,
    _short,
    match_step,
    snippet,
)

StepStatus = Literal["passed", "failed", "skipped", "undefined", "ambiguous"]
ScreenshotPolicy = Literal["every_step", "failures", "final"]
Progress = Callable[["ScenarioResult", int, int], None]

# Only these variables reach a child process that runs repository code: enough to find Python,
# the browser and a temp dir, and nothing that could carry a service secret.
CHILD_ENV_ALLOW = (
    "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV",
    "PLAYWRIGHT_BROWSERS_PATH", "CHROMIUM_PATH", "DISPLAY", "XDG_RUNTIME_DIR", "SYSTEMROOT",
)


@dataclass
class RunOptions:
    """How to run: parallelism, evidence, timeouts, and whether project steps may load."""

    contexts: int = 4
    screenshots: ScreenshotPolicy = "every_step"
    timeout_ms: float = 5000.0  # Playwright action and `expect` timeout per step
    trace: bool = True  # keep a Playwright trace for failed scenarios
    steps_dir: str | None = None  # project step definitions (`<features>/steps`)
    allow_repo_steps: bool = False  # repository code: only where the operator/user allows it
    out_dir: str | None = None  # where screenshots and traces go (a temp dir when None)
    chromium_path: str | None = None
    viewport: tuple[int, int] = (1280, 800)
    run_timeout_s: float = 1800.0  # whole-run limit for the child process

    def step_timeout_s(self) -> float:
        # A project step may hang outside Playwright; bound every step generously.
        return max(30.0, self.timeout_ms / 1000 * 6)


@dataclass
class StepResult:
    """One executed (or skipped) step."""

    keyword: str
    text: str
    line: int
    status: StepStatus
    duration: float = 0.0
    error: str | None = None
    screenshot: str | None = None
    snippet: str | None = None
    definition: str | None = None
    data_table: list[list[str]] | None = None
    doc_string: str | None = None


@dataclass
class ScenarioResult:
    """One scenario (pickle): its steps, status and evidence."""

    id: str
    name: str
    uri: str
    line: int
    feature: str
    rule: str | None = None
    tags: list[str] = field(default_factory=list)
    status: StepStatus = "passed"
    duration: float = 0.0
    started_at: float = 0.0
    steps: list[StepResult] = field(default_factory=list)
    screenshots: list[str] = field(default_factory=list)
    trace: str | None = None
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    error: str | None = None  # a failure outside any step (browser context could not open, ...)

    @property
    def failed(self) -> bool:
        return self.status != "passed"

    def failing_step(self) -> StepResult | None:
        """The first step that is failed, undefined or ambiguous."""
        return next((s for s in self.steps if s.status in ("failed", "undefined", "ambiguous")), None)


@dataclass
class FeatureError:
    """A feature file that does not parse (or a step file that does not load)."""

    uri: str
    line: int | None
    column: int | None
    message: str


@dataclass
class RunResult:
    """Everything a run produced; JSON-serialisable so a child process can hand it back."""

    base_url: str
    scenarios: list[ScenarioResult] = field(default_factory=list)
    errors: list[FeatureError] = field(default_factory=list)
    started_at: float = 0.0
    duration: float = 0.0
    documents: list[dict[str, Any]] = field(default_factory=list)  # source / gherkinDocument envelopes
    pickles: list[dict[str, Any]] = field(default_factory=list)
    step_definitions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True only when there were scenarios, all passed, and nothing failed to load."""
        return bool(self.scenarios) and not self.errors and all(not s.failed for s in self.scenarios)

    def counts(self) -> dict[str, int]:
        """Number of scenarios per status."""
        counts: dict[str, int] = {}
        for scenario in self.scenarios:
            counts[scenario.status] = counts.get(scenario.status, 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        scenarios = []
        for raw in data.get("scenarios", []):
            steps = [StepResult(**s) for s in raw.pop("steps", [])]
            scenarios.append(ScenarioResult(**raw, steps=steps))
        errors = [FeatureError(**e) for e in data.get("errors", [])]
        rest = {k: v for k, v in data.items() if k not in ("scenarios", "errors")}
        return cls(**rest, scenarios=scenarios, errors=errors)


# ------------------------------------------------------------------------------------------------
# Compiling features
# ------------------------------------------------------------------------------------------------


@dataclass
class PlannedStep:
    keyword: str
    text: str
    line: int
    pickle_step_id: str
    data_table: list[list[str]] | None
    doc_string: str | None


@dataclass
class PlannedScenario:
    pickle: dict[str, Any]
    name: str
    uri: str
    line: int
    feature: str
    rule: str | None
    tags: list[str]
    steps: list[PlannedStep]


@dataclass
class Compiled:
    """Parsed documents, their pickles, and the scenarios to run in file order."""

    documents: list[dict[str, Any]] = field(default_factory=list)
    pickles: list[dict[str, Any]] = field(default_factory=list)
    scenarios: list[PlannedScenario] = field(default_factory=list)
    errors: list[FeatureError] = field(default_factory=list)


def _uri(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return path.as_posix()


def _index_document(document: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Map AST node ids to their nodes (steps, scenarios, example rows) and scenario ids to rule names."""
    nodes: dict[str, dict[str, Any]] = {}
    rules: dict[str, str] = {}

    def visit(children: list[dict[str, Any]], rule: str | None) -> None:
        for child in children:
            if "rule" in child:
                visit(child["rule"].get("children", []), child["rule"].get("name") or None)
                continue
            node = child.get("background") or child.get("scenario")
            if not node:
                continue
            nodes[node["id"]] = node
            if "scenario" in child and rule:
                rules[node["id"]] = rule
            for step in node.get("steps", []):
                nodes[step["id"]] = step
            for examples in node.get("examples", []):
                for row in examples.get("tableBody", []):
                    nodes[row["id"]] = row

    feature = document.get("feature") or {}
    visit(feature.get("children", []), None)
    return nodes, rules


def compile_features(paths: Sequence[str | Path], root: str | Path | None = None) -> Compiled:
    """Parse feature files with gherkin-official and compile them to pickles (Background, Outlines, ...)."""
    ids = IdGenerator()  # one generator: ids stay unique across files, as Cucumber Messages require
    parser = Parser(ast_builder=AstBuilder(ids))
    compiler = Compiler(ids)
    compiled = Compiled()
    root_path = Path(root) if root is not None else None
    for raw in paths:
        path = Path(raw)
        uri = _uri(path, root_path)
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            compiled.errors.append(FeatureError(uri, None, None, f"cannot read {uri}: {exc.strerror or exc}"))
            continue
        compiled.documents.append(
            {"source": {"uri": uri, "data": source, "mediaType": "text/x.cucumber.gherkin+plain"}}
        )
        try:
            document: dict[str, Any] = {**parser.parse(source), "uri": uri}
        except CompositeParserException as exc:
            compiled.errors.extend(_parse_error(uri, e) for e in exc.errors)
            continue
        except ParserError as exc:
            compiled.errors.append(_parse_error(uri, exc))
            continue
        compiled.documents.append({"gherkinDocument": document})
        nodes, rules = _index_document(document)
        feature_name = (document.get("feature") or {}).get("name", "")
        # gherkin types its output as TypedDicts (step arguments as an empty one); this module reads it
        # as the JSON it is, so documents and pickles cross this boundary as plain dicts
        pickles = cast(list[dict[str, Any]], compiler.compile(cast(GherkinDocumentWithURI, document)))
        for pickle in pickles:
            compiled.pickles.append(pickle)
            scenario_node = nodes.get(pickle["astNodeIds"][0], {})
            # For an Outline example the second id is the example row: its line is the scenario's line.
            line_node = nodes.get(pickle["astNodeIds"][-1], scenario_node)
            line = (pickle.get("location") or line_node.get("location") or {}).get("line", 0)
            steps = []
            for pstep in pickle.get("steps", []):
                ast_step = nodes.get(pstep["astNodeIds"][0], {})
                argument = pstep.get("argument") or {}
                table = argument.get("dataTable")
                doc = argument.get("docString")
                steps.append(PlannedStep(
                    keyword=(ast_step.get("keyword") or "* ").strip(),
                    text=pstep["text"],
                    line=(ast_step.get("location") or {}).get("line", 0),
                    pickle_step_id=pstep["id"],
                    data_table=[[c["value"] for c in r["cells"]] for r in table["rows"]] if table else None,
                    doc_string=doc["content"] if doc else None,
                ))
            compiled.scenarios.append(PlannedScenario(
                pickle=pickle, name=pickle["name"], uri=uri, line=line, feature=feature_name,
                rule=rules.get(pickle["astNodeIds"][0]), tags=[t["name"] for t in pickle.get("tags", [])],
                steps=steps,
            ))
    return compiled


def _parse_error(uri: str, exc: ParserError) -> FeatureError:
    location: Location | dict[str, int] = exc.location if isinstance(exc, ParserException) else {}
    message = str(exc)
    message = re.sub(r"^\(\d+:\d+\): ", "", message)
    return FeatureError(uri, location.get("line"), location.get("column"), message)


# ------------------------------------------------------------------------------------------------
# Running
# ------------------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "scenario"


async def _screenshot(page: Any, path: Path) -> str | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(path), timeout=5000)
        return str(path)
    except Exception:  # noqa: BLE001 - a crashed or closed page must not hide the step's own error
        return None


async def _run_scenario(
    browser: Any, planned: PlannedScenario, registry: StepRegistry | None, base_url: str,
    options: RunOptions, out_dir: Path,
) -> ScenarioResult:
    result = ScenarioResult(
        id=planned.pickle["id"], name=planned.name, uri=planned.uri, line=planned.line,
        feature=planned.feature, rule=planned.rule, tags=planned.tags, started_at=time.time(),
    )
    folder = out_dir / f"{_slug(planned.name)}-{planned.pickle['id']}"
    started = time.perf_counter()
    context = None
    try:
        context = await browser.new_context(
            base_url=base_url, viewport={"width": options.viewport[0], "height": options.viewport[1]}
        )
        context.set_default_timeout(options.timeout_ms)
        context.set_default_navigation_timeout(max(options.timeout_ms, 15000))
        if options.trace:
            await context.tracing.start(screenshots=True, snapshots=True)
        page = await context.new_page()
        page.on("console", lambda msg: result.console_errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda err: result.console_errors.append(f"uncaught: {err}"))
        page.on("requestfailed", lambda req: result.failed_requests.append(
            f"{req.method} {req.url}: {req.failure or 'failed'}"))
        page.on("response", lambda resp: result.failed_requests.append(
            f"{resp.request.method} {resp.url}: HTTP {resp.status}") if resp.status >= 400 else None)
        failed = False
        last_page_step: StepResult | None = None
        for index, planned_step in enumerate(planned.steps, start=1):
            step_result = StepResult(
                keyword=planned_step.keyword, text=planned_step.text, line=planned_step.line, status="skipped",
                data_table=planned_step.data_table, doc_string=planned_step.doc_string,
            )
            result.steps.append(step_result)
            match = match_step(planned_step.text, registry)
            if match.status == "undefined":
                # Reported even after a failure, so every missing definition shows up at once.
                step_result.status = "undefined"
                step_result.error = match.message
                step_result.snippet = snippet(planned_step.text, data_table=planned_step.data_table is not None,
                                              doc_string=planned_step.doc_string is not None)
                failed = True
                continue
            if match.status == "ambiguous":
                step_result.status = "ambiguous"
                step_result.error = match.message
                failed = True
                continue
            assert match.definition is not None
            step_result.definition = match.definition.name
            if failed:
                continue
            ctx = StepContext(page=page, base_url=base_url, timeout=options.timeout_ms,
                              data_table=planned_step.data_table, doc_string=planned_step.doc_string)
            step_started = time.perf_counter()
            try:
                await asyncio.wait_for(match.definition.invoke(ctx, match.args), options.step_timeout_s())
                step_result.status = "passed"
            except StepFailure as exc:
                step_result.status, step_result.error = "failed", str(exc)
            except AssertionError as exc:
                step_result.status, step_result.error = "failed", _short(exc) or "assertion failed"
            except TimeoutError:
                step_result.status = "failed"
                step_result.error = f"the step did not finish within {options.step_timeout_s():g} s"
            except Exception as exc:  # noqa: BLE001 - any error in a step (project code too) fails that step
                step_result.status, step_result.error = "failed", f"{type(exc).__name__}: {_short(exc)}"
            step_result.duration = time.perf_counter() - step_started
            failed = failed or step_result.status == "failed"
            last_page_step = step_result
            if options.screenshots == "every_step" or (
                options.screenshots == "failures" and step_result.status == "failed"
            ):
                step_result.screenshot = await _screenshot(page, folder / f"step-{index:02d}.png")
        if options.screenshots == "final" and last_page_step is not None:
            last_page_step.screenshot = await _screenshot(page, folder / "final.png")
        result.screenshots = [s.screenshot for s in result.steps if s.screenshot]
        result.status = _scenario_status(result.steps)
    except Exception as exc:  # noqa: BLE001 - the browser itself failed: the scenario cannot pass
        result.status = "failed"
        result.error = f"{type(exc).__name__}: {_short(exc)}"
    finally:
        if context is not None:
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
    result.duration = time.perf_counter() - started
    return result


def _scenario_status(steps: list[StepResult]) -> StepStatus:
    for status in ("failed", "ambiguous", "undefined"):
        if any(s.status == status for s in steps):
            return status
    if not steps:
        return "undefined"  # an empty scenario proves nothing, so it must not pass
    return "passed"


def _load_registry(options: RunOptions) -> tuple[StepRegistry | None, list[FeatureError]]:
    if not (options.allow_repo_steps and options.steps_dir):
        return None, []
    try:
        return StepRegistry.load_dir(options.steps_dir), []
    except StepDefinitionError as exc:
        return None, [FeatureError(options.steps_dir, None, None, str(exc))]


def _definitions_json(registry: StepRegistry | None) -> list[dict[str, Any]]:
    from app.domain.steps import BUILTIN

    defs = list(BUILTIN) + (list(registry) if registry is not None else [])
    return [{"pattern": d.pattern, "source": d.source} for d in defs]


async def run_async(
    features: Sequence[str | Path], base_url: str, options: RunOptions | None = None, *,
    root: str | Path | None = None, browser: Any = None, progress: Progress | None = None,
) -> RunResult:
    """Run every scenario of `features` against `base_url` (in this process; see `run`)."""
    from playwright.async_api import async_playwright, expect

    from app.browser import launch

    options = options or RunOptions()
    run = RunResult(base_url=base_url, started_at=time.time())
    started = time.perf_counter()
    compiled = compile_features(features, root)
    registry, load_errors = _load_registry(options)
    run.errors = compiled.errors + load_errors
    run.documents, run.pickles = compiled.documents, compiled.pickles
    run.step_definitions = _definitions_json(registry)
    if load_errors or not compiled.scenarios:
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
            result = await _run_scenario(live_browser, planned, registry, base_url, options, out_dir)
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


def _has_repo_steps(options: RunOptions) -> bool:
    return bool(options.allow_repo_steps and options.steps_dir and any(Path(options.steps_dir).glob("*.py")))


def run(
    features: Sequence[str | Path], base_url: str, options: RunOptions | None = None, *,
    root: str | Path | None = None, shared_browser: Any = None, progress: Progress | None = None,
) -> RunResult:
    """Run the features synchronously; in a scrubbed child process when project steps are loaded.

    `shared_browser` is an `app.browser.SharedBrowser` to reuse (tests, benchmarks). Do not call
    from inside a running event loop: use `asyncio.to_thread(run, ...)`.
    """
    options = options or RunOptions()
    if _has_repo_steps(options):
        return run_in_child(features, base_url, options, root=root, progress=progress)
    if shared_browser is not None:
        return shared_browser.call(
            run_async(features, base_url, options, root=root, browser=shared_browser.browser, progress=progress)
        )
    return asyncio.run(run_async(features, base_url, options, root=root, progress=progress))


def scrubbed_env() -> dict[str, str]:
    """The environment for a child that runs repository code: an allow-list, never the secrets."""
    return {k: v for k, v in os.environ.items() if k in CHILD_ENV_ALLOW or k.startswith("LC_")}


def run_in_child(
    features: Sequence[str | Path], base_url: str, options: RunOptions, *,
    root: str | Path | None = None, progress: Progress | None = None,
) -> RunResult:
    """Run in one child process with a scrubbed environment; progress arrives as JSON lines on stdout."""
    with tempfile.TemporaryDirectory(prefix="specloop-qa-child-") as tmp:
        if options.out_dir is None:
            options = RunOptions(**{**asdict(options), "out_dir": tempfile.mkdtemp(prefix="specloop-qa-")})
        request = Path(tmp) / "request.json"
        response = Path(tmp) / "result.json"
        request.write_text(json.dumps({
            "features": [str(Path(f).resolve()) for f in features], "base_url": base_url,
            "root": str(Path(root).resolve()) if root is not None else None, "options": asdict(options),
        }))
        cwd = str(Path(root).resolve()) if root is not None else None
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.domain.qa_runner", str(request), str(response)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=scrubbed_env(), cwd=cwd,
        )
        deadline = time.monotonic() + options.run_timeout_s
        assert proc.stdout is not None
        for line in proc.stdout:
            if progress is not None and line.startswith("{"):
                try:
                    event = json.loads(line)
                    raw = event["scenario"]
                    steps = [StepResult(**s) for s in raw.pop("steps", [])]
                    progress(ScenarioResult(**raw, steps=steps), event["done"], event["total"])
                except (ValueError, KeyError, TypeError):
                    pass
            if time.monotonic() > deadline:
                proc.kill()
                break
        try:
            _, stderr = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
        if proc.returncode != 0 or not response.exists():
            tail = "\n".join((stderr or "").strip().splitlines()[-15:])
            result = RunResult(base_url=base_url, started_at=time.time())
            result.errors.append(FeatureError(
                options.steps_dir or "", None, None,
                f"the QA child process failed (exit {proc.returncode}):\n{tail}"))
            return result
        return RunResult.from_json(json.loads(response.read_text()))


def _child_main(argv: list[str]) -> int:
    """Entry point of the child process: read the request, run in-process, write the result."""
    request = json.loads(Path(argv[0]).read_text())
    raw_options = request["options"]
    raw_options["viewport"] = tuple(raw_options.get("viewport") or (1280, 800))
    options = RunOptions(**raw_options)

    def report(result: ScenarioResult, done: int, total: int) -> None:
        print(json.dumps({"scenario": asdict(result), "done": done, "total": total}), flush=True)

    result = asyncio.run(run_async(request["features"], request["base_url"], options,
                                   root=request.get("root"), progress=report))
    Path(argv[1]).write_text(json.dumps(result.to_json()))
    return 0


if __name__ == "__main__":
    raise SystemExit(_child_main(sys.argv[1:]))
