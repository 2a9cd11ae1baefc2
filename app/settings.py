"""Operator settings, read once from the environment or `.env` (12-factor)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.domain.fingerprint import gate_key
from app.model import catalog

# Values people paste from examples; refusing them at start-up beats a confusing 401 later.
PLACEHOLDERS = {"", "changeme", "change-me", "changethis", "secret", "xxx", "todo", "your-secret", "placeholder"}


class SettingsError(Exception):
    """Raised when required settings are missing or still placeholders; the message names them."""


class Settings(BaseSettings):
    """Everything the operator configures. Secrets are SecretStr so they never reach a log."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    app_id: int | None = None
    app_slug: str = "specloop"
    private_key: SecretStr | None = None
    private_key_path: Path | None = None
    webhook_secret: SecretStr | None = None
    # Signs the approval recorded in spec PR bodies; unset = a key derived from WEBHOOK_SECRET.
    gate_signing_key: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None

    github_url: str = "https://github.com"
    github_api_url: str | None = None
    public_url: str = "http://localhost:3000"

    redis_url: str | None = None
    data_dir: Path = Path(".specloop")

    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    model: str = catalog.DEFAULT_MODEL  # the current Sonnet; the choices are app/model/catalog.py's
    model_timeout: float = 120.0
    model_max_retries: int = 4
    model_story_cap_usd: float = 2.0  # per-story model spend cap (repo config `budget` may lower it)
    model_daily_budget_usd: float = 20.0  # per-installation daily model spend

    chromium_path: str | None = None
    artifacts_dir: Path | None = None
    artifact_secret: SecretStr | None = None
    artifact_retention_days: int = 90
    artifact_bucket: str | None = None  # S3-compatible bucket; unset = local folder (artifacts_dir)
    artifact_s3_endpoint: str | None = None  # e.g. a MinIO or R2 endpoint; unset = AWS
    artifact_s3_region: str = "us-east-1"
    # Run repository code (`qa.start`, project step files) in the repository-code sandbox (app/isolation/,
    # docs/sandbox.md); where no sandbox can be made, QA says what to install and runs none of it bare.
    allow_repo_code: bool = False
    # A repository's `qa.install` commands may have the network when it asks (`qa.install_network`).
    allow_install_network: bool = False
    # QA's browser never reaches private, loopback or link-local hosts (cloud metadata, the worker's own
    # services) besides the app under test, and a deployment URL on one is refused; on for a private network.
    qa_allow_private_hosts: bool = False

    debounce_seconds: float = 30.0
    redeliver_every_minutes: int = 5  # how often failed webhook deliveries are redelivered; 0 = never
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"  # auto: console on a terminal, else JSON lines
    # The .env file `/setup` writes the registered App into (DOTENV_PATH); get_settings() reads it.
    dotenv_path: Path = Path(".env")

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        # An unknown or retired model is refused at start-up: its price (budgets) and limits are unknown.
        try:
            spec = catalog.lookup(value.strip())
        except catalog.UnknownModel as exc:
            raise ValueError(f"MODEL {exc}") from None
        if spec.lifecycle == "retired":
            raise ValueError(f"MODEL `{value}` is retired and no longer answers; choose one of: "
                             + ", ".join(catalog.choices()))
        return value.strip()

    @field_validator("github_url", "public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def setup_mode(self) -> bool:
        """No app registered yet: only the registration page and health check are served."""
        return self.app_id is None

    @property
    def bot_login(self) -> str:
        """The login GitHub gives the app's own actions: its comments, commits, reviews and labels."""
        return f"{self.app_slug}[bot]"

    @property
    def api_url(self) -> str:
        """REST base URL: api.github.com for github.com, `<host>/api/v3` for Enterprise Server."""
        if self.github_api_url:
            return self.github_api_url.rstrip("/")
        if self.github_url == "https://github.com":
            return "https://api.github.com"
        return f"{self.github_url}/api/v3"

    @property
    def state_dir(self) -> Path:
        """Where the managed Redis, artifacts and other local state live."""
        return self.data_dir

    @property
    def artifacts_path(self) -> Path:
        """The local artifact folder: ARTIFACTS_DIR, else `<data_dir>/artifacts`."""
        return self.artifacts_dir or self.data_dir / "artifacts"

    def private_key_pem(self) -> str | None:
        """The App's private key, from PRIVATE_KEY or the file at PRIVATE_KEY_PATH."""
        if self.private_key is not None and self.private_key.get_secret_value().strip():
            # .env files often carry the PEM with literal \n sequences
            return self.private_key.get_secret_value().replace("\\n", "\n")
        if self.private_key_path is not None and self.private_key_path.is_file():
            return self.private_key_path.read_text()
        return None

    def gate_key(self) -> bytes:
        """The key approvals are signed with: derived from GATE_SIGNING_KEY, else from WEBHOOK_SECRET."""
        for name, value in (("GATE_SIGNING_KEY", self.gate_signing_key), ("WEBHOOK_SECRET", self.webhook_secret)):
            if value is None:
                continue
            secret = value.get_secret_value()
            if secret.strip().lower() in PLACEHOLDERS:
                # never sign with a guessable key: an approval signed with it could be forged by anyone
                raise SettingsError(f"{name} is missing or a placeholder; approvals cannot be signed")
            return gate_key(secret)
        raise SettingsError("WEBHOOK_SECRET is missing; approvals cannot be signed")

    def problems(self) -> list[str]:
        """Names of required settings that are missing or placeholders (empty in setup mode)."""
        if self.setup_mode:
            return []
        found: list[str] = []
        pem = self.private_key_pem()
        if pem is None:
            if self.private_key_path is not None:
                found.append(f"PRIVATE_KEY_PATH ({self.private_key_path} is not a readable file)")
            else:
                found.append("PRIVATE_KEY or PRIVATE_KEY_PATH (missing)")
        elif "PRIVATE KEY" not in pem:
            found.append("PRIVATE_KEY (not a PEM private key)")
        secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
        if secret.strip().lower() in PLACEHOLDERS:
            found.append("WEBHOOK_SECRET (missing or a placeholder)")
        gate = self.gate_signing_key.get_secret_value() if self.gate_signing_key else None
        if gate is not None and gate.strip().lower() in PLACEHOLDERS:
            found.append("GATE_SIGNING_KEY (a placeholder; unset it to derive the key from WEBHOOK_SECRET)")
        return found

    def check(self) -> None:
        """Fail fast with one message naming every missing or placeholder setting."""
        found = self.problems()
        if found:
            raise SettingsError(
                "Specloop cannot start; fix these settings (environment or .env): " + "; ".join(found)
            )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read on first use (never at import time)."""
    # pydantic-settings takes `_env_file` at runtime, but the __init__ mypy sees (synthesised from the
    # fields by pydantic's dataclass_transform) does not list it
    return Settings(_env_file=os.environ.get("DOTENV_PATH") or ".env")  # type: ignore[call-arg]
