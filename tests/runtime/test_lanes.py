"""The lanes in isolation: routing, delivery policy, barge-in, transcripts (no network)."""

from __future__ import annotations

import trio
import trio.testing

from livehandle.broadcast import Broadcast
from livehandle.config import Delivery
from livehandle.errors import ServerError
from livehandle.events import LiveEvent, SessionEnd, SessionEvent
from livehandle.runtime.lanes import Lanes, UserTyped
from livehandle.runtime.state import State
from livehandle.runtime.telemetry import SessionTelemetry


def make(
    delivery: Delivery | None = None, capacity: int = 16
) -> tuple[Broadcast[SessionEvent], Broadcast[LiveEvent], Lanes, SessionTelemetry]:
    session_events: Broadcast[SessionEvent] = Broadcast(1000)
    live: Broadcast[LiveEvent] = Broadcast(1000)
    telemetry = SessionTelemetry()
    lanes = Lanes(
        session_events.subscribe(),
        session_events.subscribe(),
        live,
        telemetry=telemetry,
        state=State(),
        delivery=delivery or Delivery(),
        capacity=capacity,
    )
    return session_events, live, lanes, telemetry


async def test_drop_newest_drops_and_counts_when_the_fast_lane_is_full() -> None:
    session_events, _, lanes, telemetry = make(Delivery(audio="drop_newest"), capacity=2)
    for i in range(10):
        session_events.publish(SessionEvent.AudioData(bytes([i, 0])))
    session_events.close()
    await lanes._run_router()  # the fast lane is not running: its channel fills up
    assert telemetry.snapshot()["dropped"] == {"audio": 8}


async def test_lossless_delivery_waits_instead_of_dropping() -> None:
    session_events, live, lanes, telemetry = make(capacity=2)
    audio = live.subscribe()
    for i in range(10):
        session_events.publish(SessionEvent.AudioData(bytes([i, 0])))
    session_events.close()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lanes._run_router)
        await trio.testing.wait_all_tasks_blocked()
        assert audio.pending == 0  # the router waits on the full lane
        nursery.start_soon(lanes._run_fast_lane)
    received = [audio.receive_nowait() for _ in range(10)]
    assert [e.data[0] for e in received] == list(range(10))  # type: ignore[union-attr]
    assert telemetry.snapshot()["dropped"] == {}


async def test_interrupted_cancels_the_barge_in_scope_before_forwarding() -> None:
    session_events, live, lanes, _ = make()
    scope = lanes.barge_in_scope
    session_events.publish(SessionEvent.Interrupted())
    session_events.publish(SessionEvent.AudioData(b"\x00\x00"))
    session_events.close()
    await lanes._run_router()
    assert scope.cancel_called
    assert lanes.interrupted
    events = live.subscribe()
    lanes._fast(SessionEvent.AudioData(b"\x00\x00"))
    assert events.pending == 0  # dropped while interrupted
    await lanes._control(SessionEvent.Interrupted())
    assert not lanes.interrupted
    assert lanes.barge_in_scope is not scope and not lanes.barge_in_scope.cancel_called
    lanes._fast(SessionEvent.AudioData(b"\x01\x00"))
    assert [type(events.receive_nowait()).__name__ for _ in range(2)] == ["Interrupted", "Audio"]


async def test_turn_complete_publishes_every_fragment_joined_and_keeps_typed_text() -> None:
    _, live, lanes, _ = make()
    events = live.subscribe()
    for item in (
        UserTyped("Book a table."),
        SessionEvent.InputTranscription("for two "),
        SessionEvent.InputTranscription("at eight"),
        SessionEvent.OutputTranscription("Sure, "),
        SessionEvent.OutputTranscription("booked."),
        SessionEvent.TurnComplete(),
    ):
        await lanes._control(item)
    assert [events.receive_nowait() for _ in range(3)] == [
        LiveEvent.InputTranscript("Book a table. for two at eight", is_final=True),
        LiveEvent.OutputTranscript("Sure, booked.", is_final=True),
        LiveEvent.TurnComplete(None),
    ]
    (turn,) = lanes.transcript.turns
    assert turn.typed and turn.user.startswith("Book a table.")


async def test_the_stream_ends_after_disconnected_once_both_lanes_drained() -> None:
    session_events, live, lanes, _ = make()
    stream = live.subscribe(on_lag="skip")
    end = SessionEnd("server", 1011, "x", ServerError(1011, "x"))
    async with trio.open_nursery() as nursery:
        await nursery.start(lanes.run)
        session_events.publish(SessionEvent.Disconnected(end))
        session_events.close()
        seen = [event async for event in stream]
        await lanes.drain(0.25)
    assert seen == [LiveEvent.Disconnected(end)]
