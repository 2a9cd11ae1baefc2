"""Parsing `.feature` files with gherkin-official: AST, pickles, and errors with line and column."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from gherkin.errors import CompositeParserException, ParserError, ParserException
from gherkin.parser import Parser
from gherkin.pickles.compiler import Compiler, GherkinDocumentWithURI
from gherkin.token_scanner import TokenScanner

# gherkin-official prefixes every message with "(line:column): "; we keep line/column as fields
_LOCATION_PREFIX = re.compile(r"^\(\d+:\d+\):\s*")


@dataclass(frozen=True)
class GherkinError:
    """One parse error: 1-based line, 1-based column (None at end of file), and the parser's message."""

    line: int
    column: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.line}:{self.column}" if self.column else f"{self.line}"
        return f"line {where}: {self.message}"


@dataclass(frozen=True)
class StepInfo:
    """One step as written in the file (not a pickle step): keyword, text and where it is."""

    keyword: str
    keyword_type: str  # "Context" / "Action" / "Outcome" / "Conjunction" / "Unknown"
    text: str
    line: int
    column: int


@dataclass(frozen=True)
class ScenarioInfo:
    """A scenario (or example, or outline) as written, with the rule it sits under."""

    name: str
    keyword: str
    line: int
    column: int
    rule: str | None
    tags: tuple[str, ...]
    steps: tuple[StepInfo, ...]
    background_steps: tuple[StepInfo, ...]  # feature Background then rule Background, in run order
    examples_rows: int  # number of data rows for a Scenario Outline, 0 otherwise


@dataclass
class ParsedFeature:
    """A feature file that parsed and compiled: source, AST (gherkin-official dicts) and pickles."""

    uri: str
    source: str
    document: dict[str, Any]
    pickles: list[dict[str, Any]] = field(default_factory=list)

    @property
    def feature(self) -> dict[str, Any] | None:
        """The Feature node, None for a file with no `Feature:` (only comments or blank)."""
        feature = self.document.get("feature")
        return feature if isinstance(feature, dict) else None

    @property
    def name(self) -> str:
        """The feature's name ("" when the file has no feature)."""
        return str((self.feature or {}).get("name", "")).strip()

    @property
    def tags(self) -> list[str]:
        """The feature's own tags, e.g. ["@issue-12"]."""
        return [tag["name"] for tag in (self.feature or {}).get("tags", [])]

    @property
    def description(self) -> str:
        """The free text under `Feature:` (the story narrative)."""
        return str((self.feature or {}).get("description", "") or "").strip()

    def scenarios(self) -> list[ScenarioInfo]:
        """Every scenario in file order, with its rule and the backgrounds that run before it."""
        feature = self.feature
        if feature is None:
            return []
        result: list[ScenarioInfo] = []
        feature_bg: tuple[StepInfo, ...] = ()
        for child in feature.get("children", []):
            if "background" in child:
                feature_bg = _steps(child["background"])
            elif "scenario" in child:
                result.append(_scenario(child["scenario"], None, feature_bg))
            elif "rule" in child:
                rule = child["rule"]
                rule_bg: tuple[StepInfo, ...] = ()
                for rule_child in rule.get("children", []):
                    if "background" in rule_child:
                        rule_bg = _steps(rule_child["background"])
                    elif "scenario" in rule_child:
                        result.append(
                            _scenario(
                                rule_child["scenario"],
                                str(rule.get("name", "")).strip(),
                                feature_bg + rule_bg,
                            )
                        )
        return result

    def background(self) -> tuple[StepInfo, ...]:
        """The feature-level Background's steps (empty when there is none)."""
        for child in (self.feature or {}).get("children", []):
            if "background" in child:
                return _steps(child["background"])
        return ()

    def rules(self) -> list[str]:
        """The names of the feature's rules in file order."""
        feature = self.feature or {}
        return [str(c["rule"].get("name", "")).strip() for c in feature.get("children", []) if "rule" in c]


def _steps(node: dict[str, Any]) -> tuple[StepInfo, ...]:
    return tuple(
        StepInfo(
            keyword=str(step.get("keyword", "")).strip(),
            keyword_type=str(step.get("keywordType", "Unknown")),
            text=str(step.get("text", "")),
            line=int(step["location"]["line"]),
            column=int(step["location"].get("column", 1)),
        )
        for step in node.get("steps", [])
    )


def _scenario(node: dict[str, Any], rule: str | None, background: tuple[StepInfo, ...]) -> ScenarioInfo:
    rows = sum(len(examples.get("tableBody", []) or []) for examples in node.get("examples", []))
    return ScenarioInfo(
        name=str(node.get("name", "")).strip(),
        keyword=str(node.get("keyword", "")).strip(),
        line=int(node["location"]["line"]),
        column=int(node["location"].get("column", 1)),
        rule=rule,
        tags=tuple(tag["name"] for tag in node.get("tags", [])),
        steps=_steps(node),
        background_steps=background,
        examples_rows=rows,
    )


def _to_error(exc: ParserException) -> GherkinError:
    location = getattr(exc, "location", None) or {}
    # an end-of-file error has no column (the parser prints 0); GitHub then gets a line-only annotation
    column = location.get("column") or None
    message = _LOCATION_PREFIX.sub("", str(exc.args[0]) if exc.args else str(exc))
    return GherkinError(line=int(location.get("line", 1) or 1), column=column, message=message)


def parse_feature(text: str, uri: str) -> ParsedFeature | list[GherkinError]:
    """Parse and compile `text` (the file at `uri`); every error the parser reports, in order, on failure."""
    try:
        document = Parser().parse(TokenScanner(text))
    except CompositeParserException as exc:
        return [_to_error(error) for error in exc.errors]
    except ParserException as exc:
        return [_to_error(exc)]
    except ParserError as exc:  # any other parser failure still becomes a user-facing finding
        return [GherkinError(line=1, column=None, message=str(exc))]
    document_with_uri: GherkinDocumentWithURI = {**document, "uri": uri}
    try:
        pickles = Compiler().compile(document_with_uri)
    except ParserException as exc:
        return [_to_error(exc)]
    return ParsedFeature(
        uri=uri, source=text, document=dict(document_with_uri), pickles=[dict(pickle) for pickle in pickles]
    )


def errors_of(text: str, uri: str) -> list[GherkinError]:
    """Just the parse errors of `text` (empty when it parses)."""
    result = parse_feature(text, uri)
    return result if isinstance(result, list) else []
