"""What the runtime needs from a session: the surface one connection and a resuming session share.

The handle's parts (the writer, the voice runtime, the tool dispatcher, the lanes) are written
against :class:`SessionPort`, so they work the same over one L0 connection
(:class:`~livehandle.lowlevel.Session`) and over a session that outlives its connections (the
continuity layer, with ``auto_resume``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

    import trio

    from livehandle._broadcast import Subscription
    from livehandle._events import SessionEnd, SessionEvent, SessionPhase
    from livehandle._wire import messages as m

__all__ = ["SessionPort"]


class SessionPort(Protocol):
    """A logical session: send client messages, observe server events, end it."""

    @property
    def phase(self) -> SessionPhase:
        """The current phase."""
        ...

    @property
    def connection_id(self) -> int:
        """The current connection's number, from 1; a tool answer is bound to it."""
        ...

    @property
    def resume_handle(self) -> str | None:
        """The newest resumable handle, or None."""
        ...

    @property
    def end(self) -> SessionEnd | None:
        """How the session ended, or None while it is open."""
        ...

    def subscribe(
        self,
        *,
        capacity: int | None = None,
        on_lag: Literal["raise", "skip"] = "raise",
        accept: Callable[[SessionEvent], bool] | None = None,
    ) -> Subscription[SessionEvent]:
        """Subscribe to the event stream from now on."""
        ...

    def retain_events(self) -> None:
        """Keep published events for subscriptions made later, until :meth:`release_events`."""
        ...

    def release_events(self) -> None:
        """Stop keeping events for later subscriptions."""
        ...

    def add_tap(self, tap: Callable[[SessionEvent], None]) -> None:
        """Call ``tap`` synchronously with every event, in order."""
        ...

    async def wait_closed(self) -> SessionEnd:
        """Wait until the session has ended for good, and say how."""
        ...

    async def send(self, message: m.ClientMessage) -> None:
        """Queue a client message."""
        ...

    async def send_audio(self, pcm: bytes, mime_type: str) -> None:
        """Queue one microphone frame."""
        ...

    def mark_tools_executing(self) -> None:
        """Note that the client started running the pending tool calls."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> SessionEnd:
        """End the session gracefully."""
        ...

    async def run(self, *, task_status: trio.TaskStatus[SessionPort] = ...) -> SessionEnd:
        """Connect, then run until the session ends for good."""
        ...
