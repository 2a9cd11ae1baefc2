"""The permission table: defaults, overrides, and roles read from GitHub's `role_name`."""

from __future__ import annotations

from typing import Any

import pytest

from app.gh.models import RepoRef
from app.gh.repos import collaborator_role
from app.permissions import DEFAULT_TABLE, describe, may, table_with
from tests.support.service import install_shop

SHOP_REF = RepoRef("octo-org", "shop")


@pytest.mark.parametrize(("role", "action", "allowed"), [
    ("read", "map", False),
    ("triage", "map", True),
    ("triage", "help", True),
    ("triage", "spec", True),
    ("triage", "status", True),
    ("triage", "revise", False),
    ("triage", "approve", False),
    ("write", "revise", True),
    ("write", "code", True),
    ("write", "qa", True),
    ("write", "approve", True),
    ("maintain", "code", True),
    ("admin", "approve", True),
    ("none", "help", False),
])
def test_the_default_table(role: str, action: str, allowed: bool) -> None:
    assert may(role, action) is allowed


def test_a_repository_can_raise_what_an_action_needs() -> None:
    table = table_with({"map": "write"})
    assert not may("triage", "map", table)
    assert may("write", "map", table)
    assert table["code"] == DEFAULT_TABLE["code"]  # the rest keeps its defaults


def test_a_repository_can_lower_what_an_action_needs() -> None:
    assert may("triage", "qa", table_with({"qa": "triage"}))


def test_unknown_roles_and_actions_grant_nothing_extra() -> None:
    assert not may("security-manager", "map")
    assert not may("triage", "an-action-nobody-listed")


def test_describe_says_who_may() -> None:
    assert describe("map") == "people with triage access or higher"
    assert describe("approve") == "people with write access or higher"
    assert describe("code", table_with({"code": "admin"})) == "people with admin access"


@pytest.mark.parametrize("role", ["read", "triage", "write", "maintain", "admin"])
async def test_collaborator_role_reads_role_name_so_triage_and_maintain_survive(github: Any, core_deps: Any, role: str) -> None:
    shop = install_shop(github)
    github.add_user("pat", role, shop.repo)
    gh = core_deps.github.installation(shop.installation_id)
    assert await collaborator_role(gh, SHOP_REF, "pat") == role


async def test_a_triager_may_map_though_the_permission_field_says_read(github: Any, core_deps: Any) -> None:
    shop = install_shop(github)
    github.add_user("tina", "triage", shop.repo)
    gh = core_deps.github.installation(shop.installation_id)
    raw = (await gh.rest.repos.async_get_collaborator_permission_level("octo-org", "shop", "tina")).json()
    assert raw["permission"] == "read"  # the field a naive check would read
    assert may(await collaborator_role(gh, SHOP_REF, "tina"), "map")


async def test_someone_unknown_has_no_role(github: Any, core_deps: Any) -> None:
    shop = install_shop(github)
    gh = core_deps.github.installation(shop.installation_id)
    assert await collaborator_role(gh, SHOP_REF, "nobody-at-all") == "none"
