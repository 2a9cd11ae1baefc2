"""Operator settings: start-up errors name the variables, setup mode, GitHub URLs, .env reading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.settings import PLACEHOLDERS, Settings, SettingsError, get_settings

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----\n"


def make(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(autouse=True)
def no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's exported APP_ID or WEBHOOK_SECRET must not change these tests."""
    for name in ("APP_ID", "APP_SLUG", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "WEBHOOK_SECRET", "GITHUB_URL",
                 "GITHUB_API_URL", "PUBLIC_URL", "REDIS_URL", "DOTENV_PATH"):
        monkeypatch.delenv(name, raising=False)


def test_complete_settings_pass_the_check() -> None:
    settings = make(app_id=1, private_key=PEM, webhook_secret="a-long-random-secret")
    assert settings.problems() == []
    settings.check()


@pytest.mark.parametrize("placeholder", sorted(PLACEHOLDERS | {"ChangeMe", "  secret  "}))
def test_a_placeholder_webhook_secret_is_named(placeholder: str) -> None:
    settings = make(app_id=1, private_key=PEM, webhook_secret=placeholder)
    assert settings.problems() == ["WEBHOOK_SECRET (missing or a placeholder)"]


def test_every_problem_is_named_in_one_message() -> None:
    settings = make(app_id=1)
    with pytest.raises(SettingsError) as error:
        settings.check()
    message = str(error.value)
    assert message.startswith("Specloop cannot start; fix these settings (environment or .env): ")
    assert "PRIVATE_KEY or PRIVATE_KEY_PATH (missing)" in message
    assert "WEBHOOK_SECRET (missing or a placeholder)" in message


def test_a_private_key_that_is_not_pem_is_named() -> None:
    settings = make(app_id=1, private_key="ssh-rsa AAAA", webhook_secret="a-long-random-secret")
    assert settings.problems() == ["PRIVATE_KEY (not a PEM private key)"]


def test_a_private_key_path_that_does_not_exist_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "key.pem"
    settings = make(app_id=1, private_key_path=missing, webhook_secret="a-long-random-secret")
    assert settings.problems() == [f"PRIVATE_KEY_PATH ({missing} is not a readable file)"]


def test_the_private_key_is_read_from_private_key_path(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text(PEM)
    settings = make(app_id=1, private_key_path=key, webhook_secret="a-long-random-secret")
    assert settings.private_key_pem() == PEM
    assert settings.problems() == []


def test_setup_mode_needs_no_secrets() -> None:
    settings = make()
    assert settings.setup_mode is True
    assert settings.problems() == []
    settings.check()


def test_the_secrets_never_show_in_the_settings_repr() -> None:
    settings = make(app_id=1, private_key=PEM, webhook_secret="a-long-random-secret", client_secret="cs-123")
    text = repr(settings) + str(settings.model_dump())
    assert "a-long-random-secret" not in text
    assert "MIIBOgIBAAJBAK" not in text
    assert "cs-123" not in text


@pytest.mark.parametrize(
    ("github_url", "github_api_url", "api_url"),
    [
        ("https://github.com", None, "https://api.github.com"),
        ("https://github.com/", None, "https://api.github.com"),
        ("https://ghe.example.com", None, "https://ghe.example.com/api/v3"),
        ("https://ghe.example.com/", None, "https://ghe.example.com/api/v3"),
        ("https://ghe.example.com", "https://api.ghe.example.com/", "https://api.ghe.example.com"),
    ],
)
def test_the_rest_url_follows_github_com_or_enterprise_server(
    github_url: str, github_api_url: str | None, api_url: str
) -> None:
    assert make(github_url=github_url, github_api_url=github_api_url).api_url == api_url


def test_settings_come_from_the_environment_over_the_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text(f'APP_ID=7\nWEBHOOK_SECRET=from-the-file\nPRIVATE_KEY="{PEM.replace(chr(10), chr(92) + "n")}"\n')
    monkeypatch.setenv("WEBHOOK_SECRET", "from-the-environment")
    settings = Settings(_env_file=env)  # type: ignore[call-arg]
    assert settings.app_id == 7
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == "from-the-environment"
    assert settings.private_key_pem() == PEM


def test_get_settings_reads_the_env_file_named_by_dotenv_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / "specloop.env"
    env.write_text("APP_ID=31\nAPP_SLUG=from-dotenv-path\n")
    monkeypatch.setenv("DOTENV_PATH", str(env))
    get_settings.cache_clear()
    try:
        settings = get_settings()
        assert settings.app_id == 31
        assert settings.app_slug == "from-dotenv-path"
        assert settings.dotenv_path == env  # /setup writes the registration to the same file
    finally:
        get_settings.cache_clear()
