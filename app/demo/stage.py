"""The demo's stage: the harness (Redis, GitHub double, LLM double, web service, worker), the model, the
narrator, and the checks every phase uses to read the double and stop the demo with a clear message.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from app.demo.narrator import Narrator, markdown_lines
from app.demo.outcome import Outcome, Timing
from app.demo.scripted import ScriptedModel
from app.demo.story import DEBOUNCE_SECONDS, REPO, STORY_BODY, STORY_TITLE
from app.domain.markers import has_marker
from app.sandbox.github import GitHubDouble
from app.sandbox.harness import Harness, Totals

WAIT_DEFERRED = DEBOUNCE_SECONDS + 2.0  # a drain waits this long for a debounced re-map to come due

P = ParamSpec("P")
T = TypeVar("T")


class DemoFailure(Exception):
    """A phase did not do what it should; the message says what was expected and what happened."""


class Interrupted(Exception):
    """The person pressed Ctrl-C; everything is shut down before the demo exits."""


class Stage:
    """The running pieces, what the phases produced, and the helpers phases act and check with."""

    def __init__(self, narrator: Narrator, out_dir: Path, workdir: Path, *, broken: bool = False,
                 model_key: str | None = None) -> None:
        self.n = narrator
        self.broken = broken  # the scripted agent writes the app with a regression; QA must catch it
        # ANTHROPIC_API_KEY: the real model; None: the scripted one (LLM double). `--broken-app` scripts the
        # agent's regression, so it always runs the scripted model.
        self.model_key = None if broken else model_key
        self.model_key_ignored = broken and model_key is not None
        self.interrupted = False
        self.out_dir = out_dir
        self.workdir = workdir
        self.outcome = Outcome()
        self.started = time.perf_counter()
        self.harness = Harness(workdir, debounce_seconds=DEBOUNCE_SECONDS, llm=self.model_key is None)
        self.model: ScriptedModel | None = None  # set once the LLM double runs (no key)

    # -- the running pieces ------------------------------------------------------------------------

    @property
    def double(self) -> GitHubDouble:
        """The GitHub double people act on."""
        return self.harness.github

    def has_github(self) -> bool:
        """Whether the GitHub double was started (phase 1 may have stopped before it)."""
        try:
            return self.harness.github is not None
        except RuntimeError:
            return False

    def scripted(self) -> ScriptedModel | None:
        """The scripted model (no key), started with the LLM double; None when the real model answers."""
        if self.model is None and self.model_key is None:
            llm = self.harness.start_llm()
            assert llm is not None
            self.model = ScriptedModel(llm, title=STORY_TITLE, body=STORY_BODY)
        return self.model

    @property
    def bot(self) -> str:
        """The bot's login on the double."""
        return self.harness.settings.bot_login

    def url(self, path: str) -> str:
        """A page of the double's web host (what the links on GitHub would be)."""
        return f"{self.double.web_url}/{REPO}/{path}"

    # -- acting and waiting ------------------------------------------------------------------------

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Record how long a phase took."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.outcome.timings.append(Timing(name, time.perf_counter() - started))

    async def act(self, action: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A person's action on the double; it sends its webhook before returning (so off the event loop)."""
        self.check_interrupted()
        return await asyncio.to_thread(action, *args, **kwargs)

    def check_interrupted(self) -> None:
        """Stop at the next step after Ctrl-C (a running job finishes first: arq does not cancel it midway)."""
        if self.interrupted:
            raise Interrupted()

    async def drain(self) -> Totals:
        """Run the worker until no job is due: webhooks caused by jobs are delivered and their jobs run too."""
        totals = await self.harness.drain(wait_deferred=WAIT_DEFERRED, delivered=self.check_deliveries,
                                          ran=lambda _: self.check_interrupted())
        problem = self.model.unanswered() if self.model is not None else None
        if problem:
            raise DemoFailure(f"{problem} (the jobs' log: {self.out_dir / 'demo.log'})")
        if totals["failed"]:
            self.show_failure_comments()
            raise DemoFailure(f"{totals['failed']} job(s) failed for good; the bot's failure comment on GitHub and "
                              f"{self.out_dir / 'demo.log'} say why")
        return totals

    def check_deliveries(self) -> None:
        """Every webhook the double sent was accepted (2xx); a 401 or 503 means nothing downstream happens."""
        refused = self.harness.refused_deliveries()
        if refused:
            first = refused[0]
            raise DemoFailure(f"the web service answered {first.status_code} to the `{first.event}` webhook "
                              f"({first.error or first.response_body[:200]})")

    # -- reading the double ------------------------------------------------------------------------

    def show_failure_comments(self) -> None:
        """What the bot told people when a job failed for good (the same words a user would see)."""
        for comment in self.double.comments(REPO):
            if comment.user.login.lower() == self.bot.lower() and has_marker(comment.body, "failure"):
                self.n.fail(f"the bot commented on #{comment.number}:")
                self.n.quote(markdown_lines(comment.body), limit=8)

    def bot_comments(self, number: int, kind: str) -> list[Any]:
        """The bot's comments on an issue or PR that carry a `kind` marker."""
        return [c for c in self.double.comments(REPO, number)
                if c.user.login.lower() == self.bot.lower() and has_marker(c.body, kind)]

    def check_run(self, sha: str, name: str) -> Any:
        """The latest check run called `name` on `sha`, or a DemoFailure naming what is missing."""
        runs = self.double.check_runs(REPO, head_sha=sha, name=name)
        if not runs:
            raise DemoFailure(f"no `{name}` check run on commit {sha[:7]}")
        return max(runs, key=lambda r: r.id)

    def expect(self, condition: object, message: str) -> None:
        """Fail the phase with `message` unless `condition` holds."""
        if not condition:
            raise DemoFailure(message)

    def show_check(self, run: Any, *, summary_lines: int = 12) -> None:
        """A check run's name, conclusion, title and the start of its summary."""
        self.n.field("check run", f"{run.name} · {run.status} · conclusion: {run.conclusion or '—'}")
        self.n.field("title", str(run.output.get("title") or ""))
        self.n.quote(markdown_lines(run.output.get("summary")), limit=summary_lines)

    def map_state(self, number: int) -> tuple[Any, Any]:
        """The bot's map comment on the issue and the state in its marker."""
        from app.render.map_comment import read_map_state

        found = self.bot_comments(number, "map")
        self.expect(len(found) == 1, f"expected exactly one map comment on issue #{number}, found {len(found)}")
        state = read_map_state(found[0].body)
        self.expect(state is not None and state.map is not None, "the map comment carries no readable map")
        return found[0], state

    def show_map(self, comment: Any, state: Any) -> None:
        """The key parts of the map comment: revision, rules and examples, questions, verdict."""
        lines = markdown_lines(comment.body)
        self.n.field("comment", self.url(f"issues/{self.outcome.issue}#issuecomment-{comment.id}"))
        self.n.quote([lines[0]] if lines else [])
        rules = []
        for rule in state.map.rules:
            rules.append(f"🟦 {rule.id} · rule: {rule.text}")
            rules += [f"    🟩 {e.id} · example: {e.title}" for e in rule.examples]
        self.n.quote(rules)
        for question in state.map.questions:
            box = "☑" if question.answered else "☐"
            answer = f" — answer: {question.answer}" if question.answer else ""
            self.n.quote([f"{box} 🟥 {question.id} · question: {question.text}{answer}"])
        verdict = next((line for line in lines if line.startswith("Readiness:")), None)
        if verdict:
            self.n.quote([verdict])
