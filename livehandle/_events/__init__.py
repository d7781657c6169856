"""Events: the raw :class:`SessionEvent` stream (L0) and the semantic :class:`LiveEvent` stream."""

from __future__ import annotations

from livehandle._events.live import LiveEvent as LiveEvent
from livehandle._events.session import (
    SessionEnd as SessionEnd,
    SessionEvent as SessionEvent,
    SessionPhase as SessionPhase,
)

__all__ = ["LiveEvent", "SessionEnd", "SessionEvent", "SessionPhase"]
