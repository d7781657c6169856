"""Findings of the fresh-eyes review of automatic resumption (each test fails on the bug)."""

from __future__ import annotations

import attrs
import trio
import trio.lowlevel
import trio.testing

from livehandle import LiveConfig, LiveEvent, lowlevel as m, open_live_session, tool
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
from tests.testing.helpers import until

TEXT = LiveConfig(response_modality="TEXT", auto_resume=True)
PCM = bytes(640)  # 20 ms of 16 kHz PCM16


def answer_of(seen: list[LiveEvent]) -> str:
    return "".join(e.text for e in seen if isinstance(e, LiveEvent.TextComplete))


async def test_sends_racing_the_end_of_a_gap_still_go_out_after_the_resume(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Bug: _submit reads _live (None), yields, then add_waiting after _replay went live; the log
    # is never all_queued again, so every later send is held as waiting and never sent.
    async with (
        LiveEmulator().in_memory() as emu,
        open_live_session(TEXT, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        for round_ in range(8):  # the race is won within a round or two
            await handle.send_text(f"q{round_}")
            await until(events, LiveEvent.TurnComplete)
            await emu.connections[-1].fault(Fault("drop"))
            stop = trio.Event()

            async def microphone(stop: trio.Event) -> None:
                while not stop.is_set():  # a sender busy across the gap, as a microphone is
                    await handle.send_audio(PCM)
                    await trio.lowlevel.checkpoint()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(microphone, stop)
                with trio.fail_after(5):
                    await until(events, LiveEvent.Resumed)
                for _ in range(5):
                    await trio.lowlevel.checkpoint()
                stop.set()
            with trio.fail_after(5):
                await handle.send_text(f"after {round_}")
                seen = await until(events, LiveEvent.TurnComplete)
            assert answer_of(seen) == f"You said: after {round_}"


async def test_an_answer_finished_during_a_go_away_switch_is_not_sent_on_the_new_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Bug: during the switch connection_id is still the old one, so the answer is accepted, held
    # in the replay log and replayed on connection 2, which re-issues the call: c1 answered twice.
    release = trio.Event()
    runs: list[float] = []

    @tool
    async def lookup(city: str) -> str:
        """Look a city up."""
        runs.append(trio.current_time())
        if len(runs) == 1:
            await release.wait()
        return f"{city}: sunny"

    scenario = Scenario(
        rules=[
            Rule(
                When(text="weather"),
                [CallTools([ToolCallSpec("lookup", {"city": "Paris"}, id="c1")]), Say("done")],
            )
        ]
    )
    config = attrs.evolve(TEXT, tools=(lookup,))
    async with (
        LiveEmulator(scenario).in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        await handle.send_text("weather")
        await until(events, LiveEvent.ToolCall)
        await trio.sleep(1)  # the tool runs; the tool-boundary handle made this a safe point
        await emu.connections[0].send(m.GoAway(time_left=30.0))  # switch at once
        release.set()  # the tool finishes while the old socket is being closed
        with trio.fail_after(10):
            await until(events, LiveEvent.TurnComplete)
    second = emu.connections[1]
    assert [r.function_responses[0].id for r in second.messages(m.ToolResponse)] == ["c1"]
    assert not second.errors
    assert handle.tool_stats.answered == 1


async def test_a_text_written_before_a_late_checkpoint_update_is_replayed_after_a_drop(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Bug: without a consumed index, a resumable update is taken to cover every message already
    # written (ReplayLog.checkpoint), so a text still in flight when the server took the checkpoint
    # is dropped from the log: never replayed, never answered, not counted.
    scenario = Scenario(rules=[Rule(When(text="two"), [Pause(30), Say("answer two")])])
    async with (
        LiveEmulator(scenario).in_memory() as emu,
        open_live_session(TEXT, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        await handle.send_text("one")
        await until(events, LiveEvent.TurnComplete)
        first = emu.connections[0]
        boundary = first.sent_messages(m.SessionResumptionUpdate)[-1].new_handle  # before "two"
        await handle.send_text("two")  # written on the wire
        await trio.sleep(1)
        # The update naming the checkpoint taken before "two" reaches the client only now
        # (network latency between the server's checkpoint and the client's read).
        await first.send(m.SessionResumptionUpdate(new_handle=boundary, resumable=True))
        await trio.sleep(0.1)
        await first.fault(Fault("drop"))
        with trio.fail_after(60):
            seen = await until(events, LiveEvent.TurnComplete)
        assert answer_of(seen) == "answer two"
