"""REST routes for the App itself: `/app`, installations and their tokens, hook deliveries (App JWT routes)."""

from __future__ import annotations

from typing import Any

from .auth import issue_token
from .calls import Call, HttpError, json_response, not_found
from .hub import Hub
from .router import Routes
from .state import Installation, iso, now
from .webhooks import Delivery

routes = Routes()


def _installation(hub: Hub, call: Call) -> Installation:
    inst = hub.state.installations.get(call.int_param("id"))
    if inst is None or inst.deleted:
        raise not_found()
    return inst


@routes.get("/app", auth="app")
def get_app(hub: Hub, call: Call) -> Any:
    """The authenticated app."""
    return hub.shapes.app(hub.caller_app(call))


@routes.get("/app/installations", auth="app")
def list_installations(hub: Hub, call: Call) -> Any:
    """The app's installations."""
    return [hub.shapes.installation(i, hub.app) for i in hub.state.installations.values() if not i.deleted]


@routes.get("/app/installations/{id}", auth="app")
def get_installation(hub: Hub, call: Call) -> Any:
    """One installation."""
    return hub.shapes.installation(_installation(hub, call), hub.app)


@routes.post("/app/installations/{id}/access_tokens", auth="app")
def create_access_token(hub: Hub, call: Call) -> Any:
    """An installation access token with `expires_at`, for the App whose JWT asked."""
    inst = _installation(hub, call)
    if inst.suspended_at is not None:
        raise HttpError(403, "This installation has been suspended")
    app = hub.caller_app(call)
    token = issue_token(hub.state, inst.id, app.id)
    repos = [hub.state.repos[n] for n in inst.repos if n in hub.state.repos]
    return 201, {"token": token.value, "expires_at": iso(token.expires_at), "permissions": dict(app.permissions),
                 "repository_selection": "selected",
                 "repositories": [hub.shapes.repo(r, full=False) for r in repos]}


@routes.get("/repos/{owner}/{repo}/installation", auth="app")
def get_repo_installation(hub: Hub, call: Call) -> Any:
    """The installation covering a repository."""
    repo = hub.state.repo(f"{call.params['owner']}/{call.params['repo']}")
    inst = hub.state.installation_for(repo) if repo else None
    if inst is None:
        raise not_found()
    return hub.shapes.installation(inst, hub.app)


@routes.get("/installation/repositories")
def installation_repositories(hub: Hub, call: Call) -> Any:
    """Repositories the installation token can reach."""
    if call.installation is None:
        raise HttpError(403, "This endpoint requires an installation token")
    repos = [hub.state.repos[n] for n in call.installation.repos if n in hub.state.repos]
    return {"total_count": len(repos), "repository_selection": "selected",
            "repositories": [hub.shapes.repo(r, full=False) for r in repos]}


def _delivery_item(x: Delivery) -> dict[str, Any]:
    return {"id": x.id, "guid": x.guid, "delivered_at": iso(x.delivered_at or now()), "redelivery": x.redelivery,
            "duration": round(x.duration, 3), "status": "OK" if x.ok else (x.error or "failed"),
            "status_code": x.status_code or 0, "event": x.event, "action": x.action,
            "installation_id": x.installation_id, "repository_id": x.repository_id, "throttled_at": None}


@routes.get("/app/hook/deliveries", auth="app")
def list_deliveries(hub: Hub, call: Call) -> Any:
    """Recent deliveries, newest first, paged by cursor with a `Link: rel="next"` header (as GitHub does)."""
    per_page = max(1, min(call.int_query("per_page", 30), 100))
    attempted = [x for x in reversed(hub.deliverer.deliveries) if x.status_code is not None or x.error]
    items = [_delivery_item(x) for x in attempted]
    cursor = call.query.get("cursor")
    if cursor:  # GitHub's cursors are opaque; here: the id of the last item of the previous page
        after = [i for i, item in enumerate(items) if str(item["id"]) == cursor]
        items = items[after[0] + 1:] if after else []
    page, rest = items[:per_page], items[per_page:]
    headers = {}
    if rest:
        headers["Link"] = (f'<{hub.api_url}/app/hook/deliveries?per_page={per_page}&cursor={page[-1]["id"]}>; '
                           'rel="next"')
    return json_response(200, page, headers)


@routes.get("/app/hook/deliveries/{id}", auth="app")
def get_delivery(hub: Hub, call: Call) -> Any:
    """One delivery with its request and response."""
    try:
        x = hub.find_delivery(call.int_param("id"))
    except KeyError:
        raise not_found() from None
    item = _delivery_item(x)
    item["request"] = {"headers": x.headers, "payload": x.payload}
    item["response"] = {"headers": x.response_headers, "payload": x.response_body}
    item["url"] = x.url
    return item


@routes.post("/app/hook/deliveries/{id}/attempts", auth="app")
def redeliver_attempt(hub: Hub, call: Call) -> Any:
    """Redeliver (same GUID); sent in the background like GitHub does."""
    try:
        hub.redeliver(call.int_param("id"), wait=False)
    except KeyError:
        raise not_found() from None
    return 202, {}
