"""Who is calling: App JWTs, installation and personal tokens, the token life cycle, the API version header."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import jwt

from .calls import Call, HttpError
from .state import App, State, Token, now

BAD_CREDENTIALS = "Bad credentials"
JWT_UNDECODABLE = "A JSON web token could not be decoded"


def authenticate(state: State, call: Call, authorization: str | None, kind: str) -> None:
    """Fill `call.actor`/`installation`/`app`/`app_jwt` from the Authorization header; 401 when it does not fit."""
    if kind == "none":
        return
    scheme, _, credential = (authorization or "").partition(" ")
    credential = credential.strip()
    if not credential or scheme.lower() not in ("bearer", "token"):
        raise HttpError(401, "Requires authentication")
    if credential.count(".") == 2:
        if kind != "app":
            # GitHub answers an App JWT on an installation route like this
            raise HttpError(403, "Resource not accessible by integration" if verify_jwt(state, credential)
                            else BAD_CREDENTIALS)
        app = verify_jwt(state, credential, strict=True)
        assert app is not None  # strict verification raises instead
        call.app_jwt, call.app, call.actor = True, app, app.bot
        return
    if kind == "app":
        raise HttpError(401, JWT_UNDECODABLE)
    token = state.tokens.get(credential)
    if token is None or (token.expires_at is not None and token.expires_at <= datetime.now(UTC)):
        raise HttpError(401, BAD_CREDENTIALS)
    if token.installation_id is None:
        call.actor = state.user(token.login or "ghost")
        return
    inst = state.installations.get(token.installation_id)
    if inst is None or inst.deleted:
        raise HttpError(401, BAD_CREDENTIALS)
    if inst.suspended_at is not None:
        raise HttpError(403, "This installation has been suspended")
    app = state.apps.get(token.app_id or state.app_id) or state.app
    call.installation, call.app, call.actor = inst, app, app.bot


def verify_jwt(state: State, credential: str, strict: bool = False) -> App | None:
    """The App whose key signed this JWT, checked like GitHub (RS256, iss = app id, sane iat/exp).

    None when it does not verify; with `strict`, a 401 in GitHub's words instead.
    """
    try:
        claims = jwt.decode(credential, options={"verify_signature": False})
        app = state.apps.get(int(claims.get("iss", 0)))
        if app is None:
            if strict:
                raise HttpError(401, "'Issuer' claim ('iss') must be an Integer")
            return None
        jwt.decode(credential, app.public_key_pem, algorithms=["RS256"], leeway=60,
                   options={"require": ["exp", "iat", "iss"]})
        if int(claims["exp"]) - int(claims["iat"]) > 660:
            raise jwt.InvalidTokenError("exp too far in the future")
    except jwt.ExpiredSignatureError:
        if strict:
            raise HttpError(401, "'Expiration time' claim ('exp') must be a numeric value representing "
                                 "the future time at which the assertion expires") from None
        return None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        if strict:
            raise HttpError(401, JWT_UNDECODABLE) from None
        return None
    return app


def issue_token(state: State, installation_id: int, app_id: int | None = None) -> Token:
    """A fresh installation token (`ghs_...`) living `state.token_lifetime`, for `app_id` (default: the double's app)."""
    value = "ghs_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")
    with state.lock:
        token = Token(value, now() + state.token_lifetime, installation_id=installation_id,
                      app_id=app_id if app_id is not None else state.app_id)
        state.tokens[value] = token
        state.tokens_issued += 1
    return token


def expire_tokens(state: State) -> None:
    """Make every installation token expire now (tests of token refresh)."""
    with state.lock:
        for token in state.tokens.values():
            if token.installation_id is not None:
                token.expires_at = now()


def check_api_version(state: State, headers: dict[str, str]) -> HttpError | None:
    """GitHub's 400 for an `X-GitHub-Api-Version` it does not support (no header: the default version)."""
    version = headers.get("x-github-api-version")
    if version is None or version in state.api_versions:
        return None
    supported = ", ".join(f'"{v}"' + (" (most recent)" if i == 0 else "")
                          for i, v in enumerate(state.api_versions))
    return HttpError(400, f'The version you specified in the "X-GitHub-Api-Version" request header, "{version}", '
                          f"is not a supported version for this endpoint. The following versions are currently "
                          f"supported: {supported}.")
