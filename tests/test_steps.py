"""The step vocabulary's matcher: classic and clear phrasings, undefined, ambiguous, snippets, project steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.step_vocabulary import VOCABULARY, vocabulary_markdown
from app.domain.steps import BUILTIN, StepDefinitionError, match_step, snippet
from app.qa.step_files import load_step_files

CLASSIC = {
    'I am on "/path"': ("visit", {"path": "/path"}),
    'I go to "/path"': ("visit", {"path": "/path"}),
    'I fill in "Label" with "value"': ("fill", {"label": "Label", "value": "value"}),
    'I press "Button"': ("press_button", {"name": "Button"}),
    'I follow "Link"': ("follow_link", {"name": "Link"}),
    'I select "Option" from "Label"': ("select", {"option": "Option", "label": "Label"}),
    'I check "Label"': ("check", {"label": "Label"}),
    'I uncheck "Label"': ("uncheck", {"label": "Label"}),
    'I should see "text"': ("see", {"text": "text"}),
    'I should not see "text"': ("not_see", {"text": "text"}),
    'I should be on "/path"': ("url_is", {"path": "/path"}),
}


@pytest.mark.parametrize("text", sorted(CLASSIC))
def test_classic_cucumber_web_steps_match_the_built_in_action(text: str) -> None:
    function, args = CLASSIC[text]
    match = match_step(text)
    assert match.status == "matched"
    assert match.definition is not None and match.definition.source == f"builtin:{function}"
    assert match.args == args


def test_every_documented_example_matches_exactly_one_built_in_step() -> None:
    for definition in BUILTIN:
        first_line = definition.example.splitlines()[0].split(" ", 1)[1]  # drop the keyword
        match = match_step(first_line)
        assert match.status == "matched", (definition.pattern, match.message)


def test_a_quoted_argument_never_swallows_the_rest_of_the_step() -> None:
    match = match_step('I should see "Spring sale" within "News"')
    assert match.status == "matched"
    assert match.args == {"text": "Spring sale", "region": "News"}


def test_unknown_text_is_undefined() -> None:
    match = match_step('I teleport to "Mars"')
    assert match.status == "undefined"
    assert match.definition is None
    assert "Undefined step" in match.message


def _write_steps(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cart.py").write_text("from app.domain.steps import step\n\n" + body)
    return folder


def test_project_step_matches_with_typed_arguments(tmp_path: Path) -> None:
    registry = load_step_files(_write_steps(tmp_path / "steps", (
        "@step('I add {count:d} \"{item}\" to the basket')\n"
        "async def add(page, count, item):\n    pass\n"
    )))
    match = match_step('I add 3 "tea" to the basket', registry)
    assert match.status == "matched"
    assert match.args == {"count": 3, "item": "tea"}
    assert match.definition is not None and match.definition.source.startswith("cart.py:")


def test_a_project_step_that_repeats_a_built_in_is_ambiguous_and_names_both(tmp_path: Path) -> None:
    registry = load_step_files(_write_steps(tmp_path / "steps", (
        "@step('I go to \"{where}\"')\ndef go(where):\n    pass\n"
    )))
    match = match_step('I go to "/cart"', registry)
    assert match.status == "ambiguous"
    sources = [c.source for c in match.candidates]
    assert "builtin:visit" in sources and any(s.startswith("cart.py:") for s in sources)
    assert "builtin:visit" in match.message and "cart.py" in match.message


def test_a_broken_step_file_is_reported_with_its_name(tmp_path: Path) -> None:
    folder = _write_steps(tmp_path / "steps", "this is not python\n")
    with pytest.raises(StepDefinitionError, match="cart.py"):
        load_step_files(folder)


def test_the_snippet_for_an_undefined_step_is_a_definition_that_matches_it(tmp_path: Path) -> None:
    text = 'I add 3 "green tea" to the basket'
    code = snippet(text)
    folder = tmp_path / "steps"
    folder.mkdir()
    (folder / "new.py").write_text(code)
    registry = load_step_files(folder)
    match = match_step(text, registry)
    assert match.status == "matched"
    assert sorted(match.args.values(), key=str) == [3, "green tea"]
    assert code.startswith("from playwright.async_api import expect")


def test_docs_steps_md_lists_every_built_in_phrasing_with_an_example() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "steps.md").read_text()
    missing = [d.pattern for d in BUILTIN if f"`{d.pattern}`" not in docs]
    assert missing == []
    assert all(d.example.splitlines()[0] in docs for d in BUILTIN)


def test_docs_steps_md_holds_the_vocabulary_as_the_code_writes_it() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "steps.md").read_text()
    assert vocabulary_markdown() in docs  # regenerate that part of the page from `vocabulary_markdown()`


def test_every_phrasing_of_the_vocabulary_is_a_built_in_definition_of_its_action() -> None:
    expected = [(p, f"builtin:{entry.action}") for entry in VOCABULARY for p in entry.patterns]
    assert [(d.pattern, d.source) for d in BUILTIN] == expected
    assert all(d.func is None and d.action for d in BUILTIN)
