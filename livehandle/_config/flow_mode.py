"""How a governing flow treats the tool calls it does not admit: :class:`FlowMode`."""

from __future__ import annotations

import enum

__all__ = ["FlowMode", "flow_mode"]


class FlowMode(enum.StrEnum):
    """How a governing flow treats a tool call it does not admit.

    A str enum: ``LiveConfig(flow_mode="observe")`` and ``flow_mode=FlowMode.OBSERVE`` are the
    same.

    Attributes:
        ENFORCE: the call is answered ``{"error": <reason>}`` and never runs (the default).
        OBSERVE: the call runs; the violation is only recorded (``explain().violations``) and
            published as ``LiveEvent.FlowViolation``.
    """

    ENFORCE = "enforce"
    OBSERVE = "observe"


def flow_mode(value: FlowMode | str) -> FlowMode:
    """``value`` as a :class:`FlowMode` (a converter for ``LiveConfig(flow_mode=...)``).

    Strings are matched case-insensitively (``"observe"``, ``"OBSERVE"``).

    Raises:
        ValueError: any other value, naming the choices.
    """
    if isinstance(value, FlowMode):
        return value
    if isinstance(value, str):
        try:
            return FlowMode(value.lower())
        except ValueError:
            pass
    choices = ", ".join(repr(member.value) for member in FlowMode)
    raise ValueError(f"flow_mode: unknown value {value!r}; expected one of {choices}")
