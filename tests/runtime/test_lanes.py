"""The lanes in isolation: routing, barge-in, holding, transcripts, overflow (no network)."""

from __future__ import annotations

import trio
import trio.testing

from livehandle._broadcast import Broadcast
from livehandle._config.delivery import Delivery
from livehandle._errors import Lagged, ServerError
from livehandle._events import LiveEvent, SessionEnd, SessionEvent
from livehandle._runtime.lanes import Hooks, Lanes
from livehandle._runtime.telemetry import SessionTelemetry
from livehandle._state import State

END = SessionEnd("server", 1011, "x", ServerError(1011, "x"))


class Rig:
    """Lanes fed by hand, as the session's reader would feed them."""

    def __init__(
        self, delivery: Delivery | None = None, capacity: int = 16, hooks: Hooks | None = None
    ) -> None:
        self.live: Broadcast[LiveEvent] = Broadcast(100_000)
        self.out = self.live.subscribe()
        self.telemetry = SessionTelemetry()
        self.lanes = Lanes(
            self.live,
            telemetry=self.telemetry,
            state=State(),
            delivery=delivery or Delivery(),
            capacity=capacity,
            hooks=hooks,
        )

    def feed(self, *events: SessionEvent) -> None:
        for event in events:
            self.lanes.route(event)

    def received(self) -> list[LiveEvent]:
        return [self.out.receive_nowait() for _ in range(self.out.pending)]


def audio(n: int) -> SessionEvent:
    return SessionEvent.AudioData(bytes([n, 0]))


def names(events: list[LiveEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


async def test_a_burst_of_model_audio_loses_nothing() -> None:
    rig = Rig()
    rig.feed(*(audio(i % 250) for i in range(5000)))
    delivered = rig.received()
    assert len(delivered) == 5000
    assert rig.telemetry.snapshot()["audio_chunks_out"] == 5000


def watching() -> Hooks:
    """An ``on_event`` hook: it must see ``Interrupted`` first, so the lanes hold new audio."""
    return Hooks(on_event=lambda event: None)


async def test_barge_in_cancels_inline_work_drops_stale_audio_and_holds_the_next_reply() -> None:
    rig = Rig(hooks=watching())
    cancelled = []

    async def inline_tool() -> None:
        with rig.lanes.barge_in.scope() as scope:
            await trio.sleep_forever()
        cancelled.append(scope.cancelled_caught)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(inline_tool)
        await trio.testing.wait_all_tasks_blocked()
        rig.feed(audio(1), SessionEvent.Interrupted(), audio(2))  # 2: the interrupted turn
        await trio.testing.wait_all_tasks_blocked()
        assert cancelled == [True]
        rig.feed(SessionEvent.TurnComplete(), audio(3))  # 3: the next reply, held for now
        assert names(rig.received()) == ["Audio"]  # only 1, from before the barge-in
        await nursery.start(rig.lanes.run)
        await trio.testing.wait_all_tasks_blocked()
        assert names(rig.received()) == ["Interrupted", "Audio", "TurnComplete"]
        rig.feed(SessionEvent.Disconnected(END))
    assert rig.telemetry.snapshot()["dropped"] == {"audio_after_interrupt": 1}


async def test_without_a_hook_interrupted_goes_out_at_once_and_nothing_is_held() -> None:
    # The control lane is not even running (as if busy with a pipeline step or a watcher):
    # the next reply's audio is not held behind it.
    rig = Rig()
    rig.feed(audio(1), SessionEvent.Interrupted(), audio(2))  # 2: the interrupted turn
    rig.feed(SessionEvent.TurnComplete(), audio(3))  # 3: the next reply
    assert names(rig.received()) == ["Audio", "Interrupted", "Audio"]
    assert rig.lanes.interrupted is False
    assert rig.lanes._held == type(rig.lanes._held)()
    async with trio.open_nursery() as nursery:
        await nursery.start(rig.lanes.run)
        await trio.testing.wait_all_tasks_blocked()
        # The lane marks the transcript in order and publishes Interrupted only once.
        assert names(rig.received()) == ["TurnComplete"]
        assert [t.interrupted for t in rig.lanes.transcript.turns] == [True]
        rig.feed(SessionEvent.Disconnected(END))
    assert rig.telemetry.snapshot()["dropped"] == {"audio_after_interrupt": 1}


async def test_drop_newest_audio_is_dropped_not_held_during_a_barge_in() -> None:
    rig = Rig(Delivery(audio="drop_newest"), hooks=watching())
    rig.feed(SessionEvent.Interrupted(), SessionEvent.TurnComplete(), audio(1), audio(2))
    assert rig.telemetry.snapshot()["dropped"] == {"audio": 2}
    assert rig.lanes._held == type(rig.lanes._held)()


async def test_held_audio_is_bounded_by_the_lane_capacity() -> None:
    rig = Rig(capacity=3, hooks=watching())
    rig.feed(SessionEvent.Interrupted(), SessionEvent.TurnComplete(), *(audio(i) for i in range(5)))
    assert len(rig.lanes._held) == 3
    assert rig.telemetry.snapshot()["dropped"] == {"audio": 2}


async def test_a_slow_hook_delays_but_does_not_silence_the_next_reply(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def slow(event: LiveEvent) -> None:
        if isinstance(event, LiveEvent.ToolCall):
            await trio.sleep(3)  # an inline tool; the barge-in cancels it

    rig = Rig(hooks=Hooks(on_event=slow))
    async with trio.open_nursery() as nursery:
        await nursery.start(rig.lanes.run)
        rig.feed(SessionEvent.ToolCall(()))
        await trio.sleep(0.5)
        rig.feed(SessionEvent.Interrupted(), SessionEvent.TurnComplete())
        rig.feed(*(audio(i) for i in range(5)), SessionEvent.Disconnected(END))
        events = [event async for event in rig.out]
        elapsed = trio.current_time()
    kinds = names(events)
    assert kinds[:2] == ["ToolCall", "Interrupted"]  # no new audio before Interrupted
    assert kinds.count("Audio") == 5  # none of the next reply is lost
    assert elapsed < 1  # the hook was cancelled, not waited for


async def test_turn_complete_publishes_every_fragment_joined_and_keeps_typed_text() -> None:
    rig = Rig()
    for event in (
        SessionEvent.UserTextSent("Book a table."),
        SessionEvent.InputTranscription("for two "),
        SessionEvent.InputTranscription("at eight"),
        SessionEvent.OutputTranscription("Sure, "),
        SessionEvent.OutputTranscription("booked."),
        SessionEvent.TurnComplete(),
    ):
        await rig.lanes._control(event)
    assert rig.received() == [
        LiveEvent.InputTranscript("Book a table. for two at eight", is_final=True),
        LiveEvent.OutputTranscript("Sure, booked.", is_final=True),
        LiveEvent.TurnComplete(None),
    ]
    (turn,) = rig.lanes.transcript.turns
    assert turn.typed
    assert turn.user.startswith("Book a table.")


async def test_control_overflow_keeps_critical_events_and_the_router_never_waits() -> None:
    rig = Rig(capacity=4)
    rig.feed(*(SessionEvent.GenerationComplete() for _ in range(4)))  # the channel is full
    rig.feed(*(SessionEvent.InputTranscription(f"t{i}") for i in range(3)))  # droppable
    rig.feed(*(SessionEvent.GenerationComplete() for _ in range(6)), audio(1))
    assert names(rig.received())[-1] == "Audio"  # delivered although the control lane is full
    rig.feed(SessionEvent.Disconnected(END))
    await rig.lanes._run_control_lane()
    events = rig.received()
    errors = [e for e in events if isinstance(e, LiveEvent.Error)]
    assert len(errors) == 1
    assert isinstance(errors[0].error, Lagged)
    assert errors[0].error.missed == 3  # only the transcripts were dropped
    assert names(events).count("GenerationComplete") == 10  # none of these is lost
    assert names(events)[-1] == "Disconnected"


async def test_the_stream_ends_after_disconnected() -> None:
    rig = Rig()
    stream = rig.live.subscribe(on_lag="skip")
    async with trio.open_nursery() as nursery:
        await nursery.start(rig.lanes.run)
        rig.feed(SessionEvent.Disconnected(END))
        seen = [event async for event in stream]
        await rig.lanes.drain(0.25)
    assert seen == [LiveEvent.Disconnected(END)]


async def test_drain_before_the_lanes_ran_returns_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rig = Rig()
    await rig.lanes.drain(0.25)
    assert trio.current_time() == 0


async def test_the_critical_backlog_is_bounded_and_a_full_one_ends_the_session() -> None:
    import pytest

    from livehandle._errors import SessionTaskFailed
    from livehandle._runtime.lanes import CONTROL_BACKLOG_LIMIT

    rig = Rig(capacity=4)  # nothing drains the control lane: a hook stuck for ever
    rig.feed(*(SessionEvent.GenerationComplete() for _ in range(4 + CONTROL_BACKLOG_LIMIT)))
    assert len(rig.lanes._backlog) == CONTROL_BACKLOG_LIMIT  # every critical event kept so far
    rig.feed(SessionEvent.InputTranscription("droppable"))  # still dropped and counted, no end
    with pytest.raises(SessionTaskFailed, match=r"control lane is stuck.*ToolCall"):
        rig.feed(SessionEvent.ToolCall(()))
    assert len(rig.lanes._backlog) == CONTROL_BACKLOG_LIMIT  # bounded
    # The session's reader ends on that error; its last events (Error, Disconnected) are
    # routed while it ends, and must not raise again.
    rig.feed(SessionEvent.Error(ServerError(1011, "x")), SessionEvent.Disconnected(END))
    await rig.lanes._run_control_lane()  # what was kept still comes out, in order, then it ends
    events = rig.received()
    assert names(events).count("GenerationComplete") == 4 + CONTROL_BACKLOG_LIMIT
    errors = [e.error for e in events if isinstance(e, LiveEvent.Error)]
    assert len(errors) == 1 and isinstance(errors[0], Lagged) and errors[0].missed == 1
    assert names(events)[-1] == "Disconnected"  # the end still comes out, last
    assert "ServerError" not in repr(events[:-1])  # the Error routed while ending: ignored
    assert rig.live.closed


async def test_the_backlog_limit_is_checked() -> None:
    import pytest

    with pytest.raises(ValueError, match="backlog_limit"):
        Lanes(
            Broadcast(),
            telemetry=SessionTelemetry(),
            state=State(),
            delivery=Delivery(),
            capacity=4,
            backlog_limit=0,
        )


async def test_output_routed_before_connected_is_published_comes_out_after_it() -> None:
    rig = Rig(capacity=3)
    connected = SessionEvent.Connected(None, False)
    rig.feed(connected, audio(1), SessionEvent.TextDelta("hi"), SessionEvent.VoiceActivityStart())
    rig.feed(audio(2))  # past the hold's bound: dropped and counted
    assert rig.received() == []  # held until the control lane has published Connected
    async with trio.open_nursery() as nursery:
        await nursery.start(rig.lanes.run)
        await trio.testing.wait_all_tasks_blocked()
        rig.feed(audio(3))  # once Connected is out, output flows straight through
        assert names(rig.received()) == ["Connected", "Audio", "TextDelta", "VadStart", "Audio"]
        rig.feed(SessionEvent.Disconnected(END))
    assert rig.telemetry.snapshot()["dropped"] == {"audio": 1}
