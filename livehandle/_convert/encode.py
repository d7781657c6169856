"""Typed Python values to plain JSON values (see ``livehandle._convert`` for the rules)."""

from __future__ import annotations

import enum
import math
from typing import Any, TypeAlias

from livehandle._convert.records import field_keys

__all__ = ["JsonValue", "segment", "shorten", "to_json_value", "type_name"]

#: A JSON-ready value: what :func:`to_json_value` returns and ``structure`` reads.
JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"

_SHOWN_CHARS = 40


def shorten(value: object) -> str:
    """``repr(value)``, cut to a length that fits in an error message."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def type_name(tp: object) -> str:
    """A type as written: classes by their qualified name, aliases and unions by their repr."""
    return tp.__qualname__ if isinstance(tp, type) else repr(tp)


def segment(key: object) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    if isinstance(key, str) and key.isidentifier():
        return f".{key}"
    return f"[{key!r}]"


def to_json_value(value: object, *, what: str = "value") -> JsonValue:
    """A new plain JSON value for ``value`` (never sharing anything with it).

    attrs classes and dataclasses become objects of their ``__init__`` fields, TypedDicts and
    other str-keyed dicts objects, enums their values, lists and tuples arrays; str, int, float,
    bool and None stay (subclasses become the plain type).

    Args:
        value: what to convert.
        what: names ``value`` in error messages (``"tool result"``, ``"state key 'cart'"``).

    Raises:
        TypeError: something in ``value`` has no JSON form (bytes, a set, a datetime, a dict key
            that is not a string...); the message says what and where (``$.items[2]``).
        ValueError: a float in it is not finite, or it contains itself.
    """
    return _to_json(value, "$", what, set())


_JSON_READY = (
    "attrs classes, dataclasses, enums, lists, tuples, str-keyed dicts, str, int, float, bool"
    " and None"
)


def _to_json(value: object, path: str, what: str, active: set[int]) -> JsonValue:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, enum.Enum):
        return _to_json(value.value, path, what, active)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{what} is not JSON: {value!r} at {path} is not a finite number")
        return float.__float__(value)
    if id(value) in active:
        raise ValueError(f"{what} is not JSON: the value at {path} contains itself")
    active.add(id(value))
    try:
        if isinstance(value, list | tuple):
            return [
                _to_json(item, f"{path}[{index}]", what, active) for index, item in enumerate(value)
            ]
        if isinstance(value, dict):
            return _object(value, path, what, active)
        keys = field_keys(type(value))
        if keys is not None:
            return _object({key: getattr(value, key) for key in keys}, path, what, active)
    finally:
        active.discard(id(value))
    raise TypeError(
        f"{what} is not JSON: a {type(value).__qualname__} at {path} (JSON-ready values are"
        f" {_JSON_READY})"
    )


def _object(value: dict[Any, Any], path: str, what: str, active: set[int]) -> dict[str, JsonValue]:
    result: dict[str, JsonValue] = {}
    for key, item in value.items():
        name = key.value if isinstance(key, enum.Enum) else key
        if not isinstance(name, str):
            raise TypeError(
                f"{what} is not JSON: the dict at {path} has the {type(key).__qualname__} key"
                f" {shorten(key)}; JSON keys are strings"
            )
        name = str.__str__(name)
        result[name] = _to_json(item, path + segment(name), what, active)
    return result
