"""Small JSON helpers shared by the wire codec and the converter (``livehandle._convert``)."""

from __future__ import annotations

__all__ = ["json_kind"]


def json_kind(value: object) -> str:
    """Describe what kind of JSON value ``value`` is, for error messages ("a string", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
