"""Phases 1 and 2: start everything on loopback, then create the repository the story lives in."""

from __future__ import annotations

from app.demo.stage import Stage
from app.demo.story import PEOPLE, PHASES, REPO, repo_files


async def start(stage: Stage) -> None:
    """Phase 1: Redis, the GitHub double, the demo app, the web service and the worker's clients."""
    n, harness = stage.n, stage.harness
    n.phase(1, PHASES, "Starting Specloop and a local GitHub")
    with stage.timed("start"):
        n.ok(f"{'redis-server':<21} {harness.start_redis()}  (managed, AOF on)")
        double = harness.start_github()
        n.ok(f"{'GitHub double':<21} {double.web_url}  (REST API, git over HTTP, signed webhooks)")
        app = stage.start_app()
        what = "with a regression (--broken-app)" if stage.broken else "the newsletter sign-up page"
        n.ok(f"{'app under test':<21} {app.url}  ({what})")
        # As a real deployment would be configured, minus ANTHROPIC_API_KEY: the offline mapper and
        # the deterministic feature writer do the model's part, and code generation is not in this version.
        # the demo's shop runs on this machine's loopback: the operator (you) allows QA to visit it
        web_url = harness.start_web(allow_repo_code=False, anthropic_api_key=None, qa_allow_private_hosts=True)
        n.ok(f"{'Specloop web service':<21} {web_url}  (webhooks, /healthz, screenshots)")
        await harness.start_worker()
        n.ok(f"{'Specloop worker':<21} light + heavy queues, run after each step")
        n.say("No ANTHROPIC_API_KEY: the offline mapper and the deterministic feature writer do the "
              "model's part. Code generation is not in this version yet: its check says so.")


async def create_repo(stage: Stage) -> None:
    """Phase 2: acme/newsletter with a README and `.github/specloop.yml`; people; the app installed."""
    n, double = stage.n, stage.double
    n.phase(2, PHASES, f"The repository {REPO}")
    with stage.timed("repository"):
        files = repo_files(stage.app.url)
        double.create_repo(REPO, files=dict(files), default_branch="main")
        for login, role in PEOPLE.items():
            double.add_user(login, role, repo=REPO)
        installation = double.install(REPO.split("/")[0], [REPO])
        n.ok(f"created {stage.url('').rstrip('/')} with README.md and .github/specloop.yml:")
        n.quote(files[".github/specloop.yml"].splitlines()[1:])
        n.ok("people: " + ", ".join(f"{login} ({role})" for login, role in PEOPLE.items()))
        n.ok(f"the Specloop app is installed on {REPO} (installation {installation})")
