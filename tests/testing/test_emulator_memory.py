"""The emulator in memory: the same server as over a socket, with no socket and a mock clock."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing

from livehandle._errors import ConnectFailed, ConnectionLost, InvalidArgument
from livehandle._events import SessionEvent
from livehandle._session import open_session
from livehandle._transport import Connection, Endpoint, MemoryTransport
from livehandle._wire import messages as m
from livehandle.testing import MEMORY_URL, Fault, LiveEmulator, Rule, Say, Scenario, When
from tests.testing.helpers import (
    SETUP_TEXT,
    assert_key_kept_but_never_shown,
    connect,
    text_of,
    until,
    user_text,
)

KEY = "AIzaSy-emulator-memory-key"


async def test_in_memory_serves_a_turn_without_a_socket_on_a_mock_clock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    emulator = LiveEmulator()
    async with emulator.in_memory() as emu:
        assert emu is emulator
        assert emu.url == MEMORY_URL
        assert repr(emu) == f"<LiveEmulator {MEMORY_URL} connections=0>"
        async with connect(emu) as (session, events):
            await session.send(user_text("hi"))
            assert text_of(await until(events, SessionEvent.TurnComplete)) == "You said: hi"
        await emu.connections[0].wait_closed()
    conn = emulator.connections[0]
    assert conn.path == "/"
    assert conn.headers["host"] == "emulator.livehandle.invalid"
    assert conn.messages(m.ClientContent) == [user_text("hi")]
    assert (conn.close_code, conn.close_reason) == (1000, "")
    assert repr(emulator) == "<LiveEmulator not serving connections=1>"
    with pytest.raises(RuntimeError, match="not serving"):
        _ = emulator.url


async def test_an_unknown_path_is_refused_with_404_before_anything_runs() -> None:
    async with LiveEmulator().in_memory() as emu:
        endpoint = Endpoint.from_url(f"{emu.url}/nope?key={KEY}")
        with pytest.raises(ConnectFailed) as info:
            async with open_session(
                SETUP_TEXT, endpoint=endpoint, transport=emu.memory_transport()
            ):
                pytest.fail("must not connect")
    assert info.value.status_code == 404
    assert "not a Live API path" in str(info.value)
    assert KEY not in str(info.value)
    assert emu.connections == []


@pytest.mark.parametrize("in_query", [False, True])
async def test_a_configured_key_is_checked_in_header_or_query(in_query: bool) -> None:
    async with LiveEmulator(api_key=KEY).in_memory() as emu:
        good = Endpoint.google_ai(KEY, base_url=emu.url, key_in_query=in_query)
        async with connect(emu, endpoint=good):
            pass
        bad = Endpoint.google_ai("wrong", base_url=emu.url, key_in_query=in_query)
        with pytest.raises(InvalidArgument) as info:
            async with open_session(SETUP_TEXT, endpoint=bad, transport=emu.memory_transport()):
                pytest.fail("must not connect")
    assert info.value.reason == "API key not valid. Please pass a valid API key."
    assert [conn.close_code for conn in emu.connections] == [1000, 1007]
    assert_key_kept_but_never_shown(emu, KEY, in_query=in_query)


async def test_ephemeral_and_bearer_tokens_are_checked() -> None:
    async with LiveEmulator(
        ephemeral_tokens={"auth_tokens/ok"}, bearer_tokens={"tok"}
    ).in_memory() as emu:
        transport = emu.memory_transport()
        async with connect(
            emu, endpoint=Endpoint.ephemeral_token("auth_tokens/ok", base_url=emu.url)
        ):
            pass
        wrong = Endpoint.ephemeral_token("auth_tokens/no", base_url=emu.url)
        with pytest.raises(InvalidArgument):
            async with open_session(SETUP_TEXT, endpoint=wrong, transport=transport):
                pytest.fail("must not connect")
        vertex = Endpoint.vertex(project="p", location="l", token=lambda: "bad", base_url=emu.url)
        setup = attrs.evolve(SETUP_TEXT, model=vertex.model_name("gemini-3.8-live"))
        with pytest.raises(InvalidArgument) as info:
            async with open_session(setup, endpoint=vertex, transport=transport):
                pytest.fail("must not connect")
    assert info.value.reason == "Request had invalid authentication credentials."


def faulty(fault: Fault) -> Scenario:
    return Scenario(rules=[Rule(When(text="fault"), [Say("before"), fault, Say("after")])])


async def test_a_drop_is_a_lost_connection_without_a_close_frame() -> None:
    async with LiveEmulator(faulty(Fault("drop"))).in_memory() as emu, connect(emu) as (session, _):
        await session.send(user_text("fault"))
        end = await session.wait_closed()
    assert isinstance(end.error, ConnectionLost)
    assert emu.connections[0].close_code == 1006


async def test_a_close_fault_reaches_the_client_with_its_code_and_reason() -> None:
    fault = Fault("close", code=1008, reason="Your project has been denied access")
    async with LiveEmulator(faulty(fault)).in_memory() as emu, connect(emu) as (session, events):
        await session.send(user_text("fault"))
        end = await session.wait_closed()
        seen = [event async for event in events]
    assert (end.code, end.reason) == (1008, "Your project has been denied access")
    assert text_of(seen) == "before"  # what was sent before the close arrives first
    assert (emu.connections[0].close_code, emu.connections[0].close_reason) == (
        end.code,
        end.reason,
    )


async def test_a_test_acts_on_a_live_in_memory_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with LiveEmulator().in_memory() as emu, connect(emu) as (session, events):
        conn = emu.connections[0]
        await conn.send(m.GoAway(time_left=3.0))
        go_away = (await until(events, SessionEvent.GoAway))[-1]
        assert go_away.time_left == 3.0
        await conn.fault(Fault("close", code=1011, reason="overloaded"))
        end = await session.wait_closed()
    # after its goAway, the server's close is the announced end of the connection
    assert (end.code, end.reason, end.error) == (1011, "go_away", None)
    assert conn.close_reason == "overloaded"
    with pytest.raises(RuntimeError, match="not open"):
        await conn.send(m.GoAway(time_left=1.0))


async def drain(conn: Connection) -> None:
    while True:
        await conn.receive()


async def test_stopping_the_emulator_drops_its_in_memory_connections(
    autojump_clock: trio.testing.MockClock,
) -> None:
    scenario = Scenario(default=[Say("a very long answer " * 2000)])
    emulator = LiveEmulator(scenario)
    async with trio.open_nursery() as nursery:
        async with emulator.in_memory() as emu:
            # A small buffer that nobody reads: the emulator's sends back up and wait.
            transport = emu.memory_transport(capacity=2)
            conn = await transport.connect(Endpoint.from_url(emu.url), nursery)
            await conn.send('{"setup": {"model": "models/gemini-3.8-live"}}')
            await conn.send('{"realtimeInput": {"text": "go"}}')
            await trio.testing.wait_all_tasks_blocked()
            start = trio.current_time()
        assert trio.current_time() == start  # stopping waited for nothing
        with pytest.raises(ConnectionLost):
            await drain(conn)
    assert emulator.connections[0].close_code == 1006


async def test_memory_transport_needs_a_serving_emulator_and_refuses_after_it_stopped() -> None:
    emulator = LiveEmulator()
    with pytest.raises(RuntimeError, match="not serving"):
        emulator.memory_transport()
    async with emulator.in_memory():
        transport = emulator.memory_transport()
        assert isinstance(transport, MemoryTransport)
    with pytest.raises(ConnectFailed) as info:
        async with open_session(
            SETUP_TEXT, endpoint=Endpoint.from_url(MEMORY_URL), transport=transport
        ):
            pytest.fail("must not connect")
    assert info.value.status_code == 503
    assert emulator.connections == []


async def test_an_emulator_serves_one_way_at_a_time() -> None:
    emulator = LiveEmulator()
    async with emulator.in_memory():
        with pytest.raises(RuntimeError, match="already serving"):
            async with emulator.in_memory():
                pytest.fail("must not serve twice")
        with pytest.raises(RuntimeError, match="already serving"):
            await emulator.serve()


async def test_a_socket_emulator_also_serves_in_memory_clients() -> None:
    with trio.fail_after(10):  # a real socket: real time, bounded
        async with LiveEmulator().running() as emu:
            assert emu.url.startswith("ws://127.0.0.1:")
            async with connect(emu) as (socket_session, socket_events):
                await socket_session.send(user_text("over tcp"))
                await until(socket_events, SessionEvent.TurnComplete)
            endpoint = Endpoint.from_url(emu.url)
            async with open_session(
                SETUP_TEXT, endpoint=endpoint, transport=emu.memory_transport()
            ) as session:
                await session.send(user_text("in memory"))
    assert [conn.messages(m.ClientContent) for conn in emu.connections] == [
        [user_text("over tcp")],
        [user_text("in memory")],
    ]
