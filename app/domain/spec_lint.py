"""Spec lint: what makes a parsed feature file a poor executable specification, with exact locations."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from app.domain.gherkin import GherkinError, ParsedFeature, ScenarioInfo, parse_feature
from app.domain.origins import is_allowed
from app.domain.steps import StepDefinitionError, StepRegistry, match_step

Level = Literal["error", "warning"]

DEFAULT_MAX_STEPS = 12
NEEDS_STEP_DEFINITION = "needs a step definition"

# "TODO"/"TBD"/"FIXME" as words; "?" at the end of a line is a question nobody answered yet
_OPEN_MARK = re.compile(r"\b(TODO|TBD|FIXME)\b")
_DOCSTRING = re.compile(r"^\s*(\"\"\"|```)")
# A URL with a scheme (`file:`, `https:`, `javascript:`) or a protocol-relative one (`//host/`).
_ABSOLUTE_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)
# A local file named anywhere in a step: nothing QA does has a reason to name the worker's files.
_FILE_URL = re.compile(r"\bfile:/\S*", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    """One lint or parse finding on a `.feature` file: 1-based line, column (None: whole line), level."""

    line: int
    column: int | None
    level: Level
    message: str
    code: str  # short stable id: "parse", "empty-scenario", "duplicate-name", "no-then", ...


def from_parse_errors(errors: list[GherkinError]) -> list[Finding]:
    """Parse errors as error findings, keeping the parser's line and column."""
    return [Finding(e.line, e.column, "error", e.message, "parse") for e in errors]


def check_feature(
    text: str,
    uri: str,
    *,
    max_steps: int = DEFAULT_MAX_STEPS,
    extra: StepRegistry | None = None,
    allowed_origins: Sequence[str] = (),
) -> list[Finding]:
    """Parse `text` and lint it: parse errors when it does not parse, lint findings otherwise."""
    parsed = parse_feature(text, uri)
    if isinstance(parsed, list):
        return from_parse_errors(parsed)
    return lint(parsed, max_steps=max_steps, extra=extra, allowed_origins=allowed_origins)


def has_errors(findings: list[Finding]) -> bool:
    """Whether any finding is an error (a failing check), not just a warning."""
    return any(f.level == "error" for f in findings)


def lint(
    parsed: ParsedFeature, *, max_steps: int = DEFAULT_MAX_STEPS, extra: StepRegistry | None = None,
    allowed_origins: Sequence[str] = (),
) -> list[Finding]:
    """Every lint finding of a parsed feature, in line order (`allowed_origins`: `qa.allowed_origins`)."""
    findings: list[Finding] = []
    feature = parsed.feature
    if feature is None:
        return [
            Finding(
                1,
                None,
                "error",
                "The file has no `Feature:`; every spec file describes one feature.",
                "no-feature",
            )
        ]
    scenarios = parsed.scenarios()
    if not scenarios:
        line = int(feature["location"]["line"])
        findings.append(Finding(line, None, "error", "The feature has no scenarios to run.", "no-scenarios"))
    findings += _scenario_findings(scenarios, max_steps)
    findings += _open_questions(parsed.source)
    findings += _unknown_steps(parsed, extra)
    findings += _foreign_urls(parsed, extra, allowed_origins)
    return sorted(findings, key=lambda f: (f.line, f.column or 0, f.code))


def _scenario_findings(scenarios: list[ScenarioInfo], max_steps: int) -> list[Finding]:
    findings: list[Finding] = []
    seen: dict[str, int] = {}
    for scenario in scenarios:
        where = (scenario.line, scenario.column)
        label = scenario.name or "(unnamed)"
        if not scenario.name:
            findings.append(Finding(*where, "error", f"{scenario.keyword} has no name.", "unnamed-scenario"))
        elif scenario.name.casefold() in seen:
            findings.append(
                Finding(
                    *where,
                    "error",
                    f'Scenario name "{scenario.name}" is already used on line '
                    f"{seen[scenario.name.casefold()]}; names must be unique.",
                    "duplicate-name",
                )
            )
        else:
            seen[scenario.name.casefold()] = scenario.line
        if not scenario.steps:
            findings.append(Finding(*where, "error", f'"{label}" has no steps.', "empty-scenario"))
            continue
        if not _has_outcome(scenario):
            findings.append(
                Finding(
                    *where,
                    "error",
                    f'"{label}" has no Then step: a scenario must say what should happen.',
                    "no-then",
                )
            )
        if len(scenario.steps) > max_steps:
            findings.append(
                Finding(
                    *where,
                    "warning",
                    f'"{label}" has {len(scenario.steps)} steps (limit {max_steps}); '
                    "split it or move shared setup to a Background.",
                    "too-long",
                )
            )
    return findings


def _has_outcome(scenario: ScenarioInfo) -> bool:
    """Whether a Then (or an And/But following one) is among the scenario's own steps."""
    last = "Unknown"
    for step in scenario.steps:
        # "And"/"But" continue the previous step's kind, as the pickle compiler does
        last = last if step.keyword_type == "Conjunction" else step.keyword_type
        if last == "Outcome":
            return True
    return False


def _open_questions(source: str) -> list[Finding]:
    """Lines that still ask something: ending in "?" or carrying TODO/TBD/FIXME (doc strings excepted)."""
    findings: list[Finding] = []
    in_docstring = False
    for number, raw in enumerate(source.splitlines(), start=1):
        if _DOCSTRING.match(raw):
            in_docstring = not in_docstring
            continue
        if in_docstring:
            continue
        line = raw.rstrip()
        mark = _OPEN_MARK.search(line)
        if mark:
            findings.append(
                Finding(
                    number,
                    mark.start() + 1,
                    "error",
                    f'"{mark.group(1)}" left in the spec: answer it before approval.',
                    "open-question",
                )
            )
        elif line.endswith("?"):
            findings.append(
                Finding(
                    number,
                    len(line),
                    "error",
                    "A question is left in the spec: answer it (or turn it into an example) before approval.",
                    "open-question",
                )
            )
    return findings


def _step_locations(document: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Step AST id -> (line, column), for mapping pickle steps back to the file."""
    locations: dict[str, tuple[int, int]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "keywordType" in node and "text" in node and "id" in node:
                locations[node["id"]] = (
                    int(node["location"]["line"]),
                    int(node["location"].get("column", 1)),
                )
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(document.get("feature"))
    return locations


_STEP_DECORATORS = {"step", "given", "when", "then"}


def _noop(*_: Any, **__: Any) -> None:
    """Stands in for a repository step function the lint never runs."""


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _literal_pattern(node: ast.expr) -> str | re.Pattern[str] | None:
    """A pattern written as a string literal, or as `re.compile("literal")`; None for anything computed."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call) and _call_name(node) == "compile" and node.args and not node.keywords \
            and len(node.args) == 1 and isinstance(node.args[0], ast.Constant) \
            and isinstance(node.args[0].value, str):
        try:
            return re.compile(node.args[0].value)
        except re.error:
            return None
    return None


def _parameter_type(registry: StepRegistry, call: ast.Call, source: str) -> None:
    """Register a literal `parameter_type("name", "regexp", ...)` call (its transformer is never run)."""
    if len(call.args) < 2 or not (isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)):
        return
    regexps = call.args[1].elts if isinstance(call.args[1], (ast.List, ast.Tuple)) else [call.args[1]]
    patterns = [_literal_pattern(r) for r in regexps]
    flags = {k.arg: k.value.value for k in call.keywords if isinstance(k.value, ast.Constant)}
    if not patterns or any(p is None for p in patterns):
        return
    try:
        registry.define_parameter_type(
            call.args[0].value, [p for p in patterns if p is not None], _noop,
            use_for_snippets=bool(flags.get("use_for_snippets", True)),
            prefer_for_regexp_match=bool(flags.get("prefer_for_regexp_match", False)), source=source)
    except StepDefinitionError:
        return


def static_step_registry(files: Mapping[str, str]) -> StepRegistry:
    """The patterns (and parameter types) of repository step files (`path -> source`), read with `ast`,
    never executed.

    The lint runs on every push, where running repository code is not allowed; reading the decorator
    patterns and the literal `parameter_type(...)` calls statically is enough to know which steps a
    project defines, matched by the same Cucumber Expressions as the QA run.
    """
    registry = StepRegistry()
    for path in sorted(files):
        try:
            tree = ast.parse(files[path], filename=path)
        except (SyntaxError, ValueError):
            continue  # the QA run reports a broken step file with its real error
        name = path.rsplit("/", 1)[-1]
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _call_name(node) == "parameter_type":
                _parameter_type(registry, node, f"{name}:{node.lineno}")
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for decorator in node.decorator_list:
                if not (isinstance(decorator, ast.Call) and decorator.args):
                    continue
                pattern = _literal_pattern(decorator.args[0])
                if _call_name(decorator) in _STEP_DECORATORS and pattern is not None:
                    try:
                        registry.add(pattern, _noop, f"{name}:{node.lineno}")
                    except StepDefinitionError:
                        continue
    registry.compile()  # a pattern that does not compile leaves its steps undefined; QA reports why
    return registry


def _unknown_steps(parsed: ParsedFeature, extra: StepRegistry | None) -> list[Finding]:
    """Steps the QA runner cannot execute (undefined or ambiguous), once per line of the file."""
    locations = _step_locations(parsed.document)
    findings: dict[tuple[int, str], Finding] = {}
    for pickle in parsed.pickles:
        for step in pickle.get("steps", []):
            text = str(step.get("text", ""))
            match = match_step(text, extra)
            status = match.status
            if status == "matched":
                continue
            line, column = locations.get((step.get("astNodeIds") or [""])[0], (1, 1))
            if status == "ambiguous":
                message = f'Step "{text}" matches more than one step definition; make it unambiguous.'
            else:
                message = f'Step "{text}" {NEEDS_STEP_DEFINITION}: the QA runner has no step for it.'
                # a project step meant for it names a parameter type nobody registered: say which
                message += "".join(f' `{{{u["name"]}}}` in "{u["expression"]}" is not a parameter type; register '
                                   "it with parameter_type(...) or use {string}, {int}, {float}, {word} or {}."
                                   for u in match.undefined_types)
            findings.setdefault((line, status), Finding(line, column, "warning", message, f"step-{status}"))
    return list(findings.values())


def _foreign_urls(parsed: ParsedFeature, extra: StepRegistry | None, allowed: Sequence[str]) -> list[Finding]:
    """Steps that would send QA outside the app under test, once per step line (outline rows included).

    A visit step may name only a path of the app (or a URL on an origin the repository allows); a local
    `file:` URL is flagged in any step. QA refuses both at run time; flagging them here shows the
    reviewer before approval.
    """
    locations = _step_locations(parsed.document)
    findings: dict[tuple[int, str], Finding] = {}
    for pickle in parsed.pickles:
        for step in pickle.get("steps", []):
            text = str(step.get("text", ""))
            match = match_step(text, extra)
            url: str | None = None
            if match.status == "matched" and match.definition is not None \
                    and match.definition.source == "builtin:visit":
                target = str(next(iter(match.arguments), ""))
                if _ABSOLUTE_URL.match(target.strip()) and not is_allowed(target, allowed):
                    url = target
            if url is None and (found := _FILE_URL.search(text)):
                url = found.group(0).rstrip('"')
            if url is None:
                continue
            line, column = locations.get((step.get("astNodeIds") or [""])[0], (1, 1))
            message = (f"absolute URL `{url}` in a step: QA only visits the app under test; "
                       "use a path like `/signup`")
            findings.setdefault((line, url), Finding(line, column, "error", message, "foreign-url"))
    return list(findings.values())
