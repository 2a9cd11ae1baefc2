"""Setup mode and the Probot-style manifest registration, over real HTTP (against the GitHub double)."""

from __future__ import annotations

import html
import json
import logging
import re
import stat
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from app.redis_server import free_port
from app.settings import Settings
from app.setup_flow import NOT_FOUND, REGISTERED_KEY, write_env
from app.signature import sign
from app.web import BackgroundServer, create_app
from app.webhook import WEBHOOK_PATH

PERMISSIONS = {"issues": "write", "pull_requests": "write", "contents": "write", "checks": "write",
               "deployments": "read", "metadata": "read"}
EVENTS = ["issues", "issue_comment", "pull_request", "pull_request_review", "check_run", "check_suite",
          "deployment_status"]


TOKEN_LINE = re.compile(r"One-time setup token: (\S+)")


class Service:
    """A service started in setup mode on a known port (PUBLIC_URL must name it before it starts)."""

    def __init__(self, redis_url: str, tmp_path: Path, github_url: str, **overrides: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        values: dict[str, Any] = {"app_id": None, "redis_url": redis_url, "github_url": github_url,
                                  "public_url": self.url, "data_dir": tmp_path / ".specloop",
                                  "dotenv_path": tmp_path / "config" / ".env"}
        values.update(overrides)
        self.settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        self.env_path = self.settings.dotenv_path
        self.app = create_app(self.settings)
        self.server = BackgroundServer(self.app, port=self.port)
        self.token = ""  # the setup token this service printed in its log at start
        self.browsers: list[httpx.Client] = []


@pytest.fixture
def make_service(redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Any]:
    """Start services in setup mode; all are stopped at the end. `service.token` is read from its log."""
    started: list[Service] = []
    caplog.set_level(logging.INFO)

    def start(github_url: str = "https://github.com", **overrides: Any) -> Service:
        service = Service(overrides.pop("redis_url", redis_url), tmp_path, github_url, **overrides)
        before = len(caplog.records)
        service.server.start()
        started.append(service)
        # what an operator does: read the token in the line the service logged while starting
        for record in caplog.records[before:]:
            found = TOKEN_LINE.search(record.getMessage())
            if found:
                service.token = found.group(1)
        return service

    yield start
    for service in started:
        for client in service.browsers:
            client.close()
        service.server.stop()


def browser(service: Service, *, token: str | None = None) -> httpx.Client:
    """A browser (its own cookie jar) that has opened the setup link with `token` (the logged one by default)."""
    client = httpx.Client(base_url=service.url, follow_redirects=True)
    service.browsers.append(client)
    response = client.get("/setup", params={"token": service.token if token is None else token})
    assert response.status_code == 200, response.text
    return client


def state_of(action: str) -> str:
    """The state nonce in a registration form's action."""
    return parse_qs(urlparse(action).query)["state"][0]


def registration_form(page: str) -> tuple[str, dict[str, Any]]:
    """The form action and the manifest posted by the "Register GitHub App" button."""
    form = re.search(r'<form method="post" action="([^"]+)" id="register">.*?name="manifest" value="([^"]+)"',
                     page, re.DOTALL)
    assert form is not None, page
    return html.unescape(form.group(1)), json.loads(html.unescape(form.group(2)))


# --- the setup page ---------------------------------------------------------------------------


def test_setup_page_posts_the_app_yml_manifest_to_the_personal_new_app_page(make_service: Any) -> None:
    service = make_service()
    response = browser(service).get("/setup")
    assert response.status_code == 200
    assert "Register GitHub App" in response.text
    action, manifest = registration_form(response.text)
    target = urlparse(action)
    assert f"{target.scheme}://{target.netloc}{target.path}" == "https://github.com/settings/apps/new"
    assert len(parse_qs(target.query)["state"][0]) >= 24
    assert manifest["name"] == "Specloop"
    assert manifest["hook_attributes"]["url"] == service.url + WEBHOOK_PATH
    assert manifest["redirect_url"] == service.url + "/setup/callback"
    assert manifest["public"] is False
    assert manifest["default_permissions"] == PERMISSIONS
    assert manifest["default_events"] == EVENTS


def test_setup_page_for_an_organization_posts_to_the_orgs_new_app_page(make_service: Any) -> None:
    service = make_service(github_url="https://ghe.example.com")
    response = browser(service).get("/setup", params={"org": "acme-inc", "name": "Acme Specloop"})
    action, manifest = registration_form(response.text)
    assert action.startswith("https://ghe.example.com/organizations/acme-inc/settings/apps/new?state=")
    assert manifest["name"] == "Acme Specloop"
    assert "the <strong>acme-inc</strong> organization" in response.text


def test_an_invalid_organization_name_is_refused_with_a_message(make_service: Any) -> None:
    service = make_service()
    response = browser(service).get("/setup", params={"org": "<script>"})
    assert response.status_code == 400
    assert "is not a valid GitHub organization name" in response.text
    assert "<script>" not in response.text  # escaped, never echoed as markup
    action, _ = registration_form(response.text)
    assert action.startswith("https://github.com/settings/apps/new?state=")


def test_each_visit_gets_a_fresh_state_nonce(make_service: Any) -> None:
    service = make_service()
    operator = browser(service)
    first, _ = registration_form(operator.get("/setup").text)
    second, _ = registration_form(operator.get("/setup").text)
    assert parse_qs(urlparse(first).query)["state"] != parse_qs(urlparse(second).query)["state"]


def test_a_local_public_url_is_flagged_on_the_setup_page(make_service: Any) -> None:
    service = make_service()
    assert "GitHub must reach" in browser(service).get("/setup").text


def test_a_callback_with_an_unknown_state_is_a_400_page(make_service: Any) -> None:
    service = make_service()
    operator = browser(service)
    operator.cookies.set("specloop_setup_state", "forged", path="/setup")  # bound to the browser, never issued
    response = operator.get("/setup/callback", params={"code": "abc", "state": "forged"})
    assert response.status_code == 400
    assert "Registration link not recognised" in response.text
    assert not service.env_path.exists()


def test_a_callback_without_state_is_a_400_page(make_service: Any) -> None:
    service = make_service()
    response = browser(service).get("/setup/callback", params={"code": "abc"})
    assert response.status_code == 400
    assert "Registration link not recognised" in response.text


def test_an_unreachable_github_gives_a_clear_page_not_a_500(make_service: Any) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    service = make_service(github_url=nowhere)
    operator = browser(service)
    action, _ = registration_form(operator.get("/setup").text)
    response = operator.get("/setup/callback", params={"code": "abc", "state": state_of(action)})
    assert response.status_code == 502
    assert "Could not reach GitHub" in response.text
    assert f"{nowhere}/api/v3" in response.text
    assert not service.env_path.exists()


def test_only_setup_and_healthz_answer_in_setup_mode(make_service: Any) -> None:
    service = make_service()
    assert httpx.get(service.url + "/healthz").status_code == 200
    hook = httpx.post(service.url + WEBHOOK_PATH, content=b"{}", headers={"X-GitHub-Event": "ping"})
    assert hook.status_code == 503
    assert hook.json()["reason"] == "Specloop is not registered yet; open /setup"


def test_other_routes_are_closed_in_setup_mode_and_the_root_leads_to_setup(make_service: Any) -> None:
    service = make_service()
    closed = httpx.get(service.url + "/artifacts/some/screenshot.png")
    assert closed.status_code == 503
    assert closed.json()["reason"] == "Specloop is not registered yet; open /setup"
    root = httpx.get(service.url + "/", follow_redirects=False)
    assert root.status_code == 307
    assert root.headers["location"] == "/setup"


def test_setup_answers_404_and_the_callback_409_once_registered(make_service: Any) -> None:
    service = make_service(app_id=12, webhook_secret="a-registered-secret")
    response = httpx.get(service.url + "/setup")
    assert response.status_code == 404
    assert NOT_FOUND in response.text
    callback = httpx.get(service.url + "/setup/callback?code=x&state=y")
    assert callback.status_code == 409
    assert "already registered" in callback.text


# --- .env writing -----------------------------------------------------------------------------


def test_env_file_is_written_0600_keeping_other_lines_and_replacing_old_values(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# my settings\nREDIS_URL=redis://cache:6379/0\nAPP_ID=1\nexport WEBHOOK_SECRET=old\n")
    env.chmod(0o644)
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIabc\ndef==\n-----END RSA PRIVATE KEY-----\n"
    write_env(env, {"APP_ID": "99", "APP_SLUG": "spec-bot", "PRIVATE_KEY": pem, "WEBHOOK_SECRET": 'n"ew\\s'})
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    text = env.read_text()
    assert "# my settings\nREDIS_URL=redis://cache:6379/0\n" in text
    assert "APP_ID=1" not in text and "WEBHOOK_SECRET=old" not in text
    assert len([line for line in text.splitlines() if line.startswith("PRIVATE_KEY=")]) == 1  # one line
    settings = Settings(_env_file=env)  # type: ignore[call-arg]
    assert settings.app_id == 99
    assert settings.app_slug == "spec-bot"
    assert settings.private_key_pem() == pem
    assert settings.webhook_secret is not None and settings.webhook_secret.get_secret_value() == 'n"ew\\s'
    assert settings.redis_url == "redis://cache:6379/0"


# --- the whole registration against the GitHub double -------------------------------------------


def test_registration_through_the_github_double_writes_env_and_leaves_setup_mode(
    make_service: Any, github: Any
) -> None:
    service = make_service(github_url=github.web_url)
    service.env_path.parent.mkdir(parents=True)
    service.env_path.write_text("LOG_LEVEL=DEBUG\n")

    operator = browser(service)
    action, manifest = registration_form(operator.get("/setup").text)
    assert action.startswith(github.web_url + "/settings/apps/new?state=")
    # the browser posts the manifest to GitHub, which redirects back to our callback with a code
    on_github = httpx.post(action, data={"manifest": json.dumps(manifest)}, follow_redirects=False)
    assert on_github.status_code in (301, 302, 303, 307)
    callback = on_github.headers["location"]
    assert callback.startswith(service.url + "/setup/callback?")
    done = operator.get(callback)

    assert done.status_code == 200, done.text
    assert "Specloop is registered" in done.text
    registered = Settings(_env_file=service.env_path)  # type: ignore[call-arg]
    assert registered.app_id == github.app_id
    assert registered.app_slug == github.slug
    assert registered.private_key_pem() == github.private_key_pem
    assert registered.webhook_secret is not None
    assert registered.webhook_secret.get_secret_value() == github.webhook_secret
    assert registered.client_id and registered.client_secret
    assert registered.log_level == "DEBUG"  # the operator's own line survives
    assert registered.problems() == []
    assert stat.S_IMODE(service.env_path.stat().st_mode) == 0o600
    assert f'href="{html.escape(github.web_url)}/apps/{github.slug}/installations/new"' in done.text

    # the running service left setup mode without a restart
    assert operator.get("/setup").status_code == 404
    body = json.dumps({"zen": "Design for failure.", "hook_id": 1}).encode()
    ping = httpx.post(service.url + WEBHOOK_PATH, content=body, headers={
        "X-GitHub-Event": "ping", "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(github.webhook_secret, body)})
    assert ping.status_code == 200
    assert ping.json()["zen"] == "Design for failure."


def test_a_state_cannot_be_used_twice(make_service: Any, github: Any) -> None:
    service = make_service(github_url=github.web_url)
    operator = browser(service)
    action, manifest = registration_form(operator.get("/setup").text)
    callback = httpx.post(action, data={"manifest": json.dumps(manifest)}).headers["location"]
    assert operator.get(callback).status_code == 200
    # a replayed callback is refused (and the service is registered now, so it is a 409)
    assert operator.get(callback).status_code == 409


def test_an_expired_or_unknown_code_gives_a_clear_page_not_a_500(make_service: Any, github: Any) -> None:
    service = make_service(github_url=github.web_url)
    operator = browser(service)
    action, _ = registration_form(operator.get("/setup").text)
    response = operator.get("/setup/callback", params={"code": "expired-code", "state": state_of(action)})
    assert response.status_code == 502
    assert "GitHub did not accept the registration code" in response.text
    assert "valid for one hour" in response.text
    assert not service.env_path.exists()
    assert operator.get("/setup").status_code == 200  # still in setup mode


def test_registration_works_while_redis_is_down(make_service: Any, github: Any, stopped_redis_url: str) -> None:
    # the nonce falls back to the process's own store, so setup never waits for Redis
    service = make_service(github_url=github.web_url, redis_url=stopped_redis_url)
    assert service.token  # kept in memory when Redis is away, and still printed
    operator = browser(service)
    action, manifest = registration_form(operator.get("/setup").text)
    callback = httpx.post(action, data={"manifest": json.dumps(manifest)}).headers["location"]
    done = operator.get(callback)
    assert done.status_code == 200, done.text
    assert Settings(_env_file=service.env_path).app_id == github.app_id  # type: ignore[call-arg]


# --- who may register: the setup token, the browser-bound state, one registration ---------------


def register_through_github(manifest: dict[str, Any], action: str) -> str:
    """Post the manifest to the GitHub double as the browser does; the callback URL it redirects to."""
    location: str = httpx.post(action, data={"manifest": json.dumps(manifest)}).headers["location"]
    return location


def test_a_stranger_without_the_setup_token_gets_a_token_form_not_the_register_button(make_service: Any) -> None:
    service = make_service()
    assert service.token, "the service did not log a setup token at start"
    for params in ({}, {"token": "guessed-" + service.token[8:]}, {"org": "acme"}):
        response = httpx.get(service.url + "/setup", params=params, follow_redirects=True)
        assert response.status_code == 403, params
        assert 'name="token"' in response.text  # the small form asking for the token
        assert "Register GitHub App" not in response.text
        assert "state=" not in response.text and 'name="manifest"' not in response.text
        assert "specloop_setup_state" not in response.headers.get("set-cookie", "")
    assert "not the setup token" in httpx.get(service.url + "/setup", params={"token": "nope"}).text


def test_a_stranger_cannot_complete_a_callback(make_service: Any, github: Any) -> None:
    service = make_service(github_url=github.web_url)
    operator = browser(service)
    action, manifest = registration_form(operator.get("/setup").text)
    callback = register_through_github(manifest, action)
    # the stranger got hold of the operator's callback URL (or its state) but not the browser's cookie
    stolen = httpx.get(callback)
    assert stolen.status_code == 400
    assert "another browser" in stolen.text
    assert not service.env_path.exists()
    # the operator's own browser still completes it: the refusal did not use up the state
    assert operator.get(callback).status_code == 200
    assert service.env_path.exists()


def test_a_callback_with_another_browsers_state_is_refused(make_service: Any, github: Any) -> None:
    service = make_service(github_url=github.web_url)
    first, second = browser(service), browser(service)
    action, manifest = registration_form(first.get("/setup").text)
    registration_form(second.get("/setup").text)  # the second browser holds a state cookie of its own
    callback = register_through_github(manifest, action)
    refused = second.get(callback)
    assert refused.status_code == 400
    assert "another browser" in refused.text
    assert not service.env_path.exists()


def test_the_state_cookie_is_httponly_lax_and_secure_behind_https(make_service: Any) -> None:
    plain = make_service()
    cookie = browser(plain).get("/setup").headers["set-cookie"]
    assert "specloop_setup_state=" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax") and "Path=/setup" in cookie
    assert "Secure" not in cookie  # a browser would drop a Secure cookie over plain http
    tls = make_service(public_url="https://specloop.example.com")
    accepted = httpx.get(tls.url + "/setup", params={"token": tls.token})
    assert accepted.status_code == 303
    session = accepted.headers["set-cookie"]
    assert "HttpOnly" in session and "Secure" in session
    # a TLS-terminating proxy would pass the Secure cookie on; send it as such a browser would
    form = httpx.get(tls.url + "/setup", headers={"cookie": session.split(";")[0]})
    assert form.status_code == 200
    assert "Secure" in form.headers["set-cookie"] and "specloop_setup_state=" in form.headers["set-cookie"]


def test_a_second_registration_is_refused_on_the_same_and_on_another_replica(
    make_service: Any, github: Any, tmp_path: Path, redis_url: str
) -> None:
    first = make_service(github_url=github.web_url)
    second = make_service(github_url=github.web_url, dotenv_path=tmp_path / "replica-2" / ".env")
    assert second.token == first.token  # one token for every replica: the first one created it in Redis
    operator, other_tab = browser(first), browser(first)
    on_second = browser(second, token=first.token)
    # three registrations started before any finished: two on the first replica, one on the second
    action, manifest = registration_form(operator.get("/setup").text)
    again_action, again_manifest = registration_form(other_tab.get("/setup").text)
    other_action, other_manifest = registration_form(on_second.get("/setup").text)
    assert operator.get(register_through_github(manifest, action)).status_code == 200
    written = first.env_path.read_text()

    again = other_tab.get(register_through_github(again_manifest, again_action))
    assert again.status_code == 409
    assert "already registered" in again.text
    other = on_second.get(register_through_github(other_manifest, other_action))
    assert other.status_code == 409
    assert "already registered" in other.text
    assert first.env_path.read_text() == written
    assert not second.env_path.exists()
    # the replica that did not handle the callback closes its setup page too
    assert on_second.get("/setup").status_code == 404
    assert httpx.get(second.url + "/setup").status_code == 404
    import redis as redis_lib

    client = redis_lib.Redis.from_url(redis_url)
    try:
        assert client.get(REGISTERED_KEY) == str(github.app_id).encode()
    finally:
        client.close()


def test_the_setup_token_is_logged_once_and_never_on_a_page(
    make_service: Any, github: Any, caplog: pytest.LogCaptureFixture
) -> None:
    service = make_service(github_url=github.web_url)
    token = service.token
    operator = httpx.Client(base_url=service.url, follow_redirects=True)
    service.browsers.append(operator)
    pages = [operator.get("/setup"), operator.get("/setup", params={"token": token})]
    assert pages[1].status_code == 200
    assert str(pages[1].url) == service.url + "/setup"  # the token leaves the address bar (and Referer)
    action, manifest = registration_form(operator.get("/setup").text)
    pages.append(operator.get(register_through_github(manifest, action)))
    assert pages[-1].status_code == 200
    for response in pages:
        assert token not in response.text
        for past in [*response.history, response]:
            assert token not in past.headers.get("set-cookie", "")
    # the service's log (not the test's own HTTP client, which logs the URLs it requests)
    lines = [record.getMessage() for record in caplog.records if not record.name.startswith(("httpx", "httpcore"))]
    assert sum(token in line for line in lines) == 1, lines
    assert f"{service.url}/setup" in next(line for line in lines if token in line)


# --- two replicas finishing a registration at the same moment -----------------------------------


def test_concurrent_callbacks_on_two_replicas_register_exactly_one_app(
    make_service: Any, github: Any, tmp_path: Path, redis_url: str
) -> None:
    first = make_service(github_url=github.web_url)
    second = make_service(github_url=github.web_url, dotenv_path=tmp_path / "replica-2" / ".env")
    on_first, on_second = browser(first), browser(second, token=first.token)
    callbacks = []
    for operator in (on_first, on_second):
        action, manifest = registration_form(operator.get("/setup").text)
        callbacks.append((operator, register_through_github(manifest, action)))
    # GitHub takes its time converting a code: both callbacks are past every check before either is done
    github.fault("POST", r"/app-manifests/[^/]+/conversions", status=None, latency=0.5, times=None)
    start = threading.Barrier(len(callbacks))

    def finish(pair: tuple[httpx.Client, str]) -> httpx.Response:
        operator, callback = pair
        start.wait()
        return operator.get(callback)

    with ThreadPoolExecutor(len(callbacks)) as pool:
        answers = list(pool.map(finish, callbacks))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 409], [(a.status_code, a.text[:200]) for a in answers]
    loser = next(answer for answer in answers if answer.status_code == 409)
    assert "already" in loser.text.lower() and "registered" in loser.text.lower()
    assert len(github.requests_to("POST", r"/app-manifests/[^/]+/conversions")) == 1
    written = [path for path in (first.env_path, second.env_path) if path.exists()]
    assert len(written) == 1
    registered = Settings(_env_file=written[0])  # type: ignore[call-arg]
    assert registered.app_id == github.app_id
    import redis as redis_lib

    client = redis_lib.Redis.from_url(redis_url)
    try:
        assert client.get(REGISTERED_KEY) == str(github.app_id).encode()
    finally:
        client.close()
    # both replicas now know: their setup pages are closed
    assert on_first.get("/setup").status_code == 404 and on_second.get("/setup").status_code == 404


def test_concurrent_callbacks_on_one_replica_register_exactly_one_app(make_service: Any, github: Any) -> None:
    service = make_service(github_url=github.web_url)
    tabs = [browser(service), browser(service)]
    callbacks = []
    for tab in tabs:
        action, manifest = registration_form(tab.get("/setup").text)
        callbacks.append((tab, register_through_github(manifest, action)))
    github.fault("POST", r"/app-manifests/[^/]+/conversions", status=None, latency=0.5, times=None)
    start = threading.Barrier(len(callbacks))

    def finish(pair: tuple[httpx.Client, str]) -> int:
        tab, callback = pair
        start.wait()
        return tab.get(callback).status_code

    with ThreadPoolExecutor(len(callbacks)) as pool:
        assert sorted(pool.map(finish, callbacks)) == [200, 409]
    assert len(github.requests_to("POST", r"/app-manifests/[^/]+/conversions")) == 1


def test_a_failed_conversion_releases_the_claim_so_the_operator_can_try_again(
    make_service: Any, github: Any, tmp_path: Path
) -> None:
    first = make_service(github_url=github.web_url)
    second = make_service(github_url=github.web_url, dotenv_path=tmp_path / "replica-2" / ".env")
    operator = browser(first)
    action, _ = registration_form(operator.get("/setup").text)
    failed = operator.get("/setup/callback", params={"code": "expired-code", "state": state_of(action)})
    assert failed.status_code == 502
    # nothing stays claimed: either replica can register now
    on_second = browser(second, token=first.token)
    action, manifest = registration_form(on_second.get("/setup").text)
    assert on_second.get(register_through_github(manifest, action)).status_code == 200
    assert second.env_path.exists() and not first.env_path.exists()
