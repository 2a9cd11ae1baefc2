"""App authentication (App JWT, installation tokens), installations and hook deliveries."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import jwt

from .router import Call, HttpError, Routes, not_found
from .server import json_response
from .state import Repo, Token, iso, now

if TYPE_CHECKING:
    from .double import GitHubDouble

routes = Routes()

BAD_CREDENTIALS = "Bad credentials"


class AppsMixin:
    """Authentication of API calls and the token life cycle."""

    # Methods type `self` as the GitHubDouble this is mixed into, so their bodies are checked against it;
    # mypy accepts only a supertype (or a Protocol) as a self-type, hence `ignore[misc]` on each def.

    def authenticate(self: GitHubDouble, call: Call, authorization: str | None, kind: str) -> None:  # type: ignore[misc]
        """Fill `call.actor`/`installation`/`app_jwt` from the Authorization header; 401 when it does not fit."""
        if kind == "none":
            return
        scheme, _, credential = (authorization or "").partition(" ")
        credential = credential.strip()
        if not credential or scheme.lower() not in ("bearer", "token"):
            raise HttpError(401, "Requires authentication")
        if credential.count(".") == 2:
            if kind != "app":
                # GitHub answers an App JWT on an installation route like this
                raise HttpError(403, "Resource not accessible by integration" if self._verify_jwt(credential)
                                else BAD_CREDENTIALS)
            self._verify_jwt(credential, strict=True)
            call.app_jwt = True
            call.actor = self.app.bot
            return
        if kind == "app":
            raise HttpError(401, "A JSON web token could not be decoded")
        token = self.state.tokens.get(credential)
        if token is None or (token.expires_at is not None and token.expires_at <= datetime.now(UTC)):
            raise HttpError(401, BAD_CREDENTIALS)
        if token.installation_id is not None:
            inst = self.state.installations.get(token.installation_id)
            if inst is None or inst.deleted:
                raise HttpError(401, BAD_CREDENTIALS)
            if inst.suspended_at is not None:
                raise HttpError(403, "This installation has been suspended")
            call.installation = inst
            call.actor = self.app.bot
        else:
            call.actor = self.state.user(token.login or "ghost")

    def _verify_jwt(self: GitHubDouble, credential: str, strict: bool = False) -> bool:  # type: ignore[misc]
        """Check an App JWT like GitHub: RS256 by a known app's key, iss = app id, iat/exp sane."""
        try:
            claims = jwt.decode(credential, options={"verify_signature": False})
            app = self.apps.get(int(claims.get("iss", 0)))
            if app is None:
                raise HttpError(401, "'Issuer' claim ('iss') must be an Integer") if strict else ValueError()
            jwt.decode(credential, app.public_key_pem, algorithms=["RS256"], leeway=60,
                       options={"require": ["exp", "iat", "iss"]})
            if int(claims["exp"]) - int(claims["iat"]) > 660:
                raise jwt.InvalidTokenError("exp too far in the future")
        except HttpError:
            raise
        except jwt.ExpiredSignatureError:
            if strict:
                raise HttpError(401, "'Expiration time' claim ('exp') must be a numeric value representing "
                                     "the future time at which the assertion expires") from None
            return False
        except (jwt.InvalidTokenError, ValueError, TypeError):
            if strict:
                raise HttpError(401, "A JSON web token could not be decoded") from None
            return False
        return True

    def issue_token(self: GitHubDouble, installation_id: int) -> Token:  # type: ignore[misc]
        """A fresh installation token (`ghs_...`) living `token_lifetime`."""
        value = "ghs_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")
        token = Token(value, now() + self.token_lifetime, installation_id=installation_id)
        with self.state.lock:
            self.state.tokens[value] = token
            self.tokens_issued += 1
        return token

    def expire_tokens(self: GitHubDouble) -> None:  # type: ignore[misc]
        """Make every installation token expire now (tests of token refresh)."""
        with self.state.lock:
            for token in self.state.tokens.values():
                if token.installation_id is not None:
                    token.expires_at = now()

    def repo_for(self: GitHubDouble, call: Call) -> Repo:  # type: ignore[misc]
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

    def require_write(self: GitHubDouble, call: Call, repo: Repo) -> None:  # type: ignore[misc]
        """Writes by a person need write access (installations hold write permissions)."""
        if call.installation is None and call.actor is not None:
            role = self.state.role(repo, call.actor.login)
            if role not in ("write", "maintain", "admin"):
                raise HttpError(403, "Must have admin rights to Repository." if role is None
                                else "Resource not accessible by personal access token")


# -- routes -------------------------------------------------------------------------------------

@routes.get("/app", auth="app")
def get_app(d: GitHubDouble, call: Call) -> Any:
    """The authenticated app."""
    return d.shapes.app(d.app)


@routes.get("/app/installations", auth="app")
def list_installations(d: GitHubDouble, call: Call) -> Any:
    """The app's installations."""
    return [d.shapes.installation(i, d.app) for i in d.state.installations.values() if not i.deleted]


@routes.get("/app/installations/{id}", auth="app")
def get_installation(d: GitHubDouble, call: Call) -> Any:
    """One installation."""
    inst = d.state.installations.get(call.int_param("id"))
    if inst is None or inst.deleted:
        raise not_found()
    return d.shapes.installation(inst, d.app)


@routes.post("/app/installations/{id}/access_tokens", auth="app")
def create_access_token(d: GitHubDouble, call: Call) -> Any:
    """An installation access token with `expires_at`."""
    inst = d.state.installations.get(call.int_param("id"))
    if inst is None or inst.deleted:
        raise not_found()
    if inst.suspended_at is not None:
        raise HttpError(403, "This installation has been suspended")
    token = d.issue_token(inst.id)
    repos = [d.state.repos[n] for n in inst.repos if n in d.state.repos]
    return 201, {"token": token.value, "expires_at": iso(token.expires_at), "permissions": dict(d.app.permissions),
                 "repository_selection": "selected",
                 "repositories": [d.shapes.repo(r, full=False) for r in repos]}


@routes.get("/repos/{owner}/{repo}/installation", auth="app")
def get_repo_installation(d: GitHubDouble, call: Call) -> Any:
    """The installation covering a repository."""
    repo = d.state.repo(f"{call.params['owner']}/{call.params['repo']}")
    inst = d.installation_for(repo) if repo else None
    if inst is None:
        raise not_found()
    return d.shapes.installation(inst, d.app)


@routes.get("/installation/repositories")
def installation_repositories(d: GitHubDouble, call: Call) -> Any:
    """Repositories the installation token can reach."""
    if call.installation is None:
        raise HttpError(403, "This endpoint requires an installation token")
    repos = [d.state.repos[n] for n in call.installation.repos if n in d.state.repos]
    return {"total_count": len(repos), "repository_selection": "selected",
            "repositories": [d.shapes.repo(r, full=False) for r in repos]}


def _delivery_item(d: GitHubDouble, x: Any) -> dict[str, Any]:
    return {"id": x.id, "guid": x.guid, "delivered_at": iso(x.delivered_at or now()), "redelivery": x.redelivery,
            "duration": round(x.duration, 3), "status": "OK" if x.ok else (x.error or "failed"),
            "status_code": x.status_code or 0, "event": x.event, "action": x.action,
            "installation_id": x.installation_id, "repository_id": x.repository_id, "throttled_at": None}


@routes.get("/app/hook/deliveries", auth="app")
def list_deliveries(d: GitHubDouble, call: Call) -> Any:
    """Recent deliveries, newest first, paged by cursor with a `Link: rel="next"` header (as GitHub does)."""
    per_page = max(1, min(int(call.query.get("per_page", 30)), 100))
    items = [_delivery_item(d, x) for x in reversed(d.deliveries) if x.status_code is not None or x.error]
    cursor = call.query.get("cursor")
    if cursor:  # GitHub's cursors are opaque; here: the id of the last item of the previous page
        after = [i for i, item in enumerate(items) if str(item["id"]) == cursor]
        items = items[after[0] + 1:] if after else []
    page, rest = items[:per_page], items[per_page:]
    headers = {}
    if rest:
        headers["Link"] = (f'<{d.api_url}/app/hook/deliveries?per_page={per_page}&cursor={page[-1]["id"]}>; '
                           'rel="next"')
    return json_response(200, page, headers)


@routes.get("/app/hook/deliveries/{id}", auth="app")
def get_delivery(d: GitHubDouble, call: Call) -> Any:
    """One delivery with its request and response."""
    try:
        x = d._find_delivery(call.int_param("id"))
    except KeyError:
        raise not_found() from None
    item = _delivery_item(d, x)
    item["request"] = {"headers": x.headers, "payload": x.payload}
    item["response"] = {"headers": x.response_headers, "payload": x.response_body}
    item["url"] = x.url
    return item


@routes.post("/app/hook/deliveries/{id}/attempts", auth="app")
def redeliver_attempt(d: GitHubDouble, call: Call) -> Any:
    """Redeliver (same GUID); sent in the background like GitHub does."""
    try:
        d.redeliver(call.int_param("id"), wait=False)
    except KeyError:
        raise not_found() from None
    return 202, {}
