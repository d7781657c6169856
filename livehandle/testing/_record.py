"""What the emulator records about each client connection, and the controls a test acts with.

An :class:`EmulatorConnection` is created when the emulator accepts a connection (over a socket
or in memory) and is filled in as the connection runs; it outlives the connection, for assertions.
Its :meth:`~EmulatorConnection.send` and :meth:`~EmulatorConnection.fault` act on the live
connection through :class:`Controls`, which the connection's engine implements; the record never
sees the engine itself.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

import attrs
import trio

from livehandle._transport.endpoints import redact_query
from livehandle._wire import messages as m
from livehandle.testing._conversation import Checkpoint, Conversation

if TYPE_CHECKING:
    from collections.abc import Callable

    from livehandle.testing._scenario import Fault

__all__ = ["Controls", "EmulatorConnection", "Received", "Sent"]

T = TypeVar("T")


class Controls(Protocol):
    """What a test can do to a live connection (implemented by the connection's engine)."""

    async def send_now(self, message: m.ServerMessage) -> None:
        """Send ``message`` now, as a task of the connection, and wait until it is sent."""
        ...

    async def inject(self, fault: Fault) -> None:
        """Apply ``fault`` now, as a task of the connection."""
        ...


def _count(items: list[object]) -> str:
    return f"<{len(items)}>"


@attrs.frozen
class Received:
    """A client message as the emulator decoded it, with the Trio time it arrived."""

    at: float
    message: m.ClientMessage


@attrs.frozen
class Sent:
    """A server frame the emulator sent: the message, or the raw frame for faults."""

    at: float
    message: m.ServerMessage | str | bytes


@attrs.define(eq=False)
class EmulatorConnection:
    """What one client connection did, for assertions; also lets a test act on it.

    Attributes:
        index: position in :attr:`~livehandle.testing.LiveEmulator.connections`.
        path: the request path including the query string (with any credential in it: the
            ``repr`` shows the path with credential values as ``***``).
        backend: ``"google_ai"`` or ``"vertex"``.
        api_version: e.g. ``"v1beta"``.
        constrained: True for ``BidiGenerateContentConstrained`` (ephemeral tokens).
        headers: request headers, names lower-cased.
        received: every decoded client message, in order.
        sent: every server frame, in order.
        setup: the connection's setup message, once received.
        resumed_from: the resumption handle it presented, if any.
        conversation: the conversation it is attached to.
        errors: problems the emulator noticed (undecodable frames, unknown call ids, refused
            resumes).
        audio_bytes: bytes of client audio this connection received and the model consumed.
        checkpoints: the checkpoints taken on this connection, one per resumable handle sent.
        close_code, close_reason: how the connection ended, once it has.
        ended_at: the Trio time the emulator saw the connection end (handles expire from it).
    """

    index: int
    path: str = attrs.field(repr=lambda path: repr(redact_query(path)))
    backend: Literal["google_ai", "vertex"]
    api_version: str
    constrained: bool
    headers: dict[str, str] = attrs.field(repr=lambda headers: f"<{len(headers)} headers>")
    received: list[Received] = attrs.field(factory=list, repr=_count)
    sent: list[Sent] = attrs.field(factory=list, repr=_count)
    setup: m.Setup | None = None
    resumed_from: str | None = None
    conversation: Conversation | None = attrs.field(
        default=None, repr=lambda c: "None" if c is None else f"<conversation {c.id}>"
    )
    errors: list[str] = attrs.field(factory=list)
    audio_bytes: int = 0
    checkpoints: list[Checkpoint] = attrs.field(factory=list, repr=_count)
    close_code: int | None = None
    close_reason: str | None = None
    ended_at: float | None = None
    closed: trio.Event = attrs.field(factory=trio.Event)
    _arrived: trio.Event = attrs.field(factory=trio.Event, repr=False)
    _controls: Controls | None = attrs.field(default=None, repr=False)

    @property
    def query(self) -> dict[str, str]:
        """The request's query parameters."""
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))

    def messages(self, kind: type[T]) -> list[T]:
        """The received messages of one class, e.g. ``conn.messages(ToolResponse)``."""
        return [r.message for r in self.received if isinstance(r.message, kind)]

    def sent_messages(self, kind: type[T]) -> list[T]:
        """The sent messages of one class, e.g. ``conn.sent_messages(ToolCall)``."""
        return [s.message for s in self.sent if isinstance(s.message, kind)]

    def record_received(self, message: m.ClientMessage) -> None:
        """Append a received message (used by the engine)."""
        self.received.append(Received(trio.current_time(), message))
        self._arrived.set()
        self._arrived = trio.Event()

    async def wait_for(self, predicate: Callable[[EmulatorConnection], bool]) -> None:
        """Wait until ``predicate(self)`` is true, checking after every message received.

        For tests that must see a message arrive before they go on (no polling, no sleeps)::

            await conn.wait_for(lambda c: len(c.messages(ToolResponse)) == 2)

        Raises:
            RuntimeError: the connection ended first.
        """
        while not predicate(self):
            if self.closed.is_set():
                raise RuntimeError(f"emulator connection {self.index} ended first")
            await self._arrived.wait()

    def mark_closed(self) -> None:
        """Note that the connection has ended (used by the engine); wakes every waiter."""
        if self.ended_at is None:
            self.ended_at = trio.current_time()
        self.closed.set()
        self._arrived.set()

    def record_sent(self, message: m.ServerMessage | str | bytes) -> None:
        """Append a sent frame (used by the engine)."""
        self.sent.append(Sent(trio.current_time(), message))

    async def send(self, message: m.ServerMessage) -> None:
        """Send a server message now, outside any scripted reply.

        Raises:
            RuntimeError: the connection has ended.
        """
        await self._live().send_now(message)

    async def fault(self, fault: Fault) -> None:
        """Apply a fault now (drop, close, malformed frame, goAway...).

        Raises:
            RuntimeError: the connection has ended.
        """
        await self._live().inject(fault)

    async def wait_closed(self) -> None:
        """Wait until this connection has ended."""
        await self.closed.wait()

    def attach(self, controls: Controls) -> None:
        """Connect the record's controls to the live connection (used by the emulator)."""
        self._controls = controls

    def _live(self) -> Controls:
        if self._controls is None or self.closed.is_set():
            raise RuntimeError(f"emulator connection {self.index} is not open")
        return self._controls
