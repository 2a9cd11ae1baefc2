"""`.github/specloop.yml`: defaults, deep merge, default branch only, org fallback, errors with key and line."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from app.gh.models import RepoRef
from app.permissions import DEFAULT_TABLE
from app.render.replies import config_error
from app.repo_config import Action, ConfigError, RepoConfig, load_repo_config, parse_repo_config
from tests.support.service import install_shop


def test_defaults() -> None:
    config = RepoConfig()
    assert (config.labels.story, config.labels.needs_answers, config.labels.ready_for_spec) == \
        ("story", "needs-answers", "ready-for-spec")
    assert config.features_dir == "features" and config.base_branch is None
    assert config.approval_count == 1 and config.approvers == []
    assert (config.map.max_rules, config.map.debounce_seconds, config.spec.auto) == (6, 30.0, True)
    assert (config.budget.story_usd, config.budget.installation_daily_usd) == (2.0, 20.0)
    assert config.qa.base_url is None and config.qa.screenshots == "every_step"
    assert config.permission_table == DEFAULT_TABLE


def test_the_config_knows_every_action_of_the_permission_table() -> None:
    assert set(get_args(Action)) == set(DEFAULT_TABLE)


def test_a_partial_file_is_deep_merged_over_defaults() -> None:
    config = parse_repo_config(
        "labels:\n  story: user-story\n  colors:\n    story: ff0000\nqa:\n  contexts: 2\npermissions:\n  map: write\n"
    )
    assert config.labels.story == "user-story"
    assert config.labels.ready_for_spec == "ready-for-spec"  # sibling default kept
    assert config.labels.colors["story"] == "ff0000" and config.labels.colors["ready_for_spec"] == "0e8a16"
    assert config.qa.contexts == 2 and config.qa.ready_timeout == 60
    assert config.permission_table["map"] == "write" and config.permission_table["help"] == "triage"


def test_the_code_section_sets_the_agents_commands_and_limits() -> None:
    code = parse_repo_config(
        "code:\n  model: claude-haiku-5-5\n  install: [npm ci]\n  network: true\n  test: npm test\n"
        "  max_turns: 12\n  max_minutes: 5\n  max_usd: 0.5\n  allow_test_deletion: true\n").code
    assert (code.model, code.install, code.network, code.test) == ("claude-haiku-5-5", ["npm ci"], True, "npm test")
    assert (code.max_turns, code.max_minutes, code.max_usd, code.allow_test_deletion) == (12, 5, 0.5, True)
    defaults = RepoConfig().code
    assert (defaults.max_turns, defaults.max_minutes, defaults.max_usd, defaults.network) == (40, 20.0, 2.0, False)


def test_an_empty_file_means_defaults() -> None:
    assert parse_repo_config("") == RepoConfig()


def test_qa_runs_for_every_environment_but_production_by_default() -> None:
    assert RepoConfig().qa.accepts_environment("preview")
    assert not RepoConfig().qa.accepts_environment("production")
    assert not parse_repo_config("qa:\n  environments: [staging]\n").qa.accepts_environment("preview")


@pytest.mark.parametrize(("text", "key", "line"), [
    ("labels:\n  story: s\nqa:\n  base_url: x\n  contexts: lots\n", "qa.contexts", 5),
    ("map:\n  max_rule: 3\n", "map.max_rule", 2),
    ("permissions:\n  map: writer\n", "permissions.map", 2),
    ("permissions:\n  mapp: write\n", "permissions.mapp", 2),
    ("approval_count: 0\n", "approval_count", 1),
    ("qa:\n  screenshots: sometimes\n", "qa.screenshots", 2),
    ("features_dir: ../outside\n", "features_dir", 1),
    ("code:\n  max_minutes: 90\n", "code.max_minutes", 2),
    ("code:\n  max_turn: 3\n", "code.max_turn", 2),
    ("code:\n  max_usd: -1\n", "code.max_usd", 2),
])
def test_an_invalid_value_names_its_key_and_line(text: str, key: str, line: int) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_repo_config(text)
    assert (caught.value.key, caught.value.line) == (key, line)


def test_invalid_yaml_names_its_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_repo_config("labels:\n  story: ok\n bad indent: [\n")
    assert caught.value.line == 3 and "YAML" in caught.value.message


def test_a_file_that_is_not_a_mapping_is_an_error() -> None:
    with pytest.raises(ConfigError):
        parse_repo_config("- just\n- a list\n")


def test_the_config_error_reply_names_file_key_and_line() -> None:
    body = config_error(".github/specloop.yml", "qa.contexts", 5, "Input should be a valid integer")
    assert "`qa.contexts`" in body and "line 5" in body and "specloop:reply" in body
    assert "did not fall back to its defaults" in body


async def test_the_repository_file_is_read_from_the_default_branch(github: Any, core_deps: Any) -> None:
    shop = install_shop(github, files={".github/specloop.yml": "features_dir: specs\n", "README.md": "x"})
    gh = core_deps.github.installation(shop.installation_id)
    config = await load_repo_config(gh, RepoRef("octo-org", "shop"), "main")
    assert config.features_dir == "specs"
    assert github.requests_to("GET", r"/contents/\.github/specloop\.yml")[0].query.get("ref") == "main"


async def test_a_pr_branch_cannot_change_the_rules(github: Any, core_deps: Any) -> None:
    shop = install_shop(github, files={".github/specloop.yml": "permissions:\n  code: admin\n"})
    github.create_branch(shop.repo, "specloop/1-sneaky")
    github.push_files(shop.repo, "specloop/1-sneaky", {".github/specloop.yml": "permissions:\n  code: read\n"})
    gh = core_deps.github.installation(shop.installation_id)
    config = await load_repo_config(gh, RepoRef("octo-org", "shop"))  # default branch looked up
    assert config.permission_table["code"] == "admin"


async def test_the_org_dot_github_repository_is_the_fallback(github: Any, core_deps: Any) -> None:
    shop = install_shop(github)
    github.create_repo("octo-org/.github", files={".github/specloop.yml": "labels:\n  story: org-story\n"})
    gh = core_deps.github.installation(github.install("octo-org", [shop.repo, "octo-org/.github"]))
    config = await load_repo_config(gh, RepoRef("octo-org", "shop"), "main")
    assert config.labels.story == "org-story"


async def test_the_repository_file_wins_over_the_org_file(github: Any, core_deps: Any) -> None:
    shop = install_shop(github, files={".github/specloop.yml": "labels:\n  story: repo-story\n"})
    github.create_repo("octo-org/.github", files={".github/specloop.yml": "labels:\n  story: org-story\n"})
    gh = core_deps.github.installation(shop.installation_id)
    assert (await load_repo_config(gh, RepoRef("octo-org", "shop"), "main")).labels.story == "repo-story"


async def test_defaults_when_neither_file_exists(github: Any, core_deps: Any) -> None:
    shop = install_shop(github)
    gh = core_deps.github.installation(shop.installation_id)
    assert await load_repo_config(gh, RepoRef("octo-org", "shop"), "main") == RepoConfig()


async def test_an_invalid_file_in_the_repository_is_reported_not_defaulted(github: Any, core_deps: Any) -> None:
    shop = install_shop(github, files={".github/specloop.yml": "qa:\n  contexts: many\n"})
    gh = core_deps.github.installation(shop.installation_id)
    with pytest.raises(ConfigError) as caught:
        await load_repo_config(gh, RepoRef("octo-org", "shop"), "main")
    assert (caught.value.key, caught.value.line) == ("qa.contexts", 2)
    assert "octo-org/shop" in caught.value.path


async def test_a_file_extends_another_repositorys_config_and_overrides_it(github: Any, core_deps: Any) -> None:
    shop = install_shop(github, files={".github/specloop.yml": "_extends: octo-org/settings:shared/specloop.yml\n"
                                                               "labels:\n  story: shop-story\n"})
    github.create_repo("octo-org/settings", files={"shared/specloop.yml": "labels:\n  story: base-story\n"
                                                                        "features_dir: specs\napproval_count: 2\n"})
    gh = core_deps.github.installation(github.install("octo-org", [shop.repo, "octo-org/settings"]))
    config = await load_repo_config(gh, RepoRef("octo-org", "shop"), "main")
    assert (config.labels.story, config.features_dir, config.approval_count) == ("shop-story", "specs", 2)


async def test_extends_a_repository_by_name_reads_its_github_folder(github: Any, core_deps: Any) -> None:
    shop = install_shop(github, files={".github/specloop.yml": "_extends: house-rules\n"})
    github.create_repo("octo-org/house-rules", files={".github/specloop.yml": "approval_count: 3\n"})
    gh = core_deps.github.installation(github.install("octo-org", [shop.repo, "octo-org/house-rules"]))
    assert (await load_repo_config(gh, RepoRef("octo-org", "shop"), "main")).approval_count == 3


@pytest.mark.parametrize(("files", "says"), [
    ({"octo-org/a": "_extends: b\n", "octo-org/b": "_extends: a\n"}, "extends back into itself"),
    ({"octo-org/a": "_extends: nowhere\n"}, "was not found"),
    ({"octo-org/a": "_extends: [not, a, name]\n"}, "must name a repository"),
])
async def test_a_broken_extends_is_a_config_error_not_a_loop(github: Any, core_deps: Any, files: dict[str, str],
                                                              says: str) -> None:
    for name, text in files.items():
        github.create_repo(name, files={".github/specloop.yml": text})
    gh = core_deps.github.installation(github.install("octo-org", list(files)))
    with pytest.raises(ConfigError) as caught:
        await load_repo_config(gh, RepoRef("octo-org", "a"))
    assert caught.value.key == "_extends" and says in caught.value.message


def test_qa_tags_and_retry_are_read_and_checked() -> None:
    qa = parse_repo_config("qa:\n  tags: \" @smoke and not @wip \"\n  retry: 2\n").qa
    assert (qa.tags, qa.retry) == ("@smoke and not @wip", 2)
    assert (RepoConfig().qa.tags, RepoConfig().qa.retry) == (None, 0)
    assert parse_repo_config("qa:\n  tags: ''\n").qa.tags is None  # empty: every scenario


@pytest.mark.parametrize("text, key, message", [
    ("qa:\n  tags: \"@smoke and\"\n", "qa.tags",
     ("`@smoke and` is not a valid tag expression (and: Too few operands (expressions=[Literal('@smoke')])); "
     "write one like `@smoke and not @wip`")),
    ("qa:\n  tags: \"@a @b\"\n", "qa.tags", "(Syntax error. Expected operator after @a)"),
    ("qa:\n  retry: 6\n", "qa.retry", "less than or equal to 5"),
    ("qa:\n  retry: -1\n", "qa.retry", "greater than or equal to 0"),
    ("qa:\n  retry: twice\n", "qa.retry", "valid integer"),
])
def test_a_bad_tag_expression_or_retry_is_a_config_error_with_the_reason(text: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_repo_config(text)
    error = caught.value
    assert (error.key, error.line) == (key, 2) and message in error.message
    assert "Value error" not in error.message  # the parser's words, not pydantic's wrapper
    assert message in config_error(error.path, error.key, error.line, error.message)
