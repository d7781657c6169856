"""Step 5 of the turn pipeline: the seam a governing flow plugs into (:class:`FlowStep`).

A fake flow step stands in for the flow runtime, plugged in where the lead's wiring will plug
the real one (``assemble_live_handle(flow_step=...)``).  Sessions run on the in-memory emulator
and the mock clock.
"""

from __future__ import annotations

import functools
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import attrs
import trio

import livehandle._open
from livehandle import (
    LiveConfig,
    LiveEvent,
    SessionTaskFailed,
    TurnStepTimeout,
    extractor,
    open_live_session,
)
from livehandle._assemble import assemble_live_handle
from livehandle._config.instruction import text_content
from livehandle._runtime.pipeline import FlowOutcome
from livehandle._wire import messages as m
from livehandle.testing import LiveEmulator
from tests.testing.helpers import until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    import pytest

    from livehandle import LiveHandle, TranscriptTurn


@attrs.define
class FakeFlow:
    """Answers each boundary with one line of guidance and one StepEntered, numbered."""

    calls: list[bool] = attrs.field(factory=list)
    stall_on: int | None = None  # the boundary (1-based) that never finishes
    fail_on: int | None = None  # the boundary that raises

    async def boundary(self, starting: bool) -> FlowOutcome:
        self.calls.append(starting)
        n = len(self.calls)
        if n == self.stall_on:
            await trio.sleep_forever()
        if n == self.fail_on:
            raise RuntimeError("the governor tripped")
        return FlowOutcome(
            contents=(text_content(f"guidance {n}", "user"),),
            events=(LiveEvent.StepEntered(f"step{n}", "main"),),
        )


@extractor(name="echo")
async def echo(turns: Sequence[TranscriptTurn]) -> str:
    return turns[-1].user


def text_config(**kwargs: object) -> LiveConfig:
    return LiveConfig(response_modality="TEXT", **kwargs)  # type: ignore[arg-type]


@asynccontextmanager
async def governed(
    monkeypatch: pytest.MonkeyPatch, flow: FakeFlow | None, config: LiveConfig
) -> AsyncIterator[tuple[LiveEmulator, LiveHandle]]:
    """A session on the in-memory emulator whose pipeline runs ``flow`` at step 5."""
    monkeypatch.setattr(
        livehandle._open,
        "assemble_live_handle",
        functools.partial(assemble_live_handle, flow_step=flow),
    )
    async with (
        LiveEmulator().in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        yield emu, handle


def client_turns(emu: LiveEmulator) -> list[tuple[str, bool]]:
    """Every clientContent the session sent, as (its text, turnComplete), in order."""
    return [
        (" ".join(p.text or "" for c in msg.turns or () for p in c.parts or ()), msg.turn_complete)
        for msg in emu.connections[0].messages(m.ClientContent)
    ]


def flow_events(events: Sequence[LiveEvent]) -> list[str]:
    return [e.step for e in events if isinstance(e, LiveEvent.StepEntered)]


async def test_the_starting_boundary_runs_once_first_and_reaches_the_wire_before_the_user(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = FakeFlow()
    async with governed(monkeypatch, flow, text_config()) as (emu, handle):
        events = handle.events()  # subscribed at once: the start's events are retained for it
        assert flow.calls == [True]  # before the session was handed over
        assert client_turns(emu) == [("guidance 1", False)]
        await handle.send_text("hello")
        first = await until(events, LiveEvent.TurnComplete)
        await handle.send_text("again")
        second = await until(events, LiveEvent.TurnComplete)
    assert flow.calls == [True, False, False]  # the start once, then every turn
    assert flow_events(first) == ["step1", "step2"] and flow_events(second) == ["step3"]
    sent = client_turns(emu)
    # Immediate delivery: each boundary's guidance goes out as context before the next turn.
    assert sent == [
        ("guidance 1", False),
        ("hello", True),
        ("guidance 2", False),
        ("again", True),
        ("guidance 3", False),
    ]


async def test_deferred_delivery_sends_the_flow_guidance_with_the_next_user_send(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = FakeFlow()
    config = text_config(context_delivery="deferred")
    async with governed(monkeypatch, flow, config) as (emu, handle):
        events = handle.events()
        assert client_turns(emu) == []  # queued, not sent
        await handle.send_text("hello")
        await until(events, LiveEvent.TurnComplete)
        assert ("guidance 2", False) not in client_turns(emu)
        await handle.send_text("again")
        await until(events, LiveEvent.TurnComplete)
        sent = client_turns(emu)
    assert sent.index(("guidance 1", False)) < sent.index(("hello", True))
    assert sent.index(("guidance 2", False)) < sent.index(("again", True))


async def test_flow_events_come_after_the_extractions_and_before_turn_complete(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with governed(monkeypatch, FakeFlow(), text_config(extractors=[echo])) as (_, handle):
        events = handle.events()
        await handle.send_text("hello")
        seen = await until(events, LiveEvent.TurnComplete)
    kinds = [type(e).__name__ for e in seen]
    # the start's, right after Connected (always the first event), retained for this subscriber
    assert kinds[:2] == ["Connected", "StepEntered"]
    assert kinds[-3:] == ["Extraction", "StepEntered", "TurnComplete"]


async def test_an_overrunning_flow_step_is_reported_and_the_pipeline_goes_on(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = FakeFlow(stall_on=2)
    config = text_config(turn_step_timeout=5.0)
    async with governed(monkeypatch, flow, config) as (emu, handle):
        events = handle.events()
        await handle.send_text("hello")
        began = trio.current_time()
        first = await until(events, LiveEvent.TurnComplete)
        took = trio.current_time() - began
        await handle.send_text("again")
        second = await until(events, LiveEvent.TurnComplete)
    (error,) = [e.error for e in first if isinstance(e, LiveEvent.Error)]
    assert isinstance(error, TurnStepTimeout) and (error.step, error.seconds) == ("flow", 5.0)
    assert 5.0 <= took < 6.0
    assert flow_events(first) == ["step1"]  # the stalled boundary's outcome is lost
    assert flow_events(second) == ["step3"]
    assert ("guidance 2", False) not in client_turns(emu)
    assert ("guidance 3", False) in client_turns(emu)


async def test_a_flow_step_that_raises_is_reported_and_the_pipeline_goes_on(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = FakeFlow(fail_on=2)
    async with governed(monkeypatch, flow, text_config()) as (_, handle):
        events = handle.events()
        await handle.send_text("hello")
        seen = await until(events, LiveEvent.TurnComplete)
    (error,) = [e.error for e in seen if isinstance(e, LiveEvent.Error)]
    assert isinstance(error, SessionTaskFailed) and "governor tripped" in str(error)
    assert isinstance(error.__cause__, RuntimeError)


async def test_without_a_flow_nothing_is_delivered_or_published(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with governed(monkeypatch, None, text_config()) as (emu, handle):
        events = handle.events()
        await handle.send_text("hello")
        seen = await until(events, LiveEvent.TurnComplete)
        sent = client_turns(emu)
    assert sent == [("hello", True)]
    assert flow_events(seen) == []
