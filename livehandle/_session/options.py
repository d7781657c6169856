"""The limits and capacities of an L0 session (:class:`~livehandle.lowlevel.SessionOptions`)."""

from __future__ import annotations

import math
from typing import Any

import attrs

__all__ = ["SessionOptions"]


def _positive(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0 or math.isinf(value):
        raise ValueError(f"{attribute.name} must be a positive finite number, got {value!r}")


@attrs.frozen
class SessionOptions:
    """Limits and capacities of an L0 session.

    Attributes:
        connect_timeout: seconds to open the WebSocket.
        setup_timeout: seconds to wait for ``setupComplete`` after sending ``setup``.
        close_grace: seconds a graceful close may spend on each of its steps (flushing queued
            messages, then the close handshake) before the session is torn down.
        outbound_capacity: messages :meth:`Session.send` may queue before it waits (lossless).
        write_timeout: the longest one write to the socket may take once it has started.  A
            send writes in the caller's task when the socket is free, shielded so that a cancel
            never cuts a frame in half; a peer that stops reading for this long gets the
            connection aborted (the session ends), so such a cancel is delayed at most this long.
        event_capacity: events each subscriber may fall behind before it gets ``Lagged``.
    """

    connect_timeout: float = attrs.field(default=10.0, validator=_positive)
    setup_timeout: float = attrs.field(default=15.0, validator=_positive)
    close_grace: float = attrs.field(default=0.25, validator=_positive)
    outbound_capacity: int = attrs.field(default=256, validator=_positive)
    event_capacity: int = attrs.field(default=512, validator=_positive)
    write_timeout: float = attrs.field(default=10.0, validator=_positive)
