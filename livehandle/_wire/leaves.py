"""Leaf rules of the wire codec: strict JSON primitives, base64, int64 and durations.

Each ``structure_*`` function turns one JSON value into its Python value or raises
:class:`Invalid`; each ``unstructure_*`` function does the reverse for the types JSON cannot carry
as they are.  The codec's hook machinery (:mod:`livehandle._wire.hooks`) registers them.
"""

from __future__ import annotations

import binascii
import re
from typing import TYPE_CHECKING, Any

from livehandle._json import json_kind

if TYPE_CHECKING:
    import enum

__all__ = [
    "Invalid",
    "structure_bool",
    "structure_bytes",
    "structure_duration",
    "structure_enum",
    "structure_float",
    "structure_int",
    "structure_int64",
    "structure_object",
    "structure_str",
    "to_camel",
    "unstructure_bytes",
    "unstructure_duration",
    "unstructure_int64",
]


class Invalid(Exception):
    """A decoding failure with the wire path where it happened (innermost segment last)."""

    def __init__(self, reason: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path

    def under(self, segment: str) -> Invalid:
        return Invalid(self.reason, (segment, *self.path))


def to_camel(name: str) -> str:
    """``snake_case`` -> ``lowerCamelCase`` (``mime_type`` -> ``mimeType``)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# --------------------------------------------------------------------------------------------
# Leaf hooks: strict primitives, base64, int64, durations
# --------------------------------------------------------------------------------------------


def structure_str(value: Any, _: Any = None) -> str:
    if isinstance(value, str):
        return value
    raise Invalid(f"expected a string, got {json_kind(value)}")


def structure_bool(value: Any, _: Any = None) -> bool:
    if isinstance(value, bool):
        return value
    raise Invalid(f"expected a boolean, got {json_kind(value)}")


_INT_RE = re.compile(r"-?[0-9]+")


def structure_int(value: Any, _: Any = None) -> int:
    # Proto3 JSON accepts integers as numbers or as decimal strings.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT_RE.fullmatch(value):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise Invalid(f"expected an integer, got {json_kind(value)}")


def structure_float(value: Any, _: Any = None) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise Invalid(f"expected a number, got {json_kind(value)}")


def structure_enum(value: Any, cls: type[enum.StrEnum]) -> enum.StrEnum:
    if isinstance(value, str):
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(member.value for member in cls)
            raise Invalid(f"{value!r:.60} is not one of {allowed}") from None
    raise Invalid(f"expected a string, got {json_kind(value)}")


def structure_object(value: Any, _: Any = None) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise Invalid(f"expected an object, got {json_kind(value)}")


_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


def structure_bytes(value: Any, _: Any = None) -> bytes:
    if not isinstance(value, str):
        raise Invalid(f"expected a base64 string, got {json_kind(value)}")
    text = value
    if "-" in text or "_" in text:
        text = text.translate(_URLSAFE_TO_STANDARD)
    if missing := -len(text) % 4:
        text += "=" * missing
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise Invalid(f"invalid base64 ({exc})") from None


def unstructure_bytes(value: bytes) -> str:
    return binascii.b2a_base64(value, newline=False).decode("ascii")


_INT64_MAX = 2**63 - 1


def structure_int64(value: Any) -> int:
    number = structure_int(value)
    if not -_INT64_MAX - 1 <= number <= _INT64_MAX:
        raise Invalid("integer out of int64 range")
    return number


def unstructure_int64(value: int) -> str:
    return str(value)


_MAX_DURATION_SECONDS = 315_576_000_000  # google.protobuf.Duration's documented bound
_DURATION_RE = re.compile(r"(-?)([0-9]+)(?:\.([0-9]{1,9}))?s")


def structure_duration(value: Any) -> float:
    if not isinstance(value, str):
        raise Invalid(f'expected a duration string like "50s", got {json_kind(value)}')
    match = _DURATION_RE.fullmatch(value)
    if match is None:
        raise Invalid(f'expected a duration string like "50s" or "1.250s", got {value!r:.40}')
    sign, whole, frac = match.groups()
    # proto3 durations span about +-10,000 years; past that (or past what a float holds) the
    # value cannot be one, and a long digit string must not reach int() (which caps digits).
    if len(whole) > 12 or int(whole) > _MAX_DURATION_SECONDS:
        raise Invalid(
            f"duration out of range (at most {_MAX_DURATION_SECONDS} s), got {value!r:.40}"
        )
    nanos = int(whole) * 1_000_000_000 + int((frac or "").ljust(9, "0"))
    return (-nanos if sign else nanos) / 1e9


def unstructure_duration(value: float) -> str:
    nanos = round(value * 1e9)
    sign = "-" if nanos < 0 else ""
    whole, frac = divmod(abs(nanos), 1_000_000_000)
    if frac == 0:
        return f"{sign}{whole}s"
    # Proto3 canonical form: 3, 6 or 9 fractional digits.
    digits = f"{frac:09d}"
    for width in (3, 6):
        if digits[width:] == "0" * (9 - width):
            digits = digits[:width]
            break
    return f"{sign}{whole}.{digits}s"
