"""The no-key demo's scripted model: what the LLM double answers, worked out before each phase acts.

Without ANTHROPIC_API_KEY, the worker's model client talks to the LLM double
(`app.sandbox.messages_api.MessagesDouble`) exactly as it would to the API, and each phase queues the
answers its jobs will ask for:

- the Example Map (phase 4, and again after alice's answer in phase 5): the offline mapper's map of the
  story, as the model's structured answer (`MapDraft`), so the map reads as it does offline;
- the feature (phase 5): the deterministic feature writer's file for that map (`FeatureDraft`);
- the code (phase 6): an agent run on the SDK's tool runner with the job's tools: read `app.py` and the
  approved feature, write the sign-up app and its unit test, run the project's tests (`bash`) and the
  approved scenarios (`run_qa`), `finish`. With `--broken-app` the app it writes keeps a regression.

With a key, nothing here is used: the real model answers everything.
"""

from __future__ import annotations

from typing import Any

from app.domain.example_map import ExampleMap, Readiness
from app.domain.feature_writer import write_feature
from app.domain.map_revision import Revised, revise
from app.domain.offline_mapper import build_map
from app.domain.story import Comment, read_story
from app.model.prompts import MapDraft
from app.model.spec_prompts import FeatureDraft
from app.sandbox import demo_app
from app.sandbox.messages_api import MessagesDouble, Reply, ToolCalls, ToolUse

EDITOR = "str_replace_based_edit_tool"  # the Anthropic text editor tool's fixed name
TEST_COMMAND = "python3 -m unittest discover -s tests -q"
CODE_FILES = ("app.py", "tests/test_subscribe.py")  # what the scripted agent writes


def map_draft(example_map: ExampleMap) -> dict[str, Any]:
    """A map as the model answers it (`MapDraft`: no ids; the job gives them, as for any model answer)."""
    draft = MapDraft.model_validate({
        "story": example_map.story.model_dump(include={"as_a", "i_want", "so_that", "inferred"}),
        "rules": [{"text": rule.text,
                   "examples": [e.model_dump(include={"title", "given", "when", "then"}) for e in rule.examples]}
                  for rule in example_map.rules],
        "questions": [q.model_dump(include={"text", "answered", "answer"}) for q in example_map.questions],
        "scenarios": example_map.scenarios,
        "split_suggestion": example_map.split_suggestion,
    })
    return draft.model_dump(mode="json")


class ScriptedModel:
    """Queues the LLM double's answers for the demo's story, one phase at a time."""

    def __init__(self, llm: MessagesDouble, *, title: str, body: str) -> None:
        self.llm = llm
        self.title = title
        self.body = body
        self._first: Revised | None = None  # the first map, as the job revised it (ids, counters)

    def first_map(self, issue: int) -> ExampleMap:
        """Phase 4: the map of the story as written (one open question); queued as the model's answer."""
        built = build_map(read_story(issue, self.title, self.body))
        self._first = revise(None, built)
        self.llm.script(map_draft(built))
        return self._first.map

    def answered_map(self, issue: int, answer: str, by: str) -> ExampleMap:
        """Phase 5: the map after `answer`; when it is ready, the feature the spec job will ask for too."""
        assert self._first is not None, "first_map() comes first"
        first = self._first.map
        story = read_story(issue, self.title, self.body, [Comment(author=by, body=answer)])
        built = build_map(story, previous=first)
        self.llm.script(map_draft(built))
        second = revise(first, built, previous_revision=self._first.revision, counters=self._first.counters).map
        if second.readiness(6) is Readiness.READY:
            feature = FeatureDraft(feature=write_feature(second, issue))
            self.llm.script(feature.model_dump(mode="json"))
        return second

    def agent_run(self, feature_path: str, *, broken: bool) -> list[Reply]:
        """Phase 6: the code generation agent's turns; queued, and returned for the narration."""
        turns: list[Reply] = [
            ToolCalls(ToolUse({"command": "view", "path": "app.py"}, name=EDITOR),
                      ToolUse({"command": "view", "path": feature_path}, name=EDITOR),
                      text="I'll read the app and the approved feature first."),
            ToolCalls(ToolUse({"command": "create", "path": "app.py",
                               "file_text": demo_app.signup_app(broken=broken)}, name=EDITOR),
                      ToolUse({"command": "create", "path": "tests/test_subscribe.py",
                               "file_text": demo_app.SUBSCRIBE_TEST}, name=EDITOR),
                      text="The page has no sign-up yet: adding the form, its three outcomes and a unit test."),
            ToolCalls(ToolUse({"command": TEST_COMMAND}, name="bash"), ToolUse({}, name="run_qa"),
                      text="Running the project's tests and the approved scenarios."),
            ToolCalls(ToolUse({"summary": "Added the newsletter sign-up to app.py: a valid address is thanked, "
                                          "an invalid one refused, an address already subscribed refused with "
                                          "a notice; unit tests in tests/test_subscribe.py."}, name="finish")),
        ]
        self.llm.script(*turns)
        return turns

    def unanswered(self) -> str | None:
        """What went wrong with the script, in words: a request it had no answer for, or answers left over."""
        if self.llm.unscripted:
            return f"the model was asked {len(self.llm.unscripted)} question(s) the script has no answer for"
        if self.llm.refused:
            return f"the LLM double refused {len(self.llm.refused)} request(s) the real API would refuse"
        return None
