"""What the responder needs from the connection it answers on (the engine implements it).

Written as a protocol so that the responder never imports the engine (no back-pointer, no cycle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import trio

    from livehandle._wire import messages as m
    from livehandle.testing._conversation import Conversation
    from livehandle.testing._host import EmulatorHost
    from livehandle.testing._record import EmulatorConnection

__all__ = ["Line"]


class Line(Protocol):
    """The connection as the responder uses it (implemented by the connection's engine)."""

    @property
    def host(self) -> EmulatorHost:
        """The emulator serving the connection."""
        ...

    @property
    def record(self) -> EmulatorConnection:
        """The connection's record (its index; where problems are noted)."""
        ...

    @property
    def setup(self) -> m.Setup | None:
        """The connection's setup message, once received."""
        ...

    @property
    def nursery(self) -> trio.Nursery | None:
        """The connection's nursery, while it runs; tasks started there end with it."""
        ...

    @property
    def interrupts(self) -> bool:
        """User activity interrupts a reply (activity handling is not NO_INTERRUPTION)."""
        ...

    @property
    def audio_out(self) -> bool:
        """The model answers with audio."""
        ...

    @property
    def resumption(self) -> bool:
        """The client asked for session resumption."""
        ...

    @property
    def transparent(self) -> bool:
        """Vertex transparent resumption: handles carry ``lastConsumedClientMessageIndex``."""
        ...

    @property
    def consumed(self) -> int:
        """The index of the last client message the model has consumed on this connection."""
        ...

    @property
    def silent(self) -> bool:
        """The server went silent after ``goAway``: nothing more is sent."""
        ...

    def silence(self) -> None:
        """Go silent from now on (see :attr:`silent`)."""
        ...

    def current_conversation(self) -> Conversation:
        """The conversation the connection is attached to; raises ``Stop`` once it is not."""
        ...

    async def send(self, message: m.ServerMessage) -> None:
        """Send one message; raises ``Stop`` once the connection is gone."""
        ...

    async def send_raw(self, data: str | bytes, message: m.ServerMessage | None = None) -> None:
        """Send a frame as it is; raises ``Stop`` once the connection is gone."""
        ...

    async def close(self, code: int, reason: str) -> None:
        """Close the connection with a close frame (bounded)."""
        ...

    async def drop(self) -> None:
        """End the connection without a close frame."""
        ...
