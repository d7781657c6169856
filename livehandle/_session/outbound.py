"""The L0 session's send path: write in the caller's task while the socket is free.

A microphone sends one small frame every 20 ms.  Handing each frame to a writer task costs a
scheduler round trip per frame, about as much as everything else the frame costs.  So
:class:`Outbound` writes a message in the task that sends it whenever nothing else is being
written, and starts a writer task only under backpressure:

* **idle** (nothing queued, nothing being written): the caller writes its message itself;
* **busy** (a write is in flight, from a caller or from the writer task): the message is queued
  (bounded; the sender waits while the queue is full: lossless), and whoever holds the socket
  hands the queue on: a caller that finishes its write with messages queued behind it starts the
  writer task, which drains the queue in batches and ends once it is empty.

Order: a message is written directly only when nothing is queued or in flight, and queued
messages are written in the order they were queued, so messages leave in the order the calls
were accepted.

Cancellation never cuts a frame in half.  A caller's write runs shielded, bounded by
``write_timeout``: once it has started it finishes (a cancel takes effect at the caller's next
checkpoint), or, when the peer has stopped reading for that long, the connection is aborted,
which ends the session.  The writer task is only ever cancelled when the connection has already
ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from livehandle._errors import ConnectionClosed
from livehandle._logs import library_logger

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from livehandle._transport.base import Connection
    from livehandle._wire import messages as m

__all__ = ["Outbound"]

log = library_logger("livehandle.session")

#: A queued message: its JSON text, and its decoded form (None for an audio frame).
Queued = tuple[str, "m.ClientMessage | None"]


class Outbound:
    """Sends a session's client messages in order (see the module docstring).

    Args:
        capacity: how many messages may wait in the queue before a sender waits.
        write_timeout: the longest one write may take once it has started, in seconds.
        after_send: called with each message's decoded form once it has been written, in order.
    """

    __slots__ = (
        "_accepting",
        "_after_send",
        "_busy",
        "_capacity",
        "_connection",
        "_idle",
        "_nursery",
        "_queue_receive",
        "_queue_send",
        "_send_atomic",
        "_send_batch",
        "_stopped",
        "_write_timeout",
        "_writer_scope",
        "written",
    )

    def __init__(
        self,
        capacity: int,
        write_timeout: float,
        after_send: Callable[[m.ClientMessage | None], None],
    ) -> None:
        self._capacity = capacity
        self._write_timeout = write_timeout
        self._after_send = after_send
        # lossless: a sender waits while the queue is full; made when a first message must wait
        # (an idle session, or one whose writes never overlap, keeps no channel)
        self._queue_send: trio.MemorySendChannel[Queued] | None = None
        self._queue_receive: trio.MemoryReceiveChannel[Queued] | None = None
        self._connection: Connection | None = None
        self._send_batch: Callable[[Sequence[str]], Awaitable[None]] | None = None
        self._send_atomic: Callable[[str, float], Awaitable[None]] | None = None
        self._nursery: trio.Nursery | None = None
        self._busy = False  # a write is in flight, or the writer task is running
        self._writer_scope: trio.CancelScope | None = None
        # flush() waits here for _busy to clear (made when a flush first waits)
        self._idle: trio.lowlevel.ParkingLot | None = None
        self._accepting = True  # until close() or stop()
        self._stopped = False
        self.written = 0  # messages written so far

    def attach(self, connection: Connection, nursery: trio.Nursery) -> None:
        """Start writing to ``connection``; the writer task, when needed, runs in ``nursery``."""
        self._connection = connection
        self._send_batch = getattr(connection, "send_batch", None)
        self._send_atomic = getattr(connection, "send_atomic", None)
        self._nursery = nursery

    @property
    def busy(self) -> bool:
        """True while a write is in flight or messages are queued."""
        return self._busy

    async def send(self, text: str, message: m.ClientMessage | None) -> None:
        """Write ``text`` now if the socket is free, else queue it (waits while the queue is full).

        Returns once the message is written or queued.  The caller has checked that the session
        is open and has passed a cancel point.

        Raises:
            trio.ClosedResourceError: no more messages are accepted (the session is closing or
                has ended).
        """
        if not self._busy and self._connection is not None:
            if not self._accepting:
                raise trio.ClosedResourceError
            await self._write_now(text, message)
            return
        queue = self._queue_send
        if queue is None:
            if not self._accepting:
                raise trio.ClosedResourceError
            queue, self._queue_receive = trio.open_memory_channel[Queued](self._capacity)
            self._queue_send = queue
        try:
            queue.send_nowait((text, message))
        except trio.WouldBlock:
            await queue.send((text, message))
        except trio.BrokenResourceError:
            raise trio.ClosedResourceError from None

    async def _write_now(self, text: str, message: m.ClientMessage | None) -> None:
        self._busy = True
        try:
            if self._send_atomic is not None:  # the connection keeps frames whole itself
                try:
                    await self._send_atomic(text, self._write_timeout)
                except ConnectionClosed:
                    return  # the reader sees the same close and ends the session
                self._after_send(message)
                self.written += 1
                return
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + self._write_timeout
                written = await self._write((text,))
            if scope.cancelled_caught:
                await self._abort("a write could not finish")
                written = False
            if written:
                self._after_send(message)  # first: what it publishes predates the count
                self.written += 1
        finally:
            self._hand_on()

    def _hand_on(self) -> None:
        """After a caller's write: start the writer for what queued meanwhile, or go idle."""
        if self._stopped or self._nursery is None:
            self._set_idle()
            return
        queue = self._queue_send
        if queue is not None and queue.statistics().current_buffer_used:
            self._writer_scope = trio.CancelScope()
            self._nursery.start_soon(self._run_writer, self._writer_scope)
        else:
            self._set_idle()

    def _set_idle(self) -> None:
        self._busy = False
        if self._idle is not None:
            self._idle.unpark_all()

    async def _write(self, texts: Sequence[str]) -> bool:
        """Write ``texts`` in order; False when the connection has closed (nothing more goes)."""
        connection = self._connection
        assert connection is not None
        try:
            if self._send_batch is not None:
                await self._send_batch(texts)
            else:
                for text in texts:
                    await connection.send(text)
        except ConnectionClosed:
            return False  # the reader sees the same close and ends the session
        return True

    async def _abort(self, why: str) -> None:
        log.warning("%s within %g s; aborting the connection", why, self._write_timeout)
        assert self._connection is not None
        with trio.CancelScope(shield=True):
            await self._connection.aclose(1011, "write timeout")

    async def _run_writer(self, scope: trio.CancelScope) -> None:
        """Drain the queue in batches (one write per batch), then end."""
        queue = self._queue_receive
        assert queue is not None  # started only for queued messages
        limit = self._capacity
        try:
            with scope:
                while True:
                    batch: list[Queued] = []
                    while len(batch) < limit:
                        try:
                            batch.append(queue.receive_nowait())
                        except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                            break
                    if not batch or not await self._write([text for text, _ in batch]):
                        return
                    for _, message in batch:
                        self._after_send(message)
                    self.written += len(batch)
        finally:
            self._set_idle()

    def close(self) -> None:
        """Accept no more messages; what is queued or in flight still goes out (see flush)."""
        self._accepting = False
        if self._queue_send is not None:
            self._queue_send.close()

    async def flush(self) -> None:
        """Wait until nothing is queued or in flight (the caller bounds the wait)."""
        while self._busy:
            if self._idle is None:
                self._idle = trio.lowlevel.ParkingLot()
            await self._idle.park()

    def stop(self) -> None:
        """The connection has ended: stop writing; what is still queued is dropped."""
        self._accepting = False
        self._stopped = True
        if self._queue_send is not None and self._queue_receive is not None:
            self._queue_send.close()
            self._queue_receive.close()
        if self._writer_scope is not None:
            self._writer_scope.cancel()
        if not self._busy and self._idle is not None:
            self._idle.unpark_all()
