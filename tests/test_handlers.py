"""Routing: each handled event/action becomes its job, read from real captured payloads plus overrides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.domain.markers import marker
from app.events import parse_event
from handlers import Decision, HandlerContext, dispatch, handled
from tests.support.service import FIXTURES, webhook_payload

APP_ID = 4242
CTX = HandlerContext(app_id=APP_ID, app_slug="specloop", delivery="guid-1", debounce_seconds=30.0)
INSTALLATION = {"id": 77}
PERSON = {"login": "alice", "id": 501, "type": "User"}
BOT = {"login": "dependabot[bot]", "id": 49699333, "type": "Bot"}
SELF = {"login": "specloop[bot]", "id": 9001, "type": "Bot"}
SPEC_HEAD = "specloop/12-checkout"


def decide(event: str, name: str, **overrides: Any) -> Decision:
    """Dispatch a fixture payload, installed and sent by a person unless overridden."""
    base = {"installation": INSTALLATION, "sender": PERSON}
    return dispatch(event, webhook_payload(event, name, **{**base, **overrides}), CTX)


def only_job(decision: Decision) -> Any:
    assert decision.ignored_reason is None, decision.ignored_reason
    assert len(decision.jobs) == 1, decision.jobs
    return decision.jobs[0]


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*/*.json")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_captured_payload_parses(path: Path) -> None:
    parse_event(path.parent.name, json.loads(path.read_text()))


def test_a_label_on_an_issue_maps_the_story() -> None:
    request = only_job(decide("issues", "labeled.payload", **{"label.name": "story"}))
    assert request.function == "map_story" and request.queue == "light"
    assert request.kwargs["trigger"] == "label" and request.kwargs["label"] == "story"
    assert request.kwargs["installation_id"] == 77 and request.kwargs["actor"] == "alice"
    assert request.story == "Codertocat/Hello-World#1"
    # the delivery rides along for logs; it is not what the job is about, so it is not in the id
    assert request.delivery == "guid-1" and "guid-1" not in request.job_id
    assert request.job_id.startswith("map_story:Codertocat/Hello-World#1:")


def test_an_edited_story_body_remaps_debounced() -> None:
    request = only_job(decide("issues", "edited.payload", changes={"body": {"from": "old"}}))
    assert (request.function, request.kwargs["trigger"], request.debounce) == ("map_story", "conversation", 30.0)


def test_an_edited_title_alone_does_not_remap() -> None:
    decision = decide("issues", "edited.payload", changes={"title": {"from": "old"}})
    assert decision.jobs == [] and decision.ignored_reason


@pytest.mark.parametrize(("body", "function", "extra"), [
    ("/specloop map", "map_story", {"trigger": "command"}),
    ("/specloop spec", "write_spec", {"regenerate": False}),
    ("/specloop spec --regenerate", "write_spec", {"regenerate": True}),
    ("/specloop help", "reply", {"kind": "help"}),
    ("/specloop status", "reply", {"kind": "status"}),
    ("/specloop frobnicate", "reply", {"kind": "unknown_command", "detail": "frobnicate"}),
])
def test_commands_on_an_issue_become_their_jobs(body: str, function: str, extra: dict[str, Any]) -> None:
    request = only_job(decide("issue_comment", "created.payload", **{"comment.body": body}))
    assert request.function == function
    assert {k: request.kwargs[k] for k in extra} == extra
    assert request.kwargs["actor"] == "alice"


@pytest.mark.parametrize(("body", "function", "queue", "permission"), [
    ("/specloop revise", "revise_spec", "light", "revise"),
    ("/specloop qa", "run_qa", "heavy", "qa"),
    ("/specloop code", "generate_code", "heavy", "code"),
    ("/specloop help", "reply", "light", "help"),
])
def test_commands_on_a_pull_request_become_their_jobs(body: str, function: str, queue: str, permission: str) -> None:
    request = only_job(decide("issue_comment", "created.payload",
                              **{"comment.body": body, "issue.pull_request": {"url": "x"}}))
    assert (request.function, request.queue, request.permission) == (function, queue, permission)


def test_specloop_code_passes_the_rest_of_the_line_to_the_agent() -> None:
    pr = {"issue.pull_request": {"url": "x"}}
    request = only_job(decide("issue_comment", "created.payload",
                              **{"comment.body": "/specloop code  use the   existing form helper", **pr}))
    assert request.function == "generate_code" and request.kwargs["instructions"] == "use the existing form helper"
    assert request.kwargs["sha"] is None  # the branch's current head, not an approved commit
    bare = only_job(decide("issue_comment", "created.payload", **{"comment.body": "/specloop code", **pr}))
    assert bare.kwargs["instructions"] is None
    long = only_job(decide("issue_comment", "created.payload", **{"comment.body": "/specloop code " + "x " * 3000, **pr}))
    assert len(long.kwargs["instructions"]) == 2000


def test_commands_people_start_carry_the_permission_to_check() -> None:
    request = only_job(decide("issue_comment", "created.payload", **{"comment.body": "/specloop map"}))
    assert request.permission == "map"


def test_a_pull_request_command_on_an_issue_says_where_it_works() -> None:
    request = only_job(decide("issue_comment", "created.payload", **{"comment.body": "/specloop code"}))
    assert request.kwargs["kind"] == "unknown_command"
    # the reply renders "works on spec pull requests" for a known command named here
    assert request.kwargs["detail"] == "code"


def test_fifty_unknown_commands_in_one_comment_are_one_reply_naming_nobody() -> None:
    body = "\n".join(f"/specloop x{n}@victim" for n in range(50))
    request = only_job(decide("issue_comment", "created.payload", **{"comment.body": body}))
    assert (request.function, request.kwargs["kind"]) == ("reply", "unknown_command")
    assert "victim" not in request.kwargs["detail"] and "@" not in request.kwargs["detail"]


def test_unknown_commands_are_merged_and_checked_like_help() -> None:
    body = "/specloop frob\n/specloop blah\n/specloop frob\n/specloop a`@victim\n/specloop help"
    decision = decide("issue_comment", "created.payload", **{"comment.body": body})
    unknown = [job for job in decision.jobs if job.kwargs.get("kind") == "unknown_command"]
    assert len(unknown) == 1 and len(decision.jobs) == 2
    # the worker refuses people without the role `help` needs, so strangers get no reply at all
    assert unknown[0].permission == "help"
    assert unknown[0].kwargs["detail"] == "frob\nblah\n?"


def test_many_distinct_unknown_names_are_capped() -> None:
    body = "\n".join(f"/specloop name{n}" for n in range(50))
    request = only_job(decide("issue_comment", "created.payload", **{"comment.body": body}))
    assert len(request.kwargs["detail"].splitlines()) <= 6


def test_two_commands_in_one_comment_get_distinct_job_ids() -> None:
    decision = decide("issue_comment", "created.payload", **{"comment.body": "/specloop help\n/specloop status"})
    assert len({job.job_id for job in decision.jobs}) == 2


def test_a_plain_comment_on_an_issue_remaps_debounced() -> None:
    request = only_job(decide("issue_comment", "created.payload", **{"comment.body": "Guests can check out too"}))
    assert (request.function, request.kwargs["trigger"], request.debounce) == ("map_story", "conversation", 30.0)


def test_a_plain_comment_on_a_pull_request_does_nothing() -> None:
    decision = decide("issue_comment", "created.payload",
                      **{"comment.body": "Looks good", "issue.pull_request": {"url": "x"}})
    assert decision.jobs == []


def test_a_person_ticking_the_bots_map_comment_remaps() -> None:
    request = only_job(decide("issue_comment", "edited.payload", **{
        "comment.user": SELF, "comment.body": marker("map") + "\n- [x] question",
        "comment.performed_via_github_app": {"id": APP_ID}, "changes": {"body": {"from": "- [ ] question"}},
    }))
    assert (request.function, request.kwargs["trigger"]) == ("map_story", "conversation")


def test_editing_someone_elses_comment_does_nothing() -> None:
    decision = decide("issue_comment", "edited.payload", **{"comment.body": marker("map")})
    assert decision.jobs == []


@pytest.mark.parametrize("action", ["opened", "reopened", "synchronize"])
def test_a_spec_pr_opened_or_pushed_is_checked_at_its_head(action: str) -> None:
    name = {"opened": "opened.payload", "reopened": "reopened.payload", "synchronize": "synchronize.payload"}[action]
    request = only_job(decide("pull_request", name, **{"pull_request.head.ref": SPEC_HEAD,
                                                        "pull_request.head.sha": "abc123"}))
    assert (request.function, request.kwargs["sha"]) == ("check_spec", "abc123")


def test_a_pr_from_another_branch_is_not_checked() -> None:
    assert decide("pull_request", "opened.payload", **{"pull_request.head.ref": "feature/x"}).jobs == []


def test_an_approval_on_a_spec_pr_records_the_gate_for_the_reviewed_commit() -> None:
    request = only_job(decide("pull_request_review", "submitted.payload", **{
        "pull_request.head.ref": SPEC_HEAD, "review.state": "approved", "review.commit_id": "c0ffee",
        "review.user": {"login": "bob", "id": 7, "type": "User"}}))
    assert request.function == "approve_spec"
    assert (request.kwargs["sha"], request.kwargs["reviewer"]) == ("c0ffee", "bob")
    assert request.kwargs["review_id"] == webhook_payload("pull_request_review", "submitted.payload")["review"]["id"]
    # approve_spec judges the reviewer itself (config approvers may hold less than write access)
    assert request.permission is None


def test_changes_requested_on_a_spec_pr_revises_the_spec() -> None:
    request = only_job(decide("pull_request_review", "submitted.payload", **{
        "pull_request.head.ref": SPEC_HEAD, "review.state": "changes_requested"}))
    assert (request.function, request.permission) == ("revise_spec", "revise")


def test_a_comment_only_review_does_nothing() -> None:
    decision = decide("pull_request_review", "submitted.payload",
                      **{"pull_request.head.ref": SPEC_HEAD, "review.state": "commented"})
    assert decision.jobs == []


def test_a_review_on_another_branch_does_nothing() -> None:
    decision = decide("pull_request_review", "submitted.payload",
                      **{"pull_request.head.ref": "main-fix", "review.state": "approved"})
    assert decision.jobs == []


def test_a_dismissed_review_on_a_spec_pr_closes_the_gate() -> None:
    request = only_job(decide("pull_request_review", "dismissed.payload", **{"pull_request.head.ref": SPEC_HEAD}))
    assert (request.function, request.kwargs["reason"]) == ("close_gate", "dismissed")


def test_rerunning_our_qa_check_reruns_qa_for_its_sha() -> None:
    request = only_job(decide("check_run", "rerequested.payload", **{
        "check_run.name": "specloop/qa", "check_run.app": {"id": APP_ID}, "check_run.head_sha": "feed",
        "check_run.pull_requests": [{"number": 5}]}))
    assert (request.function, request.queue, request.kwargs["sha"], request.kwargs["number"]) == \
        ("run_qa", "heavy", "feed", 5)


def test_the_rerun_qa_button_reruns_qa() -> None:
    request = only_job(decide("check_run", "requested_action.payload", **{
        "check_run.name": "specloop/qa", "check_run.app": {"id": APP_ID}, "check_run.head_sha": "feed",
        "check_run.pull_requests": [{"number": 5}], "requested_action": {"identifier": "rerun-qa"}}))
    assert request.function == "run_qa"


def test_the_rerun_code_button_generates_code_on_the_head_for_writers() -> None:
    for action, extra in (("requested_action.payload", {"requested_action": {"identifier": "rerun-code"}}),
                          ("rerequested.payload", {})):
        request = only_job(decide("check_run", action, **{
            "check_run.name": "specloop/code", "check_run.app": {"id": APP_ID}, "check_run.head_sha": "feed",
            "check_run.pull_requests": [{"number": 5}], **extra}))
        assert (request.function, request.permission, request.kwargs["number"]) == ("generate_code", "code", 5)
        assert request.kwargs["sha"] is None
    other = decide("check_run", "requested_action.payload", **{
        "check_run.name": "specloop/code", "check_run.app": {"id": APP_ID}, "check_run.head_sha": "feed",
        "check_run.pull_requests": [{"number": 5}], "requested_action": {"identifier": "rerun-qa"}})
    assert other.jobs == []


def test_rerunning_our_spec_check_rechecks_the_spec() -> None:
    request = only_job(decide("check_run", "rerequested.payload", **{
        "check_run.name": "specloop/spec", "check_run.app": {"id": APP_ID}, "check_run.head_sha": "feed",
        "check_run.pull_requests": [{"number": 5}]}))
    assert request.function == "check_spec"


def test_another_apps_check_run_is_not_ours_to_rerun() -> None:
    decision = decide("check_run", "rerequested.payload", **{
        "check_run.name": "specloop/qa", "check_run.app": {"id": 1}, "check_run.pull_requests": [{"number": 5}]})
    assert decision.jobs == []


def test_rerunning_a_suite_rechecks_the_spec_and_reruns_qa() -> None:
    decision = decide("check_suite", "rerequested.payload", **{
        "check_suite.head_sha": "feed", "check_suite.pull_requests": [{"number": 5}]})
    assert sorted(job.function for job in decision.jobs) == ["check_spec", "run_qa"]
    assert all(job.kwargs["sha"] == "feed" for job in decision.jobs)


def test_a_successful_deployment_runs_qa_against_its_url() -> None:
    request = only_job(decide("deployment_status", "with-installation.payload", **{
        "deployment_status.state": "success", "deployment_status.environment_url": "https://preview.example",
        "deployment_status.environment": "preview"}))
    assert request.function == "run_qa"
    assert request.kwargs["base_url"] == "https://preview.example"
    assert request.kwargs["environment"] == "preview"
    assert request.kwargs["sha"] == webhook_payload("deployment_status", "with-installation.payload")["deployment"]["sha"]


def test_a_deployment_without_environment_url_uses_the_target_url() -> None:
    request = only_job(decide("deployment_status", "with-installation.payload", **{
        "deployment_status.state": "success", "deployment_status.environment_url": None,
        "deployment_status.target_url": "https://target.example"}))
    assert request.kwargs["base_url"] == "https://target.example"


def test_a_failed_deployment_runs_nothing() -> None:
    assert decide("deployment_status", "with-installation.payload", **{"deployment_status.state": "failure"}).jobs == []


def test_a_deployment_reported_by_a_bot_still_runs_qa() -> None:
    request = only_job(decide("deployment_status", "with-installation.payload",
                              **{"deployment_status.state": "success", "sender": BOT}))
    assert request.function == "run_qa"


@pytest.mark.parametrize("name", ["deleted.payload", "suspend.payload"])
def test_uninstalling_or_suspending_drops_the_installation(name: str) -> None:
    payload = webhook_payload("installation", name)
    request = only_job(dispatch("installation", payload, CTX))
    assert request.function == "drop_installation"
    assert request.kwargs["installation_id"] == payload["installation"]["id"]


def test_events_sent_by_the_app_itself_are_ignored() -> None:
    decision = decide("issues", "labeled.payload", sender=SELF, **{"label.name": "story"})
    assert decision.jobs == [] and "itself" in (decision.ignored_reason or "")


def test_comments_the_app_posted_are_ignored_even_with_a_command() -> None:
    decision = decide("issue_comment", "created.payload", **{
        "comment.body": "/specloop map", "comment.performed_via_github_app": {"id": APP_ID}})
    assert decision.jobs == [] and "itself" in (decision.ignored_reason or "")


@pytest.mark.parametrize(("event", "name", "overrides"), [
    ("issues", "labeled.payload", {"label.name": "story"}),
    ("issue_comment", "created.payload", {"comment.body": "/specloop map"}),
    ("pull_request_review", "submitted.payload", {"pull_request.head.ref": SPEC_HEAD, "review.state": "approved"}),
])
def test_bots_are_never_obeyed(event: str, name: str, overrides: dict[str, Any]) -> None:
    decision = decide(event, name, sender=BOT, **overrides)
    assert decision.jobs == [] and "bot" in (decision.ignored_reason or "")


def test_a_payload_that_cannot_be_read_is_ignored_with_a_reason() -> None:
    decision = decide("issues", "labeled.payload", issue={"title": "no number"})
    assert decision.jobs == [] and (decision.ignored_reason or "").startswith("could not read")


def test_a_payload_without_an_installation_is_ignored() -> None:
    payload = webhook_payload("issues", "labeled.payload", sender=PERSON)
    decision = dispatch("issues", payload, CTX)
    assert decision.jobs == [] and "installation" in (decision.ignored_reason or "")


def test_unhandled_events_and_actions_are_ignored_with_a_reason() -> None:
    assert not handled("issues", "pinned") and not handled("star", "created")
    decision = decide("issues", "pinned.payload")
    assert decision.jobs == [] and "not handled" in (decision.ignored_reason or "")


def test_a_payload_that_is_not_an_object_is_ignored() -> None:
    assert dispatch("issues", [], CTX).ignored_reason  # type: ignore[arg-type]


def test_fields_missing_in_older_servers_do_not_drop_an_event() -> None:
    payload = webhook_payload("issues", "labeled.payload", installation=INSTALLATION, sender={"login": "alice"},
                              label={"name": "story"})
    del payload["repository"]["owner"], payload["repository"]["default_branch"], payload["issue"]["labels"]
    assert only_job(dispatch("issues", payload, CTX)).function == "map_story"
