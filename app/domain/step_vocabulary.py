"""The built-in web step vocabulary as data: each action's phrasings, what it does, and an example.

Each phrasing is a Cucumber Expression (`I fill in {string} with {string}`), matched like a project's
steps (`app.domain.steps`); its arguments fill the action's parameters in order.

Locators are the ones people see: roles with accessible names, labels, placeholders and text, never
CSS selectors, so a spec reads like the page. `app.qa.actions` performs each action in Chromium;
`docs/steps.md` lists them (`vocabulary_markdown` writes that part of the page).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BuiltinStep:
    """One built-in action under one or more phrasings (classic web steps and clearer ones)."""

    action: str  # the name `app.qa.actions.ACTIONS` knows it by, and its definitions' `builtin:<action>`
    patterns: tuple[str, ...]  # Cucumber Expressions
    doc: str
    example: str
    # The action's parameter each argument of a phrasing fills, when not the action's own order.
    argument_names: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def names_for(self, pattern: str) -> tuple[str, ...] | None:
        """The action's parameters `pattern`'s arguments fill, in order (None: the action's own order)."""
        return dict(self.argument_names).get(pattern)


VOCABULARY: tuple[BuiltinStep, ...] = (
    BuiltinStep(
        "visit", ("I am on {string}", "I go to {string}", "I visit {string}", "I open {string}"),
        "Open a path of the application (relative to the base URL); QA visits nothing outside the app under test.",
        'Given I am on "/signup"'),
    BuiltinStep(
        "visit_home", ("I am on the home page", "I go to the home page"),
        "Open the application's home page (the base URL).",
        "Given I am on the home page"),
    BuiltinStep(
        "press_button", ("I press {string}", "I click the {string} button"),
        "Click a button by its accessible name (its text, label or value).",
        'When I press "Create account"'),
    BuiltinStep(
        "follow_link", ("I follow {string}", "I click the {string} link"),
        "Click a link by its text.",
        'When I follow "Products"'),
    BuiltinStep(
        "click", ("I click {string}",),
        "Click a button or a link by its name.",
        'When I click "Sign up"'),
    BuiltinStep(
        "fill", ("I fill in {string} with {string}", "I fill {string} with {string}",
                 "I enter {string} in {string}"),
        "Type a value into the field with that label (or placeholder), replacing what was there.",
        'When I fill in "Email" with "ann@example.com"',
        argument_names=(("I enter {string} in {string}", ("value", "label")),)),
    BuiltinStep(
        "fill_doc_string", ("I fill in {string} with:",),
        "Fill a field (typically a textarea) with the step's doc string.",
        'When I fill in "About you" with:\n  """\n  Two lines\n  of text\n  """'),
    BuiltinStep(
        "fill_form", ("I fill in the following:", "I fill in the form with:"),
        "Fill several fields from a two-column data table: label | value.",
        "When I fill in the form with:\n  | Name  | Ann             |\n  | Email | ann@example.com |"),
    BuiltinStep(
        "select", ("I select {string} from {string}",),
        "Choose an option (by its visible text) in the drop-down with that label.",
        'When I select "Pro" from "Plan"'),
    BuiltinStep(
        "check", ("I check {string}",),
        "Tick the checkbox (or choose the radio button) with that label.",
        'When I check "I accept the terms"'),
    BuiltinStep(
        "uncheck", ("I uncheck {string}",),
        "Untick the checkbox with that label.",
        'When I uncheck "Send me news"'),
    BuiltinStep(
        "press_key", ("I press the {string} key", "I press {string} in {string}"),
        "Press a keyboard key (Enter, Tab, Escape, ArrowDown, ...), optionally in a field.",
        'When I press the "Enter" key'),
    BuiltinStep(
        "see", ("I should see {string}", "I see {string}", "I should see {string} within {string}",
                "I see {string} within {string}"),
        "Assert that the text is visible on the page (or within a named region or landmark).",
        'Then I should see "Welcome, Ann!"'),
    BuiltinStep(
        "not_see", ("I should not see {string}", "I do not see {string}",
                    "I should not see {string} within {string}"),
        "Assert that the text is not visible on the page (or within a named region).",
        'Then I should not see "Error"'),
    BuiltinStep(
        "wait_for_text", ("I wait for {string}", "I wait for the text {string}"),
        "Wait (up to three times the usual timeout) until the text is visible.",
        'When I wait for "Loaded"'),
    BuiltinStep(
        "url_is", ("I should be on {string}", "the URL should be {string}", "I am taken to {string}"),
        "Assert the page's URL is this path (query string and fragment ignored unless given).",
        'Then I should be on "/welcome"'),
    BuiltinStep(
        "url_contains", ("the URL should contain {string}",),
        "Assert the page's URL contains this text.",
        'Then the URL should contain "q=shoes"'),
    BuiltinStep(
        "field_value", ("the {string} field should contain {string}",
                        "the {string} field should have the value {string}"),
        "Assert the value of the field with that label (or placeholder).",
        'Then the "Email" field should contain "ann@example.com"'),
    BuiltinStep(
        "is_checked", ("the {string} checkbox should be checked",),
        "Assert the checkbox with that label is ticked.",
        'Then the "Send me news" checkbox should be checked'),
    BuiltinStep(
        "is_not_checked", ("the {string} checkbox should not be checked",),
        "Assert the checkbox with that label is not ticked.",
        'Then the "I accept the terms" checkbox should not be checked'),
    BuiltinStep(
        "table_contains", ("the {string} table should contain:", "I should see the following rows in {string}:"),
        "Assert that, for each row of the data table, the named table has a row with all those cells.",
        'Then the "Products" table should contain:\n  | Name | Price |\n  | Tea  | 3.50  |'),
    BuiltinStep(
        "list_contains", ("the {string} list should contain:", "I should see the following items in {string}:"),
        "Assert that the named list has an item with each text of the one-column data table.",
        'Then the "Categories" list should contain:\n  | Tea    |\n  | Coffee |'),
)


def vocabulary_markdown() -> str:
    """The vocabulary part of docs/steps.md: a heading per action, its phrasings and its example."""
    sections = []
    for entry in VOCABULARY:
        phrasings = "\n".join(f"- `{pattern}`" for pattern in entry.patterns)
        sections.append(f"## {entry.doc.removesuffix('.')}\n\n{phrasings}\n\n```gherkin\n{entry.example}\n```\n")
    return "\n".join(sections)
