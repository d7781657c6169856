"""Validators for the numeric fields of livehandle's settings classes (attrs ``validator=``).

One place for the rules every settings class shares: a bool is never a number, an int field
takes only an int, and a number must be finite.  Each failure is a ``ValueError`` that names the
field and shows the value.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import attrs

__all__ = ["finite", "fraction", "int_at_least", "non_negative", "positive_int"]

Validator = Any  # what attrs accepts as ``validator=``


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def positive_int(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """An int of at least 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{attribute.name} must be a positive integer, got {value!r}")


def int_at_least(minimum: int) -> Validator:
    """An int of at least ``minimum``."""

    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{attribute.name} must be an integer >= {minimum}, got {value!r}")

    return check


def finite(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Any finite number."""
    if not _is_number(value):
        raise ValueError(f"{attribute.name} must be a finite number, got {value!r}")


def non_negative(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A finite number of at least 0."""
    if not _is_number(value) or value < 0:  # type: ignore[operator]
        raise ValueError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


def fraction(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A number from 0 to 1."""
    if not _is_number(value) or not 0 <= value <= 1:  # type: ignore[operator]
        raise ValueError(f"{attribute.name} must be a number from 0 to 1, got {value!r}")
