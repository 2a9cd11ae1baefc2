"""Finding Chromium: a configured path is used or refused by name, never silently replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.qa.browser import NOT_FOUND_MESSAGE, BrowserNotFound, find_chromium, require_chromium


def fake_browser(folder: Path, name: str = "chromium") -> Path:
    """An executable file standing in for a browser (finding it never runs it)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def only_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with one empty folder, no CHROMIUM_PATH, and no Playwright download: nothing to find yet."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.delenv("CHROMIUM_PATH", raising=False)
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "no-playwright-browsers"))
    return folder


def test_an_invalid_configured_path_is_refused_naming_the_variable_and_the_path(
    only_path: Path, tmp_path: Path
) -> None:
    fake_browser(only_path)  # a system Chromium exists, and must not be used instead
    missing = str(tmp_path / "nowhere" / "chromium")
    with pytest.raises(BrowserNotFound) as raised:
        find_chromium(missing)
    assert "CHROMIUM_PATH" in str(raised.value) and missing in str(raised.value)


def test_an_invalid_chromium_path_in_the_environment_is_refused(
    only_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_browser(only_path)
    missing = str(tmp_path / "gone" / "chrome")
    monkeypatch.setenv("CHROMIUM_PATH", missing)
    with pytest.raises(BrowserNotFound, match="CHROMIUM_PATH") as raised:
        require_chromium()
    assert missing in str(raised.value)


def test_a_folder_or_a_file_that_cannot_run_is_not_a_browser(only_path: Path, tmp_path: Path) -> None:
    plain = tmp_path / "chromium.txt"
    plain.write_text("not a program")
    for configured in (tmp_path, plain):
        with pytest.raises(BrowserNotFound, match="not an executable file"):
            find_chromium(str(configured))


def test_the_error_names_the_option_it_came_from(only_path: Path, tmp_path: Path) -> None:
    with pytest.raises(BrowserNotFound, match="^--chromium is set to"):
        find_chromium(str(tmp_path / "missing"), source="--chromium")


def test_a_valid_configured_path_wins_over_the_system_browser(only_path: Path, tmp_path: Path) -> None:
    fake_browser(only_path)
    chosen = fake_browser(tmp_path / "opt", "my-chrome")
    assert find_chromium(str(chosen)) == str(chosen)


def test_a_configured_name_is_looked_up_on_path(only_path: Path) -> None:
    named = fake_browser(only_path, "chromium-dev")
    assert find_chromium("chromium-dev") == str(named)


def test_without_configuration_the_system_chromium_is_used(only_path: Path) -> None:
    system = fake_browser(only_path, "chromium-browser")
    assert find_chromium() == str(system)


def test_no_browser_anywhere_says_how_to_provide_one(only_path: Path) -> None:
    assert find_chromium() is None
    with pytest.raises(BrowserNotFound) as raised:
        require_chromium()
    assert str(raised.value) == NOT_FOUND_MESSAGE and "CHROMIUM_PATH" in NOT_FOUND_MESSAGE
