"""The L0 send path: the caller writes while the socket is free, a writer only under backpressure.

Over the in-memory transport under MockClock: a transport of capacity 1 whose server end stops
reading makes writes block exactly where a test wants them to.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from livehandle._errors import SessionClosed
from livehandle._session import SessionOptions, open_session
from livehandle._transport import Endpoint, MemoryTransport
from livehandle._wire import messages as m
from livehandle._wire.codec import decode_client, encode_server

if TYPE_CHECKING:
    from livehandle._transport.memory import MemoryConnection

SETUP = m.Setup(model="models/test-model")
ENDPOINT = Endpoint.from_url("ws://127.0.0.1:1/live")


class Peer:
    """The server end: answers the setup, then reads only while ``reading`` is set.

    A peer made with ``reading=False`` has not started reading: with a transport of capacity 1
    the first message fills the transport and the next write blocks.
    """

    def __init__(self, *, reading: bool = True) -> None:
        self.reading = trio.Event()
        if reading:
            self.reading.set()
        self.texts: list[str] = []
        self.conn: MemoryConnection | None = None

    async def __call__(self, conn: MemoryConnection) -> None:
        self.conn = conn
        assert isinstance(decode_client(await conn.receive()), m.Setup)
        await conn.send(encode_server(m.SetupComplete()).encode())
        while True:
            await self.reading.wait()
            message = decode_client(await conn.receive())
            assert isinstance(message, m.RealtimeInput) and message.text is not None
            self.texts.append(message.text)

    def stop_reading(self) -> None:
        """Stop after the read already waiting (if any)."""
        self.reading = trio.Event()


def text(value: str) -> m.RealtimeInput:
    return m.RealtimeInput(text=value)


def session_tasks() -> int:
    """Tasks in the whole run now (the test's own included)."""

    def count(task: trio.lowlevel.Task) -> int:
        return 1 + sum(count(t) for n in task.child_nurseries for t in n.child_tasks)

    return count(trio.lowlevel.current_root_task())


async def test_an_idle_session_runs_no_writer_and_a_send_starts_none(
    autojump_clock: trio.testing.MockClock,
) -> None:
    peer = Peer()
    async with open_session(SETUP, endpoint=ENDPOINT, transport=MemoryTransport(peer)) as session:
        await trio.testing.wait_all_tasks_blocked()
        idle = session_tasks()
        for i in range(5):
            await session.send(text(f"t{i}"))
            assert session.messages_written == i + 1  # written by the caller, before returning
            assert session_tasks() == idle
        await trio.testing.wait_all_tasks_blocked()
        assert peer.texts == [f"t{i}" for i in range(5)]


async def test_a_writer_runs_only_while_there_is_a_backlog(
    autojump_clock: trio.testing.MockClock,
) -> None:
    peer = Peer(reading=False)
    transport = MemoryTransport(peer, capacity=1)
    async with open_session(SETUP, endpoint=ENDPOINT, transport=transport) as session:
        await trio.testing.wait_all_tasks_blocked()
        idle = session_tasks()
        await session.send(text("a"))  # into the transport's one slot
        async with trio.open_nursery() as senders:
            senders.start_soon(session.send, text("b"))  # its caller's write blocks
            await trio.testing.wait_all_tasks_blocked()
            for value in "cde":  # queued behind "b"
                await session.send(text(value))
            assert session.messages_written == 1
            peer.reading.set()
        await trio.testing.wait_all_tasks_blocked()
        assert peer.texts == list("abcde")
        assert session.messages_written == 5
        assert session_tasks() == idle  # the writer ended with the backlog


async def test_concurrent_senders_keep_the_order_sends_were_accepted_in(
    autojump_clock: trio.testing.MockClock,
) -> None:
    peer = Peer()
    rng = random.Random(7)
    transport = MemoryTransport(peer, capacity=2)
    options = SessionOptions(outbound_capacity=4)
    accepted: list[str] = []
    async with open_session(
        SETUP, endpoint=ENDPOINT, transport=transport, options=options
    ) as session:

        async def sender(name: str) -> None:
            for i in range(30):
                value = f"{name}{i}"
                await session.send(text(value))
                accepted.append(value)  # no checkpoint between returning and this line
                if rng.random() < 0.5:
                    await trio.sleep(rng.random() / 100)

        async def stall() -> None:
            for _ in range(20):  # the peer stops reading now and then
                await trio.sleep(rng.random() / 50)
                peer.stop_reading()
                await trio.sleep(rng.random() / 50)
                peer.reading.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(stall)
            for name in "abcd":
                nursery.start_soon(sender, name)
        await trio.testing.wait_all_tasks_blocked()
    assert len(peer.texts) == 120
    for name in "abcd":  # each sender's messages in its own order
        assert [v for v in peer.texts if v[0] == name] == [f"{name}{i}" for i in range(30)]
    # A send that returned was written or queued, and what is queued goes out in queue order:
    # the wire order is the order the sends were accepted in, except that a send still in its
    # own write when a later one was queued returns after it.  Each message is at most
    # `outbound_capacity + 1` places from its place in the acceptance order.
    for position, value in enumerate(peer.texts):
        assert abs(accepted.index(value) - position) <= options.outbound_capacity + 1


async def test_a_cancel_during_a_write_lets_the_frame_finish_whole(
    autojump_clock: trio.testing.MockClock,
) -> None:
    peer = Peer(reading=False)
    transport = MemoryTransport(peer, capacity=1)
    async with open_session(SETUP, endpoint=ENDPOINT, transport=transport) as session:
        await session.send(text("a"))
        after: list[str] = []
        scope = trio.CancelScope()

        async def release() -> None:
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()  # the send below is in its write: it must finish
            await trio.sleep(1)
            peer.reading.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(release)
            with scope:
                await session.send(text("b"))
                after.append("returned")  # the write finished: the send returns normally
                assert trio.current_time() == pytest.approx(1.0)
                await trio.lowlevel.checkpoint()  # the cancel is raised here
                after.append("not reached")
        assert scope.cancelled_caught
        assert after == ["returned"]
        assert session.messages_written == 2
        await trio.testing.wait_all_tasks_blocked()
        assert peer.texts == ["a", "b"]


async def test_a_cancelled_send_waiting_for_the_socket_sends_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    peer = Peer(reading=False)
    transport = MemoryTransport(peer, capacity=1)
    options = SessionOptions(outbound_capacity=1)
    async with open_session(
        SETUP, endpoint=ENDPOINT, transport=transport, options=options
    ) as session:
        await session.send(text("a"))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(session.send, text("b"))  # in its write
            await trio.testing.wait_all_tasks_blocked()
            await session.send(text("c"))  # queued
            with trio.move_on_after(1) as waiting:
                await session.send(text("never"))  # the queue is full: it waits
            assert waiting.cancelled_caught
            peer.reading.set()
        await trio.testing.wait_all_tasks_blocked()
        assert peer.texts == ["a", "b", "c"]


async def test_a_peer_that_stops_reading_gets_the_connection_aborted_after_write_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    peer = Peer(reading=False)
    transport = MemoryTransport(peer, capacity=1)
    options = SessionOptions(write_timeout=3.0)
    async with open_session(
        SETUP, endpoint=ENDPOINT, transport=transport, options=options
    ) as session:
        await session.send(text("a"))
        start = trio.current_time()
        with trio.move_on_after(1):  # a cancel during the write cannot cut the frame short ...
            await session.send(text("stuck"))
        # ... but the write is bounded: the connection is aborted after write_timeout.
        assert trio.current_time() - start == pytest.approx(options.write_timeout)
        end = await session.wait_closed()
        assert end.error is not None
        assert session.messages_written == 1
        with pytest.raises(SessionClosed):
            await session.send(text("after"))
