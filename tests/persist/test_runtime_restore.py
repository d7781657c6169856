"""Restoring a session from its snapshot (emulator in memory, MockClock, a fake store)."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing

from livehandle import (
    LiveConfig,
    LiveEvent,
    SessionSnapshot,
    SnapshotMismatch,
    TranscriptTurn,
    lowlevel as m,
    open_live_session,
)
from livehandle._persist.restore import CONTEXT_CHARS, CONTEXT_TURNS, context_summary
from livehandle.testing import LiveEmulator, Scenario
from tests.persist.fakes import FakeStore
from tests.testing.helpers import until

TEXT = LiveConfig(response_modality="TEXT", session_resumption=True, instruction="Be brief.")


async def ask(handle: object, events: object, text: str) -> list[LiveEvent]:
    await handle.send_text(text)  # type: ignore[attr-defined]
    return await until(events, LiveEvent.TurnComplete)  # type: ignore[arg-type]


def answer_of(seen: list[LiveEvent]) -> str:
    return "".join(e.text for e in seen if isinstance(e, LiveEvent.TextComplete))


def open_on(emu: LiveEmulator, config: LiveConfig = TEXT, **kwargs: object) -> object:
    return open_live_session(config, endpoint=emu.url, transport=emu.memory_transport(), **kwargs)


async def first_worker(emu: LiveEmulator, store: FakeStore, config: LiveConfig = TEXT) -> str:
    """Two turns and some State on worker A; returns the handle A saved last."""
    async with open_on(emu, config, session_id="call-42", store=store) as handle:
        events = handle.events()
        handle.state.set("name", "Ada")
        await ask(handle, events, "one")
        await ask(handle, events, "two")
    saved = store.saved("call-42")
    assert saved is not None and saved.resume_handle is not None
    return saved.resume_handle


def setup_of(emu: LiveEmulator, connection: int) -> m.Setup:
    first = emu.connections[connection].received[0].message
    assert isinstance(first, m.Setup)
    return first


@pytest.mark.parametrize("auto_resume", [False, True])
async def test_a_restore_resumes_from_the_saved_handle_with_state_and_transcript(
    autojump_clock: trio.testing.MockClock, auto_resume: bool
) -> None:
    store = FakeStore()
    config = attrs.evolve(TEXT, auto_resume=auto_resume)
    async with LiveEmulator().in_memory() as emu:
        saved_handle = await first_worker(emu, store, config)
        async with open_on(emu, config, session_id="call-42", store=store) as handle:
            events = handle.events()
            restored = (await until(events, LiveEvent.Restored))[-1]
            assert restored == LiveEvent.Restored("call-42", False, 2)
            assert handle.state.get("name") == "Ada"
            assert [t.user for t in handle.transcript] == ["one", "two"]
            seen = await ask(handle, events, "three")
            assert answer_of(seen) == "You said: three"
            assert handle.transcript[-1] == TranscriptTurn(3, "three", "You said: three", True)
        assert emu.connections[-1].resumed_from == saved_handle  # the emulator saw the handle
    final = store.saved("call-42")
    assert final is not None and final.turn_count == 3


async def test_an_unknown_handle_is_refused_and_a_fresh_session_gets_the_context(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = FakeStore()
    async with LiveEmulator().in_memory() as emu:
        await first_worker(emu, store)
        saved = store.saved("call-42")
        assert saved is not None
        store.snapshots["call-42"] = attrs.evolve(saved, resume_handle="emu-unknown").to_json()
        async with open_on(emu, session_id="call-42", store=store) as handle:
            events = handle.events()
            restored = (await until(events, LiveEvent.Restored))[-1]
            assert restored.fresh is True and restored.turn_count == 2
            assert "refused" in restored.reason
            assert handle.state.get("name") == "Ada"
            assert answer_of(await ask(handle, events, "three")) == "You said: three"
            assert handle.transcript[-1].index == 3
        refused, fresh = emu.connections[-2], emu.connections[-1]
        presented = setup_of(emu, -2).session_resumption
        assert presented is not None and presented.handle == "emu-unknown"
        assert refused.resumed_from is None and fresh.resumed_from is None
        content = setup_of(emu, -1).system_instruction
        assert content is not None
        instruction = "".join(p.text or "" for p in content.parts)
        assert instruction.startswith("Be brief.")
        assert "User: one\nModel: You said: one" in instruction


async def test_an_expired_handle_starts_fresh_with_state_restored(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = FakeStore()
    async with LiveEmulator(Scenario(handle_ttl=60)).in_memory() as emu:
        await first_worker(emu, store)
        await trio.sleep(120)  # the handle has expired, the snapshot has not
        async with open_on(emu, session_id="call-42", store=store) as handle:
            events = handle.events()
            restored = (await until(events, LiveEvent.Restored))[-1]
            assert restored.fresh is True
            assert handle.state.get("name") == "Ada"
            assert answer_of(await ask(handle, events, "three")) == "You said: three"


async def test_a_snapshot_of_another_config_is_refused_and_the_lease_released(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = FakeStore()
    async with LiveEmulator().in_memory() as emu:
        await first_worker(emu, store)
        connections = len(emu.connections)
        other = attrs.evolve(TEXT, instruction="Be long.")
        with pytest.raises(SnapshotMismatch, match="instruction") as caught:
            async with open_on(emu, other, session_id="call-42", store=store):
                pytest.fail("the body must not run")
        assert "model" not in str(caught.value)
        assert caught.value.session_id == "call-42"
        assert len(emu.connections) == connections  # nothing was opened
    assert store.held_by("call-42") is None


async def test_no_snapshot_starts_fresh_without_a_restored_event(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = FakeStore()
    async with LiveEmulator().in_memory() as emu:
        async with open_on(emu, session_id="new", store=store) as handle:
            events = handle.events()
            seen = await ask(handle, events, "hi")
            assert not any(isinstance(e, LiveEvent.Restored) for e in seen)
        assert emu.connections[0].resumed_from is None
    assert store.saved("new") is not None


async def test_bad_arguments_are_refused_before_anything_happens() -> None:
    store = FakeStore()
    with pytest.raises(TypeError, match="session_id"):
        async with open_live_session(TEXT, endpoint="ws://x", session_id=42, store=store):  # type: ignore[arg-type]
            pass
    with pytest.raises(ValueError, match="session_id"):
        async with open_live_session(TEXT, endpoint="ws://x", session_id="a b", store=store):
            pass
    with pytest.raises(ValueError, match="wait"):
        async with open_live_session(TEXT, endpoint="ws://x", store=store, wait=-1):
            pass
    assert store.attempts == 0 and store.held_by("a b") is None


def turn(index: int, text: str) -> TranscriptTurn:
    return TranscriptTurn(index, text, f"You said: {text}")


def snapshot_with(turns: list[TranscriptTurn]) -> SessionSnapshot:
    return SessionSnapshot(
        session_id="s",
        state={},
        transcript=tuple(turns),
        turn_count=len(turns),
        phase="active",
        resume_handle=None,
        handle_issued_at=None,
        telemetry={},
        config_fingerprint="f",
        saved_at="2026-01-01T00:00:00+00:00",
    )


def test_the_context_summary_is_bounded_in_turns_and_characters() -> None:
    many = snapshot_with([turn(i, f"q{i}") for i in range(1, 51)])
    summary = context_summary(many)
    assert summary is not None
    assert "User: q50" in summary and "User: q31\n" in summary and "User: q30\n" not in summary
    assert summary.count("User: ") == CONTEXT_TURNS
    long = snapshot_with([turn(i, "x" * 1500 + str(i)) for i in range(1, 6)])
    summary = context_summary(long)
    assert summary is not None
    body = summary.split("\n", 1)[1]
    assert len(body) <= CONTEXT_CHARS + 10
    assert body.endswith("x5")
    huge = snapshot_with([turn(1, "y" * 10_000)])
    body = (context_summary(huge) or "").split("\n", 1)[1]
    assert len(body) == CONTEXT_CHARS and body.startswith("...")
    assert context_summary(snapshot_with([])) is None
