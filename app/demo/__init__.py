"""`specloop demo` (`make demo`): the whole loop against the built-in GitHub double, narrated, no credentials.

Everything runs on loopback in one process, over the same harness the tests use
(`app.sandbox.harness`): a managed `redis-server`, the GitHub double, the web service and a worker,
plus the demo newsletter app. People (alice, bob) act on the double exactly as they would on GitHub;
the double signs and sends webhooks to the service, which queues jobs; the worker runs them (a drain
after each action, so the story reads in order). Each phase checks its outcome on the double and stops
the demo with a clear message when something did not happen.

Modules: `script` (the phases in order), `start`, `mapping` and `gate` (the phases), `outcome` (what
was produced, and the summary), `stage` (the running pieces and the checks phases share), `narrator`
(terminal output), `story` (the repository, the story and the answer), `run` (the entry point).
"""

from app.demo.narrator import Narrator, markdown_lines, plain
from app.demo.run import main
from app.demo.stage import DemoFailure, Interrupted
from app.demo.story import ANSWER, REPO, STORY_BODY, STORY_TITLE

__all__ = ["ANSWER", "REPO", "STORY_BODY", "STORY_TITLE", "DemoFailure", "Interrupted", "Narrator", "main",
           "markdown_lines", "plain"]
