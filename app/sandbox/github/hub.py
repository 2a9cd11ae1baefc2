"""`Hub`: the small context route handlers and state changes work with (State, faults, shapes, webhooks)."""

from __future__ import annotations

from typing import Any

from .calls import Call, HttpError, not_found
from .faults import Faults
from .payloads import Shapes, node_id
from .state import App, Repo, State, User
from .webhooks import Deliverer, Delivery


class Hub:
    """The double's State plus what acting on it needs: JSON shapes with the double's URLs and the webhook sender."""

    def __init__(self, state: State, faults: Faults, deliverer: Deliverer) -> None:
        self.state = state
        self.faults = faults
        self.deliverer = deliverer
        self.shapes = Shapes("http://127.0.0.1:0/api/v3", "http://127.0.0.1:0")

    @property
    def api_url(self) -> str:
        """The REST base URL (`<web_url>/api/v3`)."""
        return self.shapes.api

    @property
    def web_url(self) -> str:
        """The web host (git over HTTP, manifest pages, html links)."""
        return self.shapes.web

    @property
    def app(self) -> App:
        """The App the double plays."""
        return self.state.app

    # -- webhooks --------------------------------------------------------------------------------
    def emit(self, event: str, repo: Repo, sender: User, body: dict[str, Any], *, wait: bool = True) -> Delivery | None:
        """Send `event` for something that happened in `repo`, like GitHub does for an installed app.

        Nothing is sent when the app is not installed on the repository, suspended, or not subscribed
        to the event (GitHub only delivers subscribed events).
        """
        app = self.state.app
        inst = self.state.installation_for(repo)
        if inst is None or inst.suspended_at is not None or event not in app.events:
            return None
        payload: dict[str, Any] = dict(body)
        payload["repository"] = self.shapes.repo(repo, full=False)
        if repo.owner.type == "Organization":
            payload["organization"] = self.shapes.organization(repo.owner)
        payload["sender"] = self.shapes.user(sender)
        payload["installation"] = {"id": inst.id, "node_id": node_id("IN", inst.id)}
        delivery = self.deliverer.build(event, payload, app.webhook_secret, app.webhook_url)
        return self.deliverer.send(delivery, wait=wait)

    def deliver_raw(self, event: str, payload: dict[str, Any], *, secret: str | None = None,
                    delivery: str | None = None, headers: dict[str, str] | None = None,
                    body: bytes | None = None, sign: bool = True, wait: bool = True) -> Delivery:
        """Send any payload as `event`; signed with the app's secret unless told otherwise."""
        app = self.state.app
        key = (secret if secret is not None else app.webhook_secret) if sign else None
        d = self.deliverer.build(event, payload, key, app.webhook_url, guid=delivery, headers=headers, body=body)
        return self.deliverer.send(d, wait=wait)

    def find_delivery(self, delivery: str | int) -> Delivery:
        """A recorded delivery by GUID or numeric id (KeyError when unknown)."""
        for d in self.deliverer.deliveries:
            if d.guid == delivery or d.id == delivery:
                return d
        raise KeyError(f"no delivery {delivery}")

    def redeliver(self, delivery: str | int, *, wait: bool = True) -> Delivery:
        """Send a recorded delivery again with the same GUID and body (GitHub's "Redeliver")."""
        original = self.find_delivery(delivery)
        d = self.deliverer.build(original.event, original.payload, None, self.state.app.webhook_url,
                                 guid=original.guid, redelivery=True, body=original.body,
                                 headers=dict(original.headers))
        return self.deliverer.send(d, wait=wait)

    # -- access ----------------------------------------------------------------------------------
    def repo_for(self, call: Call) -> Repo:
        """The repository named in the path, if the caller may see it (404 otherwise, as GitHub hides it)."""
        repo = self.state.repo(f"{call.params['owner']}/{call.params['repo']}")
        if repo is None:
            raise not_found()
        if call.installation is not None and repo.full_name.lower() not in call.installation.repos:
            raise not_found()
        if (call.installation is None and call.actor is not None and not call.app_jwt and repo.private
                and self.state.role(repo, call.actor.login) is None):
            raise not_found()
        call.repo = repo
        return repo

    def require_write(self, call: Call, repo: Repo) -> None:
        """Writes by a person need write access (installations hold write permissions)."""
        if call.installation is None and call.actor is not None:
            role = self.state.role(repo, call.actor.login)
            if role not in ("write", "maintain", "admin"):
                raise HttpError(403, "Must have admin rights to Repository." if role is None
                                else "Resource not accessible by personal access token")

    def caller_app(self, call: Call) -> App:
        """The App acting in a call (the double's app when the credential does not name one)."""
        return call.app or self.state.app
