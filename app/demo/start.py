"""Phases 1 and 2: start everything on loopback, then create the repository the story lives in."""

from __future__ import annotations

from app.demo.stage import DemoFailure, Stage
from app.demo.story import PEOPLE, PHASES, REPO, repo_files
from app.isolation import sandbox_available


async def start(stage: Stage) -> None:
    """Phase 1: Redis, the GitHub double, the model (scripted or real), the web service and the worker."""
    n, harness = stage.n, stage.harness
    n.phase(1, PHASES, "Starting Specloop and a local GitHub")
    with stage.timed("start"):
        # Code generation and QA run the repository's code (`qa.start`, the agent's commands) only in the
        # repository-code sandbox; without one, nothing of the loop after the approval could run.
        problem = sandbox_available()
        if problem:
            raise DemoFailure(f"code generation and QA run the repository's code in a sandbox, and none can be "
                              f"made here: {problem}")
        n.ok(f"{'redis-server':<21} {harness.start_redis()}  (managed, AOF on)")
        double = harness.start_github()
        n.ok(f"{'GitHub double':<21} {double.web_url}  (REST API, git over HTTP, signed webhooks)")
        scripted = stage.scripted()
        if scripted is not None:
            n.ok(f"{'LLM double':<21} {scripted.llm.base_url}  (the Messages API, answering from a script)")
            # the harness points the settings' anthropic_api_key and anthropic_base_url at the LLM double
            web_url = harness.start_web(allow_repo_code=True)
        else:
            web_url = harness.start_web(allow_repo_code=True, anthropic_api_key=stage.model_key)
        n.ok(f"{'Specloop web service':<21} {web_url}  (webhooks, /healthz, screenshots)")
        await harness.start_worker()
        n.ok(f"{'Specloop worker':<21} light + heavy queues, run after each step; repository code in the sandbox")
        if scripted is not None:
            why = ("--broken-app scripts the agent's regression, so the model is scripted even with a key"
                   if stage.broken and stage.model_key_ignored else "No ANTHROPIC_API_KEY")
            n.say(f"{why}: the demo runs a SCRIPTED model through the LLM double, a loopback Messages API. "
                  "Its answers are written before each step: the map and the spec are the offline mapper's and "
                  "the feature writer's, and the code is a scripted agent run calling the same tools a real "
                  "model would. Set ANTHROPIC_API_KEY to run the same demo with the real model.")
        else:
            n.say(f"ANTHROPIC_API_KEY is set: the real model ({harness.settings.model}) maps the story, writes "
                  "the spec and the code, through the Anthropic API (no double; this spends tokens).")


async def create_repo(stage: Stage) -> None:
    """Phase 2: acme/newsletter: a page without the sign-up yet, its test, the config; people; the app installed."""
    n, double = stage.n, stage.double
    n.phase(2, PHASES, f"The repository {REPO}")
    with stage.timed("repository"):
        files = repo_files()
        double.create_repo(REPO, files=dict(files), default_branch="main")
        for login, role in PEOPLE.items():
            double.add_user(login, role, repo=REPO)
        installation = double.install(REPO.split("/")[0], [REPO])
        n.ok(f"created {stage.url('').rstrip('/')} with " + ", ".join(sorted(files)) + ":")
        n.field("app.py", "the newsletter page, without the sign-up: “Sign-up opens soon.”")
        n.quote(files[".github/specloop.yml"].splitlines()[1:])
        n.ok("people: " + ", ".join(f"{login} ({role})" for login, role in PEOPLE.items()))
        n.ok(f"the Specloop app is installed on {REPO} (installation {installation})")
