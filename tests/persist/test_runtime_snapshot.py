"""Snapshots of a live handle and their background saving (emulator in memory, MockClock)."""

from __future__ import annotations

import json

import attrs
import pytest
import trio
import trio.testing

from livehandle import (
    LeaseLost,
    LiveConfig,
    LiveEvent,
    PersistenceError,
    SessionOwned,
    SessionSnapshot,
    open_live_session,
    tool,
)
from livehandle.testing import LiveEmulator
from tests.persist.fakes import FakeStore
from tests.testing.helpers import until

CANARY = "AIzaSy-CANARY-never-in-a-snapshot-0123"
TEXT = LiveConfig(response_modality="TEXT", session_resumption=True, instruction="Be brief.")


async def ask(handle: object, events: object, text: str) -> list[LiveEvent]:
    await handle.send_text(text)  # type: ignore[attr-defined]
    return await until(events, LiveEvent.TurnComplete)  # type: ignore[arg-type]


def open_on(emu: LiveEmulator, config: LiveConfig = TEXT, **kwargs: object) -> object:
    return open_live_session(
        config, endpoint=emu.url, transport=emu.memory_transport(), api_key=CANARY, **kwargs
    )


async def test_a_snapshot_carries_state_transcript_handle_and_no_secret(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with LiveEmulator().in_memory() as emu, open_on(emu, session_id="call-1") as handle:
        events = handle.events()
        handle.state.set("cart", ["tea"])
        await ask(handle, events, "one")
        await ask(handle, events, f"two {CANARY}")  # a key echoed in a turn is scrubbed
        snap = handle.snapshot()
    assert isinstance(snap, SessionSnapshot)
    assert snap.session_id == "call-1" == handle.session_id
    assert snap.state["cart"] == ["tea"]
    assert snap.transcript[0].user == "one"
    assert snap.transcript[0].model == "You said: one"
    assert snap.turn_count == 2
    assert snap.phase == "active"
    assert snap.resume_handle is not None and snap.resume_handle.startswith("emu-")
    assert snap.handle_issued_at is not None and snap.handle_issued_at.endswith("+00:00")
    assert snap.saved_at.endswith("+00:00")
    assert snap.telemetry["turn_count"] == 2
    assert set(dict(p.split("=") for p in snap.config_fingerprint.split(";"))) == {
        "model",
        "tools",
        "instruction",
    }
    text = snap.to_json()
    assert CANARY not in text and "key=" not in text
    assert SessionSnapshot.from_json(text) == snap


async def test_a_session_without_an_id_gets_a_generated_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with LiveEmulator().in_memory() as emu, open_on(emu) as one, open_on(emu) as two:
        assert one.session_id.startswith("session-")
        assert one.session_id != two.session_id


async def test_the_fingerprint_changes_with_model_tools_and_instruction_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @tool
    async def lookup(city: str) -> dict[str, str]:
        """Look a city up."""
        return {"city": city}

    async def fingerprint(config: LiveConfig) -> str:
        async with LiveEmulator().in_memory() as emu, open_on(emu, config) as handle:
            return handle.snapshot().config_fingerprint

    base = await fingerprint(TEXT)
    assert await fingerprint(attrs.evolve(TEXT, temperature=0.3)) == base
    assert await fingerprint(attrs.evolve(TEXT, instruction="Be long.")) != base
    assert await fingerprint(attrs.evolve(TEXT, tools=(lookup,))) != base


async def test_a_fresh_persistent_session_is_saved_at_each_turn_and_on_disconnect(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = FakeStore()
    async with LiveEmulator().in_memory() as emu, open_on(emu, session_id="c", store=store) as h:
        events = h.events()
        await ask(h, events, "one")
        await trio.sleep(1)
        turns_saved = [json.loads(text)["turn_count"] for text, _ in store.saves]
        assert store.held_by("c") is not None
        h.state.set("late", True)  # only the final save can carry it
    assert 0 in turns_saved and 1 in turns_saved  # fresh, then the turn boundary
    final = store.saved("c")
    assert final is not None and final.state["late"] is True
    assert final.turn_count == 1
    assert store.held_by("c") is None  # released on disconnect
    assert [lease.session_id for lease in store.released] == ["c"]
    assert h.telemetry.persistence["saved"] == len(store.saves)


async def test_a_second_open_of_a_held_id_fails_at_once_with_session_owned(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = FakeStore()
    async with LiveEmulator().in_memory() as emu, open_on(emu, session_id="c", store=store):
        before = trio.current_time()
        with pytest.raises(SessionOwned) as caught:
            async with open_on(emu, session_id="c", store=store):
                pytest.fail("the body must not run")
        assert trio.current_time() == before
        assert caught.value.session_id == "c"
        assert len(emu.connections) == 1  # no second Gemini session was opened


async def test_a_second_open_may_wait_for_the_lease_to_be_released(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = FakeStore()
    async with LiveEmulator().in_memory() as emu, trio.open_nursery() as nursery:

        async def first() -> None:
            async with open_on(emu, session_id="c", store=store):
                await trio.sleep(3)

        nursery.start_soon(first)
        await trio.sleep(1)
        async with open_on(emu, session_id="c", store=store, wait=10) as handle:
            assert trio.current_time() >= 3
            assert handle.session_id == "c"


async def test_saves_are_coalesced_one_in_flight_and_the_newest_wins(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = FakeStore()
    async with LiveEmulator().in_memory() as emu, open_on(emu, session_id="c", store=store) as h:
        events = h.events()
        await trio.sleep(1)  # the first save (turn 0) is done
        done_before = len(store.saves)
        store.save_gate = trio.Event()  # the next save hangs in flight
        for n in range(3):
            await ask(h, events, f"q{n}")
        await trio.sleep(1)
        assert len(store.saves) == done_before  # still one in flight
        store.save_gate.set()
        store.save_gate = None
        await trio.sleep(1)
        during = store.saves[done_before:]
        assert 1 <= len(during) <= 2
        assert json.loads(during[-1][0])["turn_count"] == 3  # the newest wins
        assert h.telemetry.persistence["coalesced"] >= 1
        await h.disconnect()


async def test_a_failing_save_is_retried_reported_and_counted_and_the_session_goes_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = FakeStore()
    async with LiveEmulator().in_memory() as emu, open_on(emu, session_id="c", store=store) as h:
        events = h.events()
        await trio.sleep(1)
        store.fail_saves = 2
        seen = await ask(h, events, "one")
        errors: list[LiveEvent] = []
        with trio.move_on_after(10):
            while len(errors) < 2:
                event = await events.receive()
                if isinstance(event, LiveEvent.Error):
                    errors.append(event)
        assert all(isinstance(e.error, PersistenceError) for e in errors)  # type: ignore[attr-defined]
        assert errors[0].error.session_id == "c"  # type: ignore[attr-defined]
        assert h.telemetry.persistence["save_failed"] == 2
        await trio.sleep(5)  # the backoff (0.5 s, then 1 s) has passed
        assert json.loads(store.saves[-1][0])["turn_count"] == 1  # retried until it was saved
        seen = await ask(h, events, "two")  # the session goes on
        assert any(isinstance(e, LiveEvent.TextComplete) for e in seen)


async def test_a_hanging_save_times_out_and_is_retried(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = FakeStore()
    async with LiveEmulator().in_memory() as emu, open_on(emu, session_id="c", store=store) as h:
        events = h.events()
        await trio.sleep(1)
        store.save_gate = trio.Event()  # every save hangs
        await ask(h, events, "one")
        await trio.sleep(6)  # longer than the save timeout (5 s)
        assert h.telemetry.persistence["save_failed"] >= 1
        assert not store.saves[-1:] or json.loads(store.saves[-1][0])["turn_count"] == 0
        store.save_gate.set()
        store.save_gate = None
        await trio.sleep(5)
        assert json.loads(store.saves[-1][0])["turn_count"] == 1


async def test_the_lease_is_renewed_in_the_background(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = FakeStore()
    async with LiveEmulator().in_memory() as emu, open_on(emu, session_id="c", store=store) as h:
        await trio.sleep(60)  # four ttls (15 s): alive only by renewal
        assert store.held_by("c") is not None
        assert store.renewals >= 10
        assert h.telemetry.persistence["renewed"] == store.renewals


async def test_a_lost_lease_ends_the_session_with_lease_lost_and_no_later_save(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = FakeStore()
    async with LiveEmulator().in_memory() as emu, open_on(emu, session_id="c", store=store) as h:
        events = h.events()
        await ask(h, events, "one")
        await trio.sleep(1)
        store.take_over("c")
        saves_before = len(store.saves)
        with pytest.raises(LeaseLost) as caught:
            with trio.fail_after(30):
                await h.done()
        assert caught.value.session_id == "c"
        rest = await until(events, LiveEvent.Disconnected)
        assert any(isinstance(e, LiveEvent.Error) and isinstance(e.error, LeaseLost) for e in rest)
        assert isinstance(rest[-1].end.error, LeaseLost)  # type: ignore[attr-defined]
    assert len(store.saves) == saves_before  # not even the final save
    assert store.held_by("c") == "another-worker"
    assert h.telemetry.persistence["lease_lost"] == 1
