"""Request bodies checked against the SDK's own TypedDicts, as strictly as the Messages API checks them.

`check(body, MessageCreateParamsNonStreaming)` walks the TypedDict the SDK types the request with
(`anthropic.types.message_create_params`, the beta one for `?beta=true`), and returns the first problem
in the API's words: an unknown key is "<path>: Extra inputs are not permitted", a missing one
"<path>: Field required", a wrong literal "<path>: Input should be 'a' or 'b'". Paths are dotted
(`messages.0.content.1.cache_control.ttl`), as in the API's own messages.

A TypedDict union (content blocks, tools) is told apart by its `type` tag, as the API does; a block
whose tag no member has is "<path>: Input tag 'x' found using 'type' does not match any of the
expected tags". Values the SDK types loosely (`object`, file inputs) are accepted.
"""

from __future__ import annotations

import collections.abc
import types
import typing
from functools import cache
from typing import Any, Literal, Union

import pydantic
import typing_extensions

__all__ = ["check"]

_WRAPPERS = {typing_extensions.Required, typing_extensions.NotRequired, typing_extensions.ReadOnly,
             typing.Required, typing.NotRequired}
_LISTS = {list, collections.abc.Iterable, collections.abc.Sequence, collections.abc.MutableSequence}


def check(body: Any, typed_dict: type) -> str | None:
    """The first way `body` does not fit `typed_dict` (the API's wording), or None when it fits."""
    return _check(body, typed_dict, "")


def _is_record(tp: Any) -> bool:
    """A TypedDict, or one of the SDK's response models (a content block sent back as it came)."""
    return typing_extensions.is_typeddict(tp) or (isinstance(tp, type) and issubclass(tp, pydantic.BaseModel))


@cache
def _hints(record: type) -> tuple[dict[str, Any], frozenset[str]]:
    if isinstance(record, type) and issubclass(record, pydantic.BaseModel):
        fields = record.model_fields
        return ({name: f.annotation for name, f in fields.items()},
                frozenset(name for name, f in fields.items() if f.is_required()))
    hints = typing_extensions.get_type_hints(record, include_extras=True)
    required = frozenset(getattr(record, "__required_keys__", frozenset()))
    return hints, required


def _strip(tp: Any) -> Any:
    while True:
        origin = typing_extensions.get_origin(tp)
        if origin in _WRAPPERS or origin is typing_extensions.Annotated:
            tp = typing_extensions.get_args(tp)[0]
            continue
        return tp


def _join(path: str, key: str | int) -> str:
    return f"{path}.{key}" if path else str(key)


def _where(path: str) -> str:
    return path or "body"


def _literal_values(tp: Any) -> tuple[Any, ...] | None:
    tp = _strip(tp)
    if typing_extensions.get_origin(tp) is Literal:
        return tuple(typing_extensions.get_args(tp))
    if typing_extensions.get_origin(tp) in (Union, types.UnionType):
        values: list[Any] = []
        for arg in typing_extensions.get_args(tp):
            if arg is type(None):
                continue
            inner = _literal_values(arg)
            if inner is None:
                return None
            values.extend(inner)
        return tuple(values)
    return None


def _check(value: Any, tp: Any, path: str) -> str | None:  # noqa: C901 - one type walk
    tp = _strip(tp)
    if tp is Any or tp is object:
        return None
    if tp is None or tp is type(None):
        return None if value is None else f"{_where(path)}: Input should be None"
    origin = typing_extensions.get_origin(tp)
    args = typing_extensions.get_args(tp)
    if origin is Literal:
        if any(value == arg and type(value) is type(arg) for arg in args):
            return None
        expected = " or ".join(repr(a) for a in args)
        return f"{_where(path)}: Input should be {expected}"
    if origin in (Union, types.UnionType):
        return _check_union(value, args, path)
    if _is_record(tp):
        return _check_typed_dict(value, tp, path)
    if origin in _LISTS or getattr(origin, "__name__", "") == "SequenceNotStr":
        if not isinstance(value, list):
            return f"{_where(path)}: Input should be a valid list"
        for index, item in enumerate(value):
            problem = _check(item, args[0] if args else Any, _join(path, index))
            if problem:
                return problem
        return None
    if origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
        if not isinstance(value, dict):
            return f"{_where(path)}: Input should be a valid dictionary"
        for key, item in value.items():
            problem = _check(item, args[1] if len(args) > 1 else Any, _join(path, key))
            if problem:
                return problem
        return None
    if tp is str:
        return None if isinstance(value, str) else f"{_where(path)}: Input should be a valid string"
    if tp is bool:
        return None if isinstance(value, bool) else f"{_where(path)}: Input should be a valid boolean"
    if tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"{_where(path)}: Input should be a valid integer"
    if tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else f"{_where(path)}: Input should be a valid number"
    return None  # file inputs, datetimes and the like: the SDK serialises them; accept what arrives


def _check_typed_dict(value: Any, tp: type, path: str) -> str | None:
    if not isinstance(value, dict):
        return f"{_where(path)}: Input should be a valid dictionary or object"
    hints, required = _hints(tp)
    for key in value:
        if key not in hints:
            return f"{_join(path, key)}: Extra inputs are not permitted"
    for key in sorted(required):
        if key not in value:
            return f"{_join(path, key)}: Field required"
    for key, item in value.items():
        problem = _check(item, hints[key], _join(path, key))
        if problem:
            return problem
    return None


def _check_union(value: Any, members: tuple[Any, ...], path: str) -> str | None:
    stripped = [_strip(m) for m in members]
    dicts = [m for m in stripped if _is_record(m)]
    candidates = list(stripped)
    if dicts and isinstance(value, dict):
        tag = value.get("type")
        tagged: list[Any] = []
        for member in dicts:
            hints, required = _hints(member)
            values = _literal_values(hints["type"]) if "type" in hints else None
            if tag is None and "type" not in required or values is not None and tag in values:
                tagged.append(member)
        others = [m for m in stripped if not _is_record(m)]
        if tagged:
            candidates = tagged + others  # a plain `Dict[str, object]` member still takes anything
        elif tag is not None and not others and all("type" in _hints(m)[0] for m in dicts):
            return f"{_where(path)}: Input tag {tag!r} found using 'type' does not match any of the expected tags"
    problems = []
    for member in candidates:
        problem = _check(value, member, path)
        if problem is None:
            return None
        problems.append(problem)
    return min(problems, key=lambda p: (-p.count("."), len(p))) if problems else None
