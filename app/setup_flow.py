"""Probot-style registration: `/setup` posts the app.yml manifest to GitHub, the callback stores the App.

Only the operator may register: `/setup` asks for a one-time setup token that the service prints in its
log at start (shared by every replica through Redis), the `state` nonce is bound to the browser that got
it by a cookie, and once an App is registered (this process's settings, or a Redis key any replica set)
the page is closed and a late callback is refused. A callback claims the registration before it asks
GitHub for the App's credentials (SET NX of the registered key in Redis, released if it fails), so when
two replicas, or two tabs, finish a registration at the same moment exactly one converts its code and
writes .env; the other answers 409.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from string import Template
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import yaml
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
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
# The one-time setup token every replica accepts (the first to start creates it), deleted on registration.
TOKEN_KEY = "specloop:setup:token"
# Set by the callback that registered the App: every replica then closes /setup and refuses callbacks.
# While a callback is registering, it holds "registering:<id>" there (expiring, in case it dies).
REGISTERED_KEY = "specloop:setup:registered"
CLAIM_PREFIX = "registering:"
CLAIM_SECONDS = 120  # longer than a conversion and a .env write take; a replica that died frees it then
# Delete the claim only if it is still ours (a compare-and-delete Redis runs atomically).
RELEASE_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
# The browser's proof of the token (an HMAC of it, never the token itself) and the state it was given.
SESSION_COOKIE = "specloop_setup_session"
STATE_COOKIE = "specloop_setup_state"
COOKIE_PATH = "/setup"  # covers the callback; no other route ever sees these cookies
SESSION_SECONDS = 24 * 3600
# Setup must not hang on a Redis that does not answer; it falls back to this process's memory.
REDIS_DEADLINE_SECONDS = 5.0
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


# --- the setup token and the registered flag ----------------------------------------------------

T = TypeVar("T")


async def _redis_call(call: Awaitable[T]) -> T | None:
    """`call`'s answer, or None when Redis is away or slow (setup then works on this process alone)."""
    try:
        return await asyncio.wait_for(call, REDIS_DEADLINE_SECONDS)
    except (RedisError, OSError, TimeoutError):
        return None


async def _shared_token(redis: Redis | None) -> str:
    """The token in Redis (created here with SET NX if this replica is the first), else a new one in memory."""
    candidate = secrets.token_urlsafe(32)
    if redis is None:
        return candidate
    if await _redis_call(redis.set(TOKEN_KEY, candidate, nx=True)):
        return candidate
    existing = await _redis_call(redis.get(TOKEN_KEY))
    if isinstance(existing, bytes):
        existing = existing.decode()
    return existing if isinstance(existing, str) and existing else candidate


async def start(app: FastAPI) -> None:
    """At start in setup mode: get the setup token and print it once, in this process's log only."""
    settings: Settings = app.state.settings
    if not settings.setup_mode:
        return
    redis = getattr(app.state, "redis", None)
    app.state.setup_token = await _shared_token(redis)
    # "token: <value>", not "token=<value>" or "token <value>": app/logs.py redacts those shapes, and
    # this one line is where the operator must read it (access-log lines of /setup?token=... stay redacted)
    log.warning("One-time setup token: %s - open %s/setup and enter it to register the GitHub App "
                "(the token is printed only here)", app.state.setup_token, settings.public_url)
    if redis is not None and await _redis_call(redis.exists(REGISTERED_KEY)):
        log.warning("an App is already registered (Redis key %s): /setup stays closed; restart with the "
                     "new .env, or delete the key to register again", REGISTERED_KEY)


async def _token(request: Request) -> str:
    """This process's setup token (made now if the start-up hook did not run, e.g. without a lifespan)."""
    token: str | None = getattr(request.app.state, "setup_token", None)
    if token is None:
        await start(request.app)
        token = str(request.app.state.setup_token)
    return token


def _same(supplied: str, expected: str) -> bool:
    """Constant-time equality of two strings (bytes: compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(supplied.encode(), expected.encode())


def _session_value(token: str) -> str:
    """What the session cookie holds: derived from the token, so the cookie never carries the token."""
    return hmac.new(token.encode(), b"specloop setup session", hashlib.sha256).hexdigest()


async def _registered(request: Request) -> bool:
    """An App is registered (or being registered): this process knows it, or a replica said so in Redis."""
    return await _registration_state(request) is not None


async def _registration_state(request: Request) -> str | None:
    """"registered", "in progress" (a callback holds the claim), or None while setup is open."""
    if not _settings(request).setup_mode:
        return "registered"
    if getattr(request.app.state, "setup_claimed", False):
        return "in progress"
    redis = getattr(request.app.state, "redis", None)
    if redis is None:
        return None
    holder = await _redis_call(redis.get(REGISTERED_KEY))
    if holder is None:
        return None
    text = holder.decode() if isinstance(holder, bytes) else str(holder)
    return "in progress" if text.startswith(CLAIM_PREFIX) else "registered"


async def _record_registration(request: Request, app_id: int) -> None:
    """Tell every replica an App is registered, and retire the setup token."""
    redis = getattr(request.app.state, "redis", None)
    if redis is None or await _redis_call(_set_registered(redis, app_id)) is None:
        log.warning("could not record the registration in Redis; other replicas keep /setup open until "
                    "they restart with the new .env", extra={"app_id": app_id})


@dataclass
class Claim:
    """The right to register, held by one callback: in Redis for every replica, and in this process."""

    value: str  # what this callback wrote into the registered key (released only while it is still there)


async def _claim(request: Request) -> Claim | str:
    """Claim the registration for this callback, or say why another one has it (already done or under way).

    This process first (no await between the check and the set, so two callbacks here cannot both pass),
    then Redis with SET NX, which exactly one replica wins. Without Redis only this process is guarded
    (logged: other replicas cannot be told).
    """
    state = request.app.state
    if getattr(state, "setup_claimed", False):
        return "in progress"
    state.setup_claimed = True
    value = CLAIM_PREFIX + secrets.token_urlsafe(12)
    redis = getattr(state, "redis", None)
    if redis is None:
        return Claim(value)
    try:
        won = await asyncio.wait_for(redis.set(REGISTERED_KEY, value, nx=True, ex=CLAIM_SECONDS),
                                     REDIS_DEADLINE_SECONDS)
    except (RedisError, OSError, TimeoutError):
        log.warning("could not claim the registration in Redis; only this replica is guarded against a "
                    "second registration")
        return Claim(value)
    if won:
        return Claim(value)
    state.setup_claimed = False
    return await _registration_state(request) or "in progress"


async def _release(request: Request, claim: Claim) -> None:
    """Give the claim back after a failed registration, so the operator can try again on any replica."""
    request.app.state.setup_claimed = False
    redis = getattr(request.app.state, "redis", None)
    if redis is not None:  # also when the claim's SET timed out: it may have landed (only ours is deleted)
        await _redis_call(redis.eval(RELEASE_SCRIPT, 1, REGISTERED_KEY, claim.value))


async def _set_registered(redis: Redis, app_id: int) -> bool:
    # one transaction: no replica sees "registered" while the old token still opens the page
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(REGISTERED_KEY, str(app_id))
        pipe.delete(TOKEN_KEY)
        await pipe.execute()
    return True


def _set_cookie(response: Response, settings: Settings, name: str, value: str, max_age: int) -> None:
    # Lax, not Strict: GitHub's redirect back to the callback is a top-level GET from another site
    response.set_cookie(name, value, max_age=max_age, path=COOKIE_PATH, httponly=True, samesite="lax",
                        secure=settings.public_url.startswith("https://"))


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
WRONG_TOKEN = "That is not the setup token. Copy it again from the service's log."


def _token_page(error: str | None) -> HTMLResponse:
    """The page a browser without the setup token gets instead of the register button."""
    note = f'<p class="note bad" role="alert">{html.escape(error)}</p>' if error else ""
    return page("Setup token", f"""
    <h1>Enter the setup token</h1>
    <p>Only the operator of this service may register its GitHub App. When it started, Specloop printed a
    one-time setup token in its log, on the line beginning <code>One-time setup token:</code>.</p>
    {note}
    <form method="get" action="/setup">
      <label for="token">Setup token</label>
      <input type="password" id="token" name="token" required autocomplete="off" spellcheck="false">
      <p><button class="primary" type="submit">Continue</button></p>
    </form>
    """, status=403)


@router.get("/setup")
async def setup(request: Request, org: str = "", name: str = "", token: str = "") -> Response:
    """The registration page (setup mode only; the setup token first; 404 once an App is registered)."""
    settings = _settings(request)
    if await _registered(request):
        return page("Not found", f"<h1>Not found</h1><p>{html.escape(NOT_FOUND)}</p>", status=404)
    expected = await _token(request)
    if token:
        if not _same(token, expected):
            return _token_page(WRONG_TOKEN)
        # swap the token for a cookie and take it out of the address bar, history and any Referer
        query = urlencode({key: value for key, value in (("org", org), ("name", name)) if value})
        accepted = RedirectResponse("/setup" + (f"?{query}" if query else ""), status_code=303)
        _set_cookie(accepted, settings, SESSION_COOKIE, _session_value(expected), SESSION_SECONDS)
        return accepted
    if not _same(request.cookies.get(SESSION_COOKIE, ""), _session_value(expected)):
        return _token_page(None)
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
    response = page("Register", content, status=400 if error else 200)
    # the callback accepts this state only from the browser that holds it
    _set_cookie(response, settings, STATE_COOKIE, nonce, NONCE_TTL_SECONDS)
    return response


def _error_page(title: str, message: str, status: int) -> HTMLResponse:
    e = html.escape
    return page(title, f'<h1>{e(title)}</h1><p class="note bad">{e(message)}</p>'
                       '<p><a class="button" href="/setup">Back to setup</a></p>', status=status)


@router.get(CALLBACK_PATH)
async def setup_callback(request: Request, code: str = "", state: str = "") -> Response:
    """GitHub redirects here with `code`: exchange it for the App's credentials and store them in .env."""
    settings = _settings(request)
    done = await _registration_state(request)
    if done is not None:
        return _claimed_page(done)
    redis = getattr(request.app.state, "redis", None)
    if state and not _same(request.cookies.get(STATE_COOKIE, ""), state):
        # checked before the nonce is consumed, so a stolen state cannot use up the operator's
        return _error_page(
            "Registration started in another browser",
            "This callback's state does not belong to this browser: its setup cookie is missing or "
            "different. Finish the registration in the browser that opened the setup page (when it was "
            "opened more than once, only the last one can finish).",
            400,
        )
    if not state or not await _nonces(request).consume(redis, state):
        return _error_page(
            "Registration link not recognised",
            "This callback's state does not match a registration started from this service (it may have "
            "expired after an hour, or been used already). Start again from the setup page.",
            400,
        )
    if not code:
        return _error_page("No code from GitHub", "GitHub did not send a registration code. Start again.", 400)
    claim = await _claim(request)
    if not isinstance(claim, Claim):
        return _claimed_page(claim)
    response: Response | None = None
    try:
        response = await _register(request, settings, code)
        return response
    finally:
        if response is None or response.status_code != 200:  # refused, failed or cancelled: give it back
            await _release(request, claim)


def _claimed_page(why: str) -> HTMLResponse:
    """The 409 for a callback that lost the race: another one registered, or is registering right now."""
    if why == "in progress":
        return _error_page("Already being registered",
                           "Another registration of this service is finishing right now (another tab, or another "
                           "replica); this one was not stored, and its credentials were never fetched from GitHub. "
                           "Delete the extra App GitHub created for it in your GitHub settings. The setup page "
                           "closes once the other registration is done.", 409)
    return _error_page("Already registered", "A GitHub App is already registered for this service; "
                       "this registration was not stored. Delete the extra App on GitHub if one was made.", 409)


async def _register(request: Request, settings: Settings, code: str) -> HTMLResponse:
    """Convert the code, write .env and leave setup mode (the caller holds the claim)."""
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
    await _record_registration(request, app.id)
    log.info("GitHub App registered", extra={"app_id": app.id, "app_slug": app.slug})
    done = page("Registered", _success_page(app, env_path))
    for name in (STATE_COOKIE, SESSION_COOKIE):
        done.delete_cookie(name, path=COOKIE_PATH)
    return done


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
