"""The scenario plan: feature files compiled to pickles, and the scenarios and steps a QA run executes.

gherkin-official parses each file and compiles it to pickles (Background, Scenario Outline examples,
Rules); the plan keeps each step's keyword, line, data table and doc string so reports point at the
line a person wrote.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from gherkin.ast_builder import AstBuilder
from gherkin.errors import CompositeParserException, ParserError, ParserException
from gherkin.parser import Parser
from gherkin.parser_types import Location
from gherkin.pickles.compiler import Compiler, GherkinDocumentWithURI
from gherkin.stream.id_generator import IdGenerator

from app.domain.tag_filter import matches


@dataclass
class FeatureError:
    """A feature file that does not parse (or a step file that does not load)."""

    uri: str
    line: int | None
    column: int | None
    message: str


@dataclass
class PlannedStep:
    """One step of a pickle, with its keyword and line from the feature file."""

    keyword: str
    text: str
    line: int
    pickle_step_id: str
    data_table: list[list[str]] | None
    doc_string: str | None


@dataclass
class PlannedScenario:
    """One pickle to run: its name, where it is, its rule and tags, and its steps."""

    pickle: dict[str, Any]
    name: str
    uri: str
    line: int
    feature: str
    rule: str | None
    tags: list[str]
    steps: list[PlannedStep]


@dataclass
class Compiled:
    """Parsed documents, their pickles, and the scenarios to run in file order."""

    documents: list[dict[str, Any]] = field(default_factory=list)
    pickles: list[dict[str, Any]] = field(default_factory=list)
    scenarios: list[PlannedScenario] = field(default_factory=list)
    errors: list[FeatureError] = field(default_factory=list)


def _uri(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return path.as_posix()


def _index_document(document: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Map AST node ids to their nodes (steps, scenarios, example rows) and scenario ids to rule names."""
    nodes: dict[str, dict[str, Any]] = {}
    rules: dict[str, str] = {}

    def visit(children: list[dict[str, Any]], rule: str | None) -> None:
        for child in children:
            if "rule" in child:
                visit(child["rule"].get("children", []), child["rule"].get("name") or None)
                continue
            node = child.get("background") or child.get("scenario")
            if not node:
                continue
            nodes[node["id"]] = node
            if "scenario" in child and rule:
                rules[node["id"]] = rule
            for step in node.get("steps", []):
                nodes[step["id"]] = step
            for examples in node.get("examples", []):
                for row in examples.get("tableBody", []):
                    nodes[row["id"]] = row

    feature = document.get("feature") or {}
    visit(feature.get("children", []), None)
    return nodes, rules


def _planned_step(pstep: dict[str, Any], nodes: dict[str, dict[str, Any]]) -> PlannedStep:
    ast_step = nodes.get(pstep["astNodeIds"][0], {})
    argument = pstep.get("argument") or {}
    table = argument.get("dataTable")
    doc = argument.get("docString")
    return PlannedStep(
        keyword=(ast_step.get("keyword") or "* ").strip(),
        text=pstep["text"],
        line=(ast_step.get("location") or {}).get("line", 0),
        pickle_step_id=pstep["id"],
        data_table=[[c["value"] for c in r["cells"]] for r in table["rows"]] if table else None,
        doc_string=doc["content"] if doc else None,
    )


_TRAILING_BLANK_LINES = re.compile(r"(\n[ \t]*)+$")


def _trim_descriptions(node: Any) -> Any:
    """The document with each description's trailing blank lines removed, as Cucumber's reference parser
    gives it (gherkin-official's Python parser keeps a last line of spaces: `"  text\n  "`), so the
    `gherkinDocument` messages equal every other implementation's (tests/test_cck.py)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "description" and isinstance(value, str):
                node[key] = _TRAILING_BLANK_LINES.sub("", value)
            else:
                _trim_descriptions(value)
    elif isinstance(node, list):
        for item in node:
            _trim_descriptions(item)
    return node


def _plan(compiled: Compiled, document: dict[str, Any], uri: str, compiler: Compiler) -> None:
    """Compile one parsed document to pickles and append them, and their scenarios, to `compiled`."""
    nodes, rules = _index_document(document)
    feature_name = (document.get("feature") or {}).get("name", "")
    # gherkin types its output as TypedDicts (step arguments as an empty one); this module reads it
    # as the JSON it is, so documents and pickles cross this boundary as plain dicts
    pickles = cast(list[dict[str, Any]], compiler.compile(cast(GherkinDocumentWithURI, document)))
    for pickle in pickles:
        compiled.pickles.append(pickle)
        scenario_node = nodes.get(pickle["astNodeIds"][0], {})
        # For an Outline example the second id is the example row: its line is the scenario's line.
        line_node = nodes.get(pickle["astNodeIds"][-1], scenario_node)
        line = (pickle.get("location") or line_node.get("location") or {}).get("line", 0)
        compiled.scenarios.append(PlannedScenario(
            pickle=pickle, name=pickle["name"], uri=uri, line=line, feature=feature_name,
            rule=rules.get(pickle["astNodeIds"][0]), tags=[t["name"] for t in pickle.get("tags", [])],
            steps=[_planned_step(pstep, nodes) for pstep in pickle.get("steps", [])],
        ))


def compile_features(paths: Sequence[str | Path], root: str | Path | None = None) -> Compiled:
    """Parse feature files with gherkin-official and compile them to pickles (Background, Outlines, ...)."""
    ids = IdGenerator()  # one generator: ids stay unique across files, as Cucumber Messages require
    parser = Parser(ast_builder=AstBuilder(ids))
    compiler = Compiler(ids)
    compiled = Compiled()
    root_path = Path(root) if root is not None else None
    for raw in paths:
        path = Path(raw)
        uri = _uri(path, root_path)
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            compiled.errors.append(FeatureError(uri, None, None, f"cannot read {uri}: {exc.strerror or exc}"))
            continue
        compiled.documents.append(
            {"source": {"uri": uri, "data": source, "mediaType": "text/x.cucumber.gherkin+plain"}}
        )
        try:
            document: dict[str, Any] = {**_trim_descriptions(parser.parse(source)), "uri": uri}
        except CompositeParserException as exc:
            compiled.errors.extend(_parse_error(uri, e) for e in exc.errors)
            continue
        except ParserError as exc:
            compiled.errors.append(_parse_error(uri, exc))
            continue
        compiled.documents.append({"gherkinDocument": document})
        _plan(compiled, document, uri, compiler)
    return compiled


def select_by_tags(compiled: Compiled, expression: str | None) -> Compiled:
    """Only the scenarios (and their pickles) whose tags satisfy the tag expression, as Cucumber filters
    pickles before running them (it emits no pickle message for the others either). A pickle's tags include
    those it inherits from its feature, rule and examples. The documents and errors stay as they are."""
    if expression is None:
        return compiled
    kept = [s for s in compiled.scenarios if matches(expression, s.tags)]
    ids = {s.pickle["id"] for s in kept}
    return Compiled(documents=compiled.documents, pickles=[p for p in compiled.pickles if p["id"] in ids],
                    scenarios=kept, errors=compiled.errors)


def _parse_error(uri: str, exc: ParserError) -> FeatureError:
    location: Location | dict[str, int] = exc.location if isinstance(exc, ParserException) else {}
    message = str(exc)
    message = re.sub(r"^\(\d+:\d+\): ", "", message)
    return FeatureError(uri, location.get("line"), location.get("column"), message)
