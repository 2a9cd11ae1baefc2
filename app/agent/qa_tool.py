"""The agent's own tools besides the editor and bash: `run_qa` (the approved scenarios in Chromium against
the app started from the workspace) and `finish` (the end of the run, with its summary).

`run_qa` runs exactly what the `specloop/qa` check will run: the approved feature files, the QA runner,
the app started by `qa.start` in the sandbox (`app/qa/repo_app.py`). Its answer to the model is short and
concrete: per scenario its status, the failing step, the error, and the page's text at the failure.
`finish` is never executed: the loop reads its input off the model's turn and ends the run there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from anthropic.lib.tools import BetaAsyncBuiltinFunctionTool, ToolError
from anthropic.types.beta import BetaToolParam, BetaToolUnionParam

from app.domain.qa_results import RunResult
from app.qa.repo_app import QaError

RUN_QA = "run_qa"
FINISH = "finish"
PAGE_TEXT_SHOWN = 800  # characters of the page's text per failing scenario in the tool's answer

FINISH_TOOL: BetaToolParam = {
    "name": FINISH,
    "description": (
        "End the run when the implementation is complete (every approved scenario passes in run_qa and the "
        "project's tests are green), or when you cannot make progress. Specloop then checks the work itself, "
        "commits it and pushes it to the pull request. Nothing after this call is executed."
    ),
    "input_schema": {
        "type": "object",
        "properties": {"summary": {
            "type": "string",
            "description": "What you changed and why, for the people reviewing the pull request (Markdown, short).",
        }},
        "required": ["summary"],
    },
}


def describe_result(result: RunResult) -> str:
    """The QA result as the model reads it: counts, then each scenario that did not pass, concretely."""
    counts = result.counts()
    total = len(result.scenarios)
    lines = [f"{counts.get('passed', 0)} of {total} approved scenarios pass."]
    for error in result.errors:
        lines.append(f"- error: {error.message}")
    for scenario in result.scenarios:
        if scenario.status == "passed":
            lines.append(f"- PASSED: {scenario.name}")
            continue
        if scenario.status == "skipped":
            skipped_by = next((s for s in scenario.steps if s.error), None)
            why = f" ({skipped_by.error.strip()[:200]})" if skipped_by and skipped_by.error else ""
            lines.append(f"- SKIPPED: {scenario.name}: a project step or hook skipped it{why}; it tests nothing, "
                         "so it does not count as passing.")
            continue
        lines.append(f"- {scenario.status.upper()}: {scenario.name} ({scenario.uri}:{scenario.line})")
        step = scenario.failing_step()
        if step is not None:
            lines.append(f"  step: {step.keyword.strip()} {step.text} (line {step.line})")
            if step.error:
                lines.append(f"  error: {step.error.strip()[:600]}")
            if step.status == "undefined":
                lines.append("  No step definition matches this step. Step definitions are part of the approved "
                             "test and you cannot write them: a person must add one.")
        elif scenario.error:
            lines.append(f"  error: {scenario.error[:600]}")
        if scenario.page_text:
            lines.append("  the page said: " + scenario.page_text[:PAGE_TEXT_SHOWN].replace("\n", " | "))
        if scenario.console_errors:
            lines.append("  console errors: " + "; ".join(scenario.console_errors[:3])[:400])
    return "\n".join(lines)


class RunQaTool(BetaAsyncBuiltinFunctionTool):
    """`run_qa`: `run()` runs the approved scenarios; the model gets `describe_result` of it."""

    def __init__(self, run: Callable[[], Awaitable[RunResult]],
                 on_result: Callable[[RunResult], None] | None = None) -> None:
        self._run = run
        self._on_result = on_result

    def to_dict(self) -> BetaToolUnionParam:
        return {
            "name": RUN_QA,
            "description": (
                "Run the approved Gherkin scenarios (the specification this pull request was approved with) in "
                "Chromium against the app, started from your working copy with the repository's `qa.start` "
                "command. Returns each scenario's status; for a failure, the failing step, the error and the "
                "page's text at that moment. Call it after each meaningful change; the run is done when all pass."
            ),
            "input_schema": {"type": "object", "properties": {}},
        }

    async def call(self, input: object) -> str:
        try:
            result = await self._run()
        except QaError as error:
            detail = f"\n{error.detail}" if error.detail else ""
            raise ToolError(f"QA could not run: {error}{detail}") from None
        if self._on_result is not None:
            self._on_result(result)
        return describe_result(result)


def finish_summary(content: list[Any]) -> str | None:
    """The summary of a `finish` call among a model turn's content blocks (None when it did not finish)."""
    for block in content:
        if getattr(block, "type", None) == "tool_use" and getattr(block, "name", None) == FINISH:
            data = getattr(block, "input", None)
            summary = data.get("summary") if isinstance(data, dict) else None
            return str(summary or "").strip() or "(no summary)"
    return None
