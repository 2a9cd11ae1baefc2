"""`specloop demo` (`make demo`): the whole loop against the built-in GitHub double, narrated, no credentials.

Everything runs on loopback in one process, over the same harness the tests use
(`app.sandbox.harness`): a managed `redis-server`, the GitHub double, the LLM double (without
ANTHROPIC_API_KEY), the web service and a worker that runs repository code in the sandbox. People
(alice, bob) act on the double exactly as they would on GitHub; the double signs and sends webhooks to
the service, which queues jobs; the worker runs them (a drain after each action, so the story reads in
order). The repository's app starts without the story's feature; after the approval the code job writes
it on the PR branch and QA runs against the app started from that branch. Each phase checks its outcome
on the double and stops the demo with a clear message when something did not happen.

Modules: `script` (the phases in order), `start`, `mapping`, `gate` and `qa` (the phases), `outcome`
(what was produced, and the summary), `stage` (the running pieces and the checks phases share),
`scripted` (the no-key model's answers), `report` (`--report`: what GitHub shows, as JSON), `narrator`
(terminal output), `story` (the repository, the story and the answer), `run` (the entry point).
"""

from app.demo.narrator import Narrator, markdown_lines, plain
from app.demo.run import main
from app.demo.stage import DemoFailure, Interrupted
from app.demo.story import ANSWER, REPO, STORY_BODY, STORY_TITLE

__all__ = ["ANSWER", "REPO", "STORY_BODY", "STORY_TITLE", "DemoFailure", "Interrupted", "Narrator", "main",
           "markdown_lines", "plain"]
