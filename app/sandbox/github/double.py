"""`GitHubDouble`: the loopback GitHub (REST + git + webhooks) that tests and `make demo` run against.

The double composes the parts: a `State`, the `Hub` route handlers work with, the HTTP `Server` with every
route module's routes, and the webhook `Deliverer`. Its methods are what tests and the demo use: people's
actions on GitHub (open an issue, review a PR, push...), set-up (repositories, installations, other Apps)
and inspection (requests, deliveries, files, refs).
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any, Self

from . import auth, issues
from .faults import Fault, Faults
from .gitstore import GitRepo, Signature
from .hub import Hub
from .keys import generate_key, register_app, shared_key
from .payloads import Shapes
from .people import People
from .server import Server
from .state import (
    App,
    Installation,
    RecordedRequest,
    Repo,
    State,
    Token,
    User,
    now,
)
from .webhooks import Deliverer, Delivery

__all__ = ["GitHubDouble", "RecordedRequest", "generate_key"]
ROLES = ("admin", "maintain", "write", "triage", "read")


class GitHubDouble(People):
    """A loopback GitHub: REST API under `api_url`, git + manifest pages under `web_url`, signed webhooks."""

    def __init__(self, *, slug: str = "specloop", webhook_url: str | None = None,
                 root: Path | None = None, fresh_key: bool = False) -> None:
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="github-double-"))
        self.state = State(self.root)
        self.faults = Faults()
        self.hook_id = self.state.next_id()
        self.deliverer = Deliverer(self.hook_id, fault_for=self._webhook_fault)
        self.hub = Hub(self.state, self.faults, self.deliverer)
        self.server = Server(self.hub)
        owner = self.state.user("octo-org", "Organization")
        private, public = generate_key() if fresh_key else shared_key()
        app = register_app(self.state, slug=slug, name=slug.capitalize(), owner=owner, private=private,
                           public=public, webhook_url=webhook_url)
        self.state.app_id = app.id
        self.installation_id: int | None = None  # the first installation (the usual one in tests)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Self:
        """Start the HTTP server and the webhook sender; returns self."""
        self.server.start()
        self.hub.shapes = Shapes(self.api_url, self.web_url)
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

    # -- state views (kept as attributes of the double for tests and the demo) ------------------
    @property
    def shapes(self) -> Shapes:
        """JSON renderings of state objects with the double's URLs."""
        return self.hub.shapes

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every REST request received, in order."""
        return self.state.requests

    @property
    def unhandled(self) -> list[str]:
        """`METHOD /path` of requests no route answered (the fixture fails a test that made one)."""
        return self.state.unhandled

    @property
    def git_pushes(self) -> list[dict[str, Any]]:
        """Every branch move (pushes, API ref updates, people's commits)."""
        return self.state.git_pushes

    @property
    def manifest_codes(self) -> dict[str, Any]:
        """Pending manifest registrations by their one-time code."""
        return self.state.manifest_codes

    @property
    def apps(self) -> dict[int, App]:
        """Every registered App by id (the double's own and others')."""
        return self.state.apps

    @property
    def app(self) -> App:
        """The App the double plays (changes when a manifest registration completes)."""
        return self.state.app

    @app.setter
    def app(self, app: App) -> None:
        self.state.apps[app.id] = app
        self.state.app_id = app.id

    @property
    def tokens_issued(self) -> int:
        """How many installation tokens were handed out."""
        return self.state.tokens_issued

    @tokens_issued.setter
    def tokens_issued(self, value: int) -> None:
        self.state.tokens_issued = value

    @property
    def token_lifetime(self) -> timedelta:
        """How long new installation tokens live (GitHub: one hour)."""
        return self.state.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, value: timedelta) -> None:
        self.state.token_lifetime = value

    @property
    def web_user(self) -> str:
        """The person "signed in" on the web pages (manifest registration)."""
        return self.state.web_user

    @web_user.setter
    def web_user(self, login: str) -> None:
        self.state.web_user = login

    @property
    def tree_entry_limit(self) -> int:
        """Most entries a tree listing returns before it says `truncated: true` (GitHub: 100,000)."""
        return self.state.tree_entry_limit

    @tree_entry_limit.setter
    def tree_entry_limit(self, value: int) -> None:
        self.state.tree_entry_limit = value

    # -- the app -------------------------------------------------------------------------------
    @property
    def app_id(self) -> int:
        """The current app's id (changes when a manifest registration completes)."""
        return self.app.id

    @property
    def slug(self) -> str:
        """The current app's slug."""
        return self.app.slug

    @property
    def private_key_pem(self) -> str:
        """The app's private key, for the service's `PRIVATE_KEY` setting."""
        return self.app.private_key_pem

    @property
    def webhook_secret(self) -> str:
        """The secret webhooks are signed with."""
        return self.app.webhook_secret

    @property
    def webhook_url(self) -> str | None:
        """Where webhooks go."""
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
            if role not in ROLES:
                raise ValueError(f"unknown role {role!r}")
            targets = [self.repo(repo)] if repo else list(self.state.repos.values())
            for r in targets:
                r.roles[login.lower()] = role
        return user

    def user_token(self, login: str) -> str:
        """A personal access token for a person (git over HTTP and API calls as that person)."""
        with self.state.lock:
            if login.lower() not in self.state.user_tokens:
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
            for label, color in issues.DEFAULT_LABELS:
                repo.labels[label] = issues.new_label(self.state, label, color, default=True)
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
        return self.state.installation_for(repo)

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

    def issue_token(self, installation_id: int, app_id: int | None = None) -> Token:
        """A fresh installation token (`ghs_...`) living `token_lifetime` (for `app_id`, default the double's app)."""
        return auth.issue_token(self.state, installation_id, app_id)

    def expire_tokens(self) -> None:
        """Make every installation token expire now (tests of token refresh)."""
        auth.expire_tokens(self.state)

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
        """Send `event` for something that happened in `repo`, like GitHub does for an installed app."""
        return self.hub.emit(event, repo, sender, body, wait=wait)

    def deliver_raw(self, event: str, payload: dict[str, Any], *, secret: str | None = None,
                    delivery: str | None = None, headers: dict[str, str] | None = None,
                    body: bytes | None = None, sign: bool = True, wait: bool = True) -> Delivery:
        """Send any payload as `event` (for odd payloads); signed with the app's secret unless told otherwise."""
        return self.hub.deliver_raw(event, payload, secret=secret, delivery=delivery, headers=headers, body=body,
                                    sign=sign, wait=wait)

    def redeliver(self, delivery: str | int, *, wait: bool = True) -> Delivery:
        """Send a recorded delivery again with the same GUID and body (GitHub's "Redeliver")."""
        return self.hub.redeliver(delivery, wait=wait)

    def ping(self) -> Delivery:
        """GitHub's `ping` after a hook is created."""
        app = self.app
        payload = {"zen": "Keep it logically awesome.", "hook_id": self.hook_id,
                   "hook": {"type": "App", "id": self.hook_id, "name": "web", "active": True,
                            "events": list(app.events), "app_id": app.id,
                            "config": {"content_type": "json", "insecure_ssl": "0", "url": app.webhook_url}},
                   "sender": self.shapes.user(app.owner)}
        return self.deliver_raw("ping", payload)

    # -- faults ----------------------------------------------------------------------------------
    def fault(self, method: str = "*", path: str = ".*", status: int | None = 502, times: int | None = 1,
              retry_after: int | None = None, latency: float = 0.0, body: Any = None,
              rate_limit: bool = False, target: str = "api", *, ratio: float = 1.0, seed: int = 0,
              applied: bool = False) -> Fault:
        """Make matching requests fail: `path` is a regex over the API path (`/repos/o/r/issues/1`),
        the git path (`/o/r.git/...`, target="git") or the event name (target="webhook").

        With `ratio` below 1, only about that share of the matching requests fail (drawn per request
        from a generator seeded with `seed`), at most `times` of them (None: no limit); rules are looked
        at in the order they were added, and a request one lets through may meet the next. With `applied`
        (API requests only), the request is carried out and only its answer replaced by the fault's.
        """
        return self.faults.add(Fault(method.upper(), path, status, times, retry_after, latency, body,
                                     rate_limit, target, applied=applied, ratio=ratio, seed=seed))

    def _webhook_fault(self, event: str) -> Fault | None:
        return self.faults.take("webhook", "POST", event)

    # -- inspection ------------------------------------------------------------------------------
    def requests_to(self, method: str, path_regex: str) -> list[RecordedRequest]:
        """Recorded API requests matching a method and a path regex."""
        return [r for r in self.requests if r.method == method.upper() and re.search(path_regex, r.path)]

    def file(self, repo: str, path: str, ref: str | None = None) -> str | None:
        """A file's text at a ref (default branch by default), read from the real git repo."""
        r = self.repo(repo)
        data = r.git.file_at(ref or r.default_branch, path)
        return None if data is None else data.decode()

    def ref(self, repo: str, branch: str) -> str | None:
        """The sha a branch points at."""
        return self.repo(repo).git.rev_parse(f"refs/heads/{branch}")
