"""The egress relay: project step files (which run only in the repository-code sandbox, with no network
but its own loopback) against an app outside the sandbox. The worker's `EgressRelay` listens on a Unix
socket in the sandbox's workspace and opens only what the run's confinement allows; the QA child's fences
connect through it. Step code reaches the app through it, and neither Redis nor the GitHub double,
directly or by asking the relay (docs/sandbox.md).
"""

from __future__ import annotations

import asyncio
import http.server
import os
import struct
import threading
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from app.context import deps
from app.domain.origins import Confinement
from app.isolation import sandbox_available
from app.job_args import RunQa
from app.qa.network import EgressRelay, NetworkFence, RelayRefused, relay_request
from jobs.worker import run_job
from tests.sample_app import SampleApp
from tests.support.github import SHOP
from tests.support.service import Service
from tests.support.spec import approved_qa_pull

needs_bwrap = pytest.mark.skipif(sandbox_available() is not None, reason=str(sandbox_available()))
OUTSIDE_APP = [{"allow_repo_code": True, "qa_allow_private_hosts": True}]  # the sample app is on 127.0.0.1
BRANCH = "specloop/1-egress"


def _port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def _open_pr(github: Any, qa: str, files: dict[str, str]) -> tuple[int, str]:
    return approved_qa_pull(github, BRANCH, qa, files, title="Spec: egress",
                            settings="  contexts: 2\n  timeout_ms: 5000\n  screenshots: final\n")


def _qa_run(github: Any, sha: str) -> Any:
    return list(github.check_runs(SHOP, head_sha=sha, name="specloop/qa"))[-1]


def _png_colours(data: bytes) -> int:
    """How many distinct byte values a PNG's pixel data holds (a blank page has a handful)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    index, idat = 8, b""
    while index < len(data):
        (length,) = struct.unpack("!I", data[index:index + 4])
        kind = data[index + 4:index + 8]
        if kind == b"IDAT":
            idat += data[index + 8:index + 8 + length]
        index += 12 + length
    return len(set(zlib.decompress(idat)))


# --- 1. project step files against an app outside the sandbox -------------------------------------

SIGNUP_STEPS = '''
import os

from app.domain.steps import step


@step("I sign up as {string} on the {word} plan")
async def sign_up(page, name, plan):
    await page.goto("/signup")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Plan").select_option(label=plan)
    await page.get_by_role("button", name="Create account").click()


@step("the step code runs in the sandbox, beside the relay")
def in_the_sandbox():
    assert os.environ.get("SPECLOOP_QA_EGRESS", "").endswith("/.qa/egress.sock"), dict(os.environ)
    assert "SPECLOOP_TEST_SECRET" not in os.environ
'''

SIGNUP_FEATURE = '''Feature: Project steps against a deployed app
  Scenario: A project step signs up
    When I sign up as "Flo" on the Team plan
    Then I should see "Welcome, Flo!"
    And the step code runs in the sandbox, beside the relay

  Scenario: The shop opens
    Given I am on the home page
    Then I should see "Welcome to the shop"
'''


@needs_bwrap
@pytest.mark.parametrize("service", OUTSIDE_APP, indirect=True)
async def test_project_step_files_run_in_the_sandbox_against_an_app_outside_it(
    github: Any, service: Service, qa_ctx: Any, sample_app: SampleApp, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPECLOOP_TEST_SECRET", "s3cr3t-egress")
    number, sha = _open_pr(github, f"  base_url: {sample_app.url}\n",
                           {"features/project.feature": SIGNUP_FEATURE, "features/steps/signup_steps.py": SIGNUP_STEPS})
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=number))
    run = _qa_run(github, sha)
    assert outcome.get("conclusion") == "success", f"{run.output['summary']}\n{run.output.get('text')}"
    assert outcome["counts"] == {"passed": 2}
    assert len(run.images) == 2
    async with httpx.AsyncClient() as http:
        for image in run.images:
            response = await http.get(image["image_url"])
            assert response.status_code == 200 and response.headers["content-type"] == "image/png"
            assert _png_colours(response.content) > 20  # the app's page, not a blank or refused one


@needs_bwrap
@pytest.mark.parametrize("service", OUTSIDE_APP, indirect=True)
async def test_a_deployment_with_project_step_files_is_tested_through_the_relay(
    github: Any, service: Service, qa_ctx: Any, sample_app: SampleApp,
) -> None:
    _, sha = _open_pr(github, "  base_url: http://127.0.0.1:9\n",  # the deployment's URL wins
                      {"features/project.feature": SIGNUP_FEATURE, "features/steps/signup_steps.py": SIGNUP_STEPS})
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=None,
                                                sha=sha, base_url=sample_app.url, environment="preview"))
    run = _qa_run(github, sha)
    assert outcome.get("conclusion") == "success", f"{run.output['summary']}\n{run.output.get('text')}"


# --- 2. a hostile step file: Redis and the GitHub double, directly and through the relay -------------

HOSTILE_STEPS = '''
import os, socket

from app.domain.steps import step

PORTS = {ports!r}
APP_PORT = {app_port!r}


def relay(line):
    path = os.environ["SPECLOOP_QA_EGRESS"]
    folder = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY)
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(20)
            sock.connect(f"/proc/self/fd/{{folder}}/{{os.path.basename(path)}}")
            sock.sendall(line.encode())
            return sock.makefile("rb").readline().decode().strip()
    finally:
        os.close(folder)


@step("nothing of the worker is reachable, directly or through the relay")
def contained():
    found = []
    for port in PORTS:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            found.append(f"direct 127.0.0.1:{{port}}")
        except OSError:
            pass
        for host in ("127.0.0.1", "localhost"):
            for verb in ("CONNECT", "CHECK"):
                answer = relay(f"{{verb}} {{host}} {{port}}\\n")
                if not answer.startswith("NO "):
                    found.append(f"relay {{verb}} {{host}}:{{port}}: {{answer}}")
    for line in ("CONNECT 169.254.169.254 80\\n", "CONNECT example.com 443\\n", "GET / HTTP/1.0\\n",
                 f"CONNECT 127.0.0.1 {{APP_PORT}} extra\\n"):
        answer = relay(line)
        if not answer.startswith("NO"):
            found.append(f"relay {{line.strip()}}: {{answer}}")
    assert relay(f"CHECK 127.0.0.1 {{APP_PORT}}\\n") == "OK", "the relay does not let the app through"
    assert not found, "REACHED: " + ", ".join(found)
'''

HOSTILE_FEATURE = '''Feature: Hostile steps against a deployed app
  Scenario: The steps are contained
    Given I am on the home page
    Then I should see "Welcome to the shop"
    And nothing of the worker is reachable, directly or through the relay
'''


@needs_bwrap
@pytest.mark.parametrize("service", OUTSIDE_APP, indirect=True)
async def test_a_hostile_step_file_reaches_neither_redis_nor_github_directly_or_through_the_relay(
    github: Any, service: Service, qa_ctx: Any, sample_app: SampleApp,
) -> None:
    settings = service.settings
    steps = HOSTILE_STEPS.format(ports=[_port(settings.redis_url), _port(settings.github_url)],
                                 app_port=_port(sample_app.url))
    number, sha = _open_pr(github, f"  base_url: {sample_app.url}\n",
                           {"features/hostile.feature": HOSTILE_FEATURE, "features/steps/hostile_steps.py": steps})
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=number))
    run = _qa_run(github, sha)
    shown = f"{run.output['summary']}\n{run.output.get('text') or ''}"
    assert outcome.get("conclusion") == "success", shown
    assert run.status == "completed" and "REACHED" not in shown
    # the worker still serves the next job
    again = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=number))
    assert again.get("conclusion") == "success"


# --- 3. the relay itself ---------------------------------------------------------------------------


@pytest.fixture
async def echo() -> AsyncIterator[int]:
    """A TCP echo server on a loopback port (its port)."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def _ask(path: Path, line: bytes) -> bytes:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(line)
    await writer.drain()
    answer = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return answer


async def test_the_relay_opens_only_allowed_endpoints(echo: int, tmp_path: Path) -> None:
    app = f"http://127.0.0.1:{echo}"
    relay = EgressRelay(Confinement.around(app, ["https://cdn.example.com"], allow_private=True, private_app=False),
                        tmp_path / "egress.sock")
    path = await relay.start()
    try:
        assert (os.stat(path).st_mode & 0o777) == 0o600
        reader, writer = await relay_request(str(path), "CONNECT", "127.0.0.1", echo)
        writer.write(b"hello through the relay")
        await writer.drain()
        assert await asyncio.wait_for(reader.readexactly(23), 10) == b"hello through the relay"
        writer.close()

        for line in (f"CONNECT 127.0.0.1 {echo + 1}\n", "CONNECT evil.example.com 80\n", f"CHECK localhost {echo}\n",
                     "CONNECT 169.254.169.254 80\n", "CONNECT cdn.example.com 80\n", "HELLO\n",
                     f"CONNECT 127.0.0.1 {echo} more\n", "CONNECT 127.0.0.1 0\n", "CONNECT 127.0.0.1 +80\n"):
            assert (await _ask(path, line.encode())).startswith(b"NO "), line
        assert await _ask(path, f"CHECK 127.0.0.1 {echo}\n".encode()) == b"OK\n"
        assert any("evil.example.com:80" in r and "not the app under test" in r for r in relay.refused)
        with pytest.raises(RelayRefused, match="not the app under test"):
            await relay_request(str(path), "CONNECT", "evil.example.com", 80)
    finally:
        await relay.close()
    assert not path.exists()
    with pytest.raises(RelayRefused) as closed:
        await relay_request(str(path), "CHECK", "127.0.0.1", echo)
    assert not closed.value.refused  # unreachable, not a decision


async def test_the_relay_refuses_a_private_app_unless_private_hosts_are_allowed(echo: int, tmp_path: Path) -> None:
    # a deployment's URL must stay public (private_app=False) unless QA_ALLOW_PRIVATE_HOSTS
    relay = EgressRelay(Confinement.around(f"http://127.0.0.1:{echo}", private_app=False), tmp_path / "egress.sock")
    path = await relay.start()
    try:
        answer = await _ask(path, f"CONNECT 127.0.0.1 {echo}\n".encode())
        assert answer.startswith(b"NO ") and b"QA_ALLOW_PRIVATE_HOSTS" in answer
    finally:
        await relay.close()


async def test_a_long_workspace_path_still_works(echo: int, tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    relay = EgressRelay(Confinement.around(f"http://127.0.0.1:{echo}", allow_private=True), deep / "egress.sock")
    path = await relay.start()
    try:
        assert len(str(path)) > 108
        _, writer = await relay_request(str(path), "CHECK", "127.0.0.1", echo)
        writer.close()
    finally:
        await relay.close()


async def _socks_connect(port: int, host: str, target: int) -> tuple[int, asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"\x05\x01\x00")
    assert await reader.readexactly(2) == b"\x05\x00"
    name = host.encode()
    writer.write(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack("!H", target))
    reply = await asyncio.wait_for(reader.readexactly(10), 15)
    return reply[1], reader, writer


async def test_a_fence_behind_the_relay_connects_only_through_it(echo: int, tmp_path: Path) -> None:
    # the QA child's fence in the sandbox: it decides nothing alone and connects nowhere itself
    confinement = Confinement.around(f"http://127.0.0.1:{echo}", allow_private=True, private_app=False)
    relay = EgressRelay(confinement, tmp_path / "egress.sock")
    path = await relay.start()
    reported: list[str] = []
    fence = NetworkFence(Confinement.around(f"http://127.0.0.1:{echo}", ["http://127.0.0.1:1"], allow_private=True),
                         report=reported.append, relay=str(path))
    proxy = int((await fence.start())["server"].rsplit(":", 1)[1])
    try:
        code, reader, writer = await _socks_connect(proxy, "127.0.0.1", echo)
        assert code == 0
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), 10) == b"ping"
        writer.close()
        assert await fence.refusal(f"http://127.0.0.1:{echo}/page") is None
        # listed in the child's (forgeable) confinement, but not in the relay's: the relay decides
        code, _, writer = await _socks_connect(proxy, "127.0.0.1", 1)
        writer.close()
        assert code == 2
        assert "not the app under test" in (await fence.refusal("http://127.0.0.1:1/") or "")
        assert any("127.0.0.1:1" in line for line in reported)
    finally:
        await fence.close()
        await relay.close()


async def test_the_relay_holds_a_bounded_number_of_connections(
    echo: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("app.qa.network.RELAY_MAX_CONNECTIONS", 2)
    relay = EgressRelay(Confinement.around(f"http://127.0.0.1:{echo}", allow_private=True), tmp_path / "egress.sock")
    path = await relay.start()
    try:
        held = [await relay_request(str(path), "CONNECT", "127.0.0.1", echo) for _ in range(2)]
        with pytest.raises(RelayRefused, match="more than 2 open at once"):
            await relay_request(str(path), "CONNECT", "127.0.0.1", echo)
        held[0][1].close()
        await asyncio.sleep(0.2)
        _, writer = await relay_request(str(path), "CONNECT", "127.0.0.1", echo)  # one was given back
        writer.close()
        held[1][1].close()
    finally:
        await relay.close()


async def test_closing_the_relay_removes_its_socket_and_nothing_a_link_points_at(echo: int, tmp_path: Path) -> None:
    # the sandbox can replace the socket's folder (it is in its workspace) with a link before the relay closes
    folder = tmp_path / "work" / ".qa"
    relay = EgressRelay(Confinement.around(f"http://127.0.0.1:{echo}", allow_private=True), folder / "egress.sock")
    await relay.start()
    elsewhere = tmp_path / "worker"
    elsewhere.mkdir()
    (elsewhere / "egress.sock").write_text("the worker's")
    folder.rename(tmp_path / "work" / "moved")
    folder.symlink_to(elsewhere)
    await relay.close()
    assert (elsewhere / "egress.sock").read_text() == "the worker's"
    assert not (tmp_path / "work" / "moved" / "egress.sock").exists()


@needs_bwrap
@pytest.mark.parametrize("service", OUTSIDE_APP, indirect=True)
async def test_step_files_against_an_outside_app_that_is_down_are_imported_only_in_the_sandbox(
    github: Any, service: Service, qa_ctx: Any, tmp_path: Path,
) -> None:
    # what used to be refused unrun now runs in the sandbox: the step file is imported there, where the
    # worker's files are not, and the app's absence fails the run on the check run
    imported = tmp_path / "imported"
    steps = f"from pathlib import Path\ntry:\n    Path({str(imported)!r}).write_text('ran')\nexcept OSError:\n    pass\n"
    number, sha = _open_pr(github, "  base_url: http://127.0.0.1:9\n",
                           {"features/project.feature": SIGNUP_FEATURE.split("\n  Scenario: The shop")[0] + "\n",
                            "features/steps/signup_steps.py": SIGNUP_STEPS + "\n" + steps})
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=number))
    run = _qa_run(github, sha)
    assert outcome["status"] == "completed" and outcome["conclusion"] == "failure"
    assert run.status == "completed" and run.conclusion == "failure"
    assert not imported.exists()


# --- 4. `qa.start` with listed origins outside the sandbox -------------------------------------------


class _Seen(http.server.ThreadingHTTPServer):
    paths: list[str]


class _Pixel(http.server.BaseHTTPRequestHandler):
    PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360f8cf000000030101001858bd0f0000000049454e44ae426082")

    def do_GET(self) -> None:
        assert isinstance(self.server, _Seen)
        self.server.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", str(len(self.PNG)))
        self.end_headers()
        self.wfile.write(self.PNG)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def host_servers() -> Iterator[tuple[_Seen, _Seen]]:
    """Two HTTP servers on the host's 127.0.0.1 (outside any sandbox): one to list, one not to."""
    servers = []
    for _ in range(2):
        server = _Seen(("127.0.0.1", 0), _Pixel)
        server.paths = []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield servers[0], servers[1]
    for server in servers:
        server.shutdown()
        server.server_close()


LISTED_FEATURE = '''Feature: A started app with an origin outside the sandbox
  Scenario: The shop shows its pictures
    Given I am on the home page
    Then I should see "Welcome to the shop"
    And I should see "pixel loaded"
    And I should see "fetched 200"
'''

LISTED_PAGE = '''<h1>Welcome to the shop</h1>
<p id="img">pixel pending</p><p id="fetch">fetch pending</p>
<img src="{listed}/pixel.png" onload="document.getElementById('img').textContent = 'pixel loaded'"
     onerror="document.getElementById('img').textContent = 'pixel failed'">
<img src="{unlisted}/unlisted.png">
<script>
fetch("{listed}/api").then(r => document.getElementById("fetch").textContent = "fetched " + r.status,
                           e => document.getElementById("fetch").textContent = "fetch failed");
fetch("{unlisted}/api").catch(() => null);
</script>
'''


@needs_bwrap
@pytest.mark.parametrize("service", OUTSIDE_APP, indirect=True)
async def test_a_started_app_reaches_a_listed_origin_outside_the_sandbox_and_nothing_else(
    github: Any, service: Service, qa_ctx: Any, host_servers: tuple[_Seen, _Seen],
) -> None:
    listed, unlisted = host_servers
    listed_url, unlisted_url = (f"http://127.0.0.1:{s.server_address[1]}" for s in host_servers)
    qa = ('  start: "python -m http.server $PORT"\n'
          f"  allowed_origins:\n    - {listed_url}\n")
    number, sha = _open_pr(github, qa, {"features/listed.feature": LISTED_FEATURE,
                                        "index.html": LISTED_PAGE.format(listed=listed_url, unlisted=unlisted_url)})
    outcome = await run_job(deps(qa_ctx), RunQa(installation_id=github.installation_id, repo=SHOP, number=number))
    run = _qa_run(github, sha)
    assert outcome.get("conclusion") == "success", f"{run.output['summary']}\n{run.output.get('text')}"
    assert outcome["counts"] == {"passed": 1}
    assert "/pixel.png" in listed.paths and "/api" in listed.paths  # through the relay, from the host
    assert unlisted.paths == []


async def test_a_listed_only_relay_never_opens_the_app_s_own_endpoint(echo: int, tmp_path: Path) -> None:
    app = f"http://127.0.0.1:{echo}"
    listed = f"http://localhost:{echo}"
    # the app runs in the sandbox: its endpoint is never opened by the relay, even with private hosts allowed
    relay = EgressRelay(Confinement.around(app, [listed], allow_private=True, private_app=True),
                        tmp_path / "egress.sock", listed_only=True)
    path = await relay.start()
    try:
        assert (await _ask(path, f"CONNECT 127.0.0.1 {echo}\n".encode())).startswith(b"NO ")
        assert (await _ask(path, f"CHECK 127.0.0.1 {echo}\n".encode())).startswith(b"NO ")
        assert await _ask(path, f"CHECK localhost {echo}\n".encode()) == b"OK\n"
        assert any("runs in the sandbox" in line for line in relay.refused), relay.refused
    finally:
        await relay.close()
    # a listed origin on a private address: only with private hosts allowed
    relay = EgressRelay(Confinement.around(app, [listed], allow_private=False, private_app=True),
                        tmp_path / "egress.sock", listed_only=True)
    path = await relay.start()
    try:
        assert (await _ask(path, f"CHECK localhost {echo}\n".encode())).startswith(b"NO ")
    finally:
        await relay.close()


async def test_a_fence_for_a_started_app_connects_to_it_directly_and_to_the_rest_through_the_relay(
    echo: int, tmp_path: Path,
) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"the app\n")
        await writer.drain()
        writer.close()

    app_server = await asyncio.start_server(serve, "127.0.0.1", 0)
    app_port = app_server.sockets[0].getsockname()[1]
    app, listed = f"http://127.0.0.1:{app_port}", f"http://localhost:{echo}"
    relay = EgressRelay(Confinement.around(app, [listed], allow_private=True, private_app=True),
                        tmp_path / "egress.sock", listed_only=True)
    path = await relay.start()
    fence = NetworkFence(Confinement.around(app, [listed], allow_private=True, private_app=True), relay=str(path))
    proxy = await fence.start()
    port = int(proxy["server"].rsplit(":", 1)[1])
    try:
        assert fence.local("127.0.0.1", app_port) and not fence.local("localhost", echo)
        code, reader, writer = await _socks_connect(port, "127.0.0.1", app_port)  # directly: not the relay's
        assert code == 0 and await asyncio.wait_for(reader.readline(), 10) == b"the app\n"
        writer.close()
        code, reader, writer = await _socks_connect(port, "localhost", echo)  # the listed one: through it
        assert code == 0
        writer.write(b"ping\n")
        assert await asyncio.wait_for(reader.readline(), 10) == b"ping\n"
        writer.close()
        assert relay.refused == []  # the app's endpoint never reached the relay
        code, _, writer = await _socks_connect(port, "127.0.0.1", echo)  # neither: refused (by the relay)
        assert code != 0
        writer.close()
        assert len(relay.refused) == 1 and f"127.0.0.1:{echo}" in relay.refused[0], relay.refused
    finally:
        await fence.close()
        await relay.close()
        app_server.close()
