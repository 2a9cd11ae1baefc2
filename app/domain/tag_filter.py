"""Tag expressions (`@smoke and not @wip`) through Cucumber's own parser, `cucumber-tag-expressions`.

`qa.tags` in `.github/specloop.yml` and `specloop qa --tags` both pass through `tag_expression_problem`,
so a bad expression is refused with the parser's own message before anything runs; `matches` decides
whether a scenario's tags (a pickle's: its own and the feature's, rule's and examples' it inherits)
satisfy one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from cucumber_tag_expressions import TagExpressionError, parse


@lru_cache(maxsize=32)
def _parsed(expression: str) -> Any:
    return parse(expression)


# The parser builds a tree as deep as the expression has operators, and evaluating it recurses through them:
# `not not ... @a` a few thousand deep ends in a RecursionError. Real expressions use a handful.
MAX_TAG_OPERATORS = 100
_OPERATOR = re.compile(r"\(|\b(?:and|or|not)\b")


def tag_expression_problem(expression: str) -> str | None:
    """Why `expression` is not a tag expression (the parser's message, on one line), or None when it is."""
    if len(_OPERATOR.findall(expression)) > MAX_TAG_OPERATORS:
        return f"it has more than {MAX_TAG_OPERATORS} operators and parentheses (write a shorter expression)"
    try:
        _parsed(expression)
    except TagExpressionError as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        # The parser's last lines draw a caret under the expression: a one-line message keeps the first.
        return lines[0] if lines else "not a valid tag expression"
    return None


def normalise_tags(expression: str | None) -> str | None:
    """The expression stripped, or None for none (an empty expression selects every scenario anyway)."""
    cleaned = (expression or "").strip()
    return cleaned or None


def matches(expression: str | None, tags: Sequence[str]) -> bool:
    """Whether a scenario with `tags` runs under `expression` (every scenario does when it is None)."""
    expression = normalise_tags(expression)
    return expression is None or bool(_parsed(expression).evaluate(list(tags)))
