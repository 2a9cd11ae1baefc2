"""The `specloop` command: serve refuses bad settings with a message, serves in setup mode, worker checks."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app import cli
from app.redis_server import free_port
from app.settings import get_settings
from app.signature import sign

SPECLOOP = Path(sys.executable).parent / "specloop"
SETTING_NAMES = ("APP_ID", "APP_SLUG", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "WEBHOOK_SECRET", "GITHUB_URL",
                 "GITHUB_API_URL", "PUBLIC_URL", "REDIS_URL", "DATA_DIR", "DOTENV_PATH", "CLIENT_ID",
                 "CLIENT_SECRET", "LOG_LEVEL")


def clean_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """This process's environment without any Specloop setting, plus `values`."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in SETTING_NAMES}
    env["DOTENV_PATH"] = str(tmp_path / "absent.env")  # never read a developer's own .env
    env["DATA_DIR"] = str(tmp_path / ".specloop")
    env.update(values)
    return env


@pytest.fixture
def settings_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In-process runs of main(): a clean environment and a fresh get_settings()."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOTENV_PATH", str(tmp_path / "absent.env"))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / ".specloop"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_serve_with_a_placeholder_secret_exits_2_naming_the_settings(
    settings_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("APP_ID", "123")
    monkeypatch.setenv("WEBHOOK_SECRET", "changeme")
    assert cli.main(["serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("specloop: Specloop cannot start; fix these settings")
    assert "WEBHOOK_SECRET (missing or a placeholder)" in err
    assert "PRIVATE_KEY or PRIVATE_KEY_PATH (missing)" in err


def test_serve_with_an_unreadable_app_id_names_it(
    settings_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("APP_ID", "not-a-number")
    assert cli.main(["serve"]) == 2
    assert "APP_ID (" in capsys.readouterr().err


def test_the_console_script_prints_the_message_without_a_traceback(tmp_path: Path) -> None:
    env = clean_env(tmp_path, APP_ID="123", WEBHOOK_SECRET="secret", PRIVATE_KEY_PATH=str(tmp_path / "nope.pem"))
    result = subprocess.run([str(SPECLOOP), "serve"], check=False, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"PRIVATE_KEY_PATH ({tmp_path / 'nope.pem'} is not a readable file)" in result.stderr
    assert "WEBHOOK_SECRET (missing or a placeholder)" in result.stderr


def test_serve_in_setup_mode_starts_and_answers_setup_and_healthz(tmp_path: Path, redis_url: str) -> None:
    port = free_port()
    env = clean_env(tmp_path, REDIS_URL=redis_url, PUBLIC_URL=f"http://127.0.0.1:{port}")
    process = subprocess.Popen([str(SPECLOOP), "serve", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # read the log as it is written (the token is in it), without letting a full pipe block the service
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stderr.readline, "")) if process.stderr
                              else None, daemon=True)
    reader.start()
    try:
        health = None
        deadline = time.monotonic() + 30  # a start-up deadline, not a speed assertion
        while time.monotonic() < deadline and process.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert health is not None, "".join(lines)
        assert health.status_code == 200
        assert health.json()["mode"] == "setup"
        # without the token: the form asking for it, never the register button
        stranger = httpx.get(f"http://127.0.0.1:{port}/setup")
        assert stranger.status_code == 403
        assert 'name="token"' in stranger.text and "Register GitHub App" not in stranger.text
        # the operator reads the token in the log and opens the setup page with it
        token_lines = [line for line in lines if "One-time setup token: " in line]
        assert len(token_lines) == 1, lines
        token = json.loads(token_lines[0])["msg"].split("One-time setup token: ", 1)[1].split()[0]
        with httpx.Client(follow_redirects=True) as operator:
            setup = operator.get(f"http://127.0.0.1:{port}/setup", params={"token": token})
        assert setup.status_code == 200
        assert "Register GitHub App" in setup.text
        assert token not in setup.text
    finally:
        process.terminate()
        process.wait(timeout=30)
        reader.join(timeout=30)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    stderr = "".join(lines)
    # the logs are JSON lines
    assert any(line.startswith("{") for line in stderr.splitlines()), stderr
    # the token is printed once: the access log's line for /setup?token=... carries it redacted
    assert stderr.count(token) == 1, stderr
    assert "/setup?token=[redacted]" in stderr, stderr


def test_worker_refuses_to_start_in_setup_mode(settings_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["worker", "--queue", "heavy"]) == 2
    assert "not registered yet" in capsys.readouterr().err


def test_worker_checks_the_settings_too(
    settings_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("APP_ID", "123")
    assert cli.main(["worker"]) == 2
    assert "WEBHOOK_SECRET (missing or a placeholder)" in capsys.readouterr().err


def test_an_unknown_queue_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["worker", "--queue", "medium"]) == 2
    assert "invalid choice: 'medium'" in capsys.readouterr().err


def test_no_command_prints_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert "usage: specloop" in out and all(name in out for name in ("serve", "worker", "demo", "qa"))


def test_version_names_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli._parser().parse_args(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"specloop {cli.version()}"
    assert cli.version() != "unknown"


def test_serve_listens_on_loopback_unless_told_otherwise() -> None:
    assert cli._parser().parse_args(["serve"]).host == "127.0.0.1"
    assert cli._parser().parse_args(["serve", "--host", "0.0.0.0"]).host == "0.0.0.0"


def test_every_option_of_every_command_has_help_text() -> None:
    parser = cli._parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        if name == "qa":
            continue  # `specloop qa` parses its own options (tested with its CLI)
        for action in sub._actions:
            assert action.help, f"specloop {name} {action.option_strings or action.dest} has no help"


def test_qa_hands_its_own_arguments_to_the_qa_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.feature"
    assert cli.main(["qa", "--base-url", "http://127.0.0.1:1", str(missing)]) == 2
    assert f"specloop qa: {missing}: no such file or folder" in capsys.readouterr().err


def test_serve_with_two_workers_answers_from_two_processes_on_one_port(tmp_path: Path, redis_url: str) -> None:
    port = free_port()
    secret = "a-webhook-secret-for-two-workers"
    env = clean_env(tmp_path, REDIS_URL=redis_url, APP_ID="4242", WEBHOOK_SECRET=secret, LOG_LEVEL="INFO",
                    PRIVATE_KEY="-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----")
    process = subprocess.Popen([str(SPECLOOP), "serve", "--port", str(port), "--workers", "2"], env=env,
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stderr.readline, "")) if process.stderr
                              else None, daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}"
    try:
        web_processes: list[str] = []
        deadline = time.monotonic() + 60  # a start-up deadline, not a speed assertion
        while time.monotonic() < deadline and process.poll() is None and len(web_processes) < 2:
            web_processes = [pid for pid in
                             Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
                             if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]  # not the tracker
            time.sleep(0.1)
        assert len(web_processes) == 2, "".join(lines)
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        body = (Path(__file__).parent / "fixtures" / "webhooks" / "issues" / "labeled.payload.json").read_bytes()
        with httpx.Client(base_url=url, timeout=10) as client:
            answers = [client.post("/api/github/webhooks", content=body, headers={
                "X-GitHub-Event": "issues", "X-GitHub-Delivery": f"delivery-{n}", "Content-Type": "application/json",
                "X-Hub-Signature-256": sign(secret, body)}) for n in range(6)]
        assert [answer.status_code for answer in answers] == [202] * 6
    finally:
        process.terminate()
        process.wait(timeout=30)
        reader.join(timeout=30)
        if process.stderr is not None:
            process.stderr.close()
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    assert len([line for line in logged if line["msg"] == "webhook answered"]) == 6
    # each delivery is logged once, by the endpoint: uvicorn's access log leaves the webhook out
    access = [line["msg"] for line in logged if line["logger"] == "uvicorn.access"]
    assert any("/healthz" in line for line in access) and not any("/api/github/webhooks" in line for line in access)


def test_workers_must_be_a_whole_number_of_at_least_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli._parser().parse_args(["serve", "--workers", "3"]).workers == 3
    for bad in ("0", "two"):
        with pytest.raises(SystemExit):
            cli._parser().parse_args(["serve", "--workers", bad])
    assert "--workers" in capsys.readouterr().err
