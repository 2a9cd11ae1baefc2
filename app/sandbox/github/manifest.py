"""The GitHub App manifest flow: `/settings/apps/new` pages and the one-time code conversion."""

from __future__ import annotations

import html
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .calls import Call, not_found
from .hub import Hub
from .keys import generate_key, register_app
from .router import Routes
from .state import now

routes = Routes()
PAGES = re.compile(r"^(?:/organizations/(?P<org>[^/]+))?/settings/apps/new/?$")
CODE_LIFETIME = timedelta(hours=1)


@dataclass
class PendingManifest:
    """A manifest a person confirmed, waiting for its code to be converted."""

    manifest: dict[str, Any]
    owner: str
    created_at: datetime = field(default_factory=now)
    used: bool = False


def match(method: str, path: str) -> Callable[[Hub, Request], Awaitable[Response]] | None:
    """The page handler for a web path, if it is a manifest page."""
    if method in ("GET", "POST") and PAGES.match(path):
        return new_app_page
    return None


async def new_app_page(hub: Hub, request: Request) -> Response:
    """Accept a manifest (form field or query), "create" the app as the signed-in person, redirect with a code."""
    page = PAGES.match(request.url.path)
    org = page["org"] if page else None
    fields: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        form = await request.form()
        fields.update({k: v for k, v in form.items() if isinstance(v, str)})
    raw = fields.get("manifest")
    if not raw:
        return HTMLResponse("<h1>Register new GitHub App</h1><p>No manifest was posted.</p>", status_code=200)
    try:
        manifest = json.loads(raw)
        if not isinstance(manifest, dict):
            raise TypeError("manifest must be an object")  # reported as a 422 page below
    except (ValueError, TypeError) as exc:
        return HTMLResponse(f"<h1>Invalid GitHub App configuration</h1><p>{html.escape(str(exc))}</p>",
                            status_code=422)
    redirect = manifest.get("redirect_url")
    if not manifest.get("url") or not redirect:
        missing = "url" if not manifest.get("url") else "redirect_url"
        return HTMLResponse(f"<h1>Invalid GitHub App configuration</h1><p>{missing} is required</p>",
                            status_code=422)
    code = secrets.token_hex(10)
    hub.state.manifest_codes[code] = PendingManifest(manifest, org or hub.state.web_user)
    query = {"code": code}
    if fields.get("state"):
        query["state"] = fields["state"]
    separator = "&" if "?" in redirect else "?"
    return RedirectResponse(f"{redirect}{separator}{urlencode(query)}", status_code=302)


@routes.post("/app-manifests/{code}/conversions", auth="none")
def convert(hub: Hub, call: Call) -> Any:
    """Exchange a code (once, within an hour) for the new app's id, key and secrets; the double adopts it."""
    state = hub.state
    pending: PendingManifest | None = state.manifest_codes.get(call.params["code"])
    if pending is None or pending.used or now() - pending.created_at > CODE_LIFETIME:
        raise not_found()
    pending.used = True
    m = pending.manifest
    name = str(m.get("name") or "Specloop")
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "app"
    private, public = generate_key()
    known = state.users.get(pending.owner.lower())
    owner = state.user(pending.owner, "Organization" if known and known.type == "Organization" else "User")
    hook = m.get("hook_attributes") or {}
    previous_events = list(state.app.events)
    app = register_app(state, slug=slug, name=name, owner=owner, private=private, public=public,
                       webhook_url=hook.get("url") if hook.get("active", True) else None,
                       permissions=m.get("default_permissions"), events=m.get("default_events"),
                       description=str(m.get("description") or ""), external_url=str(m.get("url")))
    if not isinstance(m.get("default_events"), list):
        app.events = previous_events
    state.app_id = app.id  # from now on tokens, webhooks and the bot user are this app's
    data = hub.shapes.app(app)
    data.update({"client_secret": app.client_secret, "webhook_secret": app.webhook_secret, "pem": app.private_key_pem})
    return 201, data
