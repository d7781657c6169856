"""A bounded queue from synchronous senders to one receiving task, small enough for every session.

The control lane of each live session waits on one of these.  A Trio memory channel would do the
same job, but costs about 2 KiB more per idle session (its state, two channel objects, a deque
kept for ever, and the bookkeeping of a waiting receiver); a :class:`Mailbox` holds a deque only
while items wait and parks its one receiver directly.

The policy: :meth:`Mailbox.send_nowait` never waits; when ``capacity`` items are queued it raises
:exc:`trio.WouldBlock` and the sender decides what to do with the item (the control lane keeps
critical events in a bounded backlog and counts the rest as lagged).  Nothing is dropped here.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

import trio

__all__ = ["Mailbox"]

T = TypeVar("T")


class Mailbox(Generic[T]):
    """Items in order, from any number of senders that never wait to one receiving task.

    Like a Trio memory channel pair: after :meth:`close` (the senders' end) the receiver gets
    what is queued, then :exc:`trio.EndOfChannel`; after :meth:`close_receiver` what is queued
    is discarded, sends raise :exc:`trio.BrokenResourceError` and receives
    :exc:`trio.ClosedResourceError`.

    Raises:
        ValueError: ``capacity`` is smaller than 1.
    """

    __slots__ = ("_capacity", "_closed", "_items", "_receiver_closed", "_waiter")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"a mailbox holds at least 1 item, got capacity={capacity}")
        self._capacity = capacity
        self._items: deque[T] | None = None  # made at the first item
        self._waiter: trio.lowlevel.Task | None = None
        self._closed = False
        self._receiver_closed = False

    def send_nowait(self, item: T) -> None:
        """Queue ``item`` (and wake the receiver); never waits, not a checkpoint.

        Raises:
            trio.WouldBlock: ``capacity`` items are queued already.
            trio.ClosedResourceError: :meth:`close` was called.
            trio.BrokenResourceError: the receiver closed its end.
        """
        if self._closed:
            raise trio.ClosedResourceError("the mailbox was closed")
        if self._receiver_closed:
            raise trio.BrokenResourceError("the mailbox's receiver is gone")
        items = self._items
        if items is None:
            items = self._items = deque()
        elif len(items) >= self._capacity:
            raise trio.WouldBlock
        items.append(item)
        self._wake()

    def close(self) -> None:
        """No more items: the receiver gets what is queued, then :exc:`trio.EndOfChannel`."""
        self._closed = True
        self._wake()

    def close_receiver(self) -> None:
        """The receiver is done: queued items are discarded, later sends fail."""
        self._receiver_closed = True
        self._items = None
        self._wake()

    def receive_nowait(self) -> T:
        """The oldest item; never waits, not a checkpoint.

        Raises:
            trio.WouldBlock: nothing is queued.
            trio.EndOfChannel: :meth:`close` was called and everything queued was received.
            trio.ClosedResourceError: :meth:`close_receiver` was called.
        """
        if self._receiver_closed:
            raise trio.ClosedResourceError("the mailbox's receiver was closed")
        if self._items:
            return self._items.popleft()
        if self._closed:
            raise trio.EndOfChannel
        raise trio.WouldBlock

    async def receive(self) -> T:
        """The oldest item, waiting for one; always a checkpoint.  Cancelled, it takes nothing.

        Raises:
            trio.EndOfChannel: :meth:`close` was called and everything queued was received.
            trio.ClosedResourceError: :meth:`close_receiver` was called.
            RuntimeError: another task is already waiting here.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            item = self.receive_nowait()
        except trio.WouldBlock:
            pass
        else:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return item
        if self._waiter is not None:
            raise RuntimeError("a mailbox has one receiving task")
        self._items = None  # empty: an idle receiver keeps no deque
        while True:  # woken by a send or a close: the wait was the checkpoint
            self._waiter = trio.lowlevel.current_task()
            await trio.lowlevel.wait_task_rescheduled(self._abort)
            try:
                return self.receive_nowait()
            except trio.WouldBlock:
                continue

    def _wake(self) -> None:
        if (task := self._waiter) is not None:
            self._waiter = None
            trio.lowlevel.reschedule(task)

    def _abort(self, _: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
        self._waiter = None
        return trio.lowlevel.Abort.SUCCEEDED
