"""A flow's constraints: ``once``, ``never_until``, ``before`` and ``require``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from livehandle._flow.guards import Guard, GuardLike, guard_of
from livehandle._flow.step import names_of

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "Before",
    "Constraint",
    "NeverUntil",
    "Once",
    "Require",
    "before",
    "never_until",
    "once",
    "once_reason",
    "require",
]


@attrs.frozen
class Once:
    """The tool ``tool`` may succeed at most once."""

    tool: str


@attrs.frozen
class NeverUntil:
    """The tool ``tool`` is refused until ``guard`` holds."""

    tool: str
    guard: Guard


@attrs.frozen
class Before:
    """The step ``b`` is not eligible until the step ``a`` is done."""

    a: str
    b: str


@attrs.frozen
class Require:
    """The steps ``steps`` must be done; those not done are listed as missing."""

    steps: tuple[str, ...]


#: Any constraint record.
Constraint = Once | NeverUntil | Before | Require


def _one(value: object, what: str) -> str:
    return names_of(value, what, None)[0] if isinstance(value, str) else _bad(value, what)


def _bad(value: object, what: str) -> str:
    raise TypeError(f"{what} must be a str, got {type(value).__name__}")


def once(tool: str) -> Once:
    """A constraint: ``tool`` may run at most once ("'tool' may run at most once")."""
    return Once(_one(tool, "once's tool"))


def never_until(tool: str, guard: GuardLike) -> NeverUntil:
    """A constraint: ``tool`` is refused until ``guard`` holds ("'tool' is not permitted yet")."""
    return NeverUntil(_one(tool, "never_until's tool"), guard_of(guard, "never_until's guard"))


def before(a: str, b: str) -> Before:
    """A constraint: the step ``b`` is not eligible until the step ``a`` is done."""
    return Before(_one(a, "before's first step"), _one(b, "before's second step"))


def require(*steps: str | Iterable[str]) -> Require:
    """A constraint: the steps must be done; missing ones appear in the guidance and explain().

    ``require("confirm", "book")`` or ``require(["confirm", "book"])``.

    Raises:
        ValueError: no step is given.
    """
    names: object = steps
    if len(steps) == 1 and not isinstance(steps[0], str):
        names = steps[0]
    checked = names_of(names, "require's steps", None)
    if not checked:
        raise ValueError("require() needs at least one step")
    return Require(checked)


def once_reason(tool: str) -> str:
    """The reason a call of a ``once`` tool is refused: "'tool' may run at most once"."""
    return f"{tool!r} may run at most once"
