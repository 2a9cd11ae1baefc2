"""Phases 3 to 5: alice's story, its Example Map, her answer, the converged map and the spec PR."""

from __future__ import annotations

from app.demo import story
from app.demo.stage import Stage
from app.demo.story import DEBOUNCE_SECONDS, PHASES, REPO, STORY_BODY, STORY_TITLE
from app.domain.example_map import Readiness


async def open_issue(stage: Stage) -> None:
    """Phase 3: alice writes the story as an issue; unlabelled, Specloop stays quiet."""
    n, double = stage.n, stage.double
    n.phase(3, PHASES, "alice opens an issue with a story")
    with stage.timed("issue"):
        number = await stage.act(double.open_issue, REPO, STORY_TITLE, STORY_BODY, by="alice")
        await stage.drain()
        stage.outcome.issue = number
        n.ok(f"issue #{number} “{STORY_TITLE}”  {stage.url(f'issues/{number}')}")
        n.quote([line for line in STORY_BODY.splitlines() if line.strip()])
        spoke = [c for c in double.comments(REPO, number) if c.user.login.lower() == stage.bot.lower()]
        stage.expect(not spoke, "the bot commented on an issue nobody asked it about")
        n.say("Not labelled yet, so Specloop stays quiet (it acts only when asked).")


async def label_story(stage: Stage) -> None:
    """Phase 4: alice labels the issue `story`: an eyes reaction, one map comment, `needs-answers`."""
    n, double, number = stage.n, stage.double, _issue(stage)
    n.phase(4, PHASES, "alice labels it `story` → Specloop posts an Example Map")
    with stage.timed("example map"):
        scripted = stage.model
        if scripted is not None:
            scripted.first_map(number)  # the offline mapper's map, queued as the model's answer
        await stage.act(double.label_issue, REPO, number, "story", by="alice")
        await stage.drain()
        stage.expect("eyes" in double.reactions(REPO, number), "Specloop did not react with 👀 to the story label")
        n.ok("reacted 👀 at once, then mapped the story in a job" + (" (the model's answer was scripted)"
                                                                    if scripted is not None else " with the model"))
        comment, state = stage.map_state(number)
        readiness = state.map.readiness(state.max_rules)
        stage.expect(state.revision == 1, f"expected map revision 1, got {state.revision}")
        # the scripted map is known; a real model may find the story ready at once (phase 5 then has no answer)
        stage.expect(readiness is Readiness.OPEN_QUESTIONS or scripted is None,
                     f"expected the first map to have an open question, it is `{readiness.value}`")
        rules, examples = len(state.map.rules), sum(len(r.examples) for r in state.map.rules)
        n.ok(f"posted the Example Map, revision {state.revision}: {rules} rules, {examples} examples, "
             f"{len(state.map.open_questions())} open question")
        stage.show_map(comment, state)
        labels = double.labels(REPO, number)
        stage.expect("needs-answers" in labels or readiness is not Readiness.OPEN_QUESTIONS,
                     f"expected the `needs-answers` label, the issue has {labels}")
        n.ok("labels: " + ", ".join(labels))


async def answer_question(stage: Stage) -> None:
    """Phase 5: alice answers Q1 in the thread: the map converges, is ready, and the spec PR opens by itself."""
    n, double, number = stage.n, stage.double, _issue(stage)
    n.phase(5, PHASES, "alice answers the question → the map is ready → the spec PR opens")
    with stage.timed("answer + spec PR"):
        _, before = stage.map_state(number)
        if before.map.readiness(before.max_rules) is Readiness.READY:  # only a real model's map can be
            n.ok("the model found no open question: the map was ready at once, and the spec PR opened")
            _spec_pull(stage, number)
            return
        if stage.model is not None:  # the map after the answer and, once ready, the feature: queued answers
            stage.model.answered_map(number, story.ANSWER, by="alice")
        await stage.act(double.comment, REPO, number, story.ANSWER, by="alice")
        n.ok(f"alice replied: “{story.ANSWER}”")
        n.say(f"Replies are debounced ({DEBOUNCE_SECONDS:g} s here, about 30 s in production) so a "
              "burst of answers causes one re-map.")
        await stage.drain()
        comment, state = stage.map_state(number)
        readiness = state.map.readiness(state.max_rules)
        stage.expect(state.revision == 2, f"expected the answer to make map revision 2, it is {state.revision}")
        stage.expect(readiness is Readiness.READY, f"expected the map to be ready, it is `{readiness.value}`")
        n.ok(f"re-mapped in place (same comment), revision {state.revision}: "
             + "; ".join(str(c) for c in state.changes))
        stage.show_map(comment, state)
        n.ok("labels: " + ", ".join(double.labels(REPO, number)))
        _spec_pull(stage, number)


def _spec_pull(stage: Stage, number: int) -> None:
    """The spec PR the ready map opened: its branch, body, reviewers, feature file and spec check."""
    n, double = stage.n, stage.double
    pulls = [p for p in double.repo(REPO).pulls.values() if p.head_ref.startswith(f"specloop/{number}-")]
    stage.expect(len(pulls) == 1, f"expected one spec PR from a specloop/{number}-… branch, found {len(pulls)}")
    pull = pulls[0]
    issue = double.issue(REPO, pull.number)
    stage.outcome.pull, stage.outcome.branch = pull.number, pull.head_ref
    n.ok(f"opened the spec PR by itself (spec.auto): #{pull.number} “{issue.title}”")
    n.field("link", stage.url(f"pull/{pull.number}"))
    n.field("branch", f"{pull.head_ref} → {pull.base_ref}  (head {pull.head_sha[:7]})")
    stage.expect(f"Closes #{number}" in (issue.body or ""), f"the spec PR body does not say `Closes #{number}`")
    reviewers = ", ".join(u.login for u in pull.requested_reviewers) or "none"
    n.field("reviewers", f"requested: {reviewers}")

    features = _feature_paths(stage, pull.head_sha)
    stage.expect(features, f"no .feature file under features/ on {pull.head_ref}")
    path = features[0]
    stage.outcome.feature_path = path
    text = double.file(REPO, path, ref=pull.head_sha) or ""
    n.ok(f"committed {path}:")
    n.quote(text.rstrip("\n").splitlines(), limit=60)
    run = stage.check_run(pull.head_sha, "specloop/spec")
    stage.expect(run.conclusion == "action_required",
                 f"expected specloop/spec to wait for approval (action_required), it is `{run.conclusion}`")
    n.ok("validated it (gherkin-official parse + lint against the QA step vocabulary):")
    stage.show_check(run, summary_lines=6)


def _feature_paths(stage: Stage, sha: str) -> list[str]:
    """`.feature` files under features/ at `sha` (read from the double's real git repository)."""
    entries = stage.double.repo(REPO).git.ls_tree(sha, recursive=True)
    return sorted(e.path for e in entries if e.type == "blob" and e.path.startswith("features/")
                  and e.path.endswith(".feature"))


def _issue(stage: Stage) -> int:
    """The story's issue number (phase 3 opened it)."""
    assert stage.outcome.issue is not None, "phase 3 opens the issue"
    return stage.outcome.issue
