"""Who may do what: one table of actions and the least repository role each needs.

Defaults below; a repository overrides entries in the `permissions:` section of `.github/specloop.yml`.
The role comes from GitHub's collaborator permission API, read through `role_name`: its older
`permission` field folds triage into "read" and maintain into "write", which would refuse triagers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from githubkit.exception import RequestFailed

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

# What the API's legacy `permission` field says, when an old server sends no role_name.
_LEGACY = {"admin": "admin", "write": "write", "read": "read", "none": "none"}


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


async def role_of(gh: Any, owner: str, repo: str, login: str) -> str:
    """`login`'s role on the repository ("none" for people who are not collaborators)."""
    try:
        response = await gh.arequest("GET", f"/repos/{owner}/{repo}/collaborators/{login}/permission")
    except RequestFailed as error:
        if error.response.status_code == 404:  # not a collaborator (or no such user)
            return "none"
        raise
    data = response.json()
    role = data.get("role_name") or _LEGACY.get(str(data.get("permission")), "none")
    return str(role).lower()
