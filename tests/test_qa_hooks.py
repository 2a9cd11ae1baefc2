"""Project hooks (Before/After, BeforeAll/AfterAll), pending and skipped steps, and attachments.

The run tests load real step files with `allow_repo_steps`, so they run in the QA child process with
real Chromium against the sample app, and every result crosses the process boundary as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.domain.hooks import Hook, ScenarioInfo, after, before, before_all, hooks_for
from app.domain.qa_reports import html_report
from app.domain.qa_results import HookResult, RunResult, ScenarioResult, StepResult, scenario_status
from app.domain.steps import StepDefinitionError, StepRegistry, collecting
from app.qa.attachments import LOG_MEDIA_TYPE, AttachmentBudget, AttachmentError, attachment
from app.qa.options import RunOptions
from app.qa.runner import run
from app.qa.step_files import load_step_file
from app.render.qa_check import render_qa_result
from tests.sample_app import SampleApp

HOOK_STEPS = '''
from app.domain.hooks import after, after_all, before, before_all
from app.domain.steps import Pending, Skipped, step

STATE = {"before_all": 0}


@before_all(name="seed")
def seed(ctx):
    STATE["before_all"] += 1
    ctx.log("seeded")


@after_all
def clean_up(ctx):
    ctx.log(f"before_all ran {STATE['before_all']} time(s)")


@before(name="second", order=20)
def second(ctx):
    ctx.log("second")


@before(name="first", order=5)
def first(ctx, scenario):
    ctx.log(f"first: {scenario.name}, seeded {STATE['before_all']}")


@before(tags="@auth", name="log in")
async def log_in(page, world):
    await page.goto("/")
    world.user = "ann"


@before(tags="@fail-before", name="broken setup")
def broken_setup():
    raise RuntimeError("the database is down")


@before(tags="@skip-before", order=1)
def skip_here():
    raise Skipped("not on this environment")


@after(name="report")
def report(ctx, scenario):
    ctx.log(f"{scenario.name}: {scenario.status}")


@after(tags="@fail-after", name="broken teardown")
def broken_teardown():
    assert False, "teardown failed"


@after(tags="@auth", name="log out")
async def log_out(page):
    await page.goto("/")


@step("a step passes")
def passes():
    pass


@step("the steps see what the hook put in the world")
def sees_world(world):
    assert world.user == "ann"


@step("a step fails")
def fails():
    assert False, "this step fails"


@step("a step is pending")
def is_pending():
    raise Pending("write this later")


@step("a step skips")
def skips():
    raise Skipped("not today")


@step("a step attaches text, bytes, a log and a link")
def attaches(ctx):
    ctx.attach("hello", "text/plain")
    ctx.attach(b"\\x89PNG\\r\\n", "image/png", "pixel.png")
    ctx.log("a log line")
    ctx.link("https://example.com/report")


@step("a step attaches too much")
def attaches_too_much(ctx):
    ctx.attach(b"x" * (11 * 1024 * 1024), "application/octet-stream")
'''

HOOK_FEATURE = '''Feature: Hooks
  @auth
  Scenario: Tagged hooks run in order around the steps
    Then I should see "Welcome"
    And the steps see what the hook put in the world

  Scenario: Untagged scenarios get the untagged hooks
    When a step passes

  @fail-before
  Scenario: A failing Before hook skips the steps
    When a step passes

  @fail-after
  Scenario: A failing After hook fails a passed scenario
    When a step passes

  @skip-before
  Scenario: A skipping Before hook skips the rest
    When a step passes

  Scenario: A failing step still runs the After hooks
    When a step fails
    And a step passes

  Scenario: A pending step
    When a step is pending
    And a step passes

  Scenario: A skipped step
    When a step skips
    And a step passes
    And a step nobody wrote

  Scenario: Attachments
    When a step attaches text, bytes, a log and a link

  Scenario: An oversized attachment
    When a step attaches too much
'''

def _options(features: Path) -> RunOptions:
    return RunOptions(contexts=2, timeout_ms=8000, screenshots="failures", trace=False,
                      steps_dir=str(features / "steps"), allow_repo_steps=True)


def _project(tmp_path: Path, steps: str, feature: str) -> Path:
    features = tmp_path / "features"
    (features / "steps").mkdir(parents=True)
    (features / "steps" / "hooks_steps.py").write_text(steps)
    (features / "hooks.feature").write_text(feature)
    return features


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def _logs(hook: HookResult | StepResult) -> list[str]:
    return [a["body"] for a in hook.attachments if a["mediaType"] == LOG_MEDIA_TYPE]


@pytest.fixture(scope="module")
def hooks_run(sample_app: SampleApp, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    features = _project(tmp_path_factory.mktemp("hooks"), HOOK_STEPS, HOOK_FEATURE)
    return run([features / "hooks.feature"], sample_app.url, _options(features), root=features)


def _scenario(run_result: RunResult, name: str) -> ScenarioResult:
    return next(s for s in run_result.scenarios if s.name == name)


def test_before_hooks_run_by_order_then_definition_and_after_hooks_in_reverse(hooks_run: RunResult) -> None:
    tagged = _scenario(hooks_run, "Tagged hooks run in order around the steps")
    assert tagged.status == "passed", (tagged.error, [s.error for s in tagged.steps])
    assert [h.name for h in tagged.before_hooks] == ["first", "second", "log in"]
    assert [h.name for h in tagged.after_hooks] == ["log out", "report"]
    assert all(h.status == "passed" for h in (*tagged.before_hooks, *tagged.after_hooks))
    # The hook saw its scenario, after the BeforeAll hook ran once in the same process.
    assert _logs(tagged.before_hooks[0]) == ["first: Tagged hooks run in order around the steps, seeded 1"]
    assert _logs(tagged.after_hooks[-1]) == ["Tagged hooks run in order around the steps: passed"]
    plain = _scenario(hooks_run, "Untagged scenarios get the untagged hooks")
    assert plain.status == "passed"
    assert [h.name for h in plain.before_hooks] == ["first", "second"]  # the tagged hooks do not apply
    assert [h.name for h in plain.after_hooks] == ["report"]
    source = "hooks_steps.py:" + str(_line_of(HOOK_STEPS, '@before(tags="@auth"'))  # the decorator's line
    log_in = next(d for d in hooks_run.hook_definitions if d["name"] == "log in")
    assert log_in == {"key": source, "kind": "before", "name": "log in", "tags": "@auth", "source": source}
    assert tagged.before_hooks[2].hook == source


def test_a_failing_before_hook_skips_the_steps_and_fails_the_scenario_naming_the_hook(hooks_run: RunResult) -> None:
    scenario = _scenario(hooks_run, "A failing Before hook skips the steps")
    assert scenario.status == "failed"
    assert [s.status for s in scenario.steps] == ["skipped"]
    broken = scenario.before_hooks[-1]
    assert (broken.name, broken.status) == ("broken setup", "failed")
    assert broken.error == "RuntimeError: the database is down"
    assert broken.exception == {"type": "RuntimeError", "message": "the database is down"}
    assert scenario.error and 'Before hook "broken setup" (hooks_steps.py:' in scenario.error
    assert "the database is down" in scenario.error
    assert scenario.page_text is not None  # what the page showed when the hook failed
    # After hooks always run, and see the status so far.
    assert _logs(scenario.after_hooks[-1]) == ["A failing Before hook skips the steps: failed"]


def test_a_failing_after_hook_fails_the_scenario_and_later_after_hooks_still_run(hooks_run: RunResult) -> None:
    scenario = _scenario(hooks_run, "A failing After hook fails a passed scenario")
    assert [s.status for s in scenario.steps] == ["passed"]
    assert scenario.status == "failed"
    assert [(h.name, h.status) for h in scenario.after_hooks] == [("broken teardown", "failed"), ("report", "passed")]
    assert scenario.after_hooks[0].error == "teardown failed"
    assert _logs(scenario.after_hooks[1]) == ["A failing After hook fails a passed scenario: failed"]
    assert scenario.error and 'After hook "broken teardown"' in scenario.error


def test_a_skipping_before_hook_skips_the_remaining_hooks_and_steps(hooks_run: RunResult) -> None:
    scenario = _scenario(hooks_run, "A skipping Before hook skips the rest")
    assert scenario.status == "skipped" and not scenario.failed
    assert [(h.name, h.status) for h in scenario.before_hooks] == [(None, "skipped"), ("first", "skipped"),
                                                                     ("second", "skipped")]
    assert scenario.before_hooks[0].error == "not on this environment"
    assert [s.status for s in scenario.steps] == ["skipped"]
    assert [h.status for h in scenario.after_hooks] == ["passed"]
    assert _logs(scenario.after_hooks[0]) == ["A skipping Before hook skips the rest: skipped"]


def test_after_hooks_run_after_a_failing_step(hooks_run: RunResult) -> None:
    scenario = _scenario(hooks_run, "A failing step still runs the After hooks")
    assert [s.status for s in scenario.steps] == ["failed", "skipped"]
    assert scenario.steps[0].exception == {"type": "AssertionError", "message": "this step fails"}
    assert _logs(scenario.after_hooks[-1]) == ["A failing step still runs the After hooks: failed"]


def test_a_pending_step_makes_the_scenario_pending_and_the_run_fail(hooks_run: RunResult) -> None:
    scenario = _scenario(hooks_run, "A pending step")
    assert [s.status for s in scenario.steps] == ["pending", "skipped"]
    assert scenario.steps[0].error == "write this later"
    assert scenario.steps[0].exception == {"type": "Pending", "message": "write this later"}
    assert scenario.status == "pending" and scenario.failed
    assert scenario.failing_step() is scenario.steps[0]


def test_a_skipped_step_skips_the_rest_even_undefined_steps_and_the_scenario(hooks_run: RunResult) -> None:
    scenario = _scenario(hooks_run, "A skipped step")
    assert [s.status for s in scenario.steps] == ["skipped", "skipped", "skipped"]  # as Cucumber does
    assert scenario.steps[2].snippet is None
    assert scenario.steps[0].exception == {"type": "Skipped", "message": "not today"}
    assert scenario.status == "skipped" and not scenario.failed


def test_steps_attach_text_bytes_logs_and_links(hooks_run: RunResult) -> None:
    step = _scenario(hooks_run, "Attachments").steps[0]
    assert step.status == "passed"
    assert step.attachments == [
        {"body": "hello", "mediaType": "text/plain", "contentEncoding": "IDENTITY", "fileName": None},
        {"body": "iVBORw0K", "mediaType": "image/png", "contentEncoding": "BASE64", "fileName": "pixel.png"},
        {"body": "a log line", "mediaType": "text/x.cucumber.log+plain", "contentEncoding": "IDENTITY",
         "fileName": None},
        {"body": "https://example.com/report", "mediaType": "text/uri-list", "contentEncoding": "IDENTITY",
         "fileName": None},
    ]


def test_an_attachment_over_the_runs_budget_fails_the_step_with_the_reason(hooks_run: RunResult) -> None:
    step = _scenario(hooks_run, "An oversized attachment").steps[0]
    assert step.status == "failed" and step.attachments == []
    assert "limited to 10 MB" in (step.error or "")


def test_before_all_and_after_all_run_once_with_their_attachments(hooks_run: RunResult) -> None:
    assert [(h.kind, h.name, h.status) for h in hooks_run.run_hooks] == [
        ("before_all", "seed", "passed"), ("after_all", None, "passed")]
    assert _logs(hooks_run.run_hooks[0]) == ["seeded"]
    assert _logs(hooks_run.run_hooks[1]) == ["before_all ran 1 time(s)"]
    kinds = sorted(d["kind"] for d in hooks_run.hook_definitions)
    assert kinds == ["after", "after", "after", "after_all", "before", "before", "before", "before", "before",
                     "before_all"]
    assert not hooks_run.passed  # failed and pending scenarios


def test_hook_failures_show_in_the_check_run_and_the_html_report(hooks_run: RunResult) -> None:
    check = render_qa_result(hooks_run, sha="a" * 40)
    assert 'failed: Before hook "broken setup" (hooks_steps.py:' in check.text
    assert "RuntimeError: the database is down" in check.text
    assert "⏸️ pending" in check.summary  # the pending scenario is listed as such
    page = html_report(hooks_run)
    assert 'Before hook &quot;broken setup&quot;' in page and "the database is down" in page
    assert "<a href='https://example.com/report'>" in page and "data:image/png;base64,iVBORw0K" in page
    assert "BeforeAll hook &quot;seed&quot;" in page


BEFORE_ALL_FAILS = '''
from app.domain.hooks import after_all, before_all
from app.domain.steps import step


@before_all(name="broken seed")
def broken_seed():
    raise RuntimeError("cannot seed")


@before_all(name="second seed")
def second_seed(base_url):
    assert base_url.startswith("http")


@after_all(name="clean up")
def clean_up(ctx):
    ctx.log("cleaned")


@step("a step passes")
def passes():
    pass
'''


def test_a_failing_before_all_hook_runs_no_scenario_and_fails_the_run(sample_app: SampleApp, tmp_path: Path) -> None:
    features = _project(tmp_path, BEFORE_ALL_FAILS, "Feature: f\n  Scenario: s\n    When a step passes\n")
    result = run([features / "hooks.feature"], sample_app.url, _options(features), root=features)
    assert result.scenarios == [] and not result.passed
    assert [(h.name, h.status) for h in result.run_hooks] == [
        ("broken seed", "failed"), ("second seed", "passed"), ("clean up", "passed")]
    assert result.run_hooks[0].error == "RuntimeError: cannot seed"
    assert _logs(result.run_hooks[2]) == ["cleaned"]
    check = render_qa_result(result, sha="b" * 40)
    assert check.conclusion == "failure"
    assert 'BeforeAll hook "broken seed" (hooks_steps.py:' in check.summary and "cannot seed" in check.summary


# ---- plain Python: the decorators, ordering, load errors, statuses, JSON ---------------------------------


def _collect(tmp_path: Path, source: str) -> StepRegistry:
    path = tmp_path / "some_steps.py"
    path.write_text(source)
    registry = StepRegistry()
    load_step_file(registry, path)
    return registry


def test_decorators_work_bare_and_called_and_register_into_the_registry_being_loaded() -> None:
    registry = StepRegistry()

    def a() -> None: ...
    def b() -> None: ...
    def c() -> None: ...
    def d() -> None: ...

    with collecting(registry):
        assert before(a) is a
        before(tags="@x and not @wip", name="named", order=1)(b)
        after(c)
        before_all(name="once")(d)
    hooks: list[Hook] = registry.hooks
    assert [(h.kind, h.name, h.tags, h.order) for h in hooks] == [
        ("before", None, None, 10000), ("before", "named", "@x and not @wip", 1), ("after", None, None, 10000),
        ("before_all", "once", None, 10000)]
    assert [h.func for h in hooks_for(hooks, "before", ["@x"])] == [b, a]
    assert [h.func for h in hooks_for(hooks, "before", ["@x", "@wip"])] == [a]
    assert hooks[0].source.startswith("test_qa_hooks.py:")


def test_after_hooks_run_in_the_reverse_of_the_before_order() -> None:
    def f() -> None: ...
    hooks = [Hook("after", f, "s.py:1"), Hook("after", f, "s.py:2", order=1), Hook("after", f, "s.py:3")]
    assert [h.source for h in hooks_for(hooks, "after")] == ["s.py:3", "s.py:1", "s.py:2"]


@pytest.mark.parametrize(("source", "message"), [
    ("from app.domain.hooks import before\n@before(tags='@a and')\ndef h(): pass\n", "is not a valid tag expression"),
    ("from app.domain.hooks import before\n@before\ndef h(context): pass\n", "asks for `context`"),
    ("from app.domain.hooks import before_all\n@before_all\ndef h(page): pass\n", "BeforeAll hook can receive"),
])
def test_a_bad_hook_fails_the_load_with_a_message_naming_it(tmp_path: Path, source: str, message: str) -> None:
    with pytest.raises(StepDefinitionError, match=message) as caught:
        _collect(tmp_path, source)
    assert "some_steps.py:" in str(caught.value)


def test_a_hook_file_registers_hooks_beside_steps(tmp_path: Path) -> None:
    registry = _collect(tmp_path, "from app.domain.hooks import after\n\n@after(name='bye')\nasync def h(page, scenario):"
                                  "\n    pass\n")
    assert [(h.kind, h.name, h.source) for h in registry.hooks] == [("after", "bye", "some_steps.py:3")]
    assert ScenarioInfo("n", "a.feature", 3, ("@x",), "passed").tags == ("@x",)


def _step(status: str) -> StepResult:
    return StepResult(keyword="Given ", text="t", line=1, status=status)  # type: ignore[arg-type]


def _hook(status: str) -> HookResult:
    return HookResult(hook="h.py:1", kind="after", name=None, status=status)  # type: ignore[arg-type]


def test_scenario_status_follows_cucumbers_precedence_over_steps_and_hooks() -> None:
    assert scenario_status([_step("passed"), _step("pending"), _step("skipped")]) == "pending"
    assert scenario_status([_step("passed"), _step("skipped")]) == "skipped"
    assert scenario_status([_step("pending"), _step("undefined")]) == "undefined"
    assert scenario_status([_step("passed")], [_hook("failed")]) == "failed"
    assert scenario_status([_step("passed")], [_hook("skipped")]) == "skipped"
    assert scenario_status([], [_hook("passed")]) == "undefined"  # an empty scenario still proves nothing


def test_a_skipped_scenario_does_not_fail_the_run_but_a_failed_run_hook_does() -> None:
    skipped = ScenarioResult(id="1", name="s", uri="a.feature", line=2, feature="f", status="skipped")
    passed = ScenarioResult(id="2", name="p", uri="a.feature", line=5, feature="f", status="passed")
    assert RunResult(base_url="http://x", scenarios=[skipped, passed]).passed
    assert not RunResult(base_url="http://x", scenarios=[skipped]).passed  # only skipped: nothing was tested
    failed_hook = HookResult(hook="h.py:1", kind="after_all", name=None, status="failed", error="boom")
    assert not RunResult(base_url="http://x", scenarios=[skipped, passed], run_hooks=[failed_hook]).passed


def test_hooks_and_attachments_round_trip_through_json() -> None:
    note = attachment("note", "text/plain", budget=AttachmentBudget())
    hook = HookResult(hook="h.py:3", kind="before", name="log in", status="failed", duration=0.5, started_at=1.0,
                      error="RuntimeError: x", exception={"type": "RuntimeError", "message": "x"}, attachments=[note])
    step = _step("pending")
    step.attachments = [attachment(b"\x00\x01", "application/octet-stream", "b.bin", budget=AttachmentBudget())]
    step.exception = {"type": "Pending", "message": "later"}
    scenario = ScenarioResult(id="1", name="s", uri="a.feature", line=2, feature="f", status="failed", steps=[step],
                              before_hooks=[hook], after_hooks=[_hook("passed")])
    original = RunResult(
        base_url="http://x", scenarios=[scenario],
        hook_definitions=[{"key": "h.py:3", "kind": "before", "name": "log in", "tags": "@auth", "source": "h.py:3"}],
        run_hooks=[HookResult(hook="h.py:9", kind="before_all", name=None, status="passed", attachments=[note])],
    )
    again = RunResult.from_json(json.loads(json.dumps(original.to_json())))
    assert again == original
    assert isinstance(again.scenarios[0].before_hooks[0], HookResult) and isinstance(again.run_hooks[0], HookResult)
    assert again.scenarios[0].steps[0].attachments[0]["body"] == "AAE="


@pytest.mark.parametrize("bad", [[5], [{"body": b"x", "mediaType": "a/b", "contentEncoding": "BASE64", "fileName": None}],
                                 [{"body": "x", "mediaType": "a/b", "contentEncoding": "GZIP", "fileName": None}], "x"])
def test_a_run_handed_back_with_malformed_attachments_is_refused(bad: object) -> None:
    data = RunResult(base_url="http://x", run_hooks=[_hook("passed")]).to_json()
    data["run_hooks"][0]["attachments"] = bad
    with pytest.raises(ValueError, match="malformed attachments"):
        RunResult.from_json(data)


def test_attachments_are_checked_and_budgeted() -> None:
    budget = AttachmentBudget(limit=10)
    attachment("12345", "text/plain", budget=budget)
    with pytest.raises(AttachmentError, match="limited to 10 bytes in total and 5 bytes are already attached"):
        attachment(b"123456", "application/octet-stream", budget=budget)
    with pytest.raises(AttachmentError, match="media type"):
        attachment("x", "", budget=budget)
    with pytest.raises(AttachmentError, match="text \\(str\\) or bytes, not int"):
        attachment(5, "text/plain", budget=budget)  # type: ignore[arg-type]
