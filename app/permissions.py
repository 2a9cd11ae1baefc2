"""Who may do what: one table of actions and the least repository role each needs.

Defaults below; a repository overrides entries in the `permissions:` section of `.github/specloop.yml`.
The role comes from GitHub's collaborator permission API, read through `role_name`: its older
`permission` field folds triage into "read" and maintain into "write", which would refuse triagers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

ROLES = ("none", "read", "triage", "write", "maintain", "admin")

DEFAULT_TABLE: dict[str, str] = {
    "map": "triage",
    "help": "triage",
    "spec": "triage",
    "status": "triage",
    "revise": "write",
    "code": "write",
    "qa": "write",
    "approve": "write",
}

def rank(role: str | None) -> int:
    """Position of `role` in read < triage < write < maintain < admin (unknown roles rank lowest)."""
    try:
        return ROLES.index((role or "none").lower())
    except ValueError:
        # custom organisation roles are named freely; without a known base they grant nothing here
        return 0


# Mapping keys are invariant: a TypeVar lets a config's Literal-keyed table in as well as plain str keys.
_Action = TypeVar("_Action", bound=str)


def table_with(overrides: Mapping[_Action, str] | None) -> dict[str, str]:
    """The default table with a repository's overrides applied."""
    table = dict(DEFAULT_TABLE)
    table.update({action: role.lower() for action, role in (overrides or {}).items()})
    return table


def may(role: str | None, action: str, table: Mapping[str, str] | None = None) -> bool:
    """Whether someone with `role` may perform `action` under `table` (defaults when None)."""
    needed = (table or DEFAULT_TABLE).get(action, "write")  # an action nobody listed needs write
    return rank(role) >= rank(needed)


def describe(action: str, table: Mapping[str, str] | None = None) -> str:
    """Who may do `action`, for a refusal: "people with triage access or higher"."""
    needed = (table or DEFAULT_TABLE).get(action, "write")
    if needed == "admin":
        return "people with admin access"
    return f"people with {needed} access or higher"
