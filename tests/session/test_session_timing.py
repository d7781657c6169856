"""Session timing and backpressure under MockClock, over the in-memory transport (no sockets)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from livehandle._errors import SessionClosed, SessionTimeout
from livehandle._events import SessionEvent, SessionPhase
from livehandle._session import Session, SessionOptions, open_session
from livehandle._transport import Endpoint, MemoryTransport
from livehandle._wire import messages as m
from livehandle._wire.codec import decode_client, encode_server

if TYPE_CHECKING:
    from livehandle._transport.memory import MemoryConnection

SETUP = m.Setup(model="models/test-model")
ENDPOINT = Endpoint.from_url("ws://127.0.0.1:1/live")


class HangingTransport:
    """A transport whose connect never completes (a black-holed network)."""

    async def connect(self, endpoint: Endpoint, nursery: trio.Nursery) -> MemoryConnection:
        await trio.sleep_forever()
        raise AssertionError("unreachable")


async def answer_setup(conn: MemoryConnection) -> None:
    assert isinstance(decode_client(await conn.receive()), m.Setup)
    await conn.send(encode_server(m.SetupComplete()).encode())


async def test_connect_timeout_is_bounded(autojump_clock: trio.testing.MockClock) -> None:
    options = SessionOptions(connect_timeout=3.0)
    with pytest.raises(SessionTimeout) as info:
        async with open_session(
            SETUP, endpoint=ENDPOINT, transport=HangingTransport(), options=options
        ):
            pytest.fail("must not get here")
    assert info.value.stage == "connect"
    assert str(info.value) == "timed out after 3 s waiting for the connection"
    assert trio.current_time() == pytest.approx(3.0)


async def test_messages_before_setup_complete_are_skipped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def handler(conn: MemoryConnection) -> None:
        await conn.receive()
        await conn.send(encode_server(m.SessionResumptionUpdate(new_handle="early")))
        await conn.send(b"garbage")
        await conn.send(encode_server(m.SetupComplete(session_id="s")))
        await trio.sleep_forever()

    async with open_session(
        SETUP, endpoint=ENDPOINT, transport=MemoryTransport(handler)
    ) as session:
        assert session.session_id == "s"
        assert session.phase is SessionPhase.ACTIVE


async def test_close_with_a_peer_that_never_reads_is_bounded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def handler(conn: MemoryConnection) -> None:
        await answer_setup(conn)
        await trio.sleep_forever()  # never reads again: the client's sends back up

    transport = MemoryTransport(handler, capacity=1)
    options = SessionOptions(outbound_capacity=2, close_grace=0.25)
    async with (
        open_session(SETUP, endpoint=ENDPOINT, transport=transport, options=options) as session,
        trio.open_nursery() as senders,
    ):
        await session.send(m.RealtimeInput(text="a"))  # fills the transport
        # "b" is stuck in its caller's write, "c" and "d" wait in the queue behind it.
        for text in "bcd":
            senders.start_soon(session.send, m.RealtimeInput(text=text))
            await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        end = await session.close()
        elapsed = trio.current_time() - start
    assert end.initiated_by == "client"
    assert end.ok
    assert elapsed <= 2 * options.close_grace
    assert elapsed < options.write_timeout  # the close did not wait for the write timeout


async def test_a_send_waiting_on_a_full_queue_fails_when_the_session_ends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server_end: list[MemoryConnection] = []

    async def handler(conn: MemoryConnection) -> None:
        await answer_setup(conn)
        server_end.append(conn)
        await trio.sleep_forever()

    transport = MemoryTransport(handler, capacity=1)
    options = SessionOptions(outbound_capacity=1)
    async with open_session(
        SETUP, endpoint=ENDPOINT, transport=transport, options=options
    ) as session:
        outcome: dict[str, BaseException | None] = {}

        async def send(text: str) -> None:
            try:
                await session.send(m.RealtimeInput(text=text))
            except SessionClosed as exc:
                outcome[text] = exc
            else:
                outcome[text] = None

        await session.send(m.RealtimeInput(text="a"))  # "a" sits in the transport
        async with trio.open_nursery() as nursery:
            # "b" is in its caller's write, "c" in the outbound queue, "d" waits for room.
            for text in "bcd":
                nursery.start_soon(send, text)
                await trio.testing.wait_all_tasks_blocked()
            assert outcome == {"c": None}  # queued: accepted; "b" and "d" still wait
            server_end[0].abort()
        # "b" had started its write: the connection's end ends it (not an error of the send);
        # "d" was never accepted.
        assert outcome["b"] is None
        error = outcome["d"]
        assert isinstance(error, SessionClosed)
        assert isinstance(error.cause, Exception)
        assert session.messages_written == 1  # only "a" reached the wire


async def test_server_voice_activity_moves_through_user_speaking(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def handler(conn: MemoryConnection) -> None:
        await answer_setup(conn)
        await conn.send(encode_server(m.VoiceActivity(activity_type="ACTIVITY_START")))
        await conn.send(encode_server(m.VoiceActivity(activity_type="ACTIVITY_END")))
        await conn.send(encode_server(m.ServerContent(turn_complete=True)))
        await trio.sleep_forever()

    session = Session(SETUP, endpoint=ENDPOINT, transport=MemoryTransport(handler))
    sub = session.subscribe()
    async with trio.open_nursery() as nursery:
        await nursery.start(session.run)
        seen = []
        async for event in sub:
            if isinstance(event, SessionEvent.PhaseChanged):
                seen.append(event.new)
            elif not isinstance(event, SessionEvent.Connected):
                seen.append(type(event).__name__)
            if isinstance(event, SessionEvent.TurnComplete):
                break
        await session.close()
    assert seen[-5:] == [
        SessionPhase.USER_SPEAKING,
        "VoiceActivityStart",
        SessionPhase.ACTIVE,
        "VoiceActivityEnd",
        "TurnComplete",
    ]


async def test_run_twice_is_refused(autojump_clock: trio.testing.MockClock) -> None:
    async def handler(conn: MemoryConnection) -> None:
        await answer_setup(conn)
        await trio.sleep_forever()

    async with open_session(
        SETUP, endpoint=ENDPOINT, transport=MemoryTransport(handler)
    ) as session:
        with pytest.raises(RuntimeError, match="only be run once"):
            await session.run()


class _BoundedProxyTransport:
    """A transport that bounds its own connect step (as a proxy's CONNECT would) and times out."""

    async def connect(self, endpoint: Endpoint, nursery: trio.Nursery) -> MemoryConnection:
        with trio.fail_after(0.5):
            await trio.sleep_forever()
        raise AssertionError("not reached")


async def test_a_transport_that_times_out_on_its_own_is_a_connect_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    options = SessionOptions(connect_timeout=3.0)
    with pytest.raises(SessionTimeout) as info:
        async with open_session(
            SETUP, endpoint=ENDPOINT, transport=_BoundedProxyTransport(), options=options
        ):
            pytest.fail("must not get here")
    assert info.value.stage == "connect"
    assert trio.current_time() == pytest.approx(0.5)  # the transport's bound, not the session's
