"""The GitHub App manifest flow: `/settings/apps/new` pages and the one-time code conversion."""

from __future__ import annotations

import html
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .router import Call, Routes, not_found
from .state import now

if TYPE_CHECKING:
    from .double import GitHubDouble

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


def match(method: str, path: str) -> Callable[[GitHubDouble, Request], Awaitable[Response]] | None:
    """The page handler for a web path, if it is a manifest page."""
    if method in ("GET", "POST") and PAGES.match(path):
        return new_app_page
    return None


async def new_app_page(double: GitHubDouble, request: Request) -> Response:
    """Accept a manifest (form field or query), "create" the app as the signed-in person, redirect with a code."""
    org = PAGES.match(request.url.path)["org"]  # type: ignore[index]
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
            raise ValueError("manifest must be an object")  # noqa: TRY004 - reported as a 422 page below
    except ValueError as exc:
        return HTMLResponse(f"<h1>Invalid GitHub App configuration</h1><p>{html.escape(str(exc))}</p>",
                            status_code=422)
    redirect = manifest.get("redirect_url")
    if not manifest.get("url") or not redirect:
        missing = "url" if not manifest.get("url") else "redirect_url"
        return HTMLResponse(f"<h1>Invalid GitHub App configuration</h1><p>{missing} is required</p>",
                            status_code=422)
    code = secrets.token_hex(10)
    double.manifest_codes[code] = PendingManifest(manifest, org or double.web_user)
    query = {"code": code}
    if fields.get("state"):
        query["state"] = fields["state"]
    separator = "&" if "?" in redirect else "?"
    return RedirectResponse(f"{redirect}{separator}{urlencode(query)}", status_code=302)


@routes.post("/app-manifests/{code}/conversions", auth="none")
def convert(d: GitHubDouble, call: Call) -> Any:
    """Exchange a code (once, within an hour) for the new app's id, key and secrets; the double adopts it."""
    pending: PendingManifest | None = d.manifest_codes.get(call.params["code"])
    if pending is None or pending.used or now() - pending.created_at > CODE_LIFETIME:
        raise not_found()
    pending.used = True
    from .double import generate_key
    m = pending.manifest
    name = str(m.get("name") or "Specloop")
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "app"
    private, public = generate_key()
    owner_type = "Organization" if pending.owner.lower() in d.state.users and \
        d.state.users[pending.owner.lower()].type == "Organization" else "User"
    owner = d.state.user(pending.owner, owner_type)
    hook = m.get("hook_attributes") or {}
    app = d._new_app(slug=slug, name=name, owner=owner, private=private, public=public,
                     webhook_url=hook.get("url") if hook.get("active", True) else None,
                     permissions=m.get("default_permissions"), events=m.get("default_events"),
                     description=str(m.get("description") or ""), external_url=str(m.get("url")))
    if not isinstance(m.get("default_events"), list):
        app.events = list(d.app.events)
    d.apps[app.id] = app
    d.app = app  # from now on tokens, webhooks and the bot user are this app's
    data = d.shapes.app(app)
    data.update({"client_secret": app.client_secret, "webhook_secret": app.webhook_secret, "pem": app.private_key_pem})
    return 201, data
