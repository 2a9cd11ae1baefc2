"""The demo as a script: its phases in order over one harness, with a clean stop on Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from app.demo.gate import approve
from app.demo.mapping import answer_question, label_story, open_issue
from app.demo.narrator import Narrator
from app.demo.outcome import Outcome, summary
from app.demo.qa import qa_on_code, reports
from app.demo.report import transcript, write_report
from app.demo.stage import Interrupted, Stage
from app.demo.start import create_repo, start
from app.demo.story import REPO

Phase = Callable[[Stage], Awaitable[None]]


def script(*, reports_too: bool = True) -> list[Phase]:
    """The phases, in the order the story happens."""
    return [
        start,            # 1. Redis, the GitHub double, the model (LLM double or real), the web service, the worker
        create_repo,      # 2. acme/newsletter: a page without the sign-up; its people; the app installed
        open_issue,       # 3. alice writes the story; Specloop stays quiet
        label_story,      # 4. alice labels it `story`: the Example Map, with one open question
        answer_question,  # 5. alice answers: the map is ready, the spec PR opens by itself
        approve,          # 6. bob approves: the gate opens; the code is generated and pushed to the PR branch
        qa_on_code,       # 7. the push starts QA: the branch's app, the approved scenarios in Chromium, screenshots
        *([reports] if reports_too else []),  # the same scenarios from a terminal against the branch's app
        summary,          # 8. the status chain, timings, artifacts
    ]


async def run_demo(narrator: Narrator, out_dir: Path, workdir: Path, *, reports: bool = True,
                   broken: bool = False, model_key: str | None = None, report: Path | None = None) -> Outcome:
    """All phases in order; raises DemoFailure (or anything unexpected) when one does not do its job.

    `model_key`: ANTHROPIC_API_KEY for the real model (None: the scripted one); `report`: where to write
    the JSON transcript of what GitHub shows at the end (also when a phase failed, as far as it got).
    """
    stage = Stage(narrator, out_dir, workdir, broken=broken, model_key=model_key)
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()

    def interrupt() -> None:
        # The first Ctrl-C asks for a clean stop; a second one gets Python's default (KeyboardInterrupt).
        stage.interrupted = True
        loop.remove_signal_handler(signal.SIGINT)
        narrator.write()
        narrator.fail("Ctrl-C: stopping after the current step and shutting everything down …")
        if main_task is not None:
            main_task.cancel()

    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread / no signals
        loop.add_signal_handler(signal.SIGINT, interrupt)
    with stage.harness:
        try:
            for phase in script(reports_too=reports):
                await phase(stage)
        except (asyncio.CancelledError, Exception):
            # After Ctrl-C the terminal's SIGINT also stops redis-server and Chromium (same process
            # group), so whatever fails next is part of the interruption, not a finding.
            if stage.interrupted:
                raise Interrupted() from None
            raise
        finally:
            if report is not None and stage.has_github():
                write_report(report, transcript(stage.double, REPO, stage.outcome.issue, out_dir))
            await stage.harness.stop_worker()
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGINT)
    return stage.outcome
