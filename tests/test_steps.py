"""The step matcher: Cucumber Expressions and regular expressions, the built-in vocabulary, project steps and
their parameter types, undefined and ambiguous steps, snippets."""

from __future__ import annotations

import asyncio
import importlib.resources
import json
import re
from pathlib import Path
from typing import Any

import pytest

from app.domain.step_vocabulary import VOCABULARY, vocabulary_markdown
from app.domain.steps import (
    BUILTIN,
    PROJECT_STEPS,
    Pending,
    Skipped,
    StepDefinitionError,
    StepRegistry,
    collecting,
    current_registry,
    match_step,
    snippet,
    snippets,
)
from app.qa.step_context import StepContext, StepFailure, call_step
from app.qa.step_files import load_step_files

CLASSIC = {
    'I am on "/path"': ("visit", ["/path"]),
    'I go to "/path"': ("visit", ["/path"]),
    'I fill in "Label" with "value"': ("fill", ["Label", "value"]),
    'I press "Button"': ("press_button", ["Button"]),
    'I follow "Link"': ("follow_link", ["Link"]),
    'I select "Option" from "Label"': ("select", ["Option", "Label"]),
    'I check "Label"': ("check", ["Label"]),
    'I uncheck "Label"': ("uncheck", ["Label"]),
    'I should see "text"': ("see", ["text"]),
    'I should not see "text"': ("not_see", ["text"]),
    'I should be on "/path"': ("url_is", ["/path"]),
}


@pytest.mark.parametrize("text", sorted(CLASSIC))
def test_classic_cucumber_web_steps_match_the_built_in_action(text: str) -> None:
    function, args = CLASSIC[text]
    match = match_step(text)
    assert match.status == "matched"
    assert match.definition is not None and match.definition.source == f"builtin:{function}"
    assert match.arguments == args


def test_every_documented_example_matches_exactly_one_built_in_step() -> None:
    for definition in BUILTIN:
        first_line = definition.example.splitlines()[0].split(" ", 1)[1]  # drop the keyword
        match = match_step(first_line)
        assert match.status == "matched", (definition.pattern, match.message)


def test_a_quoted_argument_never_swallows_the_rest_of_the_step() -> None:
    match = match_step('I should see "Spring sale" within "News"')
    assert match.status == "matched"
    assert match.arguments == ["Spring sale", "News"]


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
        "@step('I add {int} {string} to the basket')\n"
        "async def add(page, count, item):\n    pass\n"
    )))
    match = match_step('I add 3 "tea" to the basket', registry)
    assert match.status == "matched"
    assert match.arguments == [3, "tea"]
    assert match.definition is not None and match.definition.source.startswith("cart.py:")


def test_a_project_step_that_repeats_a_built_in_is_ambiguous_and_names_both(tmp_path: Path) -> None:
    registry = load_step_files(_write_steps(tmp_path / "steps", (
        "@step('I go to {string}')\ndef go(where):\n    pass\n"
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
    assert match.arguments == [3, "green tea"]
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


def _registry(tmp_path: Path, *files: tuple[str, str]) -> StepRegistry:
    folder = tmp_path / "steps"
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in files:
        (folder / name).write_text("import re\n\nfrom app.domain.steps import parameter_type, step\n\n" + body)
    return load_step_files(folder)


def _one(tmp_path: Path, pattern: str, params: str = "*args") -> StepRegistry:
    return _registry(tmp_path, ("defs.py", f"@step({pattern!r})\ndef defined({params}):\n    pass\n"))


@pytest.mark.parametrize(("text", "value"), [
    ('I note "plain text"', "plain text"),
    ("I note 'single quoted'", "single quoted"),
    ('I note "say \\"hi\\" twice"', 'say "hi" twice'),
    ("I note 'it\\'s here'", "it's here"),
    ("I note \"it's\"", "it's"),
    ('I note ""', ""),
])
def test_string_takes_double_or_single_quotes_and_unescapes_the_value(tmp_path: Path, text: str, value: str) -> None:
    match = match_step(text, _one(tmp_path, "I note {string}"))
    assert match.status == "matched"
    assert match.arguments == [value]


def test_a_quoted_value_with_escaped_quotes_reaches_the_built_in_action() -> None:
    match = match_step('I should see "the \\"best\\" tea" within \'News\'')
    assert match.status == "matched" and match.definition is not None
    assert match.definition.action == "see"
    assert match.arguments == ['the "best" tea', "News"]


@pytest.mark.parametrize(("pattern", "text", "values"), [
    ("I have {int} cukes", "I have -42 cukes", [-42]),
    ("it costs {float} euros", "it costs 3.5 euros", [3.5]),
    ("it costs {float} euros", "it costs .5 euros", [0.5]),
    ("the {word} button", "the blue-ish button", ["blue-ish"]),
    ("anything {} goes", "anything at all, really goes", ["at all, really"]),
])
def test_built_in_parameter_types_convert_their_values(
    tmp_path: Path, pattern: str, text: str, values: list[object],
) -> None:
    match = match_step(text, _one(tmp_path, pattern))
    assert match.status == "matched"
    assert match.arguments == values
    assert [type(v) for v in match.arguments] == [type(v) for v in values]


def test_int_and_word_do_not_match_what_they_are_not(tmp_path: Path) -> None:
    registry = _registry(tmp_path, ("defs.py", (
        "@step('I have {int} cukes')\ndef cukes(n):\n    pass\n\n"
        "@step('the {word} button')\ndef button(w):\n    pass\n")))
    assert match_step("I have many cukes", registry).status == "undefined"
    assert match_step("the light blue button", registry).status == "undefined"


def test_optional_text_and_alternatives(tmp_path: Path) -> None:
    registry = _registry(tmp_path, ("defs.py", (
        "@step('I have {int} item(s) in my basket')\ndef items(n):\n    pass\n\n"
        "@step('I click/press/tap the big {string} knob')\ndef knob(name):\n    pass\n")))
    assert match_step("I have 1 item in my basket", registry).arguments == [1]
    assert match_step("I have 3 items in my basket", registry).arguments == [3]
    for verb in ("click", "press", "tap"):
        assert match_step(f'I {verb} the big "Go" knob', registry).arguments == ["Go"]
    assert match_step('I push the big "Go" knob', registry).status == "undefined"


def test_matching_is_case_sensitive_and_covers_the_whole_text(tmp_path: Path) -> None:
    registry = _one(tmp_path, "the basket is empty")
    assert match_step("the basket is empty", registry).status == "matched"
    assert match_step("The basket is empty", registry).status == "undefined"
    assert match_step("the basket is empty now", registry).status == "undefined"
    assert match_step('I Should See "x"').status == "undefined"


def test_a_custom_parameter_type_transforms_its_groups_even_when_a_later_file_registers_it(tmp_path: Path) -> None:
    registry = _registry(
        tmp_path,
        ("a_steps.py", "@step('{flight} has been delayed')\ndef delayed(flight):\n    pass\n"),
        ("b_types.py", "parameter_type('flight', r'([A-Z]{3})-([A-Z]{3})', lambda a, b: (a, b))\n"),
    )
    match = match_step("LHR-CDG has been delayed", registry)
    assert match.status == "matched"
    assert match.arguments == [("LHR", "CDG")]
    assert match.argument_lists == [[{
        "group": {"start": 0, "value": "LHR-CDG", "children": [{"start": 0, "value": "LHR"},
                                                              {"start": 4, "value": "CDG"}]},
        "parameterTypeName": "flight"}]]
    [custom] = registry.parameter_types
    assert custom["name"] == "flight" and custom["regularExpressions"] == ["([A-Z]{3})-([A-Z]{3})"]
    assert custom["useForSnippets"] is True and custom["preferForRegularExpressionMatch"] is False
    assert custom["source"] == "b_types.py:5"
    assert registry.undefined_parameter_types == []


def test_a_transformer_that_fails_fails_the_step_with_a_clear_message(tmp_path: Path) -> None:
    registry = _registry(tmp_path, ("defs.py", (
        "parameter_type('amount', r'\\d+', lambda s: 1 // (int(s) - int(s)))\n\n"
        "@step('I pay {amount}')\ndef pay(amount):\n    pass\n")))
    match = match_step("I pay 3", registry)
    assert match.status == "matched" and match.definition is not None and match.definition.func is not None
    with pytest.raises(StepFailure, match=r"parameter type \{amount\} could not transform '3': ZeroDivisionError"):
        asyncio.run(call_step(match.definition.func, StepContext(page=None, base_url="http://app.test"),
                              match.arguments))


def test_a_bad_parameter_type_is_refused_with_its_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(StepDefinitionError, match=r"bad parameter type \{int\} \(defs.py:5\).*already"):
        _registry(tmp_path, ("defs.py", "parameter_type('int', r'\\d+')\n"))


def test_a_regular_expression_step_passes_its_groups(tmp_path: Path) -> None:
    registry = _registry(tmp_path, ("defs.py", (
        "@step(r'^I have (\\d+) cukes in my (\\w+)$')\ndef cukes(count, where):\n    pass\n\n"
        "@step(re.compile(r'a (.*?)(?: and a (.*?))?'))\ndef veg(first, second):\n    pass\n")))
    match = match_step("I have 42 cukes in my belly", registry)
    assert match.status == "matched" and match.definition is not None
    assert match.definition.expression_type == "REGULAR_EXPRESSION"
    # a group written as a parameter type's regexp (`\d+` is {int}'s) gets its conversion; others stay text
    assert match.arguments == [42, "belly"]
    veg = match_step("a cucumber", registry)
    assert veg.arguments == ["cucumber", None]
    assert veg.argument_lists == [[{"group": {"start": 2, "value": "cucumber"}}, {"group": {}}]]
    assert match_step("I have 42 cukes in my belly!", registry).status == "undefined"  # still the whole text


def test_a_regex_group_several_parameter_types_claim_stays_text_instead_of_failing() -> None:
    registry = StepRegistry()
    float_regexp = r"[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[E][+-]?\d+)?"  # {float}, {double} and {bigdecimal}'s
    registry.add(re.compile(f"^it costs ({float_regexp}) euros$"), None, "prices.py:3")
    assert match_step("it costs 3.5 euros", registry).arguments == ["3.5"]


def test_a_definition_naming_an_unknown_parameter_type_is_recorded_and_never_matches(tmp_path: Path) -> None:
    registry = _registry(tmp_path, ("defs.py", (
        "@step('{airport} is closed because of a strike')\ndef closed(airport):\n    pass\n\n"
        "@step('the shop is open')\ndef open_(*args):\n    pass\n")))
    assert registry.undefined_parameter_types == [
        {"expression": "{airport} is closed because of a strike", "name": "airport"}]
    match = match_step("CDG is closed because of a strike", registry)
    assert match.status == "undefined"
    assert "{airport}" in match.message and "is not a parameter type" in match.message
    assert "{airport}" not in match_step("the moon is closed", registry).message  # only where it was meant
    assert match_step("the shop is open", registry).status == "matched"  # the rest of the file still loads


@pytest.mark.parametrize(("pattern", "suggestion"), [
    ('I add "{item}" to the basket', "'I add {string} to the basket'"),
    ("I add {count:d} items", "'I add {int} items'"),
    ("I add {count:d} \"{item}\" to the basket", "'I add {int} {string} to the basket'"),
    ("I add {count} \"{item}\"", "'I add {count} {string}'"),
])
def test_an_old_parse_pattern_is_refused_with_how_to_write_it_now(
    tmp_path: Path, pattern: str, suggestion: str,
) -> None:
    with pytest.raises(StepDefinitionError) as error:
        _one(tmp_path, pattern)
    message = str(error.value)
    assert "defs.py:5" in message and "is not a parameter type" in message
    assert "Specloop steps are Cucumber Expressions" in message and "{string}, {int}" in message
    assert suggestion in message


def test_a_function_that_cannot_take_the_arguments_is_refused_at_load_with_its_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(StepDefinitionError, match=r"defs.py:5.*gives 2 argument\(s\), but defined\(\) takes 1"):
        _one(tmp_path, "I add {int} {string}", "page, count")
    _one(tmp_path, "I add {int} {string}", "page, count, item, data_table=None")  # injected by name: fine


def test_an_invalid_cucumber_expression_is_refused_with_its_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(StepDefinitionError, match=r"defs.py:5.*column"):
        _one(tmp_path, "I have {int cukes")


def test_ambiguous_steps_list_every_candidate_with_its_arguments(tmp_path: Path) -> None:
    registry = _registry(tmp_path, ("defs.py", (
        "@step(r'^a (.*?) with (.*?)$')\ndef first(a, b):\n    pass\n\n"
        "@step(r'^a step with (.*?)$')\ndef second(b):\n    pass\n")))
    match = match_step("a step with multiple definitions", registry)
    assert match.status == "ambiguous" and match.arguments == []
    assert [c.source for c in match.candidates] == ["defs.py:5", "defs.py:9"]
    assert match.argument_lists == [
        [{"group": {"start": 2, "value": "step"}}, {"group": {"start": 12, "value": "multiple definitions"}}],
        [{"group": {"start": 12, "value": "multiple definitions"}}],
    ]


async def test_arguments_fill_the_parameters_in_order_around_the_injected_ones() -> None:
    seen: dict[str, object] = {}

    def add(count, page, item, *rest, data_table=None, world=None):
        seen.update(count=count, page=page, item=item, rest=rest, data_table=data_table, world=world)

    ctx = StepContext(page="the page", base_url="http://app.test", data_table=[["a"]])
    await call_step(add, ctx, [3, "tea", "extra"])
    assert seen["count"] == 3 and seen["page"] == "the page" and seen["item"] == "tea"
    assert seen["rest"] == ("extra",) and seen["data_table"] == [["a"]]
    assert seen["world"] is ctx.scenario_world()
    with pytest.raises(StepFailure, match=r"gives 0 argument\(s\), but add\(\) takes 2 or more"):
        await call_step(add, ctx, [])


def test_the_snippet_is_cucumbers_suggestion_in_specloops_step_format() -> None:
    code = snippet('I add 3 "tea" to the basket', data_table=True)
    assert "from app.domain.steps import Pending, step" in code
    assert "@step('I add {int} {string} to the basket')\nasync def i_add_to_the_basket(page, number, text, " \
           "data_table):\n    raise Pending(" in code
    assert "# or: @step('I add {float} {string} to the basket')" in code
    assert "\\/" in snippet("I go to checkout/payment") and "\\(" in snippet("I see (1)")


def test_the_suggestion_has_one_snippet_per_expression_cucumber_generates_as_in_the_kit() -> None:
    # the kit's `undefined` sample suggests `a list of {int} things` and `a list of {float} things`
    [suggestion] = [e["suggestion"] for e in _cck("undefined") if e.get("suggestion", {}).get("pickleStepId") == "18"]
    kit = [re.search(r'Given\("(.*?)"', s["code"]).group(1) for s in suggestion["snippets"]]  # type: ignore[union-attr]
    ours = snippets("a list of 3 things")
    assert [re.search(r"@step\('(.*?)'\)", code).group(1) for code in ours] == kit  # type: ignore[union-attr]
    assert ours[0] == ("@step('a list of {int} things')\nasync def a_list_of_things(page, number):\n"
                       "    raise Pending('write this step: a list of 3 things')\n")


def test_the_snippet_uses_the_projects_parameter_types(tmp_path: Path) -> None:
    registry = _registry(tmp_path, ("types.py", "parameter_type('flight', r'[A-Z]{3}-[A-Z]{3}')\n"))
    code = snippet("LHR-CDG is late", registry=registry)
    assert "@step('{flight} is late')\nasync def is_late(page, flight):" in code


def _cck(sample: str) -> list[dict[str, Any]]:
    path = importlib.resources.files("cucumber_compatibility_kit") / "features" / sample / f"{sample}.ndjson"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _samples_with_matched_steps() -> list[str]:
    root = importlib.resources.files("cucumber_compatibility_kit") / "features"
    return sorted(sample.name for sample in root.iterdir() if (sample / f"{sample.name}.ndjson").is_file()
                  and '"stepDefinitionIds"' in (sample / f"{sample.name}.ndjson").read_text())


CCK_SAMPLES = _samples_with_matched_steps()


@pytest.mark.parametrize("sample", CCK_SAMPLES)
def test_matches_and_arguments_are_those_of_the_compatibility_kit(sample: str) -> None:
    """Each sample's step definitions, matched against its steps, give the kit's candidates and arguments."""
    envelopes = _cck(sample)
    registry = StepRegistry()
    for envelope in envelopes:
        if "parameterType" in envelope:
            raw = envelope["parameterType"]
            registry.define_parameter_type(raw["name"], raw["regularExpressions"])
    for envelope in envelopes:
        if "stepDefinition" in envelope:
            raw = envelope["stepDefinition"]
            source = raw["pattern"]["source"]
            is_regex = raw["pattern"]["type"] == "REGULAR_EXPRESSION"
            definition = registry.add(re.compile(source) if is_regex else source, None, raw["id"])
            assert definition.expression_type == raw["pattern"]["type"]
    texts = {s["id"]: s["text"] for e in envelopes if "pickle" in e for s in e["pickle"]["steps"]}
    checked = 0
    for envelope in envelopes:
        for test_step in envelope.get("testCase", {}).get("testSteps", []):
            if "pickleStepId" in test_step:
                match = match_step(texts[test_step["pickleStepId"]], registry)
                assert [c.source for c in match.candidates] == test_step["stepDefinitionIds"]
                assert match.argument_lists == [a["stepMatchArguments"] for a in test_step["stepMatchArgumentsLists"]]
                checked += 1
    assert checked


def test_minimal_sample_argument_shape() -> None:
    registry = StepRegistry()
    registry.add("I have {int} cukes in my belly", None, "cck:1")
    match = match_step("I have 42 cukes in my belly", registry)
    assert match.argument_lists == [[{"group": {"start": 7, "value": "42"}, "parameterTypeName": "int"}]]
    assert match.arguments == [42]


def test_the_docs_project_step_example_loads_and_matches(tmp_path: Path) -> None:
    docs = (Path(__file__).parent.parent / "docs" / "steps.md").read_text()
    section = docs.split("## Project steps", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    folder = tmp_path / "steps"
    folder.mkdir()
    (folder / "basket.py").write_text(code)
    registry = load_step_files(folder)
    assert match_step('I add 2 green "tea" to the basket', registry).arguments == [2, "GREEN", "tea"]
    assert match_step("the basket holds 1 item", registry).arguments == [1]


def test_pending_and_skipped_are_exceptions_a_step_raises() -> None:
    assert issubclass(Pending, Exception) and issubclass(Skipped, Exception)
    assert current_registry() is PROJECT_STEPS
    registry = StepRegistry()
    with collecting(registry):
        assert current_registry() is registry
