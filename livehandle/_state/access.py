"""The read and write API shared by :class:`~livehandle.State`, its scoped views and its deltas.

Each class below is written against a few primitives its subclasses provide (find a key's
stored value, list the keys, store, delete), so the State, a ``user:`` view and a delta read
and write by the same rules: values in and out go through the one strict converter, reads hand
out copies, and a redacted key's value never appears in an error message.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any, Final, TypeVar, overload

from livehandle._convert import StructureError, structure, to_json_value, type_name
from livehandle._state.journal import MutationOrigin

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from livehandle._convert import JsonValue

__all__ = ["ABSENT", "Reads", "Writes", "check_key", "copy_json", "same_json"]

T = TypeVar("T")
D = TypeVar("D")


class _Absent:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<absent>"


#: What the primitives return for a key that holds nothing.
ABSENT: Final = _Absent()


def check_key(key: object) -> None:
    """Raise unless ``key`` is a non-empty string."""
    if not isinstance(key, str):
        raise TypeError(f"a state key must be a non-empty string (got {type(key).__name__})")
    if not key:
        raise ValueError("a state key must be a non-empty string (got '')")


def check_prefix(prefix: object) -> str:
    if not isinstance(prefix, str):
        raise TypeError(f"a key prefix must be a string (got {type(prefix).__name__})")
    return prefix


def copy_json(value: JsonValue) -> JsonValue:
    """A deep copy of a JSON value (scalars are immutable and returned as they are)."""
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    if isinstance(value, dict):
        return {name: copy_json(item) for name, item in value.items()}
    return value


def same_json(a: object, b: object) -> bool:
    """Whether two JSON values are identical, types included (``1`` is not ``1.0`` here).

    A write of an identical value is not a change; a write of ``1.0`` over ``1`` is, so what a
    read returns is always what was written last.
    """
    if a is b:
        return True
    kind = type(a)
    if kind is not type(b):
        return False
    if isinstance(a, list):
        other: list[object] = b  # type: ignore[assignment]
        return len(a) == len(other) and all(map(same_json, a, other))
    if isinstance(a, dict):
        mapping: dict[str, object] = b  # type: ignore[assignment]
        return a.keys() == mapping.keys() and all(same_json(v, mapping[k]) for k, v in a.items())
    return bool(a == b)


class Reads:
    """Reads: :meth:`get`, :meth:`try_get`, :meth:`contains`, :meth:`keys`."""

    __slots__ = ()

    #: Whether an unprefixed key (no ``:``) that is absent is looked up as ``derived:{key}``.
    _fallback: bool = False

    # -- primitives (subclasses) ----------------------------------------------------------------

    def _exact(self, key: str) -> object:  # pragma: no cover - abstract
        """The stored value of exactly ``key`` (a reference), or :data:`ABSENT`."""
        raise NotImplementedError

    def _iter_keys(self) -> Iterable[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _full(self, key: str) -> str:
        """``key`` as the State names it (a view adds its prefix)."""
        return key

    def _is_redacted(self, key: str) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------

    def _lookup(self, key: str) -> object:
        value = self._exact(key)
        if value is ABSENT and self._fallback and ":" not in key:
            value = self._exact("derived:" + key)
        return value

    def _structure(self, key: str, value: object, tp: object) -> Any:
        """``value`` (not modified) as ``tp``, strictly; the error names the key and type."""
        try:
            return structure(copy_json(value), tp)  # type: ignore[arg-type]
        except StructureError as exc:
            full = self._full(key)
            context = f"state key {full!r} cannot be read as {type_name(tp)}"
            if self._is_redacted(full):
                paths = ", ".join(sorted({"$" + p.path for p in exc.problems}))
                text = f"{context} (the key is redacted; problems at {paths})"
                raise (TypeError(text) if exc.wrong_type else ValueError(text)) from None
            raise exc.error(context) from None

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
        """Read ``key`` leniently: absent, or not fitting ``type``, reads as ``default``.

        An unprefixed key (no ``:``) that is absent is read from ``derived:{key}`` instead.

        Args:
            key: the key.
            type: if given, the value is structured into it by the converter's strict rules
                (``"7"`` is no ``int``); a value that does not fit reads as ``default``.  Use
                :meth:`try_get` to learn why a value does not fit.
            default: returned, as is, when the key is absent or its value does not fit.

        Returns:
            A copy of the stored JSON value, or a new object of ``type``, or ``default``.

        Raises:
            TypeError: ``key`` is not a string, or ``type`` is not a type the converter
                supports (a programming error, never hidden).
            ValueError: ``key`` is empty.
        """
        check_key(key)
        value = self._lookup(key)
        if value is ABSENT:
            return default
        if type is None:
            return copy_json(value)  # type: ignore[arg-type]
        try:
            return structure(copy_json(value), type)  # type: ignore[arg-type]
        except StructureError:
            return default

    @overload
    def try_get(self, key: str, type: type[T]) -> T | None: ...
    @overload
    def try_get(self, key: str, type: object) -> Any: ...

    def try_get(self, key: str, type: object) -> object:
        """Read ``key`` strictly as ``type``: None when absent, an error when it does not fit.

        An unprefixed key (no ``:``) that is absent is read from ``derived:{key}`` instead.

        Raises:
            TypeError: the value (or a part of it) is of a kind ``type`` does not take, or
                ``type`` is unsupported, or ``key`` is not a string.
            ValueError: the value has the right kind but a bad value, or ``key`` is empty.
                Either message names the key, the type and each problem with its path (for a
                redacted key, only the paths).
        """
        check_key(key)
        value = self._lookup(key)
        if value is ABSENT:
            return None
        return self._structure(key, value, type)

    def contains(self, key: str) -> bool:
        """Whether ``key`` holds a value (for an unprefixed key, also ``derived:{key}``).

        Raises:
            TypeError, ValueError: ``key`` is not a non-empty string.
        """
        check_key(key)
        return self._lookup(key) is not ABSENT

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and bool(key) and self._lookup(key) is not ABSENT

    def keys(self, prefix: str = "") -> list[str]:
        """The keys that start with ``prefix`` (all keys by default), sorted.

        Raises:
            TypeError: ``prefix`` is not a string.
        """
        check_prefix(prefix)
        return sorted(key for key in self._iter_keys() if key.startswith(prefix))

    def __len__(self) -> int:
        return sum(1 for _ in self._iter_keys())


class Writes(Reads):
    """Writes: set, update, remove, modify, clear_prefix, rename."""

    __slots__ = ()

    def _put(self, key: str, value: JsonValue, origin: MutationOrigin) -> bool:  # pragma: no cover
        """Store ``value`` (already converted, owned by the store) under ``key``."""
        raise NotImplementedError

    def _delete(self, key: str, origin: MutationOrigin) -> bool:  # pragma: no cover
        """Remove exactly ``key``; whether it was present."""
        raise NotImplementedError

    def _to_json(self, key: str, value: object) -> JsonValue:
        """``value`` as a new JSON value; an error names the key (a redacted key's, no value)."""
        full = self._full(key)
        if not self._is_redacted(full):
            return to_json_value(value, what=f"state key {full!r}")
        try:
            return to_json_value(value, what=f"state key {full!r}")
        except (TypeError, ValueError) as exc:
            text = f"state key {full!r} is not JSON (the key is redacted; details withheld)"
            raise type(exc)(text) from None

    def set(self, key: str, value: object) -> None:
        """Store a snapshot of ``value`` under ``key``, replacing any previous value.

        ``value`` may be an attrs class, a dataclass, an enum, a list, tuple or str-keyed dict of
        such values, a str, int, float (finite), bool or None.  It is converted now, so later
        changes to ``value`` do not reach the state.  Writing a value identical to the stored
        one is no change: nothing is journaled and no watcher fires.

        Raises:
            TypeError: ``key`` is not a string, or something in ``value`` has no JSON form (bytes,
                a set, a datetime, a non-str dict key); the message names the key, the type and
                where it is (``$.items[0]``).
            ValueError: ``key`` is empty, or a float in ``value`` is not finite.
        """
        check_key(key)
        self._put(key, self._to_json(key, value), MutationOrigin.SET)

    def update(self, mapping: Mapping[str, object]) -> None:
        """Store every item of ``mapping`` as :meth:`set` would, all or nothing.

        Every key and value is checked before anything is written, so on error nothing is.

        Raises:
            TypeError, ValueError: as :meth:`set`, for the first bad key or value.
        """
        converted: dict[str, JsonValue] = {}
        for key, value in mapping.items():
            check_key(key)
            converted[key] = self._to_json(key, value)
        for key, json_value in converted.items():
            self._put(key, json_value, MutationOrigin.SET)

    def remove(self, key: str) -> bool:
        """Remove ``key`` (exactly: never ``derived:{key}``); return whether it was present.

        Raises:
            TypeError, ValueError: ``key`` is not a non-empty string.
        """
        check_key(key)
        return self._delete(key, MutationOrigin.REMOVE)

    @overload
    def modify(self, key: str, default: object, fn: Callable[[Any], object]) -> JsonValue: ...
    @overload
    def modify(
        self, key: str, default: object, fn: Callable[[Any], object], *, type: type[T]
    ) -> T: ...
    @overload
    def modify(
        self, key: str, default: object, fn: Callable[[Any], object], *, type: object
    ) -> Any: ...

    def modify(
        self, key: str, default: object, fn: Callable[[Any], object], *, type: object = None
    ) -> object:
        """Read, change and write ``key`` in one step (atomic: nothing runs in between).

        ``fn`` (a plain function, never awaited) gets a copy of the current value of exactly
        ``key``, structured into ``type`` if given, or ``default`` as is when the key is
        absent.  What it returns is converted and stored (journaled as a modify).  If ``fn``
        raises, or its result has no JSON form or does not fit ``type``, nothing is written.

        Returns:
            The stored value: a copy of its JSON form, or, with ``type``, a new object of it.

        Raises:
            TypeError, ValueError: the current value does not fit ``type`` (as
                :meth:`try_get`), or the result cannot be stored (as :meth:`set`), or ``key``
                is not a non-empty string.
            Exception: whatever ``fn`` raises.
        """
        check_key(key)
        if not callable(fn):
            raise TypeError(f"modify needs a callable, got {builtins.type(fn).__name__}")
        current = self._exact(key)
        if current is ABSENT:
            argument = default
        elif type is None:
            argument = copy_json(current)  # type: ignore[arg-type]
        else:
            argument = self._structure(key, current, type)
        stored = self._to_json(key, fn(argument))
        result = copy_json(stored) if type is None else self._structure(key, stored, type)
        self._put(key, stored, MutationOrigin.MODIFY)
        return result

    def clear_prefix(self, prefix: str) -> int:
        """Remove every key that starts with ``prefix``, in key order; return how many.

        An empty prefix clears every key (of this view).

        Raises:
            TypeError: ``prefix`` is not a string.
        """
        check_prefix(prefix)
        doomed = sorted(key for key in self._iter_keys() if key.startswith(prefix))
        return sum(self._delete(key, MutationOrigin.CLEAR_PREFIX) for key in doomed)

    def rename(self, old: str, new: str) -> bool:
        """Move the value of ``old`` to ``new`` (replacing what ``new`` held).

        Journaled as two rename entries: ``new`` written, then ``old`` removed.

        Returns:
            Whether ``old`` held a value (if not, nothing changes).

        Raises:
            TypeError, ValueError: either key is not a non-empty string.
        """
        check_key(old)
        check_key(new)
        value = self._exact(old)
        if value is ABSENT:
            return False
        if old != new:
            self._put(new, value, MutationOrigin.RENAME)  # type: ignore[arg-type]
            self._delete(old, MutationOrigin.RENAME)
        return True
