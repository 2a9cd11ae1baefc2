"""`GitHubDouble`: the loopback GitHub (REST + git + webhooks) that tests and `make demo` run against."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Self

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .apps import AppsMixin
from .checks import ChecksMixin
from .faults import Fault, Faults
from .git_data import GitDataMixin
from .gitstore import GitRepo, Signature
from .issues import IssuesMixin
from .payloads import Shapes, node_id
from .pulls import PullsMixin
from .server import Server
from .state import App, Installation, Repo, State, User, now
from .webhooks import Deliverer, Delivery


@dataclass
class RecordedRequest:
    """One API request the app made (Authorization header left out)."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    status: int | None = None
    actor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def generate_key() -> tuple[str, str]:
    """A fresh RSA key pair as (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


_KEY_CACHE: list[tuple[str, str]] = []


def _app_key() -> tuple[str, str]:
    """Key generation takes ~50-100 ms; one key per process keeps fixture start-up cheap."""
    if not _KEY_CACHE:
        _KEY_CACHE.append(generate_key())
    return _KEY_CACHE[0]


class GitHubDouble(AppsMixin, IssuesMixin, GitDataMixin, PullsMixin, ChecksMixin):
    """A loopback GitHub: REST API under `api_url`, git + manifest pages under `web_url`, signed webhooks."""

    def __init__(self, *, slug: str = "specloop", webhook_url: str | None = None,
                 root: Path | None = None, fresh_key: bool = False) -> None:
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="github-double-"))
        self.state = State(self.root)
        self.faults = Faults()
        self.requests: list[RecordedRequest] = []
        self.unhandled: list[str] = []
        self.tokens_issued = 0
        self.token_lifetime = timedelta(hours=1)
        self.manifest_codes: dict[str, Any] = {}
        self.hook_id = self.state.next_id()
        self.deliverer = Deliverer(self.hook_id, fault_for=self._webhook_fault)
        self.server = Server(self)
        self.shapes = Shapes("http://127.0.0.1:0/api/v3", "http://127.0.0.1:0")
        owner = self.state.user("octo-org", "Organization")
        private, public = generate_key() if fresh_key else _app_key()
        self.app = self._new_app(slug=slug, name=slug.capitalize(), owner=owner, private=private, public=public)
        self.app.webhook_url = webhook_url
        self.apps: dict[int, App] = {self.app.id: self.app}
        self.git_pushes: list[dict[str, Any]] = []
        self.installation_id: int | None = None  # the first installation (the usual one in tests)
        self.web_user = "alice"  # the person "signed in" on the web pages (manifest registration)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Self:
        """Start the HTTP server and the webhook sender; returns self."""
        self.server.start()
        self.shapes = Shapes(self.api_url, self.web_url)
        self.deliverer.start()
        return self

    def stop(self) -> None:
        """Stop everything and remove the temporary repositories."""
        self.deliverer.stop()
        self.server.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def web_url(self) -> str:
        """The web host (git over HTTP, manifest pages), like `https://github.com`."""
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def api_url(self) -> str:
        """The REST base URL, Enterprise-Server style: `<web_url>/api/v3`."""
        return f"{self.web_url}/api/v3"

    # -- the app -------------------------------------------------------------------------------
    def _new_app(self, *, slug: str, name: str, owner: User, private: str, public: str,
                 webhook_url: str | None = None, permissions: dict[str, str] | None = None,
                 events: list[str] | None = None, description: str = "",
                 external_url: str = "https://example.com") -> App:
        app_id = self.state.next_id()
        bot = self.state.user(f"{slug}[bot]", "Bot")
        app = App(id=app_id, slug=slug, name=name, owner=owner, private_key_pem=private, public_key_pem=public,
                  webhook_secret=secrets.token_hex(20), client_id=f"Iv1.{secrets.token_hex(8)}",
                  client_secret=secrets.token_hex(20), bot=bot, webhook_url=webhook_url,
                  description=description, external_url=external_url)
        if permissions:
            app.permissions = dict(permissions)
        if events:
            app.events = list(events)
        return app

    @property
    def app_id(self) -> int:
        """The current app's id (changes when a manifest registration completes)."""
        return self.app.id

    @property
    def slug(self) -> str:
        return self.app.slug

    @property
    def private_key_pem(self) -> str:
        """The app's private key, for the service's `PRIVATE_KEY` setting."""
        return self.app.private_key_pem

    @property
    def webhook_secret(self) -> str:
        return self.app.webhook_secret

    @property
    def webhook_url(self) -> str | None:
        return self.app.webhook_url

    def set_webhook_url(self, url: str | None) -> None:
        """Where webhooks go (the service's `/api/github/webhooks`)."""
        self.app.webhook_url = url

    @property
    def bot(self) -> User:
        """The app's bot account (`<slug>[bot]`, type Bot)."""
        return self.app.bot

    def settings_env(self) -> dict[str, str]:
        """Environment for the service's Settings pointing at this double."""
        return {"APP_ID": str(self.app_id), "APP_SLUG": self.slug, "PRIVATE_KEY": self.private_key_pem,
                "WEBHOOK_SECRET": self.webhook_secret, "GITHUB_URL": self.web_url,
                "GITHUB_API_URL": self.api_url}

    # -- people, repositories, installations -----------------------------------------------------
    def add_user(self, login: str, role: str | None = None, repo: str | None = None) -> User:
        """Create a person; with `role` and `repo`, give them that role there (admin|maintain|write|triage|read)."""
        user = self.state.user(login)
        if role is not None:
            if role not in ("admin", "maintain", "write", "triage", "read"):
                raise ValueError(f"unknown role {role!r}")
            targets = [self.repo(repo)] if repo else list(self.state.repos.values())
            for r in targets:
                r.roles[login.lower()] = role
        return user

    def user_token(self, login: str) -> str:
        """A personal access token for a person (git over HTTP and API calls as that person)."""
        with self.state.lock:
            if login.lower() not in self.state.user_tokens:
                from .state import Token
                value = "ghp_" + secrets.token_urlsafe(27)
                self.state.tokens[value] = Token(value, None, login=self.state.user(login).login)
                self.state.user_tokens[login.lower()] = value
            return self.state.user_tokens[login.lower()]

    def create_repo(self, full_name: str, files: dict[str, str | bytes] | None = None,
                    default_branch: str = "main", private: bool = False, by: str | None = None) -> Repo:
        """A repository backed by a real bare git repo, with an initial commit holding `files`."""
        owner_login, name = full_name.split("/", 1)
        with self.state.lock:
            owner = self.state.users.get(owner_login.lower()) or self.state.user(owner_login, "Organization")
            git = GitRepo.init(self.root / "repos" / owner.login / f"{name}.git", default_branch)
            repo = Repo(id=self.state.next_id(), owner=owner, name=name, git=git, default_branch=default_branch,
                        private=private)
            for label, color in (("bug", "d73a4a"), ("documentation", "0075ca"), ("enhancement", "a2eeef")):
                repo.labels[label] = self._label(label, color, default=True)
            self.state.repos[full_name.lower()] = repo
        author = self.state.user(by) if by else owner
        sig = Signature(author.login, f"{author.login}@users.noreply.github.com", now())
        blobs = {p: ("100644", "blob", git.hash_blob(c.encode() if isinstance(c, str) else c))
                 for p, c in (files or {"README.md": f"# {name}\n"}).items()}
        tree = git.build_tree(None, dict(blobs))
        commit = git.commit_tree(tree, [], "Initial commit", sig)
        git.update_ref(f"refs/heads/{default_branch}", commit)
        return repo

    def repo(self, full_name: str) -> Repo:
        """A repository's state (KeyError when unknown)."""
        repo = self.state.repo(full_name)
        if repo is None:
            raise KeyError(f"no repository {full_name} in the GitHub double")
        return repo

    def install(self, account: str, repos: list[str] | None = None) -> int:
        """Install the app on an account for some repositories (default: all of the account's) -> id."""
        with self.state.lock:
            acct = self.state.users.get(account.lower()) or self.state.user(account, "Organization")
            names = repos if repos is not None else [r.full_name for r in self.state.repos.values()
                                                     if r.owner.login.lower() == account.lower()]
            inst = Installation(self.state.next_id(), acct, [n.lower() for n in names])
            self.state.installations[inst.id] = inst
            if self.installation_id is None:
                self.installation_id = inst.id
        return inst.id

    def installation_for(self, repo: Repo) -> Installation | None:
        """The live (not deleted) installation covering a repository."""
        for inst in self.state.installations.values():
            if not inst.deleted and repo.full_name.lower() in inst.repos:
                return inst
        return None

    def uninstall(self, installation_id: int, by: str | None = None) -> Delivery | None:
        """The account removes the app: `installation` `deleted`, tokens stop working."""
        inst = self.state.installations[installation_id]
        delivery = self._emit_installation("deleted", inst, by)
        with self.state.lock:
            inst.deleted = True
            for token in [t for t in self.state.tokens.values() if t.installation_id == installation_id]:
                del self.state.tokens[token.value]
        return delivery

    def suspend(self, installation_id: int, by: str | None = None) -> Delivery | None:
        """The account suspends the app: `installation` `suspend`, no more tokens."""
        inst = self.state.installations[installation_id]
        inst.suspended_at = now()
        return self._emit_installation("suspend", inst, by)

    def unsuspend(self, installation_id: int, by: str | None = None) -> Delivery | None:
        """Lift a suspension: `installation` `unsuspend`."""
        inst = self.state.installations[installation_id]
        inst.suspended_at = None
        return self._emit_installation("unsuspend", inst, by)

    def _emit_installation(self, action: str, inst: Installation, by: str | None) -> Delivery | None:
        sender = self.state.user(by) if by else inst.account
        repos = [self.state.repos[n] for n in inst.repos if n in self.state.repos]
        payload = {
            "action": action, "installation": self.shapes.installation(inst, self.app),
            "repositories": [{"id": r.id, "node_id": self.shapes.repo(r)["node_id"], "name": r.name,
                              "full_name": r.full_name, "private": r.private} for r in repos],
            "requester": None, "sender": self.shapes.user(sender),
        }
        return self.deliver_raw("installation", payload)

    # -- webhooks --------------------------------------------------------------------------------
    @property
    def deliveries(self) -> list[Delivery]:
        """Every webhook delivery attempt, in order."""
        return self.deliverer.deliveries

    def wait_for_deliveries(self, timeout: float = 30.0) -> None:
        """Block until all queued webhooks (including those caused by the app's API calls) were sent."""
        self.deliverer.drain(timeout)

    def deliveries_for(self, event: str, action: str | None = None) -> list[Delivery]:
        """Deliveries of one event (and action)."""
        return [d for d in self.deliveries if d.event == event and (action is None or d.action == action)]

    def emit(self, event: str, repo: Repo, sender: User, body: dict[str, Any], *, wait: bool = True) -> Delivery | None:
        """Send `event` for something that happened in `repo`, like GitHub does for an installed app.

        Nothing is sent when the app is not installed on the repository, suspended, or not subscribed
        to the event (GitHub only delivers subscribed events).
        """
        inst = self.installation_for(repo)
        if inst is None or inst.suspended_at is not None or event not in self.app.events:
            return None
        payload: dict[str, Any] = dict(body)
        payload["repository"] = self.shapes.repo(repo, full=False)
        if repo.owner.type == "Organization":
            payload["organization"] = self.shapes.organization(repo.owner)
        payload["sender"] = self.shapes.user(sender)
        payload["installation"] = {"id": inst.id, "node_id": node_id("IN", inst.id)}
        delivery = self.deliverer.build(event, payload, self.app.webhook_secret, self.app.webhook_url)
        return self.deliverer.send(delivery, wait=wait)

    def deliver_raw(self, event: str, payload: dict[str, Any], *, secret: str | None = None,
                    delivery: str | None = None, headers: dict[str, str] | None = None,
                    body: bytes | None = None, sign: bool = True, wait: bool = True) -> Delivery:
        """Send any payload as `event` (for odd payloads); signed with the app's secret unless told otherwise."""
        key = (secret if secret is not None else self.app.webhook_secret) if sign else None
        d = self.deliverer.build(event, payload, key, self.app.webhook_url, guid=delivery, headers=headers,
                                 body=body)
        return self.deliverer.send(d, wait=wait)

    def redeliver(self, delivery: str | int, *, wait: bool = True) -> Delivery:
        """Send a recorded delivery again with the same GUID and body (GitHub's "Redeliver")."""
        original = self._find_delivery(delivery)
        d = self.deliverer.build(original.event, original.payload, None, self.app.webhook_url,
                                 guid=original.guid, redelivery=True, body=original.body,
                                 headers={k: v for k, v in original.headers.items()})
        return self.deliverer.send(d, wait=wait)

    def _find_delivery(self, delivery: str | int) -> Delivery:
        for d in self.deliveries:
            if d.guid == delivery or d.id == delivery:
                return d
        raise KeyError(f"no delivery {delivery}")

    def ping(self) -> Delivery:
        """GitHub's `ping` after a hook is created."""
        payload = {"zen": "Keep it logically awesome.", "hook_id": self.hook_id,
                   "hook": {"type": "App", "id": self.hook_id, "name": "web", "active": True,
                            "events": list(self.app.events), "app_id": self.app.id,
                            "config": {"content_type": "json", "insecure_ssl": "0", "url": self.app.webhook_url}},
                   "sender": self.shapes.user(self.app.owner)}
        return self.deliver_raw("ping", payload)

    # -- faults ----------------------------------------------------------------------------------
    def fault(self, method: str = "*", path: str = ".*", status: int | None = 502, times: int | None = 1,
              retry_after: int | None = None, latency: float = 0.0, body: Any = None,
              rate_limit: bool = False, target: str = "api") -> Fault:
        """Make matching requests fail: `path` is a regex over the API path (`/repos/o/r/issues/1`),
        the git path (`/o/r.git/...`, target="git") or the event name (target="webhook")."""
        return self.faults.add(Fault(method.upper(), path, status, times, retry_after, latency, body,
                                     rate_limit, target))

    def _webhook_fault(self, event: str) -> Fault | None:
        return self.faults.take("webhook", "POST", event)

    # -- inspection ------------------------------------------------------------------------------
    def requests_to(self, method: str, path_regex: str) -> list[RecordedRequest]:
        """Recorded API requests matching a method and a path regex."""
        import re
        return [r for r in self.requests if r.method == method.upper() and re.search(path_regex, r.path)]

    def file(self, repo: str, path: str, ref: str | None = None) -> str | None:
        """A file's text at a ref (default branch by default), read from the real git repo."""
        r = self.repo(repo)
        data = r.git.file_at(ref or r.default_branch, path)
        return None if data is None else data.decode()

    def ref(self, repo: str, branch: str) -> str | None:
        """The sha a branch points at."""
        return self.repo(repo).git.rev_parse(f"refs/heads/{branch}")
