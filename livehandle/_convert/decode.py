"""JSON values to typed Python values, strictly (see ``livehandle._convert`` for the rules)."""

from __future__ import annotations

import collections.abc
import enum
import inspect
import math
import types
import typing
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import attrs

from livehandle._convert.encode import (
    MAX_DEPTH,
    TOO_DEEP,
    int_digit_limit,
    segment,
    shorten,
    type_name,
)
from livehandle._convert.records import RecordField, is_typeddict, record_fields
from livehandle._json import json_kind

__all__ = ["MAX_SHOWN_PROBLEMS", "Problem", "StructureError", "structure"]

#: How many problems an error message lists before saying "(and N more)".
MAX_SHOWN_PROBLEMS = 5

T = TypeVar("T")
_NONE_TYPE = type(None)
_QUALIFIERS: tuple[Any, ...] = (typing.Required, typing.NotRequired)
_FAILED: Any = object()  # what a conversion step returns after recording its problems
_ARRAYS: dict[Any, Any] = {
    list: list,
    collections.abc.Sequence: list,
    collections.abc.MutableSequence: list,
    tuple: tuple,
    set: set,
    collections.abc.MutableSet: set,
    frozenset: frozenset,
    collections.abc.Set: frozenset,
}
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


@attrs.frozen
class Problem:
    """One thing wrong with a JSON value.

    Attributes:
        path: where, relative to the converted value (``""``, ``".items[2].name"``...).
        message: what is wrong (``"expected an integer, got a string"``).
        wrong_type: True for a value of the wrong kind (a TypeError), False for a bad value of
            the right kind (a ValueError).
    """

    path: str
    message: str
    wrong_type: bool

    def at(self, root: str) -> str:
        """The problem as one line, its path starting at ``root``."""
        return f"{self.message} at {root}{self.path}"


class StructureError(Exception):
    """A JSON value does not fit a type; :attr:`problems` says everything that is wrong.

    Callers turn it into their own error (:meth:`error`, or a
    :exc:`~livehandle.ToolArgumentError` for tool arguments); it never reaches an application.
    """

    def __init__(self, problems: collections.abc.Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(problem.at("$") for problem in self.problems))

    @property
    def wrong_type(self) -> bool:
        """Whether any problem is a value of the wrong kind (so the error is a TypeError)."""
        return any(problem.wrong_type for problem in self.problems)

    def error(self, context: str, root: str = "$") -> TypeError | ValueError:
        """A TypeError or ValueError (see the module rules) saying ``context: <problems>``."""
        lines = [problem.at(root) for problem in self.problems]
        text = f"{context}: {'; '.join(lines[:MAX_SHOWN_PROBLEMS])}"
        if len(lines) > MAX_SHOWN_PROBLEMS:
            text += f" (and {len(lines) - MAX_SHOWN_PROBLEMS} more)"
        return TypeError(text) if self.wrong_type else ValueError(text)


# -- JSON -> typed --------------------------------------------------------------------------------


@typing.overload
def structure(value: object, tp: type[T]) -> T: ...
@typing.overload
def structure(value: object, tp: object) -> Any: ...


def structure(value: object, tp: object) -> Any:
    """Convert the JSON value ``value`` into type ``tp`` by the module's rules.

    Raises:
        StructureError: ``value`` does not fit ``tp``; every problem is listed with its path.
        TypeError: ``tp``, or a type inside it that the value reaches, is not a type this
            converter supports (a programming error, not a problem of the value).
    """
    problems: list[Problem] = []
    result = _structure(value, tp, "", problems, 0)
    if problems:
        raise StructureError(problems)
    return result


def _structure(value: object, tp: Any, path: str, out: list[Problem], depth: int) -> Any:
    """``value`` as ``tp``; or, with the problems appended to ``out``, :data:`_FAILED`.

    ``depth`` is how many arrays and objects enclose ``value``.
    """
    origin = get_origin(tp)
    if origin is Annotated or origin in _QUALIFIERS:
        return _structure(value, get_args(tp)[0], path, out, depth)
    if tp is Any or isinstance(tp, TypeVar):
        return _as_is(value, path, out, depth)
    if origin is Union or origin is types.UnionType:
        return _union(value, tp, path, out, depth)
    if origin is Literal:
        allowed = get_args(tp)
        return _choice(value, allowed, allowed, path, out)
    if tp is None or tp is _NONE_TYPE:
        if value is None:
            return None
        return _wrong(out, path, "null", value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        members = list(tp)
        return _choice(value, [member.value for member in members], members, path, out)
    if tp is bool:
        return value if isinstance(value, bool) else _wrong(out, path, "a boolean", value)
    if tp is int:
        return _integer(value, path, out)
    if tp is float:
        return _number(value, path, out)
    if tp is str:
        return value if isinstance(value, str) else _wrong(out, path, "a string", value)
    container = origin or tp
    if container in _ARRAYS:
        return _array(value, tp, _ARRAYS[container], path, out, depth)
    if container in _MAPPINGS:
        args = get_args(tp)
        key_type, value_type = args if len(args) == 2 else (Any, Any)
        return _mapping(value, key_type, value_type, path, out, depth)
    fields = record_fields(container)
    if fields is not None:
        return _record(value, container, fields, path, out, depth)
    raise TypeError(
        f"cannot convert JSON to {type_name(tp)}: not a supported type (str, int, float, bool,"
        " None, an enum, a Literal, a list, tuple, set or dict of those, X | None, an attrs"
        " class, a dataclass or a TypedDict)"
    )


def _wrong(out: list[Problem], path: str, expected: str, value: object) -> Any:
    out.append(Problem(path, f"expected {expected}, got {json_kind(value)}", wrong_type=True))
    return _FAILED


def _too_deep(out: list[Problem], path: str, depth: int) -> bool:
    """True, with the problem recorded, when a container at ``depth`` is one level too deep."""
    if depth < MAX_DEPTH:
        return False
    out.append(Problem(path, TOO_DEEP, wrong_type=False))
    return True


def _too_long(out: list[Problem], path: str, value: int) -> bool:
    """True, with the problem recorded, when ``value`` has too many digits for a JSON text."""
    limit = int_digit_limit(value)
    if limit is None:
        return False
    out.append(Problem(path, f"expected an integer of at most {limit} digits", wrong_type=False))
    return True


def _as_is(value: object, path: str, out: list[Problem], depth: int) -> Any:
    """``value`` unchanged (for ``Any``), once it is known to nest and write as JSON can."""
    before = len(out)
    if isinstance(value, list | dict):
        if _too_deep(out, path, depth):
            return _FAILED
        items = enumerate(value) if isinstance(value, list) else value.items()
        for key, item in items:
            _as_is(item, path + segment(key), out, depth + 1)
    elif isinstance(value, int) and not isinstance(value, bool):
        _too_long(out, path, value)
    return _FAILED if len(out) > before else value


def _integer(value: object, path: str, out: list[Problem]) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _wrong(out, path, "an integer", value)
    if isinstance(value, int):
        return _FAILED if _too_long(out, path, value) else int(value)
    if value.is_integer():  # False for inf and nan too
        return int(value)
    out.append(Problem(path, f"expected an integer, got the number {shorten(value)}", False))
    return _FAILED


def _number(value: object, path: str, out: list[Problem]) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _wrong(out, path, "a number", value)
    try:
        result = float(value)
    except OverflowError:
        result = math.inf
    if math.isfinite(result):
        return result
    out.append(Problem(path, f"expected a finite number, got {shorten(value)}", False))
    return _FAILED


def _kind(value: object) -> str | None:
    """The JSON kind of ``value`` (None for a value that has none)."""
    if value is None or isinstance(value, bool | str | list | dict):
        return json_kind(value)
    if isinstance(value, int | float):
        return "a number"
    return None


def _choice(
    value: object,
    allowed: collections.abc.Sequence[object],
    results: collections.abc.Sequence[object],
    path: str,
    out: list[Problem],
) -> Any:
    """The result paired with the allowed value equal to ``value`` (of the same JSON kind)."""
    kind = _kind(value)
    kind_fits = False
    for candidate, result in zip(allowed, results, strict=True):
        if kind is not None and _kind(candidate) == kind:
            kind_fits = True
            if candidate == value:
                return result
    choices = ", ".join(repr(candidate) for candidate in allowed)
    got = shorten(value) if kind_fits else json_kind(value)
    out.append(Problem(path, f"expected one of {choices}, got {got}", wrong_type=not kind_fits))
    return _FAILED


def _union(value: object, tp: Any, path: str, out: list[Problem], depth: int) -> Any:
    members = get_args(tp)
    if value is None and _NONE_TYPE in members:
        return None
    others = [member for member in members if member is not _NONE_TYPE]
    if len(others) == 1:
        return _structure(value, others[0], path, out, depth)
    attempts: list[list[Problem]] = []
    for member in others:
        trial: list[Problem] = []
        result = _structure(value, member, path, trial, depth)
        if not trial:
            return result
        attempts.append(trial)
    for trial in attempts:
        # A member the value has the shape of explains best what is wrong with it.
        if not (len(trial) == 1 and trial[0].wrong_type and trial[0].path == path):
            out.extend(trial)
            return _FAILED
    return _wrong(out, path, type_name(tp), value)


def _array(value: object, tp: Any, build: Any, path: str, out: list[Problem], depth: int) -> Any:
    if not isinstance(value, list):
        return _wrong(out, path, "an array", value)
    if _too_deep(out, path, depth):
        return _FAILED
    args = get_args(tp)
    if build is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            message = f"expected an array of {len(args)} items, got {len(value)}"
            out.append(Problem(path, message, wrong_type=False))
            return _FAILED
        item_types = list(args)
    else:
        item_types = [args[0] if args else Any] * len(value)
    before = len(out)
    items = [
        _structure(item, item_type, f"{path}[{index}]", out, depth + 1)
        for index, (item, item_type) in enumerate(zip(value, item_types, strict=True))
    ]
    return _FAILED if len(out) > before else build(items)


def _mapping(
    value: object, key_type: Any, value_type: Any, path: str, out: list[Problem], depth: int
) -> Any:
    if not isinstance(value, dict):
        return _wrong(out, path, "an object", value)
    if _too_deep(out, path, depth):
        return _FAILED
    before = len(out)
    result: dict[Any, Any] = {}
    for key, item in value.items():
        where = path + segment(key)
        structured_key = key if key_type is str else _structure(key, key_type, where, out, depth)
        result[structured_key] = _structure(item, value_type, where, out, depth + 1)
    return _FAILED if len(out) > before else result


def _record(
    value: object,
    cls: type,
    fields: tuple[RecordField, ...],
    path: str,
    out: list[Problem],
    depth: int,
) -> Any:
    if not isinstance(value, dict):
        return _wrong(out, path, "an object", value)
    if _too_deep(out, path, depth):
        return _FAILED
    before = len(out)
    kwargs: dict[str, Any] = {}
    for field in fields:
        where = path + segment(field.key)
        if field.key not in value:
            if field.required:
                out.append(Problem(where, "missing required field", wrong_type=False))
            continue
        annotation = Any if field.annotation is inspect.Parameter.empty else field.annotation
        kwargs[field.arg] = _structure(value[field.key], annotation, where, out, depth + 1)
    known = {field.key for field in fields}
    extra = sorted(str(key) for key in value if key not in known)
    if extra:
        names = ", ".join(repr(name) for name in extra)
        plural = "s" if len(extra) > 1 else ""
        out.append(Problem(path, f"unexpected field{plural} {names}", wrong_type=False))
    if len(out) > before:
        return _FAILED
    if is_typeddict(cls):
        return kwargs
    try:
        return cls(**kwargs)
    except Exception as exc:  # the class's own validators and converters
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        message = f"{cls.__qualname__} refused the value ({detail})"
        out.append(Problem(path, message, wrong_type=isinstance(exc, TypeError)))
        return _FAILED
