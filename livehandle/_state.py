"""Typed key-value state of a live session.

:class:`State` maps string keys to JSON-ready values.  Values go in as Python objects (attrs
classes, dataclasses, enums, lists, tuples, str-keyed dicts, primitives) and are stored as plain
JSON by the shared converter, so the store is always serializable and what it holds is a snapshot
taken at :meth:`State.set`, never a live reference to the caller's object.  Reads hand out copies
and can structure a value back into a type, by the same rules tools structure their arguments by:
a value of the wrong kind raises :exc:`TypeError`, a bad value of the right kind
:exc:`ValueError`, each saying why and where.

This is the basic store.  Every write goes through one place and bumps :attr:`State.version`, which
is where the mutation journal, scopes and watchers will attach.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, overload

from livehandle._convert import JsonValue, StructureError, structure, to_json_value, type_name

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["JsonValue", "State"]

T = TypeVar("T")
D = TypeVar("D")


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
        such values, a str, int, float (finite), bool or None.  It is converted now, so later
        changes to ``value`` do not reach the state.

        Raises:
            TypeError: ``key`` is not a string, or something in ``value`` has no JSON form (bytes,
                a set, a datetime, a non-str dict key); the message names the key, the type and
                where it is (``$.items[0]``).
            ValueError: ``key`` is empty, or a float in ``value`` is not finite.
        """
        _check_key(key)
        self._write(key, _to_json(key, value))

    def update(self, mapping: Mapping[str, object]) -> None:
        """Store every item of ``mapping`` as :meth:`set` would, all or nothing.

        Every key and value is checked before anything is written, so on error the state is
        unchanged.  :attr:`version` increases once per key.

        Raises:
            TypeError, ValueError: as :meth:`set`, for the first bad key or value.
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
            TypeError, ValueError: ``key`` is not a string, or is empty.
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
            type: if given, the stored value is structured into it (attrs classes, dataclasses,
                TypedDicts, enums, Literals, ``list[int]``, ``dict[str, float]``,
                ``X | None``...).  Strict: ``"7"`` is not an ``int`` and ``1`` not a ``bool``;
                a number with an integral value (``3.0``) is an ``int``.
            default: returned, as is, when ``key`` is absent.

        Returns:
            Without ``type``, a copy of the stored JSON-ready value; with it, a new object of that
            type.  ``default`` if the key is absent.

        Raises:
            TypeError: ``key`` is not a string, or the stored value (or a part of it) is of a
                kind ``type`` does not take (a string for an ``int``, an array for a class), or
                ``type`` is not a type the converter supports.
            ValueError: ``key`` is empty, or the stored value has the right kind but a bad value
                (``3.5`` for an ``int``, a string that is no member of an enum, a missing field);
                either message names the key, the type and every problem with its path.
        """
        _check_key(key)
        if key not in self._values:
            return default
        value = _copy_json(self._values[key])
        if type is None:
            return value
        try:
            return structure(value, type)
        except StructureError as exc:
            context = f"state key {key!r} cannot be read as {type_name(type)}"
            raise exc.error(context) from None

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
    if not isinstance(key, str):
        raise TypeError(f"a state key must be a non-empty string (got {key!r})")
    if not key:
        raise ValueError("a state key must be a non-empty string (got '')")


def _to_json(key: str, value: object) -> JsonValue:
    """``value`` as a new plain JSON value (so never shared with the caller)."""
    return to_json_value(value, what=f"state key {key!r}")


def _copy_json(value: JsonValue) -> JsonValue:
    if isinstance(value, list):
        return [_copy_json(item) for item in value]
    if isinstance(value, dict):
        return {name: _copy_json(item) for name, item in value.items()}
    return value
