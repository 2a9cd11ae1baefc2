"""git over HTTPS through the double's git server, with the token passed per command and never stored."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from app.gh.models import RepoRef
from app.git import GitError, checkout_new_branch, clone, commit_all, push
from tests.support.service import install_shop

AUTHOR = "Specloop <specloop[bot]@users.noreply.github.com>"


def files_mentioning(root: Path, needles: list[str]) -> list[Path]:
    """Every file under `root` (including .git) whose bytes contain any needle."""
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(needle.encode() in data for needle in needles):
                found.append(path)
    return found


async def test_clone_commit_push_leaves_no_token_in_the_clone(github: Any, core_deps: Any, tmp_path: Path) -> None:
    shop = install_shop(github, files={"README.md": "# shop\n"})
    token = await core_deps.github.installation_token(shop.installation_id, RepoRef.parse(shop.repo))
    url = f"{github.web_url}/octo-org/shop.git"
    dest = await clone(url, tmp_path / "shop", token)
    assert (dest / "README.md").read_text() == "# shop\n"

    await checkout_new_branch(dest, "specloop/1-checkout")
    (dest / "features").mkdir()
    (dest / "features" / "checkout.feature").write_text("Feature: Checkout\n")
    sha = await commit_all(dest, "Add the checkout spec", AUTHOR)
    await push(dest, token, "specloop/1-checkout")

    assert sha is not None and github.ref(shop.repo, "specloop/1-checkout") == sha
    assert github.file(shop.repo, "features/checkout.feature", "specloop/1-checkout") == "Feature: Checkout\n"
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    assert files_mentioning(dest, [token, basic]) == []
    assert token not in (dest / ".git" / "config").read_text()


async def test_commit_all_with_nothing_changed_makes_no_commit(github: Any, core_deps: Any, tmp_path: Path) -> None:
    shop = install_shop(github)
    token = await core_deps.github.installation_token(shop.installation_id, RepoRef.parse(shop.repo))
    dest = await clone(f"{github.web_url}/{shop.repo}.git", tmp_path / "shop", token)
    assert await commit_all(dest, "Nothing", AUTHOR) is None


async def test_a_failed_push_says_why_without_the_token(github: Any, core_deps: Any, tmp_path: Path) -> None:
    shop = install_shop(github)
    token = await core_deps.github.installation_token(shop.installation_id, RepoRef.parse(shop.repo))
    dest = await clone(f"{github.web_url}/{shop.repo}.git", tmp_path / "shop", token)
    (dest / "new.txt").write_text("x")
    await commit_all(dest, "A change", AUTHOR)
    with pytest.raises(GitError) as caught:
        await push(dest, "not-a-valid-token", "main")
    assert "git push failed" in str(caught.value) and "not-a-valid-token" not in str(caught.value)




async def test_the_token_is_on_no_git_command_line(github: Any, core_deps: Any, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # any local user can read /proc/<pid>/cmdline: record every argv git is started with
    real_git = shutil.which("git")
    assert real_git is not None
    shim_dir, argv_log = tmp_path / "shim", tmp_path / "argv.log"
    shim_dir.mkdir()
    shim = shim_dir / "git"
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{argv_log}"\nexec "{real_git}" "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim_dir}{os.pathsep}{os.environ['PATH']}")

    shop = install_shop(github, files={"README.md": "# shop\n"})
    token = await core_deps.github.installation_token(shop.installation_id, RepoRef.parse(shop.repo))
    dest = await clone(f"{github.web_url}/{shop.repo}.git", tmp_path / "shop", token)
    (dest / "new.txt").write_text("x")
    await commit_all(dest, "A change", AUTHOR)
    await push(dest, token, "specloop/2-argv")

    assert github.ref(shop.repo, "specloop/2-argv") is not None
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    logged = argv_log.read_text()
    assert "clone" in logged and "push" in logged
    assert token not in logged and basic not in logged and "extraHeader" not in logged
    assert files_mentioning(dest, [token, basic]) == []
