"""Typed key-value state of a live session.

:class:`State` maps string keys to JSON-ready values.  Values go in as Python objects (attrs
classes, dataclasses, enums, lists, tuples, str-keyed dicts, primitives) and are stored unstructured
by one cattrs converter, so the store is always serializable and what it holds is a snapshot taken
at :meth:`State.set`, never a live reference to the caller's object.  Reads hand out copies and can
structure a value back into a type; a value that does not fit raises :exc:`ValueError` saying why.

This is the basic store.  Every write goes through one place and bumps :attr:`State.version`, which
is where the mutation journal, scopes and watchers will attach.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import types
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, get_args, get_origin, overload

import attrs
import cattrs
from cattrs.cols import is_any_set, is_frozenset, is_sequence, list_structure_factory
from cattrs.errors import IterableValidationError, IterableValidationNote
from cattrs.gen import make_dict_structure_fn
from cattrs.v import format_exception as _cattrs_format_exception

from livehandle._json import json_kind

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["JsonValue", "State"]

#: A JSON-ready value as stored in :class:`State`.
JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"

T = TypeVar("T")
D = TypeVar("D")


class _WrongKind(ValueError):
    """A stored JSON value is not the kind of value a type needs (the message says why)."""


def _is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, enum.Enum)


# cattrs' default primitive hooks coerce (int("7"), bool("false") is True); state reads are strict.
def _structure_str(value: Any, tp: Any = None) -> str:
    if _is_enum(tp):  # cattrs hands StrEnum subclasses to the hook for str
        return _structure_enum(value, tp)  # type: ignore[no-any-return]
    if isinstance(value, str):
        return value
    raise _WrongKind(f"expected a string, got {json_kind(value)}")


def _structure_bool(value: Any, _: Any = None) -> bool:
    if isinstance(value, bool):
        return value
    raise _WrongKind(f"expected a boolean, got {json_kind(value)}")


def _structure_int(value: Any, tp: Any = None) -> int:
    if _is_enum(tp):  # and IntEnum subclasses to the hook for int
        return _structure_enum(value, tp)  # type: ignore[no-any-return]
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _WrongKind(f"expected an integer, got {json_kind(value)}")


def _structure_float(value: Any, _: Any = None) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise _WrongKind(f"expected a number, got {json_kind(value)}")


def _structure_enum(value: Any, tp: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _WrongKind(f"expected a {tp.__name__} value, got {json_kind(value)}")
    try:
        return tp(value)
    except ValueError:
        allowed = ", ".join(repr(member.value) for member in tp)
        raise _WrongKind(f"{value!r} is not a {tp.__name__} (one of {allowed})") from None


def _make_enum_hook(tp: Any, _: cattrs.Converter) -> Callable[[Any, Any], Any]:
    return functools.partial(_structure_enum_hook, tp=tp)


def _structure_enum_hook(value: Any, _: Any = None, *, tp: Any) -> Any:
    return _structure_enum(value, tp)


def _is_collection(tp: Any) -> bool:
    return is_sequence(tp) or is_any_set(tp) or get_origin(tp) is tuple


def _make_collection_hook(tp: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    # cattrs' collection hooks take any iterable ("abc" would read as ['a', 'b', 'c'] and a dict as
    # its keys); state reads take only JSON lists, then let cattrs structure the items.
    args = get_args(tp)
    origin = get_origin(tp) or tp
    if origin is tuple and args and args[-1] is not Ellipsis:
        return _make_fixed_tuple_hook(tp, args, converter)
    as_list: Any = types.GenericAlias(list, (args[0] if args else Any,))
    items = list_structure_factory(as_list, converter)
    if origin is tuple:
        build: Callable[[list[Any]], Any] = tuple
    elif is_frozenset(tp):
        build = frozenset
    elif is_any_set(tp):
        build = set
    else:
        build = list

    def structure(value: Any, _: Any = None) -> Any:
        _expect_list(value)
        return build(items(value, tp))

    return structure


def _make_fixed_tuple_hook(
    tp: Any, args: tuple[Any, ...], converter: cattrs.Converter
) -> Callable[[Any, Any], tuple[Any, ...]]:
    def structure(value: Any, _: Any = None) -> tuple[Any, ...]:
        _expect_list(value)
        if len(value) != len(args):
            raise _WrongKind(f"expected a list of {len(args)} items, got {len(value)}")
        result: list[Any] = []
        errors: list[Exception] = []
        for index, (item, arg) in enumerate(zip(value, args, strict=True)):
            try:
                result.append(converter.structure(item, arg))
            except Exception as exc:
                # The note is what gives transform_error the "$[index]" path.
                exc.add_note(
                    IterableValidationNote(f"Structuring {tp!r} @ index {index}", index, arg)
                )
                errors.append(exc)
        if errors:
            raise IterableValidationError(f"While structuring {tp!r}", errors, tp)
        return tuple(result)

    return structure


def _is_record(tp: Any) -> bool:
    cls = get_origin(tp) or tp
    return isinstance(cls, type) and (attrs.has(cls) or dataclasses.is_dataclass(cls))


def _make_record_hook(tp: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    # Without this, a string read as a class fails on its first field, not where it is wrong.
    fields = make_dict_structure_fn(tp, converter)

    def structure(value: Any, _: Any = None) -> Any:
        if not isinstance(value, dict):
            raise _WrongKind(f"expected an object, got {json_kind(value)}")
        return fields(value, tp)

    return structure


def _expect_list(value: Any) -> None:
    if not isinstance(value, list):
        raise _WrongKind(f"expected a list, got {json_kind(value)}")


def _build_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook_factory(_is_collection, _make_collection_hook)
    converter.register_structure_hook_factory(_is_enum, _make_enum_hook)
    converter.register_structure_hook_factory(_is_record, _make_record_hook)
    return converter


_converter = _build_converter()


def _format_exception(exc: BaseException, tp: type | None) -> str:
    if isinstance(exc, _WrongKind):
        return str(exc)
    return _cattrs_format_exception(exc, tp)


class State:
    """A session's typed key-value state.

    Keys are non-empty strings (use ``prefix:name`` to group them, see :meth:`keys`).  Values are
    stored JSON-ready; :meth:`get` returns a copy, optionally structured into a type.
    :attr:`version` counts changes.  Not thread-safe; use it from the Trio thread.
    """

    __slots__ = ("_values", "_version")

    def __init__(self) -> None:
        self._values: dict[str, JsonValue] = {}
        self._version = 0

    @property
    def version(self) -> int:
        """A counter that increases by one for every key written or removed."""
        return self._version

    # -- writes --------------------------------------------------------------------------------

    def set(self, key: str, value: object) -> None:
        """Store a snapshot of ``value`` under ``key``, replacing any previous value.

        ``value`` may be an attrs class, a dataclass, an enum, a list, tuple or str-keyed dict of
        such values, a str, int, float (finite), bool or None.  It is unstructured now, so later
        changes to ``value`` do not reach the state.

        Raises:
            ValueError: if ``key`` is not a non-empty string, or ``value`` (or something inside it)
                cannot be stored as JSON; the message names the key, the type and where it is.
        """
        _check_key(key)
        self._write(key, _to_json(key, value))

    def update(self, mapping: Mapping[str, object]) -> None:
        """Store every item of ``mapping`` as :meth:`set` would, all or nothing.

        Every key and value is checked before anything is written, so on error the state is
        unchanged.  :attr:`version` increases once per key.

        Raises:
            ValueError: as :meth:`set`, for the first bad key or value.
        """
        converted: dict[str, JsonValue] = {}
        for key, value in mapping.items():
            _check_key(key)
            converted[key] = _to_json(key, value)
        for key, json_value in converted.items():
            self._write(key, json_value)

    def remove(self, key: str) -> bool:
        """Remove ``key``; return whether it was present.

        Raises:
            ValueError: if ``key`` is not a non-empty string.
        """
        _check_key(key)
        if key not in self._values:
            return False
        del self._values[key]
        self._version += 1
        return True

    def _write(self, key: str, value: JsonValue) -> None:
        # The single write path: the journal and watchers will hook in here.
        self._values[key] = value
        self._version += 1

    # -- reads ---------------------------------------------------------------------------------

    @overload
    def get(self, key: str) -> JsonValue: ...
    @overload
    def get(self, key: str, type: None = None, *, default: D) -> JsonValue | D: ...
    @overload
    def get(self, key: str, type: None, default: D) -> JsonValue | D: ...
    @overload
    def get(self, key: str, type: type[T], default: None = None) -> T | None: ...
    @overload
    def get(self, key: str, type: type[T], default: D) -> T | D: ...
    @overload
    def get(self, key: str, type: object, default: object = None) -> Any: ...

    def get(self, key: str, type: object = None, default: object = None) -> object:
        """Read the value stored under ``key``.

        Args:
            key: the key.
            type: if given, the stored value is structured into it through cattrs (attrs classes,
                dataclasses, enums, ``list[int]``, ``dict[str, float]``, ``X | None``...).
                Primitives are strict: ``"7"`` is not an ``int`` and ``1`` is not a ``bool``.
            default: returned, as is, when ``key`` is absent.

        Returns:
            Without ``type``, a copy of the stored JSON-ready value; with it, a new object of that
            type.  ``default`` if the key is absent.

        Raises:
            ValueError: if ``key`` is not a non-empty string, or the stored value does not fit
                ``type``; the message names the key, the type and cattrs' reasons.
        """
        _check_key(key)
        if key not in self._values:
            return default
        value = _copy_json(self._values[key])
        if type is None:
            return value
        try:
            return _converter.structure(value, type)  # type: ignore[arg-type]
        except Exception as exc:
            reasons = "; ".join(cattrs.transform_error(exc, format_exception=_format_exception))
            raise ValueError(
                f"state key {key!r} cannot be read as {_type_name(type)}: {reasons}"
            ) from exc

    def keys(self, prefix: str = "") -> list[str]:
        """The keys that start with ``prefix`` (all keys by default), sorted."""
        return sorted(key for key in self._values if key.startswith(prefix))

    def to_dict(self) -> dict[str, JsonValue]:
        """A deep copy of every key and value, JSON-ready (for snapshots and persistence)."""
        return {key: _copy_json(value) for key, value in self._values.items()}

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        # Values may be private (user details, tokens): show only the keys.
        return f"State(keys={self.keys()!r}, version={self._version})"


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError(f"a state key must be a non-empty string (got {key!r})")


def _to_json(key: str, value: object) -> JsonValue:
    """Unstructure ``value`` and check that the result is plain JSON (rebuilt, so never shared)."""
    try:
        unstructured = _converter.unstructure(value)
    except Exception as exc:
        raise ValueError(
            f"cannot store state key {key!r}: {_type_name(type(value))} could not be unstructured"
            f" ({exc})"
        ) from exc
    return _check_json(key, unstructured, "$")


def _check_json(key: str, value: object, path: str) -> JsonValue:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"cannot store state key {key!r}: {value!r} at {path} is not JSON")
        return value
    if isinstance(value, list | tuple):
        return [_check_json(key, item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, dict):
        result: dict[str, JsonValue] = {}
        for name, item in value.items():
            if not isinstance(name, str):
                raise ValueError(
                    f"cannot store state key {key!r}: the dict at {path} has a"
                    f" {_type_name(type(name))} key {name!r}; only str keys are JSON"
                )
            result[name] = _check_json(key, item, f"{path}.{name}")
        return result
    raise ValueError(
        f"cannot store state key {key!r}: a {_type_name(type(value))} at {path} is not"
        " JSON-serializable (store attrs classes, dataclasses, enums, lists, str-keyed dicts,"
        " str, int, float, bool or None)"
    )


def _copy_json(value: JsonValue) -> JsonValue:
    if isinstance(value, list):
        return [_copy_json(item) for item in value]
    if isinstance(value, dict):
        return {name: _copy_json(item) for name, item in value.items()}
    return value


def _type_name(tp: object) -> str:
    # Classes by their bare name; generic aliases and unions (list[int], int | None) as written.
    return tp.__qualname__ if isinstance(tp, type) else repr(tp)
