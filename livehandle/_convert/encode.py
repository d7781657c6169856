"""Typed Python values to plain JSON values (see ``livehandle._convert`` for the rules)."""

from __future__ import annotations

import enum
import math
import sys
from typing import Any, TypeAlias

from livehandle._convert.records import field_keys

__all__ = [
    "MAX_DEPTH",
    "TOO_DEEP",
    "JsonValue",
    "int_digit_limit",
    "segment",
    "shorten",
    "to_json_value",
    "type_name",
]

#: A JSON-ready value: what :func:`to_json_value` returns and ``structure`` reads.
JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"

_SHOWN_CHARS = 40

#: How deep arrays and objects (attrs classes, dataclasses and dicts included) may nest in a
#: converted value: the outermost one is level 1.  Deeper values are refused with a ValueError,
#: both ways, long before Python's recursion limit (which would otherwise surface as a
#: RecursionError far from the caller, or in json.dumps).
MAX_DEPTH = 100

#: Why a value nested deeper than MAX_DEPTH is refused (followed by "at <path>").
TOO_DEEP = f"arrays and objects nest more than {MAX_DEPTH} deep"

#: An int of at most this many bits has at most 603 digits, fewer than the smallest limit
#: Python allows for sys.set_int_max_str_digits (640): no need to ask it.
_SURELY_WRITABLE_BITS = 2000


def shorten(value: object) -> str:
    """``repr(value)``, cut to a length that fits in an error message."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def type_name(tp: object) -> str:
    """A type as written: classes by their qualified name, aliases and unions by their repr."""
    return tp.__qualname__ if isinstance(tp, type) else repr(tp)


def int_digit_limit(value: int) -> int | None:
    """The digit limit ``value`` exceeds, or None if it has a JSON text.

    ``json.dumps`` writes ints with ``int.__repr__``, which refuses more digits than
    :func:`sys.get_int_max_str_digits` (4300 by default; 0 means no limit).
    """
    limit = sys.get_int_max_str_digits()
    if not limit or value.bit_length() <= _SURELY_WRITABLE_BITS:
        return None
    try:
        int.__repr__(value)
    except ValueError:
        return limit
    return None


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
        ValueError: a float in it is not finite, an int has more digits than
            :func:`sys.get_int_max_str_digits` allows (``json.dumps`` could not write it),
            arrays and objects in it nest more than 100 deep, or it contains itself.
    """
    return _to_json(value, "$", what, set(), 0)


_JSON_READY = (
    "attrs classes, dataclasses, enums, lists, tuples, str-keyed dicts, str, int, float, bool"
    " and None"
)


def _to_json(value: object, path: str, what: str, active: set[int], depth: int) -> JsonValue:
    """``value`` as JSON; ``depth`` is how many arrays and objects enclose it."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, enum.Enum):
        return _to_json(value.value, path, what, active, depth)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        limit = int_digit_limit(value)
        if limit is not None:
            raise ValueError(
                f"{what} is not JSON: the int at {path} has more than {limit} digits (the limit"
                " of sys.get_int_max_str_digits())"
            )
        return int.__int__(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{what} is not JSON: {value!r} at {path} is not a finite number")
        return float.__float__(value)
    keys = None if isinstance(value, list | tuple | dict) else field_keys(type(value))
    if keys is None and not isinstance(value, list | tuple | dict):
        raise TypeError(
            f"{what} is not JSON: a {type(value).__qualname__} at {path} (JSON-ready values are"
            f" {_JSON_READY})"
        )
    if id(value) in active:
        raise ValueError(f"{what} is not JSON: the value at {path} contains itself")
    if depth >= MAX_DEPTH:
        raise ValueError(f"{what} is not JSON: {TOO_DEEP} at {path}")
    active.add(id(value))
    try:
        if isinstance(value, list | tuple):
            return [
                _to_json(item, f"{path}[{index}]", what, active, depth + 1)
                for index, item in enumerate(value)
            ]
        if isinstance(value, dict):
            return _object(value, path, what, active, depth + 1)
        fields = {key: getattr(value, key) for key in keys or ()}
        return _object(fields, path, what, active, depth + 1)
    finally:
        active.discard(id(value))


def _object(
    value: dict[Any, Any], path: str, what: str, active: set[int], depth: int
) -> dict[str, JsonValue]:
    result: dict[str, JsonValue] = {}
    for key, item in value.items():
        name = key.value if isinstance(key, enum.Enum) else key
        if not isinstance(name, str):
            raise TypeError(
                f"{what} is not JSON: the dict at {path} has the {type(key).__qualname__} key"
                f" {shorten(key)}; JSON keys are strings"
            )
        name = str.__str__(name)
        result[name] = _to_json(item, path + segment(name), what, active, depth)
    return result
