"""The lanes in isolation: routing, delivery policy, barge-in, transcripts (no network)."""

from __future__ import annotations

import trio
import trio.testing

from livehandle.broadcast import Broadcast
from livehandle.config import Delivery
from livehandle.errors import Lagged, ServerError
from livehandle.events import LiveEvent, SessionEnd, SessionEvent
from livehandle.runtime.lanes import CONTROL_EVENTS, ROUTED_EVENTS, Hooks, Lanes
from livehandle.runtime.state import State
from livehandle.runtime.telemetry import SessionTelemetry


class Rig:
    """Lanes wired to a hand-fed session broadcast."""

    def __init__(
        self,
        delivery: Delivery | None = None,
        capacity: int = 16,
        hooks: Hooks | None = None,
        subscription: int = 1000,
    ) -> None:
        self.session: Broadcast[SessionEvent] = Broadcast(1000)
        self.live: Broadcast[LiveEvent] = Broadcast(1000)
        self.telemetry = SessionTelemetry()
        self.lanes = Lanes(
            self.session.subscribe(
                capacity=subscription,
                accept=lambda e: isinstance(e, ROUTED_EVENTS + CONTROL_EVENTS),
            ),
            self.session.subscribe(capacity=subscription),
            self.live,
            telemetry=self.telemetry,
            state=State(),
            delivery=delivery or Delivery(),
            capacity=capacity,
            hooks=hooks,
        )

    def feed(self, *events: SessionEvent) -> None:
        for event in events:
            self.session.publish(event)


def audio(n: int) -> SessionEvent:
    return SessionEvent.AudioData(bytes([n, 0]))


async def test_drop_newest_drops_and_counts_when_the_fast_lane_is_full() -> None:
    rig = Rig(Delivery(audio="drop_newest"), capacity=2)
    rig.feed(*(audio(i) for i in range(10)))
    rig.session.close()
    await rig.lanes._run_router()  # the fast lane is not running: its channel fills up
    assert rig.telemetry.snapshot()["dropped"] == {"audio": 8}


async def test_lossless_delivery_waits_instead_of_dropping() -> None:
    rig = Rig(capacity=2)
    out = rig.live.subscribe()
    rig.feed(*(audio(i) for i in range(10)))
    rig.session.close()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(rig.lanes._run_router)
        await trio.testing.wait_all_tasks_blocked()
        assert out.pending == 0  # the router waits on the full lane
        nursery.start_soon(rig.lanes._run_fast_lane)
    received = [out.receive_nowait() for _ in range(10)]
    assert [e.data[0] for e in received] == list(range(10))  # type: ignore[union-attr]
    assert rig.telemetry.snapshot()["dropped"] == {}


async def test_barge_in_cancels_inline_work_and_drops_the_rest_of_the_interrupted_turn() -> None:
    rig = Rig()
    out = rig.live.subscribe()
    cancelled = []

    async def inline_tool() -> None:
        with rig.lanes.barge_in.scope() as scope:
            await trio.sleep_forever()
        cancelled.append(scope.cancelled_caught)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(inline_tool)
        await trio.testing.wait_all_tasks_blocked()
        await nursery.start(rig.lanes.run)
        rig.feed(
            audio(1),
            SessionEvent.Interrupted(),
            audio(2),  # stale: the rest of the interrupted turn
            SessionEvent.TurnComplete(),
            audio(3),  # the next reply
        )
        rig.session.close()
        events = [event async for event in out]
    assert cancelled == [True]
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Audio", "Interrupted", "TurnComplete", "Audio"]
    assert [e.data[0] for e in events if isinstance(e, LiveEvent.Audio)] == [1, 3]
    assert rig.telemetry.snapshot()["dropped"] == {"audio_after_interrupt": 1}


async def test_a_slow_hook_delays_but_does_not_silence_the_next_reply(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def slow(event: LiveEvent) -> None:
        if isinstance(event, LiveEvent.ToolCall):
            await trio.sleep(3)  # an inline tool; the barge-in cancels it

    rig = Rig(hooks=Hooks(on_event=slow))
    out = rig.live.subscribe()
    async with trio.open_nursery() as nursery:
        await nursery.start(rig.lanes.run)
        rig.feed(SessionEvent.ToolCall(()))
        await trio.sleep(0.5)
        rig.feed(SessionEvent.Interrupted(), SessionEvent.TurnComplete())
        rig.feed(*(audio(i) for i in range(5)))
        rig.session.close()
        events = [event async for event in out]
        elapsed = trio.current_time()
    kinds = [type(e).__name__ for e in events]
    assert kinds[:2] == ["ToolCall", "Interrupted"]  # no new audio before Interrupted
    assert "TurnComplete" in kinds
    assert sum(isinstance(e, LiveEvent.Audio) for e in events) == 5  # none of the reply is lost
    assert elapsed < 1  # the hook was cancelled, not waited for


async def test_turn_complete_publishes_every_fragment_joined_and_keeps_typed_text() -> None:
    rig = Rig()
    out = rig.live.subscribe()
    for event in (
        SessionEvent.UserTextSent("Book a table."),
        SessionEvent.InputTranscription("for two "),
        SessionEvent.InputTranscription("at eight"),
        SessionEvent.OutputTranscription("Sure, "),
        SessionEvent.OutputTranscription("booked."),
        SessionEvent.TurnComplete(),
    ):
        await rig.lanes._control(event)
    assert [out.receive_nowait() for _ in range(3)] == [
        LiveEvent.InputTranscript("Book a table. for two at eight", is_final=True),
        LiveEvent.OutputTranscript("Sure, booked.", is_final=True),
        LiveEvent.TurnComplete(None),
    ]
    (turn,) = rig.lanes.transcript.turns
    assert turn.typed
    assert turn.user.startswith("Book a table.")


async def test_control_lane_overflow_is_reported_not_silent() -> None:
    rig = Rig(capacity=4)
    out = rig.live.subscribe()
    rig.feed(*(SessionEvent.GenerationComplete() for _ in range(10)))
    rig.session.close()
    await rig.lanes._run_router()  # the control lane is not running: its channel fills up
    await rig.lanes._run_control_lane()
    events = [out.receive_nowait() for _ in range(out.pending)]
    errors = [e for e in events if isinstance(e, LiveEvent.Error)]
    assert len(errors) == 1
    assert isinstance(errors[0].error, Lagged)
    assert errors[0].error.missed == 6
    assert sum(isinstance(e, LiveEvent.GenerationComplete) for e in events) == 4


async def test_the_router_never_waits_for_a_stuck_control_lane() -> None:
    rig = Rig(capacity=4)
    out = rig.live.subscribe()
    rig.feed(*(SessionEvent.GenerationComplete() for _ in range(10)), audio(1))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(rig.lanes._run_router)
        nursery.start_soon(rig.lanes._run_fast_lane)  # no control lane: as if it were stuck
        await trio.testing.wait_all_tasks_blocked()
        assert isinstance(out.receive_nowait(), LiveEvent.Audio)
        nursery.cancel_scope.cancel()


async def test_the_stream_ends_after_disconnected_once_both_lanes_drained() -> None:
    rig = Rig()
    stream = rig.live.subscribe(on_lag="skip")
    end = SessionEnd("server", 1011, "x", ServerError(1011, "x"))
    async with trio.open_nursery() as nursery:
        await nursery.start(rig.lanes.run)
        rig.feed(SessionEvent.Disconnected(end))
        rig.session.close()
        seen = [event async for event in stream]
        await rig.lanes.drain(0.25)
    assert seen == [LiveEvent.Disconnected(end)]


async def test_drain_before_the_lanes_ran_returns_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rig = Rig()
    await rig.lanes.drain(0.25)
    assert trio.current_time() == 0
