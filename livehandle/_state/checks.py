"""Argument checks shared by the State's classes (each error names the argument)."""

from __future__ import annotations

import math

__all__ = ["positive_count", "positive_seconds"]


def positive_count(name: str, value: object) -> int:
    """``value`` if it is an int of at least 1 (never a bool), else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def positive_seconds(name: str, value: object) -> float:
    """``value`` as a float if it is a finite number > 0 (never a bool), else a ValueError."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return float(value)
