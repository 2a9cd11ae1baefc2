"""Registering GitHub Apps in the double's State: RSA key pairs, client ids, secrets and bot accounts."""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .state import App, State, User


def generate_key() -> tuple[str, str]:
    """A fresh RSA key pair as (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


_KEY_CACHE: list[tuple[str, str]] = []


def shared_key() -> tuple[str, str]:
    """One key pair per process: key generation takes ~50-100 ms, which fixtures should not pay each time."""
    if not _KEY_CACHE:
        _KEY_CACHE.append(generate_key())
    return _KEY_CACHE[0]


def register_app(state: State, *, slug: str, name: str, owner: User, private: str, public: str,
                 webhook_url: str | None = None, permissions: dict[str, str] | None = None,
                 events: list[str] | None = None, description: str = "",
                 external_url: str = "https://example.com") -> App:
    """Create an App (with its `<slug>[bot]` account) and add it to `state.apps`; the current app is unchanged."""
    with state.lock:
        app_id = state.next_id()
        bot = state.user(f"{slug}[bot]", "Bot")
        app = App(id=app_id, slug=slug, name=name, owner=owner, private_key_pem=private, public_key_pem=public,
                  webhook_secret=secrets.token_hex(20), client_id=f"Iv1.{secrets.token_hex(8)}",
                  client_secret=secrets.token_hex(20), bot=bot, webhook_url=webhook_url,
                  description=description, external_url=external_url)
        if permissions:
            app.permissions = dict(permissions)
        if events:
            app.events = list(events)
        state.apps[app.id] = app
        return app
