"""The double's webhooks (signed, ordered, shaped like GitHub's), faults, auth checks and the manifest flow."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest
from githubkit import AppAuthStrategy, GitHub
from githubkit.exception import RequestFailed

from app.sandbox.github import GitHubDouble
from app.sandbox.github.double import generate_key
from tests.support.github import SHOP, installation_client, installation_id

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"
OWNER, REPO = SHOP.split("/")
# Keys real payloads carry that the double leaves out on purpose (nothing in the app reads them).
OMITTED = {"enterprise", "changes.title", "pull_request.merge_commit_sha"}


class Receiver:
    """A tiny webhook receiver recording (headers, raw body) and answering 202."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status": "queued"}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/github/webhooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(github: GitHubDouble) -> Iterator[Receiver]:
    r = Receiver()
    github.set_webhook_url(r.url)
    yield r
    r.close()


def test_webhooks_are_signed_with_the_secret_and_carry_githubs_headers(github: GitHubDouble,
                                                                       receiver: Receiver) -> None:
    number = github.open_issue(SHOP, "Checkout", "As a shopper", by="alice")
    github.label_issue(SHOP, number, "story", by="tina")
    assert [(d.event, d.action, d.status_code) for d in github.deliveries] == [
        ("issues", "opened", 202), ("issues", "labeled", 202)]
    headers, body = receiver.received[1]
    expected = "sha256=" + hmac.new(github.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-hub-signature-256"] == expected
    assert headers["x-github-event"] == "issues" and headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("GitHub-Hookshot/")
    assert headers["x-github-delivery"] == github.deliveries[1].guid
    assert headers["x-github-hook-id"] == str(github.hook_id)
    payload = json.loads(body)
    assert payload["label"]["name"] == "story" and payload["sender"]["login"] == "tina"
    assert payload["installation"]["id"] == github.installation_id


def test_redelivery_keeps_the_guid(github: GitHubDouble, receiver: Receiver) -> None:
    github.open_issue(SHOP, "x", by="alice")
    again = github.redeliver(github.deliveries[0].guid)
    assert again.guid == github.deliveries[0].guid and again.redelivery
    assert receiver.received[0][1] == receiver.received[1][1]


def test_deliver_raw_can_send_a_wrong_signature(github: GitHubDouble, receiver: Receiver) -> None:
    d = github.deliver_raw("issues", {"action": "opened"}, secret="wrong", delivery="guid-1")
    headers, body = receiver.received[0]
    assert d.guid == "guid-1" and headers["x-github-delivery"] == "guid-1"
    good = "sha256=" + hmac.new(github.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-hub-signature-256"] != good


async def test_the_apps_own_actions_send_webhooks_from_its_bot(github: GitHubDouble, receiver: Receiver) -> None:
    number = github.open_issue(SHOP, "x", by="alice")
    inst = installation_client(github)
    await inst.rest.issues.async_create_comment(OWNER, REPO, number, body="bot says hi")
    await inst.rest.issues.async_add_labels(OWNER, REPO, number, labels=["needs-map"])
    github.wait_for_deliveries()
    comment = github.deliveries_for("issue_comment", "created")[-1].payload
    assert comment["sender"]["login"] == "specloop[bot]" and comment["sender"]["type"] == "Bot"
    assert comment["comment"]["performed_via_github_app"]["id"] == github.app_id
    labeled = github.deliveries_for("issues", "labeled")[-1].payload
    assert labeled["sender"]["login"] == "specloop[bot]" and labeled["label"]["name"] == "needs-map"


def _keys(obj: Any, prefix: str = "") -> set[str]:
    """Top-level keys and the keys of each top-level object (two levels, as handlers read them)."""
    out = set()
    for key, value in obj.items():
        out.add(prefix + key)
        if isinstance(value, dict) and not prefix:
            out |= _keys(value, key + ".")
    return out


def _fixture(event: str, action: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / event / f"{action}.payload.json").read_text())
    return data


def test_payloads_have_the_keys_of_githubs_real_payloads(github: GitHubDouble, receiver: Receiver) -> None:
    n = github.open_issue(SHOP, "Story", "body", by="alice")
    github.label_issue(SHOP, n, "story", by="alice")
    github.unlabel_issue(SHOP, n, "story", by="alice")
    github.edit_issue(SHOP, n, body="new", by="alice")
    cid = github.comment(SHOP, n, "hi", by="bob")
    github.edit_comment(SHOP, cid, "hi!", by="bob")
    github.close_issue(SHOP, n, by="alice")
    github.reopen_issue(SHOP, n, by="alice")
    github.push_files(SHOP, "feature", {"a.txt": "a\n"}, "a", by="bob")
    pr = github.open_pull(SHOP, "feature", "main", "PR", by="bob")
    github.push_files(SHOP, "feature", {"a.txt": "b\n"}, "b", by="bob")
    rid = github.submit_review(SHOP, pr, "APPROVED", by="alice")
    github.dismiss_review(SHOP, pr, rid, by="alice")
    inst_client = installation_client(github)
    import asyncio
    sha = github.ref(SHOP, "feature")
    assert sha is not None
    run = asyncio.run(inst_client.rest.checks.async_create(OWNER, REPO, name="specloop/qa", head_sha=sha)).parsed_data
    github.wait_for_deliveries()
    github.rerequest_check_run(SHOP, run.id, by="alice")
    github.request_check_action(SHOP, run.id, "rerun-qa", by="alice")
    assert run.check_suite is not None
    github.rerequest_check_suite(SHOP, run.check_suite.id, by="alice")
    dep = github.create_deployment(SHOP, sha, "staging")
    github.deployment_status(SHOP, dep, "success", environment_url="http://s", by="alice")
    github.suspend(installation_id(github))
    github.unsuspend(installation_id(github))
    github.uninstall(installation_id(github))
    pairs = {
        ("issues", "opened"): "opened", ("issues", "labeled"): "labeled", ("issues", "unlabeled"): "unlabeled",
        ("issues", "edited"): "edited", ("issues", "closed"): None, ("issues", "reopened"): "reopened",
        ("issue_comment", "created"): "created", ("issue_comment", "edited"): "edited",
        ("pull_request", "opened"): "opened", ("pull_request", "synchronize"): "synchronize",
        ("pull_request_review", "submitted"): "submitted", ("pull_request_review", "dismissed"): "dismissed",
        ("check_run", "created"): "created", ("check_run", "rerequested"): "rerequested",
        ("check_run", "requested_action"): "requested_action", ("check_suite", "rerequested"): "rerequested",
        ("deployment_status", "created"): "with-installation", ("installation", "suspend"): "suspend",
        ("installation", "unsuspend"): "unsuspend", ("installation", "deleted"): "deleted",
    }
    for (event, action), fixture_name in pairs.items():
        sent = github.deliveries_for(event, action)
        assert sent, f"the double sent no {event}.{action}"
        if fixture_name is None:
            continue
        expected = _keys(_fixture(event, fixture_name)) - OMITTED
        missing = expected - _keys(sent[-1].payload)
        assert not missing, f"{event}.{action} lacks {sorted(missing)}"


async def test_forged_or_expired_app_jwts_are_refused(github: GitHubDouble) -> None:
    url = f"{github.api_url}/app/installations/{github.installation_id}/access_tokens"
    other_key, _ = generate_key()
    now = datetime.now(UTC)
    forged = jwt.encode({"iss": str(github.app_id), "iat": now - timedelta(seconds=30),
                         "exp": now + timedelta(minutes=5)}, other_key, algorithm="RS256")
    expired = jwt.encode({"iss": str(github.app_id), "iat": now - timedelta(minutes=30),
                          "exp": now - timedelta(minutes=20)}, github.private_key_pem, algorithm="RS256")
    good = jwt.encode({"iss": str(github.app_id), "iat": now - timedelta(seconds=30),
                       "exp": now + timedelta(minutes=5)}, github.private_key_pem, algorithm="RS256")
    async with httpx.AsyncClient() as client:
        for token in (forged, expired, "not-a-jwt"):
            resp = await client.post(url, headers={"Authorization": f"Bearer {token}"})
            assert resp.status_code == 401, token
        ok = await client.post(url, headers={"Authorization": f"Bearer {good}"})
        assert ok.status_code == 201 and ok.json()["token"].startswith("ghs_")
        repo = await client.get(f"{github.api_url}/repos/{SHOP}", headers={"Authorization": f"token {ok.json()['token']}"})
        assert repo.status_code == 200
        anonymous = await client.get(f"{github.api_url}/repos/{SHOP}")
        assert anonymous.status_code == 401
    assert github.tokens_issued == 1


async def test_a_5xx_fault_is_retried_by_githubkit(github: GitHubDouble) -> None:
    github.fault("GET", rf"^/repos/{SHOP}/issues/\d+$", status=502, times=1)
    n = github.open_issue(SHOP, "x", by="alice")
    inst = installation_client(github)
    issue = (await inst.rest.issues.async_get(OWNER, REPO, n)).parsed_data
    assert issue.number == n
    statuses = [r.status for r in github.requests_to("GET", rf"/issues/{n}$")]
    assert statuses == [502, 200]


async def test_secondary_rate_limit_answers_like_github(github: GitHubDouble) -> None:
    github.fault("POST", r"/comments$", status=403, rate_limit=True, retry_after=7)
    n = github.open_issue(SHOP, "x", by="alice")
    inst = installation_client(github, auto_retry=False)
    from githubkit.exception import RateLimitExceeded
    with pytest.raises(RateLimitExceeded) as err:
        await inst.rest.issues.async_create_comment(OWNER, REPO, n, body="x")
    assert err.value.retry_after == timedelta(seconds=7)
    assert err.value.response.headers["x-ratelimit-remaining"] == "0"
    assert "secondary rate limit" in err.value.response.json()["message"]


async def test_latency_fault_delays_without_failing(github: GitHubDouble) -> None:
    github.fault("GET", r"^/repos/[^/]+/[^/]+$", status=None, latency=0.2)
    inst = installation_client(github)
    started = time.monotonic()
    repo = (await inst.rest.repos.async_get(OWNER, REPO)).parsed_data
    assert repo.name == REPO and time.monotonic() - started >= 0.2


def test_unknown_routes_answer_404_naming_the_route_and_are_recorded(github: GitHubDouble) -> None:
    token = github.issue_token(installation_id(github)).value
    resp = httpx.get(f"{github.api_url}/repos/{SHOP}/projects", headers={"Authorization": f"token {token}"})
    assert resp.status_code == 404 and "GET /api/v3/repos/octo-org/shop/projects" in resp.json()["message"]
    assert github.unhandled == ["GET /api/v3/repos/octo-org/shop/projects"]
    github.unhandled.clear()  # the fixture would fail this test otherwise


def test_a_webhook_fault_drops_the_delivery(github: GitHubDouble, receiver: Receiver) -> None:
    github.fault(path="^issues$", target="webhook")
    github.open_issue(SHOP, "x", by="alice")
    assert github.deliveries[0].status_code == 0 and receiver.received == []
    github.redeliver(github.deliveries[0].guid)
    assert len(receiver.received) == 1


async def test_manifest_flow_registers_a_new_app_the_double_then_uses(github: GitHubDouble) -> None:
    manifest = {"name": "Specloop Dev", "url": "https://example.com",
                "hook_attributes": {"url": "http://127.0.0.1:9/api/github/webhooks"},
                "redirect_url": "http://127.0.0.1:9/setup/callback", "default_events": ["issues"],
                "default_permissions": {"issues": "write"}}
    async with httpx.AsyncClient() as client:
        resp = await client.post(f"{github.web_url}/organizations/octo-org/settings/apps/new?state=abc",
                                 data={"manifest": json.dumps(manifest)})
        assert resp.status_code == 302
        location = urlparse(resp.headers["location"])
        query = parse_qs(location.query)
        assert location.path == "/setup/callback" and query["state"] == ["abc"]
        code = query["code"][0]
        conv = await client.post(f"{github.api_url}/app-manifests/{code}/conversions")
        assert conv.status_code == 201
        again = await client.post(f"{github.api_url}/app-manifests/{code}/conversions")
        assert again.status_code == 404  # a code works once
    data = conv.json()
    assert data["slug"] == "specloop-dev" and data["owner"]["login"] == "octo-org"
    assert github.app_id == data["id"] and github.webhook_secret == data["webhook_secret"]
    assert github.webhook_url == "http://127.0.0.1:9/api/github/webhooks"
    gh = GitHub(AppAuthStrategy(data["id"], data["pem"]), base_url=github.api_url)
    app = (await gh.rest.apps.async_get_authenticated()).parsed_data
    assert app and app.slug == "specloop-dev"


async def test_githubkit_parses_the_manifest_conversion(github: GitHubDouble) -> None:
    async with httpx.AsyncClient() as client:
        resp = await client.get(f"{github.web_url}/settings/apps/new", params={
            "manifest": json.dumps({"name": "Mine", "url": "https://e.com", "redirect_url": "http://x/cb"})})
    code = parse_qs(urlparse(resp.headers["location"]).query)["code"][0]
    gh = GitHub(base_url=github.api_url)
    conv = (await gh.rest.apps.async_create_from_manifest(code)).parsed_data
    assert conv.slug == "mine" and conv.pem.startswith("-----BEGIN")
    with pytest.raises(RequestFailed):
        await gh.rest.apps.async_create_from_manifest(code)
