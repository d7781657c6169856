"""Parsing the server's data frames for trio-websocket without wsproto's general decoder.

A model's audio arrives as one small text frame per chunk.  trio-websocket's reader hands every
byte to wsproto, whose general-purpose decoder (incremental headers, extensions, fragmentation,
an incremental UTF-8 decoder per message) costs more per chunk than the JSON and base64 of the
chunk together.  :class:`FastFrames` stands in for the reader's wsproto connection: a complete,
unfragmented, unmasked text or binary frame (RFC 6455 §5.2, opcode 1 or 2 with FIN set and no
RSV bit, which is how a server without extensions sends a message) is cut from the bytes here and
becomes the same ``TextMessage`` / ``BytesMessage`` event wsproto would yield.  Every other frame
(control frames, fragments, frames over ``FAST_LIMIT``, invalid UTF-8, anything once the
connection is closing) goes to wsproto, whole and in order, and wsproto answers for it exactly as
before.  Frames are only cut here while wsproto is between messages, so the two never split one.

It relies on wsproto internals (its connection, frame decoder and message decoder), checked once
by :meth:`FastFrames.install`; without them the reader keeps using wsproto alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, TextMessage

if TYPE_CHECKING:
    from collections.abc import Generator

    from wsproto.events import Event

__all__ = ["FAST_LIMIT", "FastFrames"]

#: Frames with a larger payload go to wsproto, which hands them on in parts as they arrive
#: instead of holding them whole.
FAST_LIMIT = 256 * 1024

_TEXT, _BINARY = 0x81, 0x82  # first byte of a final text / binary frame without RSV bits
_OPEN = ConnectionState.OPEN


class FastFrames:
    """trio-websocket's wsproto connection, with the common data frames cut here (see module)."""

    __slots__ = ("_connection", "_decoder", "_messages", "_pending", "_real")

    def __init__(self, real: Any) -> None:
        self._real = real
        self._connection = real.connection
        proto = real.connection._proto
        self._decoder = proto._frame_decoder
        self._messages = proto._message_decoder
        self._pending = bytearray()  # received, not yet cut into frames or handed to wsproto

    @classmethod
    def install(cls, ws: object) -> bool:
        """Put a :class:`FastFrames` in front of ``ws``'s wsproto connection; False if it can't.

        ``ws`` is an open client ``trio_websocket.WebSocketConnection`` whose reader has not
        started another connection's parse (it only runs between events and reads).
        """
        real = getattr(ws, "_wsproto", None)
        if real is None or isinstance(real, cls):
            return False
        connection = getattr(real, "connection", None)
        try:
            proto = connection._proto  # type: ignore[union-attr]
            decoder, messages = proto._frame_decoder, proto._message_decoder
            known = (
                hasattr(decoder, "header")
                and hasattr(decoder, "buffer")
                and hasattr(messages, "opcode")
                and hasattr(connection, "_events")
            )
        except AttributeError:
            return False
        if not known or real.state is not _OPEN:
            return False
        ws._wsproto = cls(real)  # type: ignore[attr-defined]
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    @property
    def state(self) -> ConnectionState:
        """The connection's state, as wsproto keeps it."""
        state: ConnectionState = self._real.state
        return state

    def send(self, event: Event) -> bytes:
        """Frame ``event`` for sending (wsproto's)."""
        data: bytes = self._real.send(event)
        return data

    def _between_messages(self) -> bool:
        """Whether wsproto holds no part of a frame or message: the next byte starts a frame."""
        decoder = self._decoder
        return (
            decoder.header is None
            and not len(decoder.buffer)
            and self._messages.opcode is None
            and not self._connection._events
        )

    def receive_data(self, data: bytes | None) -> None:
        """Take bytes from the network (None: the connection ended without a close frame)."""
        if data is None:
            self._hand_on()
            self._real.receive_data(None)
        elif not self._pending and not self._between_messages():
            self._real.receive_data(data)  # wsproto is inside a frame: it keeps parsing
        else:
            self._pending += data

    def events(self) -> Generator[Event, None, None]:
        """The events of the bytes received so far, in order."""
        yield from self._real.events()
        pending = self._pending
        while pending:
            if self._real.state is not _OPEN:
                break
            size = len(pending)
            if size < 2:
                break
            first, second = pending[0], pending[1]
            length, start = second, 2
            if second == 126:
                if size < 4:
                    break
                length, start = int.from_bytes(pending[2:4], "big"), 4
            elif second == 127:
                if size < 10:
                    break
                length, start = int.from_bytes(pending[2:10], "big"), 10
            end = start + length
            # wsproto's cases: a set mask bit (0x80 in the second byte) or a length in more
            # bytes than it needs (RFC 6455 §5.2) come only from a faulty server, and wsproto
            # closes that connection with 1002.
            if (
                first in (_TEXT, _BINARY)
                and second < 0x80
                and length <= FAST_LIMIT
                and (start == 2 or length >= (126 if start == 4 else 0x10000))
            ):
                if size < end:
                    break  # the rest of the frame is still to come
                if self._between_messages():
                    payload = bytes(pending[start:end])
                    event: Event | None
                    if first == _BINARY:
                        event = BytesMessage(data=payload)
                    else:
                        try:
                            event = TextMessage(data=payload.decode())
                        except UnicodeDecodeError:
                            event = None  # wsproto closes the connection with 1007
                    if event is not None:
                        del pending[:end]
                        yield event
                        continue
            self._hand_on()
            yield from self._real.events()
        if pending and self._real.state is not _OPEN:
            self._hand_on()
            yield from self._real.events()

    def _hand_on(self) -> None:
        """Give wsproto every byte not yet cut here; it parses them from the next frame on."""
        if self._pending:
            data = bytes(self._pending)
            self._pending.clear()
            if self._real.state in (_OPEN, ConnectionState.LOCAL_CLOSING):
                self._real.receive_data(data)
