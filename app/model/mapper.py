"""Model-backed example mapping: the issue and thread as delimited data in, an ExampleMap out."""

from __future__ import annotations

import json

from app.domain.example_map import Example, ExampleMap, Question, Rule, Story
from app.domain.map_revision import provisional_ids
from app.domain.markers import strip_markers
from app.domain.story import IssueStory
from app.model.client import ModelClient
from app.model.prompts import MAP_INSTRUCTION, MAP_SYSTEM, MapDraft
from app.model.usage import Budget, Usage

MAX_DATA_CHARS = 60_000  # the issue and thread beyond this are cut (oldest comments kept first)


def issue_data(issue: IssueStory, previous: ExampleMap | None, ticked: set[str] | None = None) -> str:
    """The untrusted material for the model: title, body, the people's comments, the previous map."""
    parts = [f"Title: {strip_markers(issue.title)}", "", "Body:", strip_markers(issue.body).strip() or "(empty)"]
    if issue.comments:
        parts += ["", "Discussion (oldest first):"]
        for comment in issue.comments:
            parts.append(f"--- @{comment.author} wrote:\n{strip_markers(comment.body).strip()}")
    if previous is not None:
        parts += ["", "Previous revision of the map (keep ids and wording that are still right):",
                  json.dumps(previous.model_dump(mode="json"), separators=(",", ":"))]
    if ticked:
        parts += ["", f"Questions ticked as resolved by a person in the map comment: {', '.join(sorted(ticked))}"]
    text = "\n".join(parts)
    return text if len(text) <= MAX_DATA_CHARS else text[:MAX_DATA_CHARS] + "\n(… cut: the thread is longer)"


def draft_to_map(draft: MapDraft, title: str) -> ExampleMap:
    """The model's draft as an ExampleMap with provisional ids (map_revision.revise makes them stable)."""
    story = Story(title=title, as_a=draft.story.as_a, i_want=draft.story.i_want, so_that=draft.story.so_that,
                  inferred=draft.story.inferred)
    rules = [Rule(id="", text=r.text.strip(),
                  examples=[Example(id="", title=e.title.strip(), given=e.given, when=e.when, then=e.then)
                            for e in r.examples])
             for r in draft.rules if r.text.strip()]
    questions = [Question(id="", text=q.text.strip(), answered=q.answered, answer=q.answer)
                 for q in draft.questions if q.text.strip()]
    return provisional_ids(ExampleMap(story=story, rules=rules, questions=questions, scenarios=draft.scenarios,
                                      split_suggestion=draft.split_suggestion))


async def model_map(model: ModelClient, issue: IssueStory, *, previous: ExampleMap | None,
                    ticked: set[str] | None, max_rules: int, story: str, installation_id: int,
                    max_tokens: int = 8192, model_name: str | None = None,
                    budget: Budget | None = None) -> tuple[ExampleMap, Usage]:
    """Ask the model for the map; returns (map with provisional ids, usage). Raises ModelError/BudgetExceeded."""
    # an empty model name or no budget means the client's own (ModelClient.structured falls back to them)
    result = await model.structured(
        MapDraft, MAP_SYSTEM, issue_data(issue, previous, ticked), MAP_INSTRUCTION.format(max_rules=max_rules),
        story, installation_id, max_tokens, model=model_name or None, budget=budget, data_tag="issue",
    )
    return draft_to_map(result.value, issue.title), result.usage
