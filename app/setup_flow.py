"""Probot-style registration: `/setup` posts the app.yml manifest to GitHub, the callback stores the App."""

from __future__ import annotations

import html
import json
import logging
import os
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote, urlencode

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from githubkit import GitHub
from githubkit.exception import GitHubException, RequestFailed
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.settings import Settings, get_settings

log = logging.getLogger(__name__)

router = APIRouter()

# Probot's convention: app.yml in the working directory (an operator's own copy wins), else the project's.
MANIFEST_CANDIDATES = (Path("app.yml"), Path(__file__).resolve().parent.parent / "app.yml")
TEMPLATE_PATH = Path(__file__).resolve().parent / "setup_page.html"
WEBHOOK_PATH = "/api/github/webhooks"
CALLBACK_PATH = "/setup/callback"
# GitHub lets a manifest code be converted within one hour; the nonce lives as long.
NONCE_TTL_SECONDS = 3600
NONCE_KEY = "specloop:setup:nonce:{}"
# GitHub logins: alphanumerics and single hyphens, at most 39 characters.
LOGIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
MAX_APP_NAME = 34  # GitHub's limit on App names

# Keys the callback writes to .env, in this order.
ENV_KEYS = ("APP_ID", "APP_SLUG", "PRIVATE_KEY", "WEBHOOK_SECRET", "CLIENT_ID", "CLIENT_SECRET")


# --- the manifest -------------------------------------------------------------------------------


def manifest_path() -> Path:
    """The app.yml to register from."""
    for candidate in MANIFEST_CANDIDATES:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("app.yml (the GitHub App manifest) was not found in the working directory")


def load_manifest(settings: Settings, *, name: str | None = None, path: Path | None = None) -> dict[str, Any]:
    """app.yml with the URLs that depend on where this service runs (PUBLIC_URL) filled in."""
    manifest: dict[str, Any] = yaml.safe_load((path or manifest_path()).read_text()) or {}
    if name:
        manifest["name"] = name
    manifest.setdefault("url", settings.public_url)
    hook = dict(manifest.get("hook_attributes") or {})
    hook["url"] = settings.public_url + WEBHOOK_PATH
    manifest["hook_attributes"] = hook
    manifest["redirect_url"] = settings.public_url + CALLBACK_PATH
    manifest.setdefault("public", False)
    return manifest


def registration_url(settings: Settings, org: str | None, state: str) -> str:
    """Where the form posts: the personal or the organisation's "new GitHub App" page, with the nonce."""
    query = urlencode({"state": state})
    if org:
        return f"{settings.github_url}/organizations/{quote(org)}/settings/apps/new?{query}"
    return f"{settings.github_url}/settings/apps/new?{query}"


# --- the state nonce ----------------------------------------------------------------------------


@dataclass
class NonceStore:
    """One-time `state` values: in Redis when it answers (any web process can check them), else here."""

    memory: dict[str, float]

    @classmethod
    def create(cls) -> NonceStore:
        """An empty store."""
        return cls(memory={})

    async def issue(self, redis: Redis | None) -> str:
        """A fresh nonce, valid for an hour."""
        nonce = secrets.token_urlsafe(24)
        try:
            if redis is None:
                raise ConnectionError("no Redis client")
            await redis.set(NONCE_KEY.format(nonce), "1", ex=NONCE_TTL_SECONDS)
        except (RedisError, OSError):
            # setup should work before Redis is ready; one process then checks its own nonces
            self.memory[nonce] = time.monotonic() + NONCE_TTL_SECONDS
        return nonce

    async def consume(self, redis: Redis | None, nonce: str) -> bool:
        """True once for a nonce we issued and that has not expired; False afterwards or otherwise."""
        now = time.monotonic()
        for key, expires in list(self.memory.items()):
            if expires < now:
                del self.memory[key]
        if self.memory.pop(nonce, None) is not None:
            return True
        if redis is None:
            return False
        try:
            # GET and DEL in one transaction (GETDEL needs Redis 6.2; managed services may be older)
            async with redis.pipeline(transaction=True) as pipe:
                pipe.get(NONCE_KEY.format(nonce))
                pipe.delete(NONCE_KEY.format(nonce))
                value, _ = await pipe.execute()
            return value is not None
        except (RedisError, OSError):
            return False


# --- .env ---------------------------------------------------------------------------------------


def _quote_env(value: str) -> str:
    """A double-quoted .env value; the PEM's newlines become \\n so it stays on one line."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\r\n", "\n").replace("\n", "\\n")
    return f'"{escaped}"'


def write_env(path: Path, values: dict[str, str]) -> None:
    """Set `values` in the .env at `path`, keeping its other lines; the file is written 0600, atomically."""
    path = Path(path)
    kept: list[str] = []
    if path.exists():
        for line in path.read_text().splitlines():
            match = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", line)
            if match and match.group(1).upper() in values:
                continue
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = [f"# GitHub App registered by `specloop serve` /setup on {stamp}"]
    block += [f"{key}={_quote_env(value)}" for key, value in values.items()]
    text = "\n".join([*kept, "", *block] if kept else block) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    # The private key must never be readable by others, not even for a moment: create the temp file 0600.
    fd, tmp = tempfile.mkstemp(prefix=".env.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    os.chmod(path, 0o600)


# --- pages --------------------------------------------------------------------------------------


def _version() -> str:
    try:
        return version("specloop")
    except PackageNotFoundError:
        return "dev"


def page(title: str, content: str, status: int = 200) -> HTMLResponse:
    """A page in the setup layout; `content` is trusted HTML (escape user values before passing them)."""
    template = Template(TEMPLATE_PATH.read_text())
    body = template.substitute(title=html.escape(title), content=content, version=html.escape(_version()))
    # The page carries a one-time nonce and, after registration, secrets' whereabouts: never cache it.
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _is_local(url: str) -> bool:
    return bool(re.match(r"https?://(localhost|127\.|0\.0\.0\.0|\[::1\])", url))


def _setup_page(settings: Settings, manifest: dict[str, Any], action: str, org: str, name: str,
                error: str | None) -> str:
    e = html.escape
    notes = ""
    if error:
        notes += f'<p class="note bad" role="alert">{e(error)}</p>'
    if _is_local(settings.public_url):
        notes += (
            f'<p class="note">PUBLIC_URL is <code>{e(settings.public_url)}</code>. GitHub must reach '
            f"<code>{e(settings.public_url + WEBHOOK_PATH)}</code> to deliver events; set PUBLIC_URL to a "
            "public address (your domain or a tunnel) and restart before registering.</p>"
        )
    owner = f"the <strong>{e(org)}</strong> organization" if org else "your personal account"
    return f"""
    <h1>Register Specloop on GitHub</h1>
    <p>Specloop turns a labelled issue into an example map, a Gherkin spec you review and approve, code
    generated against that approved spec, and a browser QA run whose verdict comes from Chromium, not from
    a model. To receive events it needs a GitHub App: one click registers one from this service's manifest,
    and GitHub sends the credentials straight back here.</p>
    <ol class="loop"><li>story</li><li>example map</li><li>spec PR</li><li>approval</li><li>code</li><li>QA</li></ol>
    {notes}
    <h2>Owner and name</h2>
    <form class="inline" method="get" action="/setup">
      <div><label for="org">Organization (optional)</label>
        <input type="text" id="org" name="org" value="{e(org)}" placeholder="personal account" autocomplete="off"></div>
      <div><label for="name">App name (unique on GitHub)</label>
        <input type="text" id="name" name="name" value="{e(name)}" maxlength="{MAX_APP_NAME}"></div>
      <button type="submit">Update</button>
    </form>
    <div class="target">
      <form method="post" action="{e(action)}" id="register">
        <input type="hidden" name="manifest" value="{e(json.dumps(manifest))}">
        <p>Registers <strong>{e(str(manifest.get("name")))}</strong> for {owner} on
        <code>{e(settings.github_url)}</code>, with webhooks to <code>{e(manifest["hook_attributes"]["url"])}</code>.</p>
        <button class="primary" type="submit">Register GitHub App</button>
      </form>
    </div>
    <p class="muted">Permissions requested: issues, pull requests, contents and checks (write); deployments
    and metadata (read). After registering you choose the repositories to install it on.</p>
    """


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _nonces(request: Request) -> NonceStore:
    store = getattr(request.app.state, "setup_nonces", None)
    if store is None:
        store = request.app.state.setup_nonces = NonceStore.create()
    return store


NOT_FOUND = "Specloop is already registered as a GitHub App; the setup page is closed."


@router.get("/setup")
async def setup(request: Request, org: str = "", name: str = "") -> Response:
    """The registration page (setup mode only; 404 once an App is registered)."""
    settings = _settings(request)
    if not settings.setup_mode:
        return page("Not found", f"<h1>Not found</h1><p>{html.escape(NOT_FOUND)}</p>", status=404)
    org, name = org.strip(), name.strip()
    error = None
    if org and not LOGIN_RE.match(org):
        error = f"“{org}” is not a valid GitHub organization name (letters, digits and single hyphens)."
        org = ""
    if len(name) > MAX_APP_NAME:
        error = f"GitHub App names are at most {MAX_APP_NAME} characters."
        name = name[:MAX_APP_NAME]
    manifest = load_manifest(settings, name=name or None)
    nonce = await _nonces(request).issue(getattr(request.app.state, "redis", None))
    action = registration_url(settings, org or None, nonce)
    content = _setup_page(settings, manifest, action, org, name or str(manifest.get("name", "")), error)
    return page("Register", content, status=400 if error else 200)


def _error_page(title: str, message: str, status: int) -> HTMLResponse:
    e = html.escape
    return page(title, f'<h1>{e(title)}</h1><p class="note bad">{e(message)}</p>'
                       '<p><a class="button" href="/setup">Back to setup</a></p>', status=status)


@router.get(CALLBACK_PATH)
async def setup_callback(request: Request, code: str = "", state: str = "") -> Response:
    """GitHub redirects here with `code`: exchange it for the App's credentials and store them in .env."""
    settings = _settings(request)
    if not settings.setup_mode:
        return page("Not found", f"<h1>Not found</h1><p>{html.escape(NOT_FOUND)}</p>", status=404)
    redis = getattr(request.app.state, "redis", None)
    if not state or not await _nonces(request).consume(redis, state):
        return _error_page(
            "Registration link not recognised",
            "This callback's state does not match a registration started from this service (it may have "
            "expired after an hour, or been used already). Start again from the setup page.",
            400,
        )
    if not code:
        return _error_page("No code from GitHub", "GitHub did not send a registration code. Start again.", 400)
    try:
        app = await convert_manifest(settings, code)
    except RequestFailed as error:
        status = error.response.status_code
        log.warning("manifest conversion refused", extra={"status": status})
        return _error_page(
            "GitHub did not accept the registration code",
            f"GitHub answered {status} when exchanging the code. Codes are valid for one hour and only once; "
            "start the registration again.",
            502,
        )
    except GitHubException as error:
        log.warning("manifest conversion failed", extra={"error": type(error).__name__})
        return _error_page(
            "Could not reach GitHub",
            f"Exchanging the registration code with {settings.api_url} failed ({type(error).__name__}). "
            "Check GITHUB_URL / GITHUB_API_URL and the network, then start again.",
            502,
        )

    values = {
        "APP_ID": str(app.id),
        "APP_SLUG": app.slug,
        "PRIVATE_KEY": app.pem,
        "WEBHOOK_SECRET": app.webhook_secret or "",
        "CLIENT_ID": app.client_id,
        "CLIENT_SECRET": app.client_secret,
    }
    env_path = settings.dotenv_path
    try:
        write_env(env_path, values)
    except OSError as error:
        return _error_page("Could not write the settings file",
                           f"Writing {env_path} failed ({error.strerror}). The App exists on GitHub as "
                           f"{app.slug}; fix the file permissions, delete the App and register again.", 500)
    # Switch this process out of setup mode now, without a restart; other processes read .env on start.
    request.app.state.settings = settings.model_copy(update={
        "app_id": app.id,
        "app_slug": app.slug,
        "private_key": SecretStr(app.pem),
        "webhook_secret": SecretStr(app.webhook_secret) if app.webhook_secret else None,
        "client_id": app.client_id,
        "client_secret": SecretStr(app.client_secret),
    })
    get_settings.cache_clear()
    log.info("GitHub App registered", extra={"app_id": app.id, "app_slug": app.slug})
    return page("Registered", _success_page(app, env_path))


@dataclass
class RegisteredApp:
    """The credentials GitHub hands back for a freshly registered App."""

    id: int
    slug: str
    html_url: str
    pem: str
    webhook_secret: str | None
    client_id: str
    client_secret: str


async def convert_manifest(settings: Settings, code: str) -> RegisteredApp:
    """POST /app-manifests/{code}/conversions (no authentication: the code is the credential)."""
    github = GitHub(base_url=settings.api_url)
    response = await github.rest.apps.async_create_from_manifest(code)
    data = response.parsed_data
    slug = data.slug if isinstance(data.slug, str) else data.name.lower().replace(" ", "-")
    return RegisteredApp(id=data.id, slug=slug, html_url=data.html_url, pem=data.pem,
                         webhook_secret=data.webhook_secret, client_id=data.client_id,
                         client_secret=data.client_secret)


def _success_page(app: RegisteredApp, env_path: Path) -> str:
    e = html.escape
    install = f"{app.html_url.rstrip('/')}/installations/new"
    secret_note = ""
    if not app.webhook_secret:
        secret_note = ('<p class="note bad">GitHub returned no webhook secret. Set one in the App\'s settings '
                       "on GitHub and the same value as WEBHOOK_SECRET, then restart.</p>")
    return f"""
    <h1>Specloop is registered</h1>
    <p class="note ok">The GitHub App <strong>{e(app.slug)}</strong> exists and its credentials are saved in
    <code>{e(str(env_path))}</code> (readable only by you). This service now accepts webhooks; restart the
    workers so they read the new settings.</p>
    {secret_note}
    <dl><dt>App ID</dt><dd>{app.id}</dd><dt>Slug</dt><dd>{e(app.slug)}</dd>
    <dt>Settings</dt><dd><a href="{e(app.html_url)}">{e(app.html_url)}</a></dd></dl>
    <p>Last step: choose the repositories Specloop may work on.</p>
    <p><a class="button primary" href="{e(install)}">Install {e(app.slug)} on repositories</a></p>
    """
