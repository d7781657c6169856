"""A session that outlives its connections, against the emulator (in memory, on a mock clock)."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing

from livehandle import (
    ConnectFailed,
    InvalidArgument,
    LiveConfig,
    LiveEvent,
    ResumeFailed,
    ResumePolicy,
    SessionClosed,
    SessionPhase,
    lowlevel as m,
    open_live_session,
    tool,
)
from livehandle.testing import (
    CallTools,
    Fault,
    LiveEmulator,
    Rule,
    Say,
    Scenario,
    ToolCallSpec,
    When,
)
from tests.testing.helpers import until

TEXT = LiveConfig(response_modality="TEXT", auto_resume=True)


async def test_a_text_conversation_is_answered_across_go_aways_on_one_handle(
    autojump_clock: trio.testing.MockClock,
) -> None:
    scenario = Scenario(go_away_after_turns=2, go_away_time_left=30)
    answers: list[str] = []
    resumed: list[LiveEvent.Resumed] = []
    async with (
        LiveEmulator(scenario).in_memory() as emu,
        open_live_session(TEXT, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        for n in range(7):
            await handle.send_text(f"question {n}")
            seen = await until(events, LiveEvent.TurnComplete)
            answers.append("".join(e.text for e in seen if isinstance(e, LiveEvent.TextComplete)))
            resumed.extend(e for e in seen if isinstance(e, LiveEvent.Resumed))
        await handle.disconnect()
    assert answers == [f"You said: question {n}" for n in range(7)]
    assert len(emu.connections) >= 3
    assert [r.connection for r in resumed] == list(range(2, len(emu.connections) + 1))
    assert all(r.lost_audio_ms == 0 for r in resumed)
    assert handle.telemetry.reconnects == len(emu.connections) - 1


async def ask(handle: object, events: object, text: str) -> list[LiveEvent]:
    await handle.send_text(text)  # type: ignore[attr-defined]
    return await until(events, LiveEvent.TurnComplete)  # type: ignore[arg-type]


def answer_of(seen: list[LiveEvent]) -> str:
    return "".join(e.text for e in seen if isinstance(e, LiveEvent.TextComplete))


async def test_a_dropped_connection_is_resumed_and_the_next_turn_answered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        LiveEmulator().in_memory() as emu,
        open_live_session(TEXT, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        assert answer_of(await ask(handle, events, "one")) == "You said: one"
        await emu.connections[0].fault(Fault("drop"))
        seen = await until(events, LiveEvent.Resumed)
        assert [type(e) for e in seen[-2:]] == [LiveEvent.Reconnecting, LiveEvent.Resumed]
        assert seen[-2] == LiveEvent.Reconnecting("connection_lost", 1)
        assert seen[-1].connection == 2 and seen[-1].replayed == 0
        assert answer_of(await ask(handle, events, "two")) == "You said: two"
        assert handle.phase() is SessionPhase.ACTIVE
    assert (
        emu.connections[1].resumed_from
        == emu.connections[0].sent_messages(m.SessionResumptionUpdate)[-1].new_handle
    )
    assert not any(isinstance(e, LiveEvent.Error) for e in seen)


async def test_sends_during_a_gap_are_buffered_and_go_out_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    policy = ResumePolicy(backoff_initial=1.0, jitter=0.0)
    config = attrs.evolve(TEXT, resume_policy=policy)
    async with LiveEmulator().in_memory() as emu:
        transport = emu.memory_transport()
        async with open_live_session(config, endpoint=emu.url, transport=transport) as handle:
            events = handle.events()
            await ask(handle, events, "before")
            transport.refuse = True  # the network is down: attempts fail until it is back
            await emu.connections[0].fault(Fault("drop"))
            await until(events, LiveEvent.Reconnecting)
            await handle.send_text("during the gap")  # never raises while the session goes on
            await handle.update_instruction("be brief")
            assert handle.phase() is SessionPhase.CONNECTING
            await until(events, LiveEvent.Reconnecting)  # a second attempt failed too
            transport.refuse = False
            resumed = (await until(events, LiveEvent.Resumed))[-1]
            assert resumed.replayed == 2
            assert answer_of(await until(events, LiveEvent.TurnComplete)) == (
                "You said: during the gap"
            )
    sent = emu.connections[-1].received
    texts = [r.message for r in sent if not isinstance(r.message, m.Setup)]
    assert isinstance(texts[0], m.ClientContent)
    assert texts[0].turns[0].parts[0].text == "during the gap"
    assert isinstance(texts[1], m.ContextUpdate | m.ClientContent)  # the instruction, after it


async def test_a_fatal_close_ends_the_session_without_a_retry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        LiveEmulator().in_memory() as emu,
        open_live_session(TEXT, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        await ask(handle, events, "one")
        await emu.connections[0].fault(
            Fault("close", code=1007, reason="Request contains an invalid argument.")
        )
        with pytest.raises(InvalidArgument):
            await handle.done()
    assert len(emu.connections) == 1
    with pytest.raises(SessionClosed):
        await handle.send_text("after the end")


async def test_attempts_run_out_with_resume_failed_carrying_the_last_cause(
    autojump_clock: trio.testing.MockClock,
) -> None:
    policy = ResumePolicy(max_attempts=3, backoff_initial=1.0, backoff_max=2.0, jitter=0.0)
    config = attrs.evolve(TEXT, resume_policy=policy)
    async with LiveEmulator().in_memory() as emu:
        transport = emu.memory_transport()
        async with open_live_session(config, endpoint=emu.url, transport=transport) as handle:
            events = handle.events()
            await ask(handle, events, "one")
            transport.refuse = True
            dropped_at = trio.current_time()
            await emu.connections[0].fault(Fault("drop"))
            with pytest.raises(ResumeFailed) as info:
                await handle.done()
            gave_up_after = trio.current_time() - dropped_at
            seen = [e async for e in events]
    assert info.value.attempts == 3
    assert isinstance(info.value.cause, ConnectFailed)
    assert gave_up_after == pytest.approx(0 + 1.0 + 2.0)  # attempt 1 at once, then 1 s, 2 s
    reconnecting = [e for e in seen if isinstance(e, LiveEvent.Reconnecting)]
    assert [e.attempt for e in reconnecting] == [1, 2, 3]
    assert isinstance(seen[-1], LiveEvent.Disconnected)
    assert isinstance(seen[-2], LiveEvent.Error) and seen[-2].error is info.value


async def test_an_expired_handle_ends_the_session_with_resume_failed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    policy = ResumePolicy(backoff_initial=1.0, jitter=0.0)
    config = attrs.evolve(TEXT, resume_policy=policy)
    async with LiveEmulator(Scenario(handle_ttl=0.5)).in_memory() as emu:
        transport = emu.memory_transport()
        async with open_live_session(config, endpoint=emu.url, transport=transport) as handle:
            events = handle.events()
            await ask(handle, events, "one")
            transport.refuse = True  # the first attempt fails; the handle expires meanwhile
            await emu.connections[0].fault(Fault("drop"))
            while (await until(events, LiveEvent.Reconnecting))[-1].attempt < 2:
                pass  # attempt 2 is announced once attempt 1 has failed
            transport.refuse = False
            with pytest.raises(ResumeFailed) as info:
                await handle.done()
    assert isinstance(info.value.cause, InvalidArgument)
    assert "resumption handle" in info.value.cause.reason
    assert info.value.attempts == 2
    assert len(emu.connections) == 2


async def test_go_away_without_a_safe_point_switches_before_the_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    policy = ResumePolicy(go_away_margin=5.0)
    config = attrs.evolve(TEXT, resume_policy=policy)
    async with (
        LiveEmulator().in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        await ask(handle, events, "one")
        await handle.send_audio(bytes(640))  # something sent since the checkpoint: not safe
        went_away = trio.current_time()
        await emu.connections[0].send(m.GoAway(time_left=30.0))
        resumed = (await until(events, LiveEvent.Resumed))[-1]
        assert trio.current_time() - went_away == pytest.approx(25.0)
        assert resumed.connection == 2
        assert answer_of(await ask(handle, events, "two")) == "You said: two"
    assert emu.connections[0].close_code == 1000  # the old socket was closed first


async def test_go_away_at_a_safe_point_switches_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        LiveEmulator().in_memory() as emu,
        open_live_session(TEXT, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        await ask(handle, events, "one")
        went_away = trio.current_time()
        await emu.connections[0].send(m.GoAway(time_left=30.0))
        resumed = (await until(events, LiveEvent.Resumed))[-1]
        assert trio.current_time() == went_away
        assert (resumed.connection, resumed.replayed, resumed.lost_audio_ms) == (2, 0, 0.0)


async def test_a_tool_running_when_the_connection_drops_is_cancelled_and_runs_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runs: list[float] = []

    @tool
    async def slow_lookup(city: str) -> str:
        """Look a city up (slowly)."""
        runs.append(trio.current_time())
        await trio.sleep(10)
        return f"{city}: sunny"

    scenario = Scenario(
        rules=[
            Rule(
                When(text="weather"),
                [CallTools([ToolCallSpec("slow_lookup", {"city": "Paris"}, id="c1")]), Say("done")],
            )
        ]
    )
    config = attrs.evolve(TEXT, tools=(slow_lookup,))
    async with (
        LiveEmulator(scenario).in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        await handle.send_text("weather")
        await until(events, LiveEvent.ToolCall)
        await trio.sleep(1)  # the tool is running
        await emu.connections[0].fault(Fault("drop"))
        seen = await until(events, LiveEvent.TurnComplete)
    cancelled = [e for e in seen if isinstance(e, LiveEvent.ToolCancelled)]
    assert cancelled == [LiveEvent.ToolCancelled(("c1",), reason="connection_lost")]
    assert any(isinstance(e, LiveEvent.Resumed) for e in seen)
    assert len(runs) == 2  # the server issued the call again after resuming
    stats = handle.tool_stats
    assert (stats.calls, stats.answered, stats.cancelled_by_reconnect) == (2, 1, 1)
    assert stats.cancelled_by_server == 0 and stats.stale_dropped == 0
    answered = emu.connections[1].messages(m.ToolResponse)
    assert [r.function_responses[0].id for r in answered] == ["c1"]
    assert not emu.connections[0].messages(m.ToolResponse)
