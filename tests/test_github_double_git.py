"""The double's git smart HTTP: token auth, clone/push, and the REST view staying in step with git."""

from __future__ import annotations

import subprocess
from pathlib import Path

from app.sandbox.github import GitHubDouble
from tests.support.github import SHOP, installation_client, installation_id


def git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run git with no system/global config and no prompts."""
    env = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_TERMINAL_PROMPT": "0",
           "GIT_AUTHOR_NAME": "Bot", "GIT_AUTHOR_EMAIL": "bot@example.com", "GIT_COMMITTER_NAME": "Bot",
           "GIT_COMMITTER_EMAIL": "bot@example.com", "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=check)


def token_header(token: str) -> str:
    """A per-command extra header, so the token never lands in .git/config."""
    import base64
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return f"http.extraHeader=Authorization: Basic {basic}"


def test_clone_without_a_token_is_refused(github: GitHubDouble, tmp_path: Path) -> None:
    result = git("clone", f"{github.web_url}/{SHOP}.git", str(tmp_path / "c"), check=False)
    assert result.returncode != 0
    assert "401" in result.stderr or "Authentication failed" in result.stderr or "could not read" in result.stderr


def test_push_with_an_installation_token_syncs_the_pr_as_the_bot(github: GitHubDouble, tmp_path: Path) -> None:
    token = github.issue_token(installation_id(github)).value
    work = tmp_path / "c"
    git("-c", token_header(token), "clone", f"{github.web_url}/{SHOP}.git", str(work))
    assert (work / "app.py").exists()
    github.push_files(SHOP, "feature", {"notes.md": "one\n"}, "first", by="bob")
    number = github.open_pull(SHOP, "feature", "main", "Feature", by="bob")
    git("-c", token_header(token), "fetch", "origin", "feature", cwd=work)
    git("checkout", "-b", "feature", "FETCH_HEAD", cwd=work)
    (work / "notes.md").write_text("two\n")
    git("commit", "-am", "second", cwd=work)
    git("-c", token_header(token), "push", "origin", "feature", cwd=work)
    github.wait_for_deliveries()
    head = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    assert github.ref(SHOP, "feature") == head
    assert github.pull(SHOP, number).head_sha == head
    sync = github.deliveries_for("pull_request", "synchronize")
    assert sync and sync[-1].payload["after"] == head
    assert sync[-1].payload["sender"]["login"] == "specloop[bot]"
    assert github.file(SHOP, "notes.md", "feature") == "two\n"
    assert "token" not in (work / ".git" / "config").read_text().lower()


async def test_api_commit_is_visible_to_a_clone_and_a_pushed_commit_to_the_api(github: GitHubDouble,
                                                                               tmp_path: Path) -> None:
    inst = installation_client(github)
    owner, repo = SHOP.split("/")
    main = github.ref(SHOP, "main")
    assert main is not None
    tree = (await inst.rest.git.async_create_tree(owner, repo, base_tree=main, tree=[
        {"path": "api.txt", "mode": "100644", "type": "blob", "content": "from the api\n"}])).parsed_data
    commit = (await inst.rest.git.async_create_commit(owner, repo, message="api", tree=tree.sha,
                                                      parents=[main])).parsed_data
    await inst.rest.git.async_update_ref(owner, repo, "heads/main", sha=commit.sha)
    work = tmp_path / "c"
    user_token = github.user_token("bob")
    git("-c", token_header(user_token), "clone", f"{github.web_url}/{SHOP}.git", str(work))
    assert (work / "api.txt").read_text() == "from the api\n"
    (work / "pushed.txt").write_text("pushed\n")
    git("add", "pushed.txt", cwd=work)
    git("commit", "-m", "pushed", cwd=work)
    git("-c", token_header(user_token), "push", "origin", "main", cwd=work)
    content = (await inst.rest.repos.async_get_content(owner, repo, "pushed.txt")).parsed_data
    import base64
    assert base64.b64decode(getattr(content, "content", "")).decode() == "pushed\n"


def test_a_read_only_person_cannot_push(github: GitHubDouble, tmp_path: Path) -> None:
    token = github.user_token("rita")
    work = tmp_path / "c"
    git("-c", token_header(token), "clone", f"{github.web_url}/{SHOP}.git", str(work))
    (work / "x.txt").write_text("x\n")
    git("add", "x.txt", cwd=work)
    git("commit", "-m", "x", cwd=work)
    result = git("-c", token_header(token), "push", "origin", "main", cwd=work, check=False)
    assert result.returncode != 0
    assert github.file(SHOP, "x.txt") is None


def test_git_faults_apply_to_clone(github: GitHubDouble, tmp_path: Path) -> None:
    github.fault("GET", r"/info/refs", status=503, target="git")
    token = github.issue_token(installation_id(github)).value
    result = git("-c", token_header(token), "clone", f"{github.web_url}/{SHOP}.git", str(tmp_path / "c"),
                 check=False)
    assert result.returncode != 0 and "503" in result.stderr
    git("-c", token_header(token), "clone", f"{github.web_url}/{SHOP}.git", str(tmp_path / "d"))
