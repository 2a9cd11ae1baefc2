"""QA with repository code in the sandbox (`ALLOW_REPO_CODE`), through `run_qa` against the GitHub double.

Real processes running hostile code: an app started by `qa.start` and a project step file each try to
print the worker's environment, read `/proc/<ppid>/environ`, read a `.env` and a private key next to the
job's workspace, and connect to the worker's Redis and the GitHub double; each is refused or contained,
the check run says how the run went, and the next job runs. Where no sandbox can be made, the check run
says what to install and nothing of the repository runs.
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from app.context import deps
from app.domain.qa_results import RunResult, ScenarioResult, StepResult
from app.isolation import Limits, sandbox_available
from app.job_args import RunQa
from app.qa.options import RunOptions
from app.qa.sandboxed import confine_evidence
from jobs.worker import run_job
from tests.support.github import SHOP
from tests.support.processes import processes_with
from tests.support.service import Service
from tests.support.spec import approved_qa_pull

needs_bwrap = pytest.mark.skipif(sandbox_available() is not None, reason=str(sandbox_available()))

SECRET = "s3cr3t-sandbox-7f1d"
KEY = "KEY-MATERIAL-9a2c"
BRANCH = "specloop/1-hostile"
DAEMON_MARK = "specloop-hostile-daemon-4e1b"

# What repository code tries; `leaks()` lists what got through (nothing, in the sandbox).
PROBE = '''
import os, socket

SECRET, KEY = {secret!r}, {key!r}
FILES = {files!r}
PORTS = {ports!r}


def leaks():
    found = []
    if any(SECRET in value for value in os.environ.values()):
        found.append("environment")
    for pid in ["self", "1", str(os.getppid())] + [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            with open(f"/proc/{{pid}}/environ", "rb") as environ:
                if SECRET.encode() in environ.read():
                    found.append(f"/proc/{{pid}}/environ")
        except OSError:
            pass
    for path in FILES:
        try:
            with open(path) as file:
                text = file.read()
            if SECRET in text or KEY in text:
                found.append(path)
        except OSError:
            pass
    for port in PORTS:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            found.append(f"port {{port}}")
        except OSError:
            pass
    for target in ("/usr/specloop-pwned", "/etc/specloop-pwned", "/specloop-pwned"):  # read-only inside
        try:
            with open(target, "w") as file:
                file.write("pwned")
            found.append(f"wrote {{target}}")
        except OSError:
            pass
    return found
'''

APP = '''
import http.server, os, subprocess
from probe import leaks

subprocess.Popen(["setsid", "python", "-c", "import time; time.sleep(600)", "{mark}"])  # a daemon left behind
found = leaks()
page = ("LEAKED: " + ", ".join(found)) if found else "all contained"
print("app probe:", page, flush=True)


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"<h1>{{page}}</h1>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body)


http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Page).serve_forever()
'''

STEPS = '''
import sys
from pathlib import Path

from app.domain.steps import step

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from probe import leaks  # noqa: E402


@step("nothing of the worker reaches the step code")
def contained():
    found = leaks()
    assert not found, "LEAKED: " + ", ".join(found)
'''

FEATURE = '''Feature: Hostile code
  Scenario: The app and the steps are contained
    Given I am on the home page
    Then I should see "all contained"
    And nothing of the worker reaches the step code
'''


def _port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


@pytest.fixture
def secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Jobs make their workdirs here, beside a `.env` and a private key; the worker's environment holds the secret."""
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / ".env").write_text(f"WEBHOOK_SECRET={SECRET}\n")
    (jobs / "private-key.pem").write_text(f"-----BEGIN RSA PRIVATE KEY-----\n{KEY}\n")
    monkeypatch.setattr(tempfile, "tempdir", str(jobs))
    monkeypatch.setenv("SPECLOOP_TEST_SECRET", SECRET)
    return jobs


def _open_pr(github: Any, qa: str, files: dict[str, str], *, branch: str = BRANCH) -> tuple[int, str]:
    return approved_qa_pull(github, branch, qa, files, title="Spec: hostile",
                            settings="  contexts: 1\n  timeout_ms: 5000\n  screenshots: final\n  ready_timeout: 30\n")


def _qa_runs(github: Any, sha: str) -> list[Any]:
    return list(github.check_runs(SHOP, head_sha=sha, name="specloop/qa"))


@needs_bwrap
@pytest.mark.parametrize("service", [{"allow_repo_code": True}], indirect=True)
async def test_a_hostile_app_and_step_file_are_contained_and_the_next_job_runs(
    github: Any, service: Service, qa_ctx: Any, secrets_dir: Path,
) -> None:
    settings = service.settings
    mark = f"{DAEMON_MARK}-{uuid.uuid4().hex[:12]}"  # this test's own: another session may run the same test
    probe = PROBE.format(secret=SECRET, key=KEY, ports=[_port(settings.redis_url), _port(settings.github_url)],
                         files=[str(secrets_dir / ".env"), str(secrets_dir / "private-key.pem"),
                                str(Path(__file__).resolve().parents[1] / ".env")])
    files = {"features/hostile.feature": FEATURE, "features/steps/hostile_steps.py": STEPS,
             "probe.py": probe, "app.py": APP.format(mark=mark)}
    number, sha = _open_pr(github, '  start: "python app.py"\n', files)
    args = RunQa(installation_id=github.installation_id, repo=SHOP, number=number)

    outcome = await run_job(deps(qa_ctx), args)
    run = _qa_runs(github, sha)[-1]
    shown = f"{run.output['summary']}\n{run.output.get('text') or ''}"
    assert outcome.get("conclusion") == "success", shown
    assert SECRET not in shown and KEY not in shown
    assert processes_with(mark) == []  # the app's daemon went with the sandbox
    assert list(secrets_dir.glob("specloop-qa-*")) == []  # the workdir is gone too

    again = await run_job(deps(qa_ctx), args)  # the worker is fine: the next job runs the same way
    assert again.get("conclusion") == "success"


@pytest.mark.parametrize("service", [{"allow_repo_code": True}], indirect=True)
async def test_without_a_sandbox_the_check_run_says_what_to_install_and_nothing_runs(
    github: Any, service: Service, qa_ctx: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = "bubblewrap is not installed (no `bwrap` on PATH): install the Debian package `bubblewrap`"
    monkeypatch.setattr("app.qa.repo_app.sandbox_available", lambda: message)
    started = tmp_path / "started"
    number, sha = _open_pr(github, f'  start: "touch {started}; python -m http.server $PORT"\n',
                           {"features/hostile.feature": FEATURE})
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=number))
    assert outcome["status"] == "error"
    run = _qa_runs(github, sha)[-1]
    assert run.conclusion == "failure"
    assert message in run.output["summary"] and "only in a sandbox" in run.output["summary"]
    assert not started.exists()


def test_evidence_a_result_names_outside_its_folder_is_dropped(tmp_path: Path) -> None:
    # The result is written by the sandboxed child, next to repository code: it could name any file.
    out = tmp_path / "evidence"
    (out / "s1").mkdir(parents=True)
    shot = out / "s1" / "final.png"
    shot.write_bytes(b"png")
    secret = tmp_path / ".env"
    secret.write_text(SECRET)
    (out / "s1" / "link.png").symlink_to(secret)
    (out / "s1" / "dir").symlink_to(tmp_path)
    os.mkfifo(out / "s1" / "fifo.png")
    named = [str(shot), str(secret), str(out / "s1" / "link.png"), str(out / "s1" / "dir" / ".env"),
             str(out / "s1" / ".." / ".." / ".env"), str(out / "s1" / "fifo.png"), "relative.png"]
    scenario = ScenarioResult(id="s1", name="one", uri="a.feature", line=2, feature="F", status="passed",
                              steps=[StepResult(keyword="Given ", text="x", line=3, status="passed",
                                                screenshot=str(secret))],
                              screenshots=named, trace=str(secret))
    result = confine_evidence(RunResult(base_url="http://127.0.0.1:3000", started_at=0.0, scenarios=[scenario]), out)
    assert result.scenarios[0].screenshots == [str(shot)]
    assert result.scenarios[0].trace is None and result.scenarios[0].steps[0].screenshot is None


def test_evidence_of_an_earlier_attempt_outside_its_folder_is_dropped_too(tmp_path: Path) -> None:
    # A retried scenario's earlier attempts come from the same child and name files the reports embed.
    out = tmp_path / "evidence"
    (out / "retry-1").mkdir(parents=True)
    shot = out / "retry-1" / "step-01.png"
    shot.write_bytes(b"png")
    secret = tmp_path / ".env"
    secret.write_text(SECRET)
    earlier = ScenarioResult(id="s1", name="one", uri="a.feature", line=2, feature="F", status="failed",
                             steps=[StepResult(keyword="Given ", text="x", line=3, status="failed",
                                               screenshot=str(secret))],
                             screenshots=[str(shot), str(secret)], trace=str(secret))
    last = ScenarioResult(id="s1", name="one", uri="a.feature", line=2, feature="F", status="passed", attempt=1,
                          previous_attempts=[earlier])
    result = confine_evidence(RunResult(base_url="http://127.0.0.1:3000", started_at=0.0, scenarios=[last]), out)
    (kept,) = result.scenarios[0].previous_attempts
    assert kept.screenshots == [str(shot)] and kept.trace is None and kept.steps[0].screenshot is None


SMALL = """Feature: Smoke
  Scenario: One
    Given I am on the home page
    Then I should see "Welcome to the shop"

  Scenario: Two
    Given I am on the home page
    Then I should see "Welcome"

  Scenario: Three
    Given I am on the home page
    Then I should see "shop"
"""


@needs_bwrap
@pytest.mark.parametrize("service", [{"allow_repo_code": True}], indirect=True)
async def test_progress_of_a_sandboxed_run_reaches_the_check_run_while_it_runs(
    github: Any, service: Service, qa_ctx: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("jobs.run_qa.PROGRESS_INTERVAL", 0.01)
    number, _ = _open_pr(github, '  start: "python -m http.server $PORT"\n',
                           {"features/smoke.feature": SMALL, "index.html": "<h1>Welcome to the shop</h1>"})
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=number))
    assert outcome.get("conclusion") == "success", outcome
    progress = [r for r in github.requests_to("PATCH", r"/check-runs/\d+$")
                if (r.json or {}).get("status") == "in_progress" and "done (" in str((r.json or {}).get("output"))]
    assert progress  # streamed from the sandboxed child's stdout, before it finished


@needs_bwrap
@pytest.mark.parametrize("service", [{"allow_repo_code": True}], indirect=True)
async def test_an_app_that_never_answers_in_the_sandbox_fails_at_the_ready_timeout(
    github: Any, service: Service, qa_ctx: Any,
) -> None:
    config = '  start: "echo listening soon; sleep 600"\n'
    number, sha = _open_pr(github, config, {"features/smoke.feature": SMALL})
    github.push_files(SHOP, "main", {".github/specloop.yml": f"qa:\n{config}  ready_timeout: 2\n"}, "Impatient")
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=number))
    assert outcome["status"] == "error"
    run = _qa_runs(github, sha)[-1]
    assert "did not become ready" in run.output["summary"] and "listening soon" in run.output["text"]


# Resource abuse by a project step file, in a real QA job under small limits. The limits reach the job through
# `jobs.run_qa.qa_policy` and the run's wall time through `RunOptions.run_timeout_s` (QA_LIMITS and 30 minutes
# in production); each case ends in seconds, the check run says which limit stopped it, nothing it started is
# left running, and the next job runs.
TEST_LIMITS = Limits(cpu_seconds=6, memory_bytes=768 << 20, processes=512, open_files=4096,
                     file_size_bytes=64 << 20, output_bytes=1 << 20, tmp_bytes=256 << 20)
RUN_WALL_S = 30.0  # room for 6 s of CPU on a loaded 2-core machine (the CPU case)
FORK_BOMB_WALL_S = 12.0  # the fork bomb needs no CPU room: only its wall time ends it
HANG_GUARD_S = 150  # how long a case may take before it counts as hanging (not a speed assertion)
ABUSE_MARK = "specloop-abuse-daemon-81c3"

ABUSE_STEPS = '''
import subprocess, sys

from app.domain.steps import step


@step("the step code misbehaves")
def misbehave():
    # a daemon of its own first: it must be gone when the job ends, whatever ended the run
    subprocess.Popen(["setsid", sys.executable, "-c", "import time; time.sleep(600)", {mark!r}])
{body}
'''

ABUSE = {
    # forks fail at the pids limit; the run's wall time ends it (the per-process CPU limit cannot: each of
    # hundreds of processes gets a sliver of the CPU)
    "fork bomb": ('    subprocess.run(["sh", "-c", "b() {{ b | b & }}; b; sleep 600", {mark!r}])\n',
                  f"ran longer than {FORK_BOMB_WALL_S:g} s (wall time)"),
    "memory": ('    blocks = []\n    while True:\n        blocks.append(b"\\1" * (32 << 20))\n',
               "used more than 768 MB of memory"),
    "cpu": ("    while True:\n        pass\n", "used more than 6 s of CPU time"),
}

ABUSE_FEATURE = '''Feature: Abuse
  Scenario: The step code misbehaves
    Given I am on the home page
    Then the step code misbehaves
'''


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    import jobs.run_qa
    from app.qa import repo_app, sandboxed

    monkeypatch.setattr(repo_app, "qa_policy", lambda chromium: sandboxed.qa_policy(chromium, limits=TEST_LIMITS))
    monkeypatch.setattr(jobs.run_qa, "RunOptions", functools.partial(RunOptions, run_timeout_s=RUN_WALL_S))


async def _a_clean_job_passes(github: Any, qa_ctx: Any) -> None:
    """The worker is fine after an abusive job: another PR's QA runs in a sandbox and passes."""
    number, _ = _open_pr(github, '  start: "python -m http.server $PORT"\n',
                         {"features/smoke.feature": SMALL, "index.html": "<h1>Welcome to the shop</h1>"},
                         branch="specloop/2-clean")
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=number))
    assert outcome.get("conclusion") == "success", outcome


@needs_bwrap
@pytest.mark.parametrize("case", sorted(ABUSE))
@pytest.mark.parametrize("service", [{"allow_repo_code": True}], indirect=True)
async def test_a_step_file_that_abuses_resources_is_stopped_and_said_so_and_the_next_job_runs(
    github: Any, service: Service, qa_ctx: Any, secrets_dir: Path, small_limits: None, case: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body, said = ABUSE[case]
    if case == "fork bomb":
        import jobs.run_qa

        monkeypatch.setattr(jobs.run_qa, "RunOptions", functools.partial(RunOptions, run_timeout_s=FORK_BOMB_WALL_S))
    mark = f"{ABUSE_MARK}-{uuid.uuid4().hex[:12]}"  # this test's own: another session may run the same test
    files = {"features/abuse.feature": ABUSE_FEATURE, "index.html": "<h1>Home</h1>",
             "features/steps/abuse_steps.py": ABUSE_STEPS.format(mark=mark, body=body.format(mark=mark))}
    number, sha = _open_pr(github, '  start: "python -m http.server $PORT"\n', files)
    started = time.monotonic()
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=number))
    took = time.monotonic() - started
    run = _qa_runs(github, sha)[-1]
    summary = run.output["summary"]
    assert outcome.get("conclusion") == "failure" and run.conclusion == "failure", summary
    assert said in summary, summary  # the limit, in words
    assert "Traceback" not in summary
    assert took < HANG_GUARD_S
    assert processes_with(mark) == [] and processes_with(str(secrets_dir)) == []  # nothing it started is left
    assert list(secrets_dir.glob("specloop-qa-*")) == []
    await _a_clean_job_passes(github, qa_ctx)


LOUD_STEPS = '''
import sys

from app.domain.steps import step


@step("the step code prints a gigabyte")
def loud():
    line = "x" * 1023 + {end!r}
    block = line * 1024
    for _ in range(1024):
        sys.stdout.write(block)
    sys.stdout.flush()
'''


@needs_bwrap
@pytest.mark.parametrize("end", ["\n", "x"],
    ids=["lines", "no newline"])
@pytest.mark.parametrize("service", [{"allow_repo_code": True}], indirect=True)
async def test_a_step_file_that_prints_a_gigabyte_does_not_swamp_the_worker(
    github: Any, service: Service, qa_ctx: Any, secrets_dir: Path, small_limits: None, end: str,
) -> None:
    feature = ABUSE_FEATURE.replace("the step code misbehaves", "the step code prints a gigabyte")
    files = {"features/abuse.feature": feature, "index.html": "<h1>Home</h1>", "features/steps/loud_steps.py": LOUD_STEPS.format(end=end)}
    number, sha = _open_pr(github, '  start: "python -m http.server $PORT"\n', files)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=number))
    grew_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    run = _qa_runs(github, sha)[-1]
    # a started command is not killed for its output (docs/sandbox.md): its log is capped and the worker
    # drains the pipe, so the step finishes and the scenario passes
    assert outcome.get("conclusion") == "success", run.output["summary"]  # so not killed at the wall time
    assert grew_mb < 100, f"the worker grew by {grew_mb:.0f} MB"
    assert processes_with(str(secrets_dir)) == []
    await _a_clean_job_passes(github, qa_ctx)


WRITER_STEPS = '''
from pathlib import Path

from app.domain.steps import step

REFUSED, UNSEEN = {refused!r}, {unseen!r}


@step("the step code writes outside its workspace")
def write_outside():
    written = []
    for target in REFUSED + UNSEEN:
        try:
            Path(target).write_text("pwned")
            written.append(target)
        except OSError:
            pass
    assert not set(written) & set(REFUSED), "WROTE: " + ", ".join(written)
'''


@needs_bwrap
@pytest.mark.parametrize("service", [{"allow_repo_code": True}], indirect=True)
async def test_a_step_file_cannot_write_outside_its_workspace(
    github: Any, service: Service, qa_ctx: Any, secrets_dir: Path,
) -> None:
    # Read-only inside: /usr, /etc, the project (its venv is bound below it). The job's folders are under the
    # host's /tmp here, which inside is the sandbox's own tmpfs: a write to the workdir (where the worker puts
    # the reports) or beside it (the `.env`) lands there, gone with the command, and never on the host.
    project = Path(__file__).resolve().parents[1]
    refused = ["/usr/specloop-pwned", "/etc/specloop-pwned", "/specloop-pwned"]
    unseen = [str(secrets_dir / "pwned"), str(secrets_dir / ".env")]
    in_project = [str(project / "specloop-pwned"), str(project / ".venv" / "specloop-pwned")]
    # a clone under /tmp (as CI makes) has its folder inside the sandbox's own /tmp: a write there lands in
    # that tmpfs, never on the host; elsewhere the project is read-only inside
    (unseen if project.is_relative_to("/tmp") else refused).extend(in_project)
    feature = ABUSE_FEATURE.replace("the step code misbehaves", "the step code writes outside its workspace")
    steps = WRITER_STEPS.format(refused=refused, unseen=unseen)
    files = {"features/abuse.feature": feature, "index.html": "<h1>Home</h1>", "features/steps/writer_steps.py": steps}
    number, sha = _open_pr(github, '  start: "python -m http.server $PORT"\n', files)
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=number))
    run = _qa_runs(github, sha)[-1]
    assert outcome.get("conclusion") == "success", f"{run.output['summary']}\n{run.output.get('text')}"
    assert not any(Path(p).exists() for p in [*refused, *in_project])
    assert not (secrets_dir / "pwned").exists() and SECRET in (secrets_dir / ".env").read_text()


# The same abuse from the app `qa.start` starts. A started command has no wall time of its own (a server runs
# until QA is done): the memory and CPU limits end it, `qa.ready_timeout` ends a fork bomb (the pids limit
# keeps it small meanwhile), and a chatty app is not stopped: its log is capped while the worker drains it.
ABUSIVE_APP = '''
import subprocess, sys
subprocess.Popen(["setsid", sys.executable, "-c", "import time; time.sleep(600)", {mark!r}])
{body}
import http.server, os
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), http.server.SimpleHTTPRequestHandler).serve_forever()
'''

APP_ABUSE = {
    "fork bomb": ('subprocess.run(["sh", "-c", "b() {{ b | b & }}; b; sleep 600", {mark!r}])',
                  ("did not become ready", "within 5 s", "reached the limit of 512 processes")),
    "memory": ('blocks = []\nwhile True:\n    blocks.append(b"\\1" * (32 << 20))',
               ("The app did not start", "used more than 768 MB of memory")),
    "cpu": ("while True:\n    pass", ("The app did not start", "used more than 6 s of CPU time")),
    "a gigabyte of output": (('block = ("x" * 1023 + "\\n") * 1024\nfor _ in range(1024):\n    sys.stdout.write(block)\n'
                             'sys.stdout.flush()'), ()),
}

APP_FEATURE = '''Feature: Abuse
  Scenario: The app answers
    Given I am on the home page
    Then I should see "Home"
'''


@needs_bwrap
@pytest.mark.parametrize("case", sorted(APP_ABUSE))
@pytest.mark.parametrize("service", [{"allow_repo_code": True}], indirect=True)
async def test_an_app_that_abuses_resources_is_stopped_and_said_so_and_the_next_job_runs(
    github: Any, service: Service, qa_ctx: Any, secrets_dir: Path, small_limits: None, case: str,
) -> None:
    body, said = APP_ABUSE[case]
    mark = f"{ABUSE_MARK}-{uuid.uuid4().hex[:12]}"  # this test's own: another session may run the same test
    files = {"features/abuse.feature": APP_FEATURE, "index.html": "<h1>Home</h1>",
             "abuse.py": ABUSIVE_APP.format(mark=mark, body=body.format(mark=mark))}
    config = '  start: "python abuse.py"\n'
    number, sha = _open_pr(github, config, files)
    ready = 40 if case == "cpu" else 5  # room for the 6 s CPU limit to strike first on a loaded machine
    github.push_files(SHOP, "main", {".github/specloop.yml": f"qa:\n{config}  ready_timeout: {ready}\n"}, "Impatient")
    started = time.monotonic()
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=number))
    took = time.monotonic() - started
    run = _qa_runs(github, sha)[-1]
    summary = run.output["summary"]
    if said:
        assert outcome["status"] == "error" and run.conclusion == "failure", summary
        assert all(words in summary for words in said), summary
        assert "Traceback" not in summary
    else:
        assert outcome.get("conclusion") == "success", summary
    assert took < HANG_GUARD_S
    assert processes_with(mark) == [] and processes_with(str(secrets_dir)) == []  # nothing it started is left
    assert list(secrets_dir.glob("specloop-qa-*")) == []
    await _a_clean_job_passes(github, qa_ctx)


# --- qa.install: before the app, in a sandbox of its own; the network only when asked and allowed ---------


@needs_bwrap
@pytest.mark.parametrize("service", [{"allow_repo_code": True}], indirect=True)
async def test_install_commands_run_in_the_checkout_before_the_app_starts(
    github: Any, service: Service, qa_ctx: Any,
) -> None:
    # the page exists only once `qa.install` has built it
    qa = ('  install: ["printf \'<h1>Welcome to the shop</h1>\' > index.html"]\n'
          '  start: "python -m http.server $PORT"\n')
    number, _ = _open_pr(github, qa, {"features/smoke.feature": SMALL})
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=number))
    assert outcome.get("conclusion") == "success", outcome


@contextlib.contextmanager
def listener() -> Iterator[tuple[int, list[bool]]]:
    """A TCP port on the host's loopback (a package registry, say) and whether anything connected."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    heard: list[bool] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            heard.append(True)
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], heard
    finally:
        stop.set()
        thread.join(5)
        server.close()


@needs_bwrap
@pytest.mark.parametrize(("asks", "service", "expected"), [
    (False, {"allow_repo_code": True, "allow_install_network": True}, "`qa.install` failed"),
    (True, {"allow_repo_code": True}, "ALLOW_INSTALL_NETWORK"),
    (True, {"allow_repo_code": True, "allow_install_network": True}, None),
], ids=["not asked", "asked, not allowed", "asked and allowed"], indirect=["service"])
async def test_install_commands_have_the_network_only_when_the_repository_asks_and_the_operator_allows(
    github: Any, service: Service, qa_ctx: Any, asks: bool, expected: str | None,
) -> None:
    with listener() as (port, heard):
        connect = f"python -c \\\"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3)\\\""
        qa = (f'  install: ["{connect}"]\n  install_network: {str(asks).lower()}\n'
              '  start: "python -m http.server $PORT"\n')
        number, sha = _open_pr(github, qa, {"features/smoke.feature": SMALL,
                                            "index.html": "<h1>Welcome to the shop</h1>"})
        outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP,
                                                    number=number))
    if expected is None:
        assert outcome.get("conclusion") == "success", outcome
        assert heard  # the install command reached the host
        return
    assert outcome["status"] == "error"
    assert expected in _qa_runs(github, sha)[-1].output["summary"]
    assert not heard  # never reached: no network in the sandbox, or the command never ran


FORGING_START = (
    '  start: "python3 -c \\"import pathlib; f = pathlib.Path(\'features/forged.feature\'); '
    "f.write_text(f.read_text().replace(\'Welcome to the shop\', \'Closed\'))\\\" && "
    'python -m http.server $PORT"\n'
)
FORGED_FEATURE = """Feature: Forged
  Scenario: The shop greets
    Given I am on the home page
    Then I should see "Welcome to the shop"
"""


@pytest.mark.parametrize("service", [{"allow_repo_code": True}], indirect=True)
async def test_an_app_that_rewrites_the_approved_scenarios_at_start_up_is_still_tested_against_them(
    github: Any, service: Service, qa_ctx: Any,
) -> None:
    # the app the branch starts says "Closed" and, at start-up, edits the checkout's feature to expect that:
    # QA runs the approved copy the worker froze before any repository code ran, so the scenario fails
    number, sha = _open_pr(github, FORGING_START, {"features/forged.feature": FORGED_FEATURE,
                                                  "index.html": "<h1>Closed</h1>"})
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=number))
    run = _qa_runs(github, sha)[-1]
    assert outcome.get("conclusion") == "failure", run.output
    assert "Welcome to the shop" in (run.output.get("text") or "") and run.annotations[0]["path"] == \
        "features/forged.feature"
