"""QA reaches only the app under test: security finding 1 ("QA can publish the worker's files").

An approved step `I am on "file:///.../.env"` once made a QA screenshot show the worker's secrets at a
permanent signed URL. These tests reproduce that attack and its relatives: a step visiting a local file,
a page of the app embedding or fetching another origin or a cloud metadata address, a `qa.base_url` or a
deployment URL that is not an http(s) URL of a public host; plus the URL rules themselves
(`app.domain.origins`) and the `qa.allowed_origins` setting.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from app.context import deps
from app.domain.origins import Confinement, is_private_address, is_private_host, origin_of, web_url_problem
from app.domain.qa_reports import write_reports
from app.job_args import RunQa
from app.loopback import QuietHTTPServer
from app.qa.browser import LAUNCH_ARGS, SharedBrowser, require_chromium
from app.qa.network import resolve
from app.qa.options import RunOptions
from app.qa.runner import run
from app.repo_config import ConfigError, parse_repo_config
from app.settings import Settings
from jobs.worker import run_job
from tests.sample_app import SampleApp
from tests.support.github import SHOP
from tests.support.service import Service
from tests.test_qa_job import SMALL, open_approved_pr

SECRET = "FAKE-PRIVATE-KEY-4f1c9e"
# Every screenshot and a trace: the evidence that once carried the secret.
BLOCKED_TEXT = "blocked: not the app under test"
EVIDENCE = RunOptions(contexts=2, timeout_ms=3000, screenshots="every_step", trace=True)


def _feature(tmp_path: Path, *steps: str) -> Path:
    feature = tmp_path / "attack.feature"
    feature.write_text("Feature: attack\n  Scenario: reach out\n" + "".join(f"    {s}\n" for s in steps))
    return feature


def _evidence_bytes(paths: list[str]) -> bytes:
    """Everything a QA run would upload: screenshots and every member of each trace zip, concatenated."""
    blob = b""
    for path in paths:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                blob += b"".join(archive.read(name) for name in archive.namelist())
        else:
            blob += Path(path).read_bytes()
    return blob


# (a) a step that visits a local file


@pytest.mark.parametrize("url_of", [
    lambda secret: secret.as_uri(),  # file:///tmp/.../secret.env
    lambda secret: "view-source:" + secret.as_uri(),
])
def test_a_step_visiting_a_local_file_fails_and_no_evidence_carries_the_secret(
    browser: SharedBrowser, sample_app: SampleApp, tmp_path: Path, url_of: Any
) -> None:
    secret = tmp_path / "secret.env"
    secret.write_text(f"PRIVATE_KEY={SECRET}\nWEBHOOK_SECRET={SECRET}\n")
    url = url_of(secret)
    feature = _feature(tmp_path, 'Given I am on the home page', f'When I am on "{url}"',
                       'Then I should see "PRIVATE_KEY="')  # the report shows steps: never the secret itself
    result = run([feature], sample_app.url, EVIDENCE, root=tmp_path, shared_browser=browser)
    scenario = result.scenarios[0]
    assert [s.status for s in scenario.steps] == ["passed", "failed", "skipped"]
    error = scenario.steps[1].error or ""
    assert error.startswith(f"QA only visits the app under test ({sample_app.url}); `{url}` is not part of it")
    evidence = [s.screenshot for s in scenario.steps if s.screenshot] + [scenario.trace or ""]
    assert len(evidence) == 3 and all(Path(p).is_file() for p in evidence)
    assert SECRET.encode() not in _evidence_bytes(evidence)
    reports = write_reports(result, tmp_path / "reports")
    assert all(SECRET not in path.read_text(errors="replace") for path in reports.values())


def test_a_step_visiting_another_origin_fails_before_any_request_reaches_it(
    browser: SharedBrowser, sample_app: SampleApp, broken_sample_app: SampleApp, tmp_path: Path
) -> None:
    broken_sample_app.hits.clear()
    feature = _feature(tmp_path, f'Given I am on "{broken_sample_app.url}/products"', 'Then I should see "Tea"')
    result = run([feature], sample_app.url, EVIDENCE, root=tmp_path, shared_browser=browser)
    step = result.scenarios[0].steps[0]
    assert step.status == "failed" and "QA only visits the app under test" in (step.error or "")
    assert broken_sample_app.hits == []


def test_an_origin_the_repository_allows_can_be_visited(
    browser: SharedBrowser, sample_app: SampleApp, broken_sample_app: SampleApp, tmp_path: Path
) -> None:
    feature = _feature(tmp_path, f'Given I am on "{broken_sample_app.url}/products"', 'Then I should see "Tea"')
    # The other app runs on 127.0.0.1 too: a listed private origin needs the operator's QA_ALLOW_PRIVATE_HOSTS.
    options = RunOptions(contexts=1, timeout_ms=3000, screenshots="failures", trace=False,
                         allowed_origins=(broken_sample_app.url,), allow_private_hosts=True)
    result = run([feature], sample_app.url, options, root=tmp_path, shared_browser=browser)
    assert result.scenarios[0].status == "passed", [s.error for s in result.scenarios[0].steps]


# (b) a page of the app that reaches beyond it


@pytest.mark.parametrize("target", ["other-app", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.5/x"])
def test_sub_resources_outside_the_app_are_aborted_and_reported(
    browser: SharedBrowser, sample_app: SampleApp, broken_sample_app: SampleApp, tmp_path: Path, target: str
) -> None:
    if target == "other-app":
        target = f"{broken_sample_app.url}/secret.png"
    broken_sample_app.hits.clear()
    feature = _feature(tmp_path, f'Given I am on "/leaky?to={target}"', 'Then I should see "Leaky page"',
                       'When I follow "Elsewhere"', 'Then I should not see "Not found"')
    options = RunOptions(contexts=1, timeout_ms=3000, screenshots="failures", trace=False)
    result = run([feature], sample_app.url, options, root=tmp_path, shared_browser=browser)
    scenario = result.scenarios[0]
    assert scenario.status == "passed", [s.error for s in scenario.steps]  # the app's own page still works
    blocked = [r for r in scenario.failed_requests if target in r]
    assert blocked and all("blocked: not the app under test" in r for r in blocked), scenario.failed_requests
    assert broken_sample_app.hits == []


def test_a_local_file_embedded_in_a_page_is_not_loaded(
    browser: SharedBrowser, sample_app: SampleApp, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.env"
    secret.write_text(f"PRIVATE_KEY={SECRET}\n")
    feature = _feature(tmp_path, f'Given I am on "/leaky?to={secret.as_uri()}"', 'Then I should see "Leaky page"',
                       'When I follow "Elsewhere"', 'Then I should not see "PRIVATE_KEY="')
    result = run([feature], sample_app.url, EVIDENCE, root=tmp_path, shared_browser=browser)
    scenario = result.scenarios[0]
    assert scenario.status == "passed", [s.error for s in scenario.steps]
    assert SECRET.encode() not in _evidence_bytes([s.screenshot for s in scenario.steps if s.screenshot])


# (c) where QA is pointed: qa.base_url and a deployment's URL



def _summary(github: Any, sha: str) -> str:
    (check,) = github.check_runs(SHOP, head_sha=sha, name="specloop/qa")
    assert (check.status, check.conclusion) == ("completed", "failure")
    return str(check.output["summary"])


@pytest.mark.parametrize("base_url", ["file:///etc", "javascript:alert(1)", "http:///nohost", "ftp://files.example"])
async def test_a_qa_base_url_that_is_not_http_is_refused_on_the_check_run(
    github: Any, service: Service, qa_ctx: Any, base_url: str
) -> None:
    number, sha = open_approved_pr(github, f'  base_url: "{base_url}"\n', SMALL)
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=number))
    assert outcome["status"] == "error"
    summary = _summary(github, sha)
    assert summary.startswith(f"`qa.base_url` must be an http or https URL with a host; `{base_url}` is not")


@pytest.mark.parametrize("url", ["http://10.0.0.5/", "http://169.254.169.254/", "http://localhost:8080",
                                 "http://[::1]/", "file:///etc/passwd"])
async def test_a_deployment_url_on_a_private_host_or_not_http_is_refused_on_the_check_run(
    github: Any, service: Service, qa_ctx: Any, url: str
) -> None:
    _, sha = open_approved_pr(github, "", SMALL)
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=None,
                                                sha=sha, base_url=url, environment="preview"))
    assert outcome["status"] == "error"
    summary = _summary(github, sha)
    if url.startswith("file:"):
        assert summary.startswith(f"The deployment's URL must be an http or https URL with a host; `{url}` is not")
    else:
        assert summary.startswith(f"The deployment's URL `{url}` is a private, loopback or link-local address")
        assert "QA_ALLOW_PRIVATE_HOSTS" in summary


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:6379/",
                                 "http://10.0.0.5/", "http://localhost:3000/setup"])
async def test_a_qa_base_url_on_the_workers_own_network_is_refused_on_the_check_run(
    github: Any, service: Service, qa_ctx: Any, url: str
) -> None:
    # whoever writes the config could point QA's screenshots at cloud metadata or the worker's services
    number, sha = open_approved_pr(github, f'  base_url: "{url}"\n', SMALL)
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=number))
    assert outcome["status"] == "error"
    summary = _summary(github, sha)
    assert summary.startswith(f"`qa.base_url` `{url}` is a private, loopback or link-local address")
    assert "QA_ALLOW_PRIVATE_HOSTS" in summary


@pytest.mark.parametrize("service", [{"qa_allow_private_hosts": True}], indirect=True)
async def test_the_operator_may_allow_deployments_on_private_hosts(
    github: Any, service: Service, qa_ctx: Any, sample_app: SampleApp
) -> None:
    _, sha = open_approved_pr(github, "", SMALL)
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=None,
                                                sha=sha, base_url=sample_app.url, environment="preview"))
    assert outcome["conclusion"] == "success"


def test_qa_allow_private_hosts_is_off_by_default() -> None:
    assert Settings(_env_file=None).qa_allow_private_hosts is False  # type: ignore[call-arg]
    assert Settings(_env_file=None, qa_allow_private_hosts=True).qa_allow_private_hosts  # type: ignore[call-arg]


# the URL rules and the config setting


@pytest.mark.parametrize(("url", "origin"), [
    ("http://127.0.0.1:1234/signup?x=1", "http://127.0.0.1:1234"),
    ("HTTPS://Shop.Example:443/a", "https://shop.example"),
    ("http://shop.example:80", "http://shop.example"),
    ("https://[::1]:8443/", "https://[::1]:8443"),
    ("file:///etc/passwd", None),
    ("javascript:alert(1)", None),
    ("data:text/html,hi", None),
    ("chrome://settings", None),
    ("http:///nohost", None),
    ("/signup", None),
    ("http://shop.example:notaport/", None),
])
def test_the_origin_of_a_url(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin
    assert (web_url_problem(url) is None) == (origin is not None)


@pytest.mark.parametrize(("host", "private"), [
    ("localhost", True), ("app.localhost", True), ("127.0.0.1", True), ("127.1", True), ("2130706433", True),
    ("0x7f000001", True), ("10.0.0.5", True), ("192.168.1.1", True), ("172.16.0.1", True),
    ("169.254.169.254", True), ("0.0.0.0", True), ("::1", True), ("[::1]", True), ("fe80::1", True),
    ("fd00::1", True), ("::ffff:127.0.0.1", True), ("100.64.0.1", True),
    ("shop.example", False), ("8.8.8.8", False), ("2001:4860:4860::8888", False), ("10.example.com", False),
])
def test_private_loopback_and_link_local_hosts(host: str, private: bool) -> None:
    assert is_private_host(host) is private


def test_a_confinement_allows_the_app_origin_and_listed_public_origins_only() -> None:
    fence = Confinement.around("http://127.0.0.1:1234/base/", ["https://cdn.example", "http://10.1.2.3"])
    assert fence.allows("http://127.0.0.1:1234/x") and fence.allows("https://cdn.example/lib.js")
    assert not fence.allows("http://127.0.0.1:9999/") and not fence.allows("file:///etc/passwd")
    assert not fence.allows("http://10.1.2.3/")  # listed, but private: only with QA_ALLOW_PRIVATE_HOSTS
    assert not fence.allows("https://cdn.example.evil/") and not fence.allows("data:text/html,x")
    opened = Confinement.around("http://127.0.0.1:1234", ["http://10.1.2.3"], allow_private=True)
    assert opened.allows("http://10.1.2.3/x") and not opened.allows("http://10.9.9.9/")


def test_qa_allowed_origins_are_validated_as_http_origins() -> None:
    config = parse_repo_config("qa:\n  allowed_origins: ['https://CDN.example/', 'http://api.example:8080']\n")
    assert config.qa.allowed_origins == ["https://cdn.example", "http://api.example:8080"]
    assert parse_repo_config("qa:\n  contexts: 2\n").qa.allowed_origins == []
    for bad in ("file:///etc", "https://cdn.example/path", "cdn.example", "javascript:x"):
        with pytest.raises(ConfigError) as caught:
            parse_repo_config(f"qa:\n  allowed_origins: ['{bad}']\n")
        assert caught.value.key == "qa.allowed_origins.0" and caught.value.line == 2
        assert "http(s) origin" in caught.value.message


# (d) WebSockets: request interception never sees them, so a page could open one to Redis or another host


class Listener:
    """A TCP port that only counts the connections it accepts (stands in for Redis or any local service)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


SOCKET_PAGE = """<!doctype html><html><head><title>Sockets</title></head><body><h1>Sockets</h1>
<p id="other">other socket: trying</p><p id="own">own socket: trying</p><script>
const show = (id, text) => { document.getElementById(id).textContent = text; };
const other = new WebSocket(%(other)s);
other.onopen = () => show("other", "other socket: open");
other.onerror = () => show("other", "other socket: refused");
%(worker)s
const own = new WebSocket(`ws://${location.host}/echo`);
own.onopen = () => show("own", "own socket: open");
own.onerror = () => show("own", "own socket: refused");
</script></body></html>"""
WORKER = "new Worker(URL.createObjectURL(new Blob([`new WebSocket(${JSON.stringify(%s)})`])));"


class SocketApp:
    """An app under test whose page opens a WebSocket to its own origin (`/echo`) and one to `target`."""

    def __init__(self, target: str, *, from_worker: bool = False) -> None:
        page = SOCKET_PAGE % {"other": json.dumps("ws://invalid.invalid/" if from_worker else target),
                              "worker": WORKER % json.dumps(target) if from_worker else ""}
        self.own_sockets = 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(handler) -> None:
                if handler.path == "/echo" and handler.headers.get("Upgrade", "").lower() == "websocket":
                    key = handler.headers["Sec-WebSocket-Key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
                    handler.send_response(101)
                    handler.send_header("Upgrade", "websocket")
                    handler.send_header("Connection", "Upgrade")
                    handler.send_header("Sec-WebSocket-Accept",
                                        base64.b64encode(hashlib.sha1(key.encode()).digest()).decode())
                    handler.end_headers()
                    self.own_sockets += 1
                    handler.connection.settimeout(5)
                    with contextlib.suppress(OSError):
                        handler.connection.recv(1024)  # hold the socket open until the page goes away
                    handler.close_connection = True
                    return
                body = page.encode() if handler.path == "/" else b""
                handler.send_response(200 if body else 204)
                handler.send_header("Content-Type", "text/html; charset=utf-8")
                handler.send_header("Content-Length", str(len(body)))
                handler.end_headers()
                handler.wfile.write(body)

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize("from_worker", [False, True], ids=["page", "worker"])
def test_a_websocket_to_another_local_port_never_connects_and_is_reported(
    browser: SharedBrowser, listener: Listener, tmp_path: Path, from_worker: bool
) -> None:
    target = f"ws://127.0.0.1:{listener.port}/"
    app = SocketApp(target, from_worker=from_worker)
    try:
        feature = _feature(tmp_path, 'Given I am on the home page', 'Then I should see "own socket: open"',
                           'And I should not see "other socket: open"')
        options = RunOptions(contexts=1, timeout_ms=3000, screenshots="failures", trace=False)
        result = run([feature], app.url, options, root=tmp_path, shared_browser=browser)
    finally:
        app.close()
    time.sleep(0.3)  # a connection the browser opened would have been accepted by now
    scenario = result.scenarios[0]
    assert listener.accepted == 0, "the page reached another local port over a WebSocket"
    # the app's own socket still works: only what leaves the app under test is refused
    assert scenario.status == "passed", [s.error for s in scenario.steps]
    assert app.own_sockets >= 1
    blocked = [r for r in scenario.failed_requests if f"127.0.0.1:{listener.port}" in r]
    assert blocked and all(BLOCKED_TEXT in r for r in blocked), scenario.failed_requests


def test_a_websocket_to_another_host_is_refused_but_a_listed_origin_is_allowed() -> None:
    fence = Confinement.around("http://127.0.0.1:1234/", ["https://cdn.example"])
    assert fence.allows_socket("ws://127.0.0.1:1234/live") and fence.allows_socket("wss://cdn.example/feed")
    for refused in ("ws://127.0.0.1:6379/", "wss://127.0.0.1:1234/", "ws://evil.example/", "wss://cdn.example:8443/",
                    "http://127.0.0.1:1234/", "ws:///nohost"):
        assert not fence.allows_socket(refused), refused


# (e) host names that resolve to private addresses: the browser must not reach them through a listed origin

REBIND = "rebind.example"


class ResolvingBrowser(SharedBrowser):
    """Chromium whose own DNS answers 127.0.0.1 for `rebind.example`, as a hostile DNS server would."""

    async def _start(self) -> None:
        from playwright.async_api import async_playwright

        self._playwright = await async_playwright().start()
        self.browser = await self._playwright.chromium.launch(
            executable_path=require_chromium(), headless=True,
            args=[*LAUNCH_ARGS, f"--host-resolver-rules=MAP {REBIND} 127.0.0.1"])


@pytest.fixture(scope="module")
def resolving_browser() -> Iterator[SharedBrowser]:
    shared = ResolvingBrowser()
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture
def hostile_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process's resolver answers like the hostile DNS server too: `rebind.example` is 127.0.0.1."""
    answers = {REBIND: "127.0.0.1"}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.lower().rstrip(".") in answers:
            return real(answers[name.lower().rstrip(".")], port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def test_a_listed_host_name_that_resolves_to_loopback_is_not_reached(
    resolving_browser: SharedBrowser, sample_app: SampleApp, broken_sample_app: SampleApp, tmp_path: Path,
    hostile_dns: dict[str, str],
) -> None:
    port = broken_sample_app.url.rsplit(":", 1)[1]
    listed = f"http://{REBIND}:{port}"
    broken_sample_app.hits.clear()
    feature = _feature(tmp_path, f'Given I am on "/leaky?to={listed}/secret.png"', 'Then I should see "Leaky page"',
                       f'When I am on "{listed}/products"')
    options = RunOptions(contexts=1, timeout_ms=3000, screenshots="failures", trace=False, allowed_origins=(listed,))
    result = run([feature], sample_app.url, options, root=tmp_path, shared_browser=resolving_browser)
    scenario = result.scenarios[0]
    assert broken_sample_app.hits == [], "a listed origin whose name resolves to 127.0.0.1 was reached"
    assert [s.status for s in scenario.steps] == ["passed", "passed", "failed"]
    assert "resolves to 127.0.0.1" in (scenario.steps[2].error or ""), scenario.steps[2].error
    blocked = [r for r in scenario.failed_requests if REBIND in r]
    assert blocked and all(BLOCKED_TEXT in r and "127.0.0.1" in r for r in blocked), scenario.failed_requests


def test_the_operator_may_allow_a_listed_name_on_a_private_address(
    resolving_browser: SharedBrowser, sample_app: SampleApp, broken_sample_app: SampleApp, tmp_path: Path,
    hostile_dns: dict[str, str],
) -> None:
    listed = f"http://{REBIND}:{broken_sample_app.url.rsplit(':', 1)[1]}"
    feature = _feature(tmp_path, f'Given I am on "{listed}/products"', 'Then I should see "Tea"')
    options = RunOptions(contexts=1, timeout_ms=3000, screenshots="failures", trace=False, allowed_origins=(listed,),
                         allow_private_hosts=True)
    result = run([feature], sample_app.url, options, root=tmp_path, shared_browser=resolving_browser)
    assert result.scenarios[0].status == "passed", [s.error for s in result.scenarios[0].steps]


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "localhost.", REBIND, f"{REBIND}."])
def test_a_host_name_is_judged_by_the_addresses_it_resolves_to(host: str, hostile_dns: dict[str, str]) -> None:
    fence = Confinement.around("http://127.0.0.1:1234/", [f"http://{host}:8080"])
    addresses = asyncio.run(resolve(host))
    assert addresses and all(is_private_address(a) for a in addresses)
    assert fence.address_problem(host, 8080, addresses) is not None
    assert Confinement.around("http://127.0.0.1:1234/", [f"http://{host}:8080"], allow_private=True) \
        .address_problem(host, 8080, addresses) is None
    # the app's own host may be private (`qa.start` serves it on loopback), whatever its name; a deployment's
    # may not (the job refuses it up front, and the run's fence refuses it if the name re-resolves privately)
    assert Confinement.around(f"http://{host}:1234/").address_problem(host, 1234, addresses) is None
    assert Confinement.around(f"http://{host}:1234/", private_app=False) \
        .address_problem(host, 1234, addresses) is not None


def test_a_public_name_is_allowed_and_an_unlisted_endpoint_never_is() -> None:
    fence = Confinement.around("http://127.0.0.1:1234/", ["https://cdn.example"])
    assert fence.address_problem("cdn.example", 443, ["93.184.216.34"]) is None
    assert fence.address_problem("cdn.example", 443, ["93.184.216.34", "10.0.0.1"]) is not None  # any one private
    assert fence.address_problem("cdn.example", 80, ["93.184.216.34"]) is not None  # not a listed port
    assert fence.address_problem("127.0.0.1", 6379, ["127.0.0.1"]) is not None
    assert fence.address_problem("cdn.example", 443, []) is not None  # nothing to pin: refused


async def test_a_deployment_url_whose_name_resolves_to_a_private_address_is_refused(
    github: Any, service: Service, qa_ctx: Any, hostile_dns: dict[str, str]
) -> None:
    _, sha = open_approved_pr(github, "", SMALL)
    url = f"http://{REBIND}:8080/"
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=None,
                                                sha=sha, base_url=url, environment="preview"))
    assert outcome["status"] == "error"
    summary = _summary(github, sha)
    assert summary.startswith(f"The deployment's URL `{url}` is a private, loopback or link-local address")
    assert "127.0.0.1" in summary
