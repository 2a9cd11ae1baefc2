"""`specloop demo` (`make demo`): the whole loop against the built-in GitHub double, narrated, no credentials.

Everything runs on loopback in one process: a managed `redis-server`, the GitHub double, the demo
newsletter app, the web service and a worker. People (alice, bob) act on the double exactly as they
would on GitHub; the double signs and sends webhooks to the service, which queues jobs; the worker runs
them (a burst after each action, so the story reads in order). Each phase checks its outcome on the
double and stops the demo with a clear message when something did not happen.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

REPO = "acme/newsletter"
PEOPLE = {"alice": "admin", "bob": "write", "tina": "triage", "rita": "read"}  # login -> role on REPO
DEBOUNCE_SECONDS = 1.0  # conversation re-maps wait this long (30 s in production) to merge quick replies
DEFAULT_OUT = Path(".specloop") / "demo"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STEP_TIMEOUT_S = 3  # per QA step; a local app answers in milliseconds, so a failing step fails fast

STORY_TITLE = "Visitors can subscribe to the newsletter"
# Written the way the offline mapper reads stories (app/domain/story.py): a Connextra line, an
# acceptance-criteria list (the rules), Given/When/Then scenarios in the web step vocabulary (the
# examples) and an "Open questions" section (the red card).
STORY_BODY = """\
As a visitor, I want to subscribe to the newsletter so that I hear about new releases.

## Acceptance criteria
- A valid email address is subscribed and thanked
- An invalid email address is refused with a message
- An address that is already subscribed is refused with a notice

## Examples
Scenario: the one where Ada subscribes with a valid address
Given I am on "/"
When I fill in "Email" with "ada@example.com"
And I press "Subscribe"
Then I should see "Thanks! ada@example.com is subscribed"

Scenario: the one with a typo in the address
Given I am on "/"
When I fill in "Email" with "ada.example.com"
And I press "Subscribe"
Then I should see "Please enter a valid email address"

Scenario: the one where Grace subscribes twice
Given I am on "/"
When I fill in "Email" with "grace@example.com"
And I press "Subscribe"
And I fill in "Email" with "grace@example.com"
And I press "Subscribe"
Then I should see "grace@example.com is already subscribed"

## Open questions
- Should an address that is already subscribed be refused with a notice, or accepted silently?
"""
# A reply naming the question's id is an answer the offline mapper recognises ("Q1: ...").
ANSWER = "Q1: An address that is already subscribed is refused with a notice."


def repo_files(base_url: str) -> dict[str, str]:
    """The demo repository's initial commit: a README and the Specloop config pointing QA at the app."""
    return {
        "README.md": "# Acme newsletter\n\nThe sign-up page for Acme's monthly newsletter.\n",
        ".github/specloop.yml": (
            "# Specloop settings for this repository (read from the default branch)\n"
            "features_dir: features\n"
            "qa:\n"
            f"  base_url: {base_url}\n"
            f"  timeout_ms: {STEP_TIMEOUT_S * 1000}  # how long a step may wait; the app runs locally\n"
        ),
    }


class DemoFailure(Exception):
    """A phase did not do what it should; the message says what was expected and what happened."""


class Interrupted(Exception):
    """The person pressed Ctrl-C; everything is shut down before the demo exits."""


# --- the narration ----------------------------------------------------------------------------------


class Narrator:
    """Writes the demo's story to the terminal: phases, what happened, short excerpts, links."""

    def __init__(self, out: TextIO, color: bool | None = None, width: int = 100) -> None:
        self.out = out
        if color is None:
            color = out.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
        self.color = color
        self.width = width

    def _style(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def bold(self, text: str) -> str:
        return self._style(text, "1")

    def dim(self, text: str) -> str:
        return self._style(text, "2")

    def write(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def banner(self, title: str, subtitle: str) -> None:
        """The opening lines."""
        self.write(self.bold(title))
        self.write(self.dim(subtitle))

    def phase(self, number: int, total: int, title: str) -> None:
        """A phase heading: `── 3/8 · alice labels the issue `story` ───`."""
        head = f"── {number}/{total} · {title} "
        self.write()
        self.write(self.bold(head + "─" * max(3, self.width - len(head))))

    def say(self, text: str) -> None:
        """A line of narration, wrapped."""
        for line in textwrap.wrap(text, self.width - 2, break_on_hyphens=False) or [""]:
            self.write(f"  {line}")

    def ok(self, text: str) -> None:
        """Something the bot did, checked on the double."""
        self.write(f"  {self._style('✓', '32')} {text}")

    def fail(self, text: str) -> None:
        """What went wrong."""
        self.write(f"  {self._style('✗', '31')} {text}")

    def field(self, name: str, value: str, width: int = 12) -> None:
        """`name  value`, aligned."""
        self.write(f"    {self.dim(f'{name:<{width}}')} {value}")

    def quote(self, lines: Sequence[str], limit: int = 40) -> None:
        """An excerpt of something on GitHub (comment, file, check run), indented behind a bar."""
        shown = list(lines)[:limit]
        for line in shown:
            self.write(f"    {self.dim('│')} {line}")
        if len(lines) > limit:
            self.write(f"    {self.dim('│')} {self.dim(f'… {len(lines) - limit} more lines')}")


def plain(markdown: str) -> str:
    """One line of GitHub markdown as terminal text: no emphasis markers, tags, task boxes or table bars."""
    if re.fullmatch(r"\s*\|[\s|:-]*\|\s*", markdown):
        return ""  # a table's header separator
    text = markdown
    if text.strip().startswith("|") and text.strip().endswith("|"):
        text = "  ·  ".join(cell.strip() for cell in text.strip()[1:-1].split("|"))
    text = re.sub(r"<[^>]+>", "", text)
    text = text.replace("**", "").replace("`", "")
    text = re.sub(r"(?<!\w)_(.+?)_(?!\w)", r"\1", text)
    text = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1 (\2)", text)  # links keep their URL: the double's
    text = re.sub(r"^- \[x\] ", "☑ ", text)
    text = re.sub(r"^- \[ \] ", "☐ ", text)
    return text.strip()


def markdown_lines(markdown: str | None, *, skip_markers: bool = True) -> list[str]:
    """The visible lines of a GitHub markdown text (hidden markers and blank lines dropped)."""
    lines = []
    for raw in (markdown or "").splitlines():
        if skip_markers and raw.strip().startswith("<!--"):
            continue
        text = plain(raw)
        if text:
            lines.append(text)
    return lines


# --- the demo ---------------------------------------------------------------------------------------


@dataclass
class Timing:
    """How long one phase took."""

    name: str
    seconds: float


@dataclass
class Outcome:
    """What the demo produced, for the summary."""

    issue: int | None = None
    pull: int | None = None
    branch: str | None = None
    feature_path: str | None = None
    status_line: str | None = None
    screenshot: Path | None = None
    reports: dict[str, Path] = field(default_factory=dict)
    timings: list[Timing] = field(default_factory=list)


PHASES = 8


class Demo:
    """The running pieces and the phases that act on them."""

    def __init__(self, narrator: Narrator, out_dir: Path, workdir: Path, *, broken: bool = False) -> None:
        self.n = narrator
        self.broken = broken  # serve the app with a regression; QA must catch it
        self.interrupted = False
        self.out_dir = out_dir
        self.workdir = workdir
        self.outcome = Outcome()
        self.stack = contextlib.ExitStack()
        self.double: Any = None
        self.app: Any = None
        self.web: Any = None
        self.redis: Any = None
        self.settings: Any = None
        self.deps: Any = None
        self._redis_client: Any = None
        self._deliveries_checked = 0  # webhooks already checked for a 2xx answer

    # -- helpers -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Record how long a phase took."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.outcome.timings.append(Timing(name, time.perf_counter() - started))

    @property
    def bot(self) -> str:
        return self.settings.bot_login

    def url(self, path: str) -> str:
        """A page of the double's web host (what the links on GitHub would be)."""
        return f"{self.double.web_url}/{REPO}/{path}"

    async def act(self, action: Any, *args: Any, **kwargs: Any) -> Any:
        """A person's action on the double; it sends its webhook before returning (so off the event loop)."""
        self.check_interrupted()
        return await asyncio.to_thread(action, *args, **kwargs)

    def check_interrupted(self) -> None:
        """Stop at the next step after Ctrl-C (a running job finishes first: arq does not cancel it midway)."""
        if self.interrupted:
            raise Interrupted()

    async def drain(self, wait_deferred: float = DEBOUNCE_SECONDS + 2.0) -> dict[str, int]:
        """Run the worker until no job is due: webhooks caused by jobs are delivered and their jobs run too."""
        from jobs.worker import run_burst

        totals = {"complete": 0, "failed": 0, "retried": 0}
        for _ in range(20):
            await asyncio.to_thread(self.double.wait_for_deliveries)
            self.check_deliveries()
            result = await run_burst(self.settings, self.redis.url, self.deps, wait_deferred=wait_deferred)
            for key in totals:
                totals[key] += result[key]
            self.check_interrupted()
            if not any(result.values()):
                break
        if totals["failed"]:
            self.show_failure_comments()
            raise DemoFailure(f"{totals['failed']} job(s) failed for good; the bot's failure comment on GitHub and "
                              f"{self.out_dir / 'demo.log'} say why")
        return totals

    def check_deliveries(self) -> None:
        """Every webhook the double sent was accepted (2xx); a 401 or 503 means nothing downstream happens."""
        refused = [d for d in self.double.deliveries[self._deliveries_checked:]
                   if d.status_code is None or not 200 <= d.status_code < 300]
        self._deliveries_checked = len(self.double.deliveries)
        if refused:
            first = refused[0]
            raise DemoFailure(f"the web service answered {first.status_code} to the `{first.event}` webhook "
                              f"({first.error or first.response_body[:200]})")

    def show_failure_comments(self) -> None:
        """What the bot told people when a job failed for good (the same words a user would see)."""
        from app.render.markers import has_marker

        for comment in self.double.comments(REPO):
            if comment.user.login.lower() == self.bot.lower() and has_marker(comment.body, "failure"):
                self.n.fail(f"the bot commented on #{comment.number}:")
                self.n.quote(markdown_lines(comment.body), limit=8)

    def bot_comments(self, number: int, kind: str) -> list[Any]:
        """The bot's comments on an issue or PR that carry a `kind` marker."""
        from app.render.markers import has_marker

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

    # -- phase 1: start everything -----------------------------------------------------------------

    async def start(self) -> None:
        """Redis, the GitHub double, the demo app, the web service and the worker's clients."""
        from redis.asyncio import Redis

        from app.redis_server import ManagedRedis, free_port
        from app.sandbox.demo_app import DemoApp
        from app.sandbox.github import GitHubDouble
        from app.settings import Settings
        from app.web import BackgroundServer, create_app
        from jobs.worker import build_deps

        self.n.phase(1, PHASES, "Starting Specloop and a local GitHub")
        with self.timed("start"):
            self.redis = ManagedRedis(self.workdir / "redis").start()
            self.stack.callback(self.redis.stop)
            self.n.ok(f"{'redis-server':<21} {self.redis.url}  (managed, AOF on)")

            self.double = GitHubDouble(root=self.workdir / "github").start()
            self.stack.callback(self.double.stop)
            self.n.ok(f"{'GitHub double':<21} {self.double.web_url}  (REST API, git over HTTP, signed webhooks)")

            self.app = DemoApp(broken=self.broken).start()
            self.stack.callback(self.app.stop)
            what = "with a regression (--broken-app)" if self.broken else "the newsletter sign-up page"
            self.n.ok(f"{'app under test':<21} {self.app.url}  ({what})")

            port = free_port()
            public_url = f"http://127.0.0.1:{port}"
            # As a real deployment would be configured, minus ANTHROPIC_API_KEY: the offline mapper and
            # the deterministic feature writer do the model's part, and code generation is not in this version.
            self.settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                app_id=self.double.app_id, app_slug=self.double.slug,
                private_key=self.double.private_key_pem, webhook_secret=self.double.webhook_secret,
                github_url=self.double.web_url, github_api_url=self.double.api_url,
                public_url=public_url, redis_url=self.redis.url, data_dir=self.workdir / "specloop",
                debounce_seconds=DEBOUNCE_SECONDS, allow_repo_code=False, anthropic_api_key=None,
            )
            self.web = BackgroundServer(create_app(self.settings), port=port).start()
            self.stack.callback(self.web.stop)
            self.double.set_webhook_url(f"{self.web.url}/api/github/webhooks")
            self.n.ok(f"{'Specloop web service':<21} {self.web.url}  (webhooks, /healthz, screenshots)")

            self._redis_client = Redis.from_url(self.redis.url)
            self.deps = await build_deps(self.settings, self._redis_client)
            self.n.ok(f"{'Specloop worker':<21} light + heavy queues, run after each step")
            self.n.say("No ANTHROPIC_API_KEY: the offline mapper and the deterministic feature writer do the "
                       "model's part. Code generation is not in this version yet: its check says so.")

    async def stop_clients(self) -> None:
        """Close what lives on the event loop: the worker's GitHub connections and Redis client."""
        closer = getattr(getattr(self.deps, "github", None), "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):  # shutting down: a connection already gone is fine
                await closer()
        if self._redis_client is not None:
            await self._redis_client.aclose()
            self._redis_client = None

    # -- phase 2: the repository -------------------------------------------------------------------

    async def create_repo(self) -> None:
        """acme/newsletter with a README and `.github/specloop.yml`; people; the app installed."""
        self.n.phase(2, PHASES, f"The repository {REPO}")
        with self.timed("repository"):
            files = repo_files(self.app.url)
            self.double.create_repo(REPO, files=dict(files), default_branch="main")
            for login, role in PEOPLE.items():
                self.double.add_user(login, role, repo=REPO)
            installation = self.double.install(REPO.split("/")[0], [REPO])
            self.n.ok(f"created {self.url('').rstrip('/')} with README.md and .github/specloop.yml:")
            self.n.quote(files[".github/specloop.yml"].splitlines()[1:])
            self.n.ok("people: " + ", ".join(f"{login} ({role})" for login, role in PEOPLE.items()))
            self.n.ok(f"the Specloop app is installed on {REPO} (installation {installation})")

    # -- phase 3: the story ------------------------------------------------------------------------

    async def open_issue(self) -> int:
        """alice writes the story as an issue."""
        self.n.phase(3, PHASES, "alice opens an issue with a story")
        with self.timed("issue"):
            number = await self.act(self.double.open_issue, REPO, STORY_TITLE, STORY_BODY, by="alice")
            await self.drain()
            self.outcome.issue = number
            self.n.ok(f"issue #{number} “{STORY_TITLE}”  {self.url(f'issues/{number}')}")
            self.n.quote([line for line in STORY_BODY.splitlines() if line.strip()])
            spoke = [c for c in self.double.comments(REPO, number) if c.user.login.lower() == self.bot.lower()]
            self.expect(not spoke, "the bot commented on an issue nobody asked it about")
            self.n.say("Not labelled yet, so Specloop stays quiet (it acts only when asked).")
        return number

    # -- phase 4: the example map ------------------------------------------------------------------

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

    async def label_story(self, number: int) -> None:
        """alice labels the issue `story`: an eyes reaction, one map comment, `needs-answers`."""
        from app.domain.example_map import Readiness

        self.n.phase(4, PHASES, "alice labels it `story` → Specloop posts an Example Map")
        with self.timed("example map"):
            await self.act(self.double.label_issue, REPO, number, "story", by="alice")
            await self.drain()
            self.expect("eyes" in self.double.reactions(REPO, number),
                        "Specloop did not react with 👀 to the story label")
            self.n.ok("reacted 👀 at once, then mapped the story in a job")
            comment, state = self.map_state(number)
            readiness = state.map.readiness(state.max_rules)
            self.expect(state.revision == 1, f"expected map revision 1, got {state.revision}")
            self.expect(readiness is Readiness.OPEN_QUESTIONS,
                        f"expected the first map to have an open question, it is `{readiness.value}`")
            rules, examples = len(state.map.rules), sum(len(r.examples) for r in state.map.rules)
            self.n.ok(f"posted the Example Map, revision {state.revision}: {rules} rules, {examples} examples, "
                      f"{len(state.map.open_questions())} open question")
            self.show_map(comment, state)
            labels = self.double.labels(REPO, number)
            self.expect("needs-answers" in labels, f"expected the `needs-answers` label, the issue has {labels}")
            self.n.ok("labels: " + ", ".join(labels))

    # -- phase 5: the answer, the converged map and the spec PR ------------------------------------

    async def answer_question(self, number: int) -> None:
        """alice answers Q1 in the thread: the map converges, is ready, and the spec PR opens by itself."""
        from app.domain.example_map import Readiness

        self.n.phase(5, PHASES, "alice answers the question → the map is ready → the spec PR opens")
        with self.timed("answer + spec PR"):
            await self.act(self.double.comment, REPO, number, ANSWER, by="alice")
            self.n.ok(f"alice replied: “{ANSWER}”")
            self.n.say(f"Replies are debounced ({DEBOUNCE_SECONDS:g} s here, about 30 s in production) so a "
                       "burst of answers causes one re-map.")
            await self.drain()
            comment, state = self.map_state(number)
            readiness = state.map.readiness(state.max_rules)
            self.expect(state.revision == 2, f"expected the answer to make map revision 2, it is {state.revision}")
            self.expect(readiness is Readiness.READY, f"expected the map to be ready, it is `{readiness.value}`")
            self.n.ok(f"re-mapped in place (same comment), revision {state.revision}: "
                      + "; ".join(str(c) for c in state.changes))
            self.show_map(comment, state)
            labels = self.double.labels(REPO, number)
            self.n.ok("labels: " + ", ".join(labels))

            pulls = [p for p in self.double.repo(REPO).pulls.values() if p.head_ref.startswith(f"specloop/{number}-")]
            self.expect(len(pulls) == 1, f"expected one spec PR from a specloop/{number}-… branch, found {len(pulls)}")
            pull = pulls[0]
            issue = self.double.issue(REPO, pull.number)
            self.outcome.pull, self.outcome.branch = pull.number, pull.head_ref
            self.n.ok(f"opened the spec PR by itself (spec.auto): #{pull.number} “{issue.title}”")
            self.n.field("link", self.url(f"pull/{pull.number}"))
            self.n.field("branch", f"{pull.head_ref} → {pull.base_ref}  (head {pull.head_sha[:7]})")
            self.expect(f"Closes #{number}" in (issue.body or ""), f"the spec PR body does not say `Closes #{number}`")
            reviewers = ", ".join(u.login for u in pull.requested_reviewers) or "none"
            self.n.field("reviewers", f"requested: {reviewers}")

            features = self._feature_paths(pull.head_sha)
            self.expect(features, f"no .feature file under features/ on {pull.head_ref}")
            path = features[0]
            self.outcome.feature_path = path
            text = self.double.file(REPO, path, ref=pull.head_sha) or ""
            self.n.ok(f"committed {path}:")
            self.n.quote(text.rstrip("\n").splitlines(), limit=60)
            run = self.check_run(pull.head_sha, "specloop/spec")
            self.expect(run.conclusion == "action_required",
                        f"expected specloop/spec to wait for approval (action_required), it is `{run.conclusion}`")
            self.n.ok("validated it (gherkin-official parse + lint against the QA step vocabulary):")
            self.show_check(run, summary_lines=6)

    def _feature_paths(self, sha: str) -> list[str]:
        """`.feature` files under features/ at `sha` (read from the double's real git repository)."""
        entries = self.double.repo(REPO).git.ls_tree(sha, recursive=True)
        return sorted(e.path for e in entries if e.type == "blob" and e.path.startswith("features/")
                      and e.path.endswith(".feature"))

    # -- phase 6: the approval gate ----------------------------------------------------------------

    async def approve(self) -> None:
        """bob (write) approves the PR's head: the gate opens, the fingerprint is recorded, code is asked for."""
        from app.domain.fingerprint import Fingerprint
        from app.render.markers import find_marker

        assert self.outcome.pull is not None
        number = self.outcome.pull
        self.n.phase(6, PHASES, "bob approves the spec PR → the gate opens")
        with self.timed("approval"):
            head = self.double.pull(REPO, number).head_sha
            await self.act(self.double.submit_review, REPO, number, "APPROVED", by="bob", commit_id=head,
                           body="Reads right. Approved.")
            self.n.ok(f"bob (write access) approved commit {head[:7]}")
            await self.drain()
            body = self.double.issue(REPO, number).body or ""
            fingerprint = Fingerprint.from_data(find_marker(body, "fingerprint"))
            self.expect(fingerprint is not None, "the gate did not open: no approval fingerprint in the PR body")
            assert fingerprint is not None
            self.expect(fingerprint.sha == head and fingerprint.approver == "bob",
                        f"the fingerprint records {fingerprint.approver} on {fingerprint.sha[:7]}, "
                        f"expected bob on {head[:7]}")
            self.n.ok(f"recorded the fingerprint in the PR body: approved by @{fingerprint.approver} on "
                      f"{fingerprint.sha[:7]}, digest {fingerprint.digest[:12]}")
            for path, digest in sorted(fingerprint.manifest.items()):
                self.n.field("locked", f"{path}  sha256 {digest[:16]}…")
            spec = self.check_run(head, "specloop/spec")
            self.expect(spec.conclusion == "success",
                        f"expected specloop/spec to succeed after approval, it is `{spec.conclusion}`")
            self.n.ok(f"specloop/spec is now {spec.conclusion}: {spec.output.get('title')}")
            code = self.check_run(head, "specloop/code")
            self.expect(code.conclusion == "neutral", f"expected a neutral specloop/code run, it is `{code.conclusion}`")
            self.n.ok("asked for code generation once for this commit; without a model key it is not available:")
            self.show_check(code, summary_lines=4)
            self.n.say("This version of Specloop generates no code yet. The demo app already implements the story, "
                       "so QA can prove the approved scenarios against it.")

    # -- phase 7: QA in Chromium -------------------------------------------------------------------

    async def run_qa(self) -> None:
        """alice comments `/specloop qa`: the approved scenarios run in Chromium; check run with screenshots."""
        import httpx

        assert self.outcome.pull is not None
        number = self.outcome.pull
        self.n.phase(7, PHASES, "alice comments `/specloop qa` → Playwright QA in Chromium")
        with self.timed("QA"):
            head = self.double.pull(REPO, number).head_sha
            await self.act(self.double.comment, REPO, number, "/specloop qa", by="alice")
            self.n.ok(f"alice commented “/specloop qa” on PR #{number}")
            await self.drain()
            run = self.check_run(head, "specloop/qa")
            self.expect(run.status == "completed", f"specloop/qa did not complete (status `{run.status}`)")
            if self.broken:
                self._expect_caught_regression(run)
            elif run.conclusion != "success":
                self.show_check(run, summary_lines=20)
                self.n.quote(markdown_lines(run.output.get("text")), limit=30)
                raise DemoFailure(f"specloop/qa concluded `{run.conclusion}`: {run.output.get('title')}")
            else:
                self.n.ok(f"ran exactly the approved scenarios in Chromium against {self.app.url}:")
                self.show_check(run, summary_lines=20)
            self.n.field("link", self.url(f"runs/{run.id}"))
            self.expect(run.images, "the specloop/qa check run shows no screenshots")
            self.n.ok(f"{len(run.images)} screenshots on the check run, served by Specloop at signed URLs:")
            for image in run.images:
                self.n.field("image", f"{image.get('caption', '')}")
                self.n.field("", str(image.get("image_url")))
            url = str(run.images[0]["image_url"])
            async with httpx.AsyncClient(timeout=10) as http:
                response = await http.get(url)
            self.expect(response.status_code == 200 and response.content.startswith(PNG_MAGIC),
                        f"the screenshot URL answered {response.status_code} "
                        f"{response.headers.get('content-type')}, not a PNG")
            shot = self.out_dir / "screenshot.png"
            shot.write_bytes(response.content)
            self.outcome.screenshot = shot
            self.n.ok(f"fetched the first one: HTTP 200, {response.headers.get('content-type')}, "
                      f"{len(response.content):,} bytes → {shot}")

    def _expect_caught_regression(self, run: Any) -> None:
        """With `--broken-app`: QA must fail exactly the duplicate-address scenario, at its Then line."""
        self.expect(run.conclusion == "failure",
                    f"QA concluded `{run.conclusion}` against the broken app: it missed the regression")
        self.n.ok("QA caught the regression in the broken app:")
        self.show_check(run, summary_lines=20)
        self.n.quote(markdown_lines(run.output.get("text")), limit=16)
        self.expect(run.annotations, "the failing specloop/qa run has no annotations on the .feature file")
        for note in run.annotations:
            self.n.field("annotation", f"{note['path']}:{note['start_line']} · {note['title']}")
        failed = {str(note["title"]) for note in run.annotations}
        self.expect(len(failed) == 1 and "Grace subscribes twice" in next(iter(failed)),
                    f"expected only the duplicate-address scenario to fail, the annotations name {sorted(failed)}")

    # -- the same scenarios from a terminal: standard reports ----------------------------------------

    async def reports(self) -> None:
        """`specloop qa` on the approved feature file: JUnit XML, Cucumber Messages NDJSON, HTML report."""
        assert self.outcome.feature_path is not None and self.outcome.pull is not None
        with self.timed("reports"):
            head = self.double.pull(REPO, self.outcome.pull).head_sha
            checkout = self.workdir / "checkout"
            feature = checkout / self.outcome.feature_path
            feature.parent.mkdir(parents=True, exist_ok=True)
            feature.write_text(self.double.file(REPO, self.outcome.feature_path, ref=head) or "")
            self.app.subscribers.clear()  # a fresh app, as a new deployment would be
            report_dir = self.out_dir / "qa-report"
            shutil.rmtree(report_dir, ignore_errors=True)
            # The real command line, run where a CI job would run it: in a checkout of the branch.
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "app.cli", "qa", "--base-url", self.app.url, "--out", str(report_dir),
                "--timeout", str(STEP_TIMEOUT_S), self.outcome.feature_path,
                cwd=checkout, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                                               os.environ.get("PYTHONPATH")]))},
            )
            output, _ = await process.communicate()
            expected = 1 if self.broken else 0  # `specloop qa` exits 1 when a scenario fails
            if process.returncode != expected:
                self.n.quote(output.decode(errors="replace").splitlines(), limit=30)
                raise DemoFailure(f"`specloop qa` on the approved feature exited {process.returncode}, "
                                  f"expected {expected}")
            found = {p.name: p for p in sorted(report_dir.glob("*")) if p.is_file()}
            self.outcome.reports = found
            self.n.ok(f"the same scenarios from a terminal, for CI: `specloop qa --base-url {self.app.url} "
                      f"{self.outcome.feature_path}`")
            for path in found.values():
                self.n.field("report", f"{path}  ({path.stat().st_size:,} bytes)")

    # -- phase 8: summary --------------------------------------------------------------------------

    def summary(self, started: float) -> None:
        """The status chain from the map comment, the timings and where the artifacts are."""
        assert self.outcome.issue is not None
        self.n.phase(8, PHASES, "Summary")
        comment, _ = self.map_state(self.outcome.issue)
        status = next((line for line in markdown_lines(comment.body) if line.startswith("Status:")), None)
        self.expect(status is not None, "the map comment shows no status chain")
        assert status is not None
        shown = "QA ❌ failed" if self.broken else "QA ✅ passed"
        self.expect(shown in status, f"the status chain on the issue does not show “{shown}”: {status}")
        self.expect(not self.double.unhandled,
                    f"Specloop called routes the GitHub double does not implement: {self.double.unhandled}")
        self.outcome.status_line = status
        self.n.say(f"Issue #{self.outcome.issue}, as its map comment now opens:")
        self.n.quote([status])
        self.n.write()
        self.n.say("Timings:")
        for timing in self.outcome.timings:
            self.n.field(timing.name, f"{timing.seconds:5.1f} s", width=18)
        self.n.field("total", f"{time.perf_counter() - started:5.1f} s", width=18)
        self.n.write()
        self.n.say(f"Artifacts in {self.out_dir}:")
        artifacts = {"screenshot": self.outcome.screenshot, **self.outcome.reports,
                     "service log": self.out_dir / "demo.log"}
        width = max(len(name) for name in artifacts) + 1
        for name, path in artifacts.items():
            self.n.field(name, str(path), width=width)


# --- logging: everything to a file, nothing on the terminal --------------------------------------------


@contextlib.contextmanager
def log_to_file(path: Path) -> Iterator[None]:
    """Send the service's and worker's logs (JSON lines) to `path` while the demo runs; restore after."""
    from app.logs import JsonFormatter, RedactingFilter

    root = logging.getLogger()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    saved_level = root.level
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate)
             for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq", "arq.worker", "arq.jobs")}
    # Handlers already on the root (a test runner's) stay; console handlers of uvicorn/arq would be noise.
    for name in saved:
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(saved_level)
        for name, (handlers, propagate) in saved.items():
            logging.getLogger(name).handlers[:] = handlers
            logging.getLogger(name).propagate = propagate


# --- entry point --------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="specloop demo",
                                     description="Run the whole Specloop loop against the built-in GitHub double.")
    parser.add_argument("--out", default=str(DEFAULT_OUT),
                        help=f"folder for the screenshot, QA reports and log (default {DEFAULT_OUT})")
    parser.add_argument("--no-reports", action="store_true",
                        help="skip the terminal QA run that writes JUnit / NDJSON / HTML reports")
    parser.add_argument("--broken-app", action="store_true",
                        help="serve the app with a regression, to see how a failing QA check run reads")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    return parser


async def run_demo(narrator: Narrator, out_dir: Path, workdir: Path, *, reports: bool = True,
                   broken: bool = False) -> Outcome:
    """All phases in order; raises DemoFailure (or anything unexpected) when one does not do its job."""
    started = time.perf_counter()
    demo = Demo(narrator, out_dir, workdir, broken=broken)
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()

    def interrupt() -> None:
        # The first Ctrl-C asks for a clean stop; a second one gets Python's default (KeyboardInterrupt).
        demo.interrupted = True
        loop.remove_signal_handler(signal.SIGINT)
        narrator.write()
        narrator.fail("Ctrl-C: stopping after the current step and shutting everything down …")
        if main_task is not None:
            main_task.cancel()

    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread / no signals
        loop.add_signal_handler(signal.SIGINT, interrupt)
    with demo.stack:
        try:
            await demo.start()
            await demo.create_repo()
            number = await demo.open_issue()
            await demo.label_story(number)
            await demo.answer_question(number)
            await demo.approve()
            await demo.run_qa()
            if reports:
                await demo.reports()
            demo.summary(started)
        except (asyncio.CancelledError, Exception):
            # After Ctrl-C the terminal's SIGINT also stops redis-server and Chromium (same process
            # group), so whatever fails next is part of the interruption, not a finding.
            if demo.interrupted:
                raise Interrupted() from None
            raise
        finally:
            await demo.stop_clients()
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGINT)
    return demo.outcome


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; 0 only when every phase did what it should (`specloop demo` passes no options)."""
    args = _parser().parse_args(list(argv) if argv is not None else [])
    color = {"always": True, "never": False}.get(args.color)
    narrator = Narrator(sys.stdout, color=color)
    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="specloop-demo-"))
    narrator.banner("Specloop demo: story → example map → spec PR → approval → code → browser QA",
                    "Everything runs locally: a GitHub double stands in for github.com; no credentials needed.")
    log_path = out_dir / "demo.log"
    try:
        with log_to_file(log_path):
            try:
                asyncio.run(run_demo(narrator, out_dir, workdir, reports=not args.no_reports,
                                     broken=args.broken_app))
            except (DemoFailure, Interrupted):
                raise
            except Exception:
                logging.getLogger(__name__).exception("the demo crashed")  # the traceback goes to the log
                raise
    except DemoFailure as failure:
        narrator.write()
        narrator.fail(f"The demo stopped: {failure}")
        narrator.say(f"Service and worker log: {log_path}")
        return 1
    except (Interrupted, KeyboardInterrupt):
        narrator.fail("Interrupted; everything was shut down.")
        return 130
    except Exception as error:  # noqa: BLE001 - the user sees one clear line, the log has the traceback
        narrator.write()
        narrator.fail(f"The demo crashed: {type(error).__name__}: {error}")
        narrator.say(f"Service and worker log (with the traceback): {log_path}")
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    narrator.write()
    verdict = ("QA caught the regression and says where, as it should." if args.broken_app
               else "every phase did what it should.")
    narrator.write(narrator.bold(f"The whole loop ran: {verdict}"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
