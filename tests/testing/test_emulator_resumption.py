"""Session resumption in the emulator: checkpoints, resumes, transparent mode, expiry, lifetime.

Driven by hand, in memory and on a MockClock: raw client messages through
``emulator.memory_transport()`` where the exact message order matters, the L0 session elsewhere.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

import attrs
import pytest
import trio
import trio.testing

from livehandle._errors import ConnectionClosed, ConnectionLost
from livehandle._events import SessionEvent
from livehandle._transport import Endpoint
from livehandle._wire import messages as m
from livehandle._wire.codec import decode_server, encode_client
from livehandle.testing import (
    CallTools,
    Fault,
    LiveEmulator,
    Pause,
    Rule,
    Say,
    Scenario,
    ToolCallSpec,
    When,
)
from tests.testing.helpers import SETUP_TEXT, connect, mic, text_of, until, user_text

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from livehandle._transport.memory import MemoryConnection

T = TypeVar("T")

RESUMABLE = attrs.evolve(SETUP_TEXT, session_resumption=m.SessionResumptionConfig())
WEATHER = CallTools([ToolCallSpec("get_weather", {"city": "Paris"})])
TOOLS = (m.Tool(function_declarations=(m.FunctionDeclaration("get_weather"),)),)
SILENCE = bytes(3200)  # 100 ms of 16 kHz PCM16 silence: consumed, never a speech turn
VERTEX = Endpoint.vertex(project="p", location="l", token=lambda: "tok", base_url="ws://emu")
TRANSPARENT = attrs.evolve(
    SETUP_TEXT,
    model=VERTEX.model_name("gemini-3.8-live"),
    session_resumption=m.SessionResumptionConfig(transparent=True),
)
DEADLINE = "Deadline expired before operation could complete."


def resuming(setup: m.Setup, handle: str) -> m.Setup:
    config = setup.session_resumption or m.SessionResumptionConfig()
    return attrs.evolve(setup, session_resumption=attrs.evolve(config, handle=handle))


class Raw:
    """A bare client connection: encoded messages out, decoded messages in, nothing else."""

    def __init__(self, connection: MemoryConnection) -> None:
        self.connection = connection

    async def send(self, *messages: m.ClientMessage) -> None:
        for message in messages:
            await self.connection.send(encode_client(message))

    async def until(self, kind: type[T]) -> list[m.ServerMessage]:
        """Messages up to and including the first of ``kind``."""
        seen = []
        while True:
            message = decode_server(await self.connection.receive())
            seen.append(message)
            if isinstance(message, kind):
                return seen

    async def turn_complete(self) -> list[m.ServerMessage]:
        """Messages up to and including the next ``turnComplete``."""
        seen: list[m.ServerMessage] = []
        while not (seen and isinstance(last := seen[-1], m.ServerContent) and last.turn_complete):
            seen += await self.until(m.ServerContent)
        return seen

    async def handle(self) -> m.SessionResumptionUpdate:
        """The next resumable update."""
        while True:
            update = (await self.until(m.SessionResumptionUpdate))[-1]
            assert isinstance(update, m.SessionResumptionUpdate)
            if update.resumable:
                return update

    async def ended(self) -> tuple[int | None, str]:
        """Read to the end; ``(close code, reason)``."""
        try:
            while True:
                await self.connection.receive()
        except ConnectionClosed:
            pass
        return self.connection.close_code, self.connection.close_reason

    async def close(self) -> None:
        await self.connection.aclose()


@asynccontextmanager
async def raw(
    emu: LiveEmulator, setup: m.Setup = RESUMABLE, *, vertex: bool = False
) -> AsyncIterator[Raw]:
    endpoint = VERTEX if vertex else Endpoint.from_url(emu.url)
    async with trio.open_nursery() as nursery:
        connection = await emu.memory_transport().connect(endpoint, nursery)
        client = Raw(connection)
        await client.send(setup)
        try:
            yield client
        finally:
            await client.close()


# -- checkpoints at turn and tool boundaries --------------------------------------------------


async def test_handles_come_only_at_the_start_and_at_turn_and_tool_boundaries(
    autojump_clock: trio.testing.MockClock,
) -> None:
    scenario = Scenario(rules=[Rule(When(text="weather"), [WEATHER, Say("It is {result}.")])])
    setup = attrs.evolve(RESUMABLE, tools=TOOLS)
    async with LiveEmulator(scenario).in_memory() as emu, raw(emu, setup) as client:
        await client.send(user_text("weather?"))
        seen = await client.until(m.ToolCall)
        seen += await client.until(m.SessionResumptionUpdate)
        (call,) = seen[-2].function_calls  # type: ignore[union-attr]
        response = m.FunctionResponse(name=call.name, id=call.id, response={"output": "sunny"})
        await client.send(m.ToolResponse((response,)))
        seen += await client.until(m.SessionResumptionUpdate)  # generating again
        seen.append(await client.handle())
    updates = [
        (u.new_handle, u.resumable) for u in seen if isinstance(u, m.SessionResumptionUpdate)
    ]
    assert updates == [
        ("emu-1-1", True),  # setup: a quiet start
        (None, False),  # generating
        ("emu-1-2", True),  # the model waits for its call: a tool boundary
        (None, False),  # generating again
        ("emu-1-3", True),  # after turnComplete
    ]
    start, tool, turn = emu.connections[0].checkpoints
    assert [c.handle for c in (start, tool, turn)] == ["emu-1-1", "emu-1-2", "emu-1-3"]
    assert tool.tool_calls == (call,)
    assert tool.turns == 0 and turn.turns == 1
    assert turn.tool_calls == ()
    assert [t.text for t in turn.answered] == ["weather?"]
    assert ("model", "It is sunny.") in turn.history and (
        "model",
        "It is sunny.",
    ) not in tool.history


async def test_no_handles_without_resumption_and_none_while_generating(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with LiveEmulator().in_memory() as emu, raw(emu, SETUP_TEXT) as client:
        await client.send(user_text("hi"))
        await client.turn_complete()
        await client.send(user_text("again"))
        await client.turn_complete()
    assert emu.connections[0].checkpoints == []
    assert emu.connections[0].sent_messages(m.SessionResumptionUpdate) == []


# -- resume continues from the checkpoint -----------------------------------------------------


async def test_a_resume_restores_the_checkpoint_and_forgets_what_came_after(
    autojump_clock: trio.testing.MockClock,
) -> None:
    scenario = Scenario(
        rules=[Rule(When(text="slow"), [Pause(100), Say("late")], times=1)],
        default=[Say("turn {turn}: {user_text}")],
    )
    async with LiveEmulator(scenario).in_memory() as emu:
        async with raw(emu) as client:
            first_handle = (await client.handle()).new_handle
            await client.send(user_text("first"))
            handle = (await client.handle()).new_handle
            # consumed after the checkpoint, then lost with the connection:
            system = user_text("Be terse.", role="system", turn_complete=False)
            await client.send(system, user_text("slow"))
            await client.until(m.SessionResumptionUpdate)  # "slow" is being answered
            conversation = emu.conversations[0]
            assert conversation.rule_uses == {0: 1} and conversation.instruction == "Be terse."
        assert handle is not None and first_handle is not None
        async with raw(emu, resuming(RESUMABLE, handle)) as client:
            await client.send(user_text("second"))
            seen = await client.until(m.SessionResumptionUpdate)
            seen += await client.until(m.SessionResumptionUpdate)
            await client.handle()
        resumed = emu.conversations[0]
        assert emu.connections[1].conversation is resumed
        assert ("user", "slow") not in resumed.history
        assert resumed.instruction == "" and resumed.rule_uses == {}
        assert [t.text for t in resumed.answered] == ["first", "second"]
        assert resumed.turns == 2
        # An older handle stays valid, and resuming from it loses what came after it.
        async with raw(emu, resuming(RESUMABLE, first_handle)) as client:
            await client.handle()
        assert emu.conversations[0].answered == [] and emu.conversations[0].history == []
    assert len(emu.conversations) == 1
    assert [c.resumed_from for c in emu.connections] == [None, handle, first_handle]


async def test_calls_pending_at_a_tool_boundary_are_issued_again_and_the_reply_goes_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    scenario = Scenario(default=[Say("Let me look."), WEATHER, Say("It is {result}.")])
    setup = attrs.evolve(RESUMABLE, tools=TOOLS)
    async with LiveEmulator(scenario).in_memory() as emu:
        async with raw(emu, setup) as client:
            await client.handle()
            await client.send(user_text("weather?"))
            (first,) = (await client.until(m.ToolCall))[-1].function_calls  # type: ignore[union-attr]
            handle = (await client.handle()).new_handle
        assert handle is not None
        async with raw(emu, resuming(setup, handle)) as client:
            seen = await client.until(m.ToolCall)
            (again,) = seen[-1].function_calls  # type: ignore[union-attr]
            resumable = await client.handle()  # it still waits for the call: a tool boundary
            response = m.FunctionResponse(name=again.name, id=again.id, response={"output": "rain"})
            await client.send(m.ToolResponse((response,)))
            seen += await client.until(m.SessionResumptionUpdate)  # generating again
            rest = await client.turn_complete()
            await client.handle()
    assert again == first  # same id, same arguments
    assert [type(message) for message in seen[:2]] == [m.SetupComplete, m.ToolCall]
    (checkpoint,) = emu.connections[1].checkpoints[:1]
    assert checkpoint.handle == resumable.new_handle and checkpoint.tool_calls == (first,)
    said = [c.model_turn for c in rest if isinstance(c, m.ServerContent) and c.model_turn]
    assert "".join(p.text or "" for content in said for p in content.parts) == " It is rain."
    conversation = emu.conversations[0]
    assert [t.text for t in conversation.answered] == ["weather?"]
    assert ("model", "Let me look. It is rain.") in conversation.history


# -- a resume while the old connection is open; expiry ----------------------------------------


async def test_a_resume_while_the_old_connection_is_open_is_refused_with_1011(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with LiveEmulator().in_memory() as emu:
        async with raw(emu) as old:
            handle = (await old.handle()).new_handle
            assert handle is not None
            async with raw(emu, resuming(RESUMABLE, handle)) as refused:
                assert await refused.ended() == (1011, "Internal error occurred.")
            await old.send(user_text("still here"))  # the old connection is unharmed
            await old.handle()
        async with raw(emu, resuming(RESUMABLE, handle)) as resumed:  # once it has closed
            await resumed.handle()
    assert [c.close_code for c in emu.connections] == [1000, 1011, 1000]
    assert "resume refused" in emu.connections[1].errors[0]
    assert emu.connections[2].conversation is emu.conversations[0]


async def test_handles_expire_a_ttl_after_the_connection_that_issued_them_ended(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with LiveEmulator(Scenario(handle_ttl=60)).in_memory() as emu:
        async with raw(emu) as client:
            handle = (await client.handle()).new_handle
            assert handle is not None
            await trio.sleep(500)  # a long connection: the TTL runs from its end
        ended = trio.current_time()
        await trio.sleep(59)
        async with raw(emu, resuming(RESUMABLE, handle)) as client:
            await client.handle()
        await trio.sleep_until(ended + 60)
        async with raw(emu, resuming(RESUMABLE, handle)) as client:
            assert await client.ended() == (1007, "Invalid session resumption handle.")
        async with raw(emu, resuming(RESUMABLE, "emu-9-9")) as client:
            assert await client.ended() == (1007, "Invalid session resumption handle.")
    assert emu.checkpoint(handle) is not None and emu.checkpoint("emu-9-9") is None


async def test_the_default_ttl_is_two_hours(autojump_clock: trio.testing.MockClock) -> None:
    assert Scenario().handle_ttl == 7200
    async with LiveEmulator().in_memory() as emu:
        async with raw(emu) as client:
            handle = (await client.handle()).new_handle
        assert handle is not None
        await trio.sleep(7200)
        async with raw(emu, resuming(RESUMABLE, handle)) as client:
            assert (await client.ended())[0] == 1007


# -- Vertex transparent mode ------------------------------------------------------------------


async def test_transparent_handles_carry_the_index_of_the_last_consumed_client_message(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with LiveEmulator().in_memory() as emu, raw(emu, TRANSPARENT, vertex=True) as client:
        start = await client.handle()
        await client.send(mic(SILENCE), mic(SILENCE), user_text("hi"))  # messages 1, 2, 3
        after_turn = await client.handle()
    assert start.last_consumed_client_message_index == 0  # only setup
    assert after_turn.last_consumed_client_message_index == 3
    checkpoint = emu.connections[0].checkpoints[-1]
    assert checkpoint.consumed_index == 3 and checkpoint.audio_bytes == 2 * len(SILENCE)
    assert isinstance(emu.connections[0].received[3].message, m.ClientContent)


async def test_without_transparent_mode_no_index_is_reported(
    autojump_clock: trio.testing.MockClock,
) -> None:
    setup = attrs.evolve(TRANSPARENT, session_resumption=m.SessionResumptionConfig())
    async with LiveEmulator().in_memory() as emu, raw(emu, setup, vertex=True) as client:
        await client.send(user_text("hi"))
        await client.handle()
        update = await client.handle()
    assert update.last_consumed_client_message_index is None


async def test_transparent_resumption_is_refused_on_google_ai(
    autojump_clock: trio.testing.MockClock,
) -> None:
    setup = attrs.evolve(SETUP_TEXT, session_resumption=m.SessionResumptionConfig(transparent=True))
    async with LiveEmulator().in_memory() as emu, raw(emu, setup) as client:
        assert await client.ended() == (1007, "Request contains an invalid argument.")


async def test_quiet_checkpoints_let_a_replay_trim_exactly_and_count_each_byte_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    emu = LiveEmulator(Scenario(checkpoint_every_messages=2))
    chunks = [bytes([i, 0]) * 160 for i in range(1, 8)]  # near silence, each recognisable
    async with emu.in_memory():
        async with raw(emu, TRANSPARENT, vertex=True) as client:
            await client.handle()
            await client.send(*(mic(chunk) for chunk in chunks))
            await emu.connections[0].wait_for(lambda c: len(c.received) == 8)
            update = await client.handle()
            update = await client.handle()
            update = await client.handle()
        index = update.last_consumed_client_message_index
        assert update.new_handle is not None and index == 6
        # Replay exactly what the checkpoint did not include: message index+1 onwards.
        async with raw(emu, resuming(TRANSPARENT, update.new_handle), vertex=True) as client:
            resumed = await client.handle()
            await client.send(*(mic(chunk) for chunk in chunks[index:]))
            await emu.connections[1].wait_for(lambda c: len(c.received) == 1 + len(chunks) - index)
    assert [c.consumed_index for c in emu.connections[0].checkpoints] == [0, 2, 4, 6]
    assert resumed.last_consumed_client_message_index == 0
    assert emu.conversations[0].audio_bytes == sum(map(len, chunks))  # exactly once
    assert emu.connections[0].audio_bytes == sum(map(len, chunks))
    assert emu.connections[1].audio_bytes == sum(map(len, chunks[index:]))


# -- accounting -------------------------------------------------------------------------------


async def test_audio_is_counted_per_connection_and_in_the_lineage_from_the_checkpoint(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with LiveEmulator().in_memory() as emu:
        async with raw(emu) as client:
            await client.send(mic(SILENCE), user_text("hi"))
            handle = (await client.handle()).new_handle  # the start
            handle = (await client.handle()).new_handle  # after the turn: includes the audio
            await client.send(mic(SILENCE), mic(SILENCE))  # after it: lost with the connection
            await emu.connections[0].wait_for(lambda c: len(c.received) == 5)
            assert emu.conversations[0].audio_bytes == 3 * len(SILENCE)
        assert handle is not None
        async with raw(emu, resuming(RESUMABLE, handle)) as client:
            await client.handle()
            assert emu.conversations[0].audio_bytes == len(SILENCE)
            await client.send(mic(SILENCE))
            await emu.connections[1].wait_for(lambda c: len(c.received) == 2)
    assert [c.audio_bytes for c in emu.connections] == [3 * len(SILENCE), len(SILENCE)]
    assert emu.conversations[0].audio_bytes == 2 * len(SILENCE)


# -- faults leave a resumable conversation ----------------------------------------------------


@pytest.mark.parametrize("fault", [Fault("drop"), Fault("close")])
async def test_a_drop_or_a_1011_close_mid_reply_leaves_a_resumable_conversation(
    fault: Fault, autojump_clock: trio.testing.MockClock
) -> None:
    scenario = Scenario(
        rules=[Rule(When(text="fault"), [Say("before"), fault, Say("after")])],
        default=[Say("turn {turn}: {user_text}")],
    )
    async with LiveEmulator(scenario).in_memory() as emu:
        async with connect(emu, RESUMABLE) as (session, events):
            await session.send(user_text("one"))
            await until(events, SessionEvent.TurnComplete)
            await until(events, SessionEvent.SessionResumeUpdate)
            await session.send(user_text("fault"))
            end = await session.wait_closed()
            handle = session.resume_handle
        assert handle is not None
        async with connect(emu, resuming(RESUMABLE, handle)) as (session, events):
            await session.send(user_text("two"))
            answer = text_of(await until(events, SessionEvent.TurnComplete))
    if fault.kind == "drop":
        assert isinstance(end.error, ConnectionLost) and end.code == 1006
    else:
        assert end.code == 1011
    assert answer == "turn 2: two"
    assert [t.text for t in emu.conversations[0].answered] == ["one", "two"]


# -- connection lifetime and goAway -----------------------------------------------------------


async def test_connection_lifetime_sends_go_away_a_lead_before_and_closes_at_the_end(
    autojump_clock: trio.testing.MockClock,
) -> None:
    scenario = Scenario(connection_lifetime=600, go_away_time_left=50)
    async with LiveEmulator(scenario).in_memory() as emu, raw(emu, SETUP_TEXT) as client:
        start = trio.current_time()
        go_away = (await client.until(m.GoAway))[-1]
        at_go_away = trio.current_time() - start
        code, reason = await client.ended()
        at_close = trio.current_time() - start
    assert go_away == m.GoAway(time_left=50)
    assert at_go_away == pytest.approx(550, abs=0.01)
    assert at_close == pytest.approx(600, abs=0.01)
    assert (code, reason) == (1011, DEADLINE)


async def test_the_lifetime_close_comes_even_after_an_earlier_longer_go_away(
    autojump_clock: trio.testing.MockClock,
) -> None:
    scenario = Scenario(
        rules=[Rule(When(text="bye"), [Fault("go_away", time_left=1000)])],
        connection_lifetime=100,
        go_away_time_left=10,
    )
    async with LiveEmulator(scenario).in_memory() as emu, raw(emu, SETUP_TEXT) as client:
        start = trio.current_time()
        await client.send(user_text("bye"))
        assert (await client.until(m.GoAway))[-1] == m.GoAway(time_left=1000)
        assert await client.ended() == (1011, DEADLINE)
    assert trio.current_time() - start == pytest.approx(100, abs=0.01)


async def test_a_silent_server_answers_nothing_after_go_away_until_its_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    scenario = Scenario(
        rules=[Rule(When(text="long"), [Say("part one"), Pause(30), Say("part two")])],
        go_away_after=10,
        go_away_time_left=50,
        silent_after_go_away=True,
    )
    async with LiveEmulator(scenario).in_memory() as emu, raw(emu) as client:
        await client.send(user_text("long"))
        await client.until(m.GoAway)
        await client.send(user_text("anyone there?"))
        assert await client.ended() == (1011, DEADLINE)
    conn = emu.connections[0]
    assert len(conn.messages(m.ClientContent)) == 2  # the second turn did arrive
    assert isinstance(conn.sent[-1].message, m.GoAway)  # nothing after it: no reply, no handle
    assert conn.sent_messages(m.GoAway) == [m.GoAway(time_left=50)]
    assert emu.conversations[0].answered == []


# -- scenario fields ----------------------------------------------------------------------------


def test_scenario_resumption_fields_are_checked_and_read_from_json() -> None:
    with pytest.raises(ValueError, match="connection_lifetime"):
        Scenario(connection_lifetime=30, go_away_time_left=50)
    with pytest.raises(ValueError, match="checkpoint_every_messages"):
        Scenario(checkpoint_every_messages=0)
    with pytest.raises(ValueError, match="handle_ttl"):
        Scenario(handle_ttl=0)
    scenario = Scenario.from_dict(
        {
            "connection_lifetime": 600,
            "silent_after_go_away": True,
            "handle_ttl": 60,
            "checkpoint_every_messages": 5,
        }
    )
    assert (scenario.connection_lifetime, scenario.silent_after_go_away) == (600.0, True)
    assert (scenario.handle_ttl, scenario.checkpoint_every_messages) == (60.0, 5)
    with pytest.raises(ValueError, match="scenario: connection_lifetime"):
        Scenario.from_dict({"connection_lifetime": 10})
