"""The turn pipeline against the emulator, in memory and on the mock clock.

What the issue's "done when" asks for: an extractor registered in ``LiveConfig`` runs after each
turn, ``extracted()`` returns its value once ``TurnComplete`` is seen, ``Extraction`` was
published first; a watcher fires for a change a tool made during the turn;
``mutations_since(cursor)`` lists the turn's changes in order.  Plus the pipeline's order, its
bounds and context delivery.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import attrs
import pytest
import trio
import trio.testing

from livehandle import (
    ExtractionTrigger,
    LiveConfig,
    LiveEvent,
    Promotion,
    StateConfig,
    StateFailed,
    TurnStepTimeout,
    extractor,
    open_live_session,
    tool,
)
from livehandle._wire import messages as m
from livehandle.testing import CallTools, LiveEmulator, Rule, Say, Scenario, ToolCallSpec, When
from tests.testing.helpers import until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from livehandle import LiveHandle, StateMutation, TranscriptTurn


@attrs.frozen
class Echo:
    """What the test extractor draws from the turns."""

    last_user: str
    turns: int


@extractor(name="echo", window=2)
async def echo(turns: Sequence[TranscriptTurn]) -> Echo:
    return Echo(turns[-1].user, len(turns))


@tool
async def book(state_key: str) -> dict[str, object]:
    """Book it (the test's tool writes the state through the handle set below)."""
    assert HANDLE is not None
    HANDLE.state.set(state_key, True)
    return {"booked": True}


HANDLE: LiveHandle | None = None

BOOKING = Scenario(
    rules=[
        Rule(
            When(text="book"),
            [CallTools([ToolCallSpec("book", {"state_key": "user:booked"})]), Say("Booked.")],
        )
    ]
)


def text_config(**kwargs: object) -> LiveConfig:
    return LiveConfig(response_modality="TEXT", **kwargs)  # type: ignore[arg-type]


@asynccontextmanager
async def in_memory(
    config: LiveConfig, scenario: Scenario | None = None
) -> AsyncIterator[tuple[LiveEmulator, LiveHandle]]:
    """A session on ``config`` with an in-memory emulator playing ``scenario``."""
    async with (
        LiveEmulator(scenario).in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        yield emu, handle


def names(events: Sequence[LiveEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


# -- extractors through the pipeline -------------------------------------------------------------


async def test_an_extraction_is_stored_and_published_before_turn_complete(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = text_config(extractors=[echo])
    async with in_memory(config) as (_emu, handle):
        events = handle.events()
        await handle.send_text("hello")
        first = await until(events, LiveEvent.TurnComplete)
        assert handle.extracted("echo", Echo) == Echo("hello", 1)
        await handle.send_text("again")
        second = await until(events, LiveEvent.TurnComplete)
        assert handle.extracted("echo") == Echo("again", 2)  # typed without a type too
        assert handle.state.get("echo") == {"last_user": "again", "turns": 2}
        with pytest.raises(ValueError, match="no extractor is named 'ecko'"):
            handle.extracted("ecko")
    tail = names(first)[-4:]
    assert tail == ["InputTranscript", "OutputTranscript", "Extraction", "TurnComplete"]
    assert first[-2] == LiveEvent.Extraction("echo", {"last_user": "hello", "turns": 1})
    assert LiveEvent.Extraction("echo", {"last_user": "again", "turns": 2}) in second


async def test_extracted_without_extractors_says_none_is_configured(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_memory(text_config()) as (_emu, h):
        with pytest.raises(ValueError, match="none is configured"):
            h.extracted("booking")


async def test_a_stuck_extractor_is_cancelled_reported_and_the_turn_still_completes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    started = trio.Event()

    @extractor(timeout=1000.0)
    async def stuck(turns: Sequence[TranscriptTurn]) -> int:
        started.set()
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    config = text_config(extractors=[stuck, echo], turn_step_timeout=5.0)
    async with in_memory(config) as (_emu, handle):
        events = handle.events()
        await handle.send_text("hello")
        began = trio.current_time()
        seen = await until(events, LiveEvent.TurnComplete)
        took = trio.current_time() - began
        assert started.is_set()
        errors = [e.error for e in seen if isinstance(e, LiveEvent.Error)]
        assert len(errors) == 1 and isinstance(errors[0], TurnStepTimeout)
        assert (errors[0].step, errors[0].seconds) == ("extractors", 5.0)
        assert 5.0 <= took < 6.0  # bounded by the step, not by the extractor's own 1000 s
        # The step was cancelled as a whole: the quick extractor's result was not applied.
        assert handle.extracted("echo") is None
        await handle.send_text("next")  # the session goes on
        assert LiveEvent.TurnComplete in [
            type(e) for e in await until(events, LiveEvent.TurnComplete)
        ]


async def test_generation_complete_extractors_see_the_turn_in_progress(
    autojump_clock: trio.testing.MockClock,
) -> None:
    windows: list[list[tuple[int, str, str]]] = []

    @extractor(trigger=ExtractionTrigger.GENERATION_COMPLETE, window=2)
    async def live(turns: Sequence[TranscriptTurn]) -> int:
        windows.append([(t.index, t.user, t.model) for t in turns])
        return len(turns)

    # AUDIO: the output transcription of the turn so far is there when generation completes
    # (in TEXT, the text arrives as TextComplete with the turn's end).
    async with in_memory(LiveConfig(extractors=[live])) as (_emu, handle):
        events = handle.events()
        await handle.send_text("one")
        first = await until(events, LiveEvent.TurnComplete)
        await handle.send_text("two")
        await until(events, LiveEvent.TurnComplete)
    assert windows == [
        [(1, "one", "You said: one")],
        [(1, "one", "You said: one"), (2, "two", "You said: two")],
    ]
    order = names(first)
    assert (
        order.index("GenerationComplete") < order.index("Extraction") < order.index("TurnComplete")
    )


async def test_after_tool_call_extractors_run_only_after_a_turn_with_a_tool_call(
    autojump_clock: trio.testing.MockClock,
) -> None:
    global HANDLE
    runs: list[int] = []

    @extractor(trigger=ExtractionTrigger.AFTER_TOOL_CALL)
    async def after_tools(turns: Sequence[TranscriptTurn]) -> list[str]:
        runs.append(turns[-1].index)
        return [call.name for call in turns[-1].tool_calls]

    config = text_config(tools=[book], extractors=[after_tools])
    async with in_memory(config, BOOKING) as (_emu, handle):
        HANDLE = handle
        events = handle.events()
        for text in ("hello", "please book it", "thanks"):
            await handle.send_text(text)
            await until(events, LiveEvent.TurnComplete)
        assert handle.extracted("after_tools") == ["book"]
    HANDLE = None
    assert runs == [2]


# -- watchers, the journal, the turn: scope ----------------------------------------------------


async def test_a_watcher_fires_for_a_tool_write_during_the_turn_and_the_journal_has_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    global HANDLE
    fired: list[tuple[str, object, object]] = []
    config = text_config(tools=[book], extractors=[echo])
    async with in_memory(config, BOOKING) as (_emu, handle):
        HANDLE = handle

        async def note(change: StateMutation) -> None:
            fired.append((change.key, change.old, change.new))
            handle.state.set("user:confirmed", True)  # a write of the action's own

        handle.state.watch("user:booked", note, when="became_true")
        events = handle.events()
        cursor = handle.state.cursor
        handle.state.set("turn:scratch", 1)
        await handle.send_text("please book it")
        seen = await until(events, LiveEvent.TurnComplete)
        changes = [
            (c.key, c.origin.value)
            for c in handle.state.mutations_since(cursor)
            if not c.key.startswith("session:")
        ]
        assert "turn:scratch" not in handle.state  # cleared at the boundary
    HANDLE = None
    assert fired == [("user:booked", None, True)]
    assert changes == [
        ("turn:scratch", "set"),
        ("user:booked", "set"),
        ("user:confirmed", "set"),
        ("turn:scratch", "clear_prefix"),
        ("echo", "set"),
    ]
    assert "ToolExecution" in names(seen)


async def test_a_watcher_fires_for_a_write_between_turns(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fired = trio.Event()
    async with in_memory(text_config()) as (_emu, h):

        async def action(change: StateMutation) -> None:
            assert change.new == 3
            fired.set()

        h.state.watch("app:*", action, when="changed")
        h.state.set("app:count", 3)  # a background write: no turn is running
        with trio.fail_after(1):
            await fired.wait()


async def test_a_stuck_watcher_is_cancelled_and_reported_as_state_failed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = text_config(state=StateConfig(watcher_timeout=2.0))
    async with in_memory(config) as (_emu, handle):
        events = handle.events()

        async def stuck(change: StateMutation) -> None:
            await trio.sleep_forever()

        handle.state.watch("user:x", stuck)
        handle.state.set("user:x", 1)
        seen = await until(events, LiveEvent.Error)
        error = seen[-1].error  # type: ignore[attr-defined]
        assert isinstance(error, StateFailed)
        assert (error.kind, error.key) == ("action_timed_out", "user:x")
        await handle.send_text("hello")  # the control lane is free again
        await until(events, LiveEvent.TurnComplete)


# -- context -------------------------------------------------------------------------------------


def context_turns(emu: LiveEmulator) -> list[tuple[str, bool]]:
    return [
        (" ".join(p.text or "" for c in msg.turns or () for p in c.parts or ()), msg.turn_complete)
        for msg in emu.connections[0].messages(m.ClientContent)
    ]


async def test_context_added_during_a_turn_goes_out_at_its_boundary(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_memory(text_config()) as (emu, h):
        events = h.events()
        h.add_context("The caller is a regular.")
        assert context_turns(emu) == []  # waits for the boundary
        await h.send_text("hello")
        await until(events, LiveEvent.TurnComplete)
        assert ("The caller is a regular.", False) in context_turns(emu)
        with pytest.raises(TypeError, match="context must be a str"):
            h.add_context(42)  # type: ignore[arg-type]


async def test_deferred_context_from_a_boundary_goes_with_the_next_user_send(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = text_config(context_delivery="deferred")
    async with in_memory(config) as (emu, h):
        events = h.events()
        await h.send_text("hello")
        h.add_context("Offer the terrace.")
        await until(events, LiveEvent.TurnComplete)
        assert ("Offer the terrace.", False) not in context_turns(emu)  # queued, not sent
        await h.send_text("and now?")
        await until(events, LiveEvent.TurnComplete)
        sent = context_turns(emu)
        assert sent.index(("Offer the terrace.", False)) < sent.index(("and now?", True))


async def test_a_watcher_can_prompt_the_model_at_the_same_boundary(
    autojump_clock: trio.testing.MockClock,
) -> None:
    script = Scenario(rules=[Rule(When(text="confirm"), [Say("Confirmed!")])])
    config = text_config(extractors=[echo])
    async with in_memory(config, script) as (_emu, h):

        def confirm(change: StateMutation) -> None:
            h.add_context("Please confirm the booking.", prompt=True)

        h.state.watch("echo", confirm)
        events = h.events()
        await h.send_text("book a table")
        await until(events, LiveEvent.TurnComplete)
        reply = await until(events, LiveEvent.TurnComplete)
        assert LiveEvent.TextComplete("Confirmed!") in reply


async def test_an_extraction_into_a_redacted_key_is_published_without_its_value(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @extractor(promotions=[Promotion.overwrite("pin").to("user:pin")])
    async def card(turns: Sequence[TranscriptTurn]) -> dict[str, str]:
        return {"pin": "4921"}

    config = text_config(extractors=[card], state=StateConfig(redact_keys=("card", "user:pin")))
    async with in_memory(config) as (_emu, handle):
        events = handle.events()
        await handle.send_text("my pin is four nine two one")
        seen = await until(events, LiveEvent.TurnComplete)
        assert handle.state.get("user:pin") == "4921"  # the state itself keeps it
    published = [e for e in seen if isinstance(e, LiveEvent.Extraction | LiveEvent.StatePromotion)]
    assert [e.value for e in published] == ["[redacted]", "[redacted]"]
    assert "4921" not in repr(seen)
