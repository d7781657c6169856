"""The public guard factories: ``is_set``, ``eq``, ``all_of``, ``custom``..."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from livehandle._convert import to_json_value
from livehandle._flow.guards import (
    AllOf,
    Always,
    AnyOf,
    CalledOk,
    Captured,
    Custom,
    Done,
    Eq,
    Guard,
    GuardLike,
    IsSet,
    IsTrue,
    Not,
    check_keys,
    check_name,
    guard_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = [
    "all_of",
    "always",
    "any_of",
    "called_ok",
    "captured",
    "custom",
    "done",
    "eq",
    "is_set",
    "is_true",
    "not_",
    "resolved",
]


def always() -> Guard:
    """A guard that always holds."""
    return Always()


def is_set(key: str) -> Guard:
    """Holds when the State key ``key`` is present and not None ("'key' must be set")."""
    return IsSet(check_name(key, "key"))


def is_true(key: str) -> Guard:
    """Holds when the State key ``key`` is the boolean ``true`` ("'key' must be true")."""
    return IsTrue(check_name(key, "key"))


def eq(key: str, value: object) -> Guard:
    """Holds when the State key ``key`` equals ``value`` as JSON.

    Numbers compare by value (``1 == 1.0``); a bool never equals a number.

    Raises:
        TypeError: ``value`` has no JSON form.
    """
    return Eq(check_name(key, "key"), to_json_value(value, what="eq's value"))


def captured(*keys: str | Iterable[str]) -> Guard:
    """Holds when every one of ``keys`` is set; ``captured("a", "b")`` or ``captured(["a", "b"])``.

    Raises:
        ValueError: no key is given.
    """
    names: Iterable[object] = keys
    if len(keys) == 1 and not isinstance(keys[0], str):
        names = keys[0]
    return Captured(check_keys(names))


def called_ok(tool: str) -> Guard:
    """Holds when the tool ``tool`` has succeeded ("'tool' must have succeeded")."""
    return CalledOk(check_name(tool, "tool"))


def done(step: str) -> Guard:
    """Holds when the step ``step`` is done ("step 'step' must be done")."""
    return Done(check_name(step, "step"))


def all_of(*guards: GuardLike) -> Guard:
    """Holds when every guard holds; of no guards, holds.  Same as ``a & b``."""
    return AllOf(tuple(guard_of(g) for g in guards))


def any_of(*guards: GuardLike) -> Guard:
    """Holds when at least one guard holds; of no guards, does not hold.  Same as ``a | b``."""
    return AnyOf(tuple(guard_of(g) for g in guards))


def not_(guard: GuardLike) -> Guard:
    """Holds when ``guard`` does not.  Same as ``~guard``."""
    return Not(guard_of(guard))


def resolved(name: str) -> Guard:
    """Holds when ``"{name}:result"`` is set (a step's ``on_enter`` action wrote its result)."""
    return IsSet(f"{check_name(name, 'name')}:result")


def custom(fn: Callable[[Any], object], description: str | None = None) -> Guard:
    """A guard computed by ``fn(state)``; truthy holds.  Not serialisable.

    A ``fn`` that raises makes the guard not hold; the error is reported (as a
    ``FlowGuardFailed`` in a session), never raised into the flow.

    Args:
        fn: the check, given the session's :class:`~livehandle.State`.
        description: the prose :meth:`Guard.describe` gives (default ``custom check 'name'``).
    """
    if not callable(fn):
        raise TypeError(f"custom() needs a callable, got {type(fn).__name__}")
    if description is not None and not isinstance(description, str):
        raise TypeError(f"description must be a str, got {type(description).__name__}")
    return Custom(fn, description)
