"""The resumption soak: a long call on one handle across many connections, on a mock clock.

The microphone streams silence at real pace, a text turn comes every ``turn_every`` seconds and
the emulator's connections live ``connection_lifetime`` seconds (``goAway`` ``go_away_time_left``
seconds before the end).  Settle 0 on the in-memory transport (zero latency): everything written
before a checkpoint arrived is covered by it, so the ledger is exact.  The replay log holds up to
a minute of audio, because on Google AI checkpoints come only at turn boundaries and a switch at
the goAway deadline replays everything since the last one.

Real time: 60 simulated minutes cost about 5 s (200 ms frames) to 6 s (100 ms frames).  Most of it
is per-frame work on both sides of the in-memory link (Trio scheduling of the writer, transport
and emulator reader tasks, JSON and base64 of each frame) and the two pure-Python energy VADs
(client input VAD, emulator server VAD) over every sample.  ``tracemalloc`` multiplies that by
three to four (every allocation traced), so the memory check runs on a compressed soak instead:
one-minute connections for five simulated minutes, which switches as often.
"""

from __future__ import annotations

import tracemalloc

import attrs
import trio
import trio.testing

from livehandle import LiveConfig, LiveEvent, ResumePolicy, open_live_session
from livehandle.testing import LiveEmulator, Scenario
from tests.continuity.ledger import Mic, Watch, assert_ledger

POLICY = ResumePolicy(settle=0, buffer_audio_ms=60_000)
CONFIG = LiveConfig(response_modality="TEXT", auto_resume=True, resume_policy=POLICY)
KIB = 1024


@attrs.define
class Soak:
    minutes: float
    connection_lifetime: float
    go_away_time_left: float
    turn_every: float
    frame_ms: int
    measure_memory: bool = False
    memory: list[int] = attrs.field(factory=list)  # client bytes traced, at each switch
    replay_sizes: list[int] = attrs.field(factory=list)  # messages held, at each switch


def client_memory() -> int:
    """Bytes still allocated by the library's private modules (the emulator excluded)."""
    snapshot = tracemalloc.take_snapshot().filter_traces(
        (
            tracemalloc.Filter(True, "*/livehandle/_*"),
            tracemalloc.Filter(False, "*/livehandle/testing/*"),
            # The emulator decodes every client message with the library's codec (the codec,
            # hooks and leaves modules) and keeps it, and holds the server ends of the memory
            # connections: with one frame per trace those cannot be told from the client's
            # (eight frames would, at five times the cost).  The client's own encoded frames live
            # in the replay log, whose size the soak checks at every switch.
            tracemalloc.Filter(False, "*/livehandle/_wire/codec.py"),
            tracemalloc.Filter(False, "*/livehandle/_wire/hooks.py"),
            tracemalloc.Filter(False, "*/livehandle/_wire/leaves.py"),
            tracemalloc.Filter(False, "*/livehandle/_transport/memory.py"),
        )
    )
    return sum(stat.size for stat in snapshot.statistics("filename"))


async def run_soak(soak: Soak) -> tuple[LiveEmulator, Mic, Watch]:
    scenario = Scenario(
        connection_lifetime=soak.connection_lifetime, go_away_time_left=soak.go_away_time_left
    )
    turns = int(soak.minutes * 60 // soak.turn_every)
    async with LiveEmulator(scenario).in_memory() as emu:
        transport = emu.memory_transport()
        async with open_live_session(CONFIG, endpoint=emu.url, transport=transport) as handle:
            watch = Watch(handle)
            mic = Mic(handle, frame_ms=soak.frame_ms)
            log = handle._session.replay_log  # type: ignore[attr-defined]

            def at_switch(_: LiveEvent.Resumed) -> None:
                soak.replay_sizes.append(len(log))
                if soak.measure_memory:
                    soak.memory.append(client_memory())

            watch.on_resumed = at_switch

            async def talk() -> None:
                start = trio.current_time()
                for n in range(turns):
                    # Half-way between ticks: the turns do not line up with the goAways.
                    await trio.sleep_until(start + (n + 0.5) * soak.turn_every)
                    await handle.send_text(f"turn {n}")
                    await watch.turns_done(n + 1)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch.run)
                async with trio.open_nursery() as call:
                    call.start_soon(mic.silence, soak.minutes * 60)
                    call.start_soon(talk)
                await handle.disconnect()
        assert watch.turns == turns
    return emu, mic, watch


def assert_the_call_went_well(soak: Soak, emu: LiveEmulator, mic: Mic, watch: Watch) -> None:
    turns = int(soak.minutes * 60 // soak.turn_every)
    (conversation,) = emu.conversations
    # Every turn answered exactly once, in order, on one subscription.
    assert [t.text for t in conversation.answered] == [f"turn {n}" for n in range(turns)]
    assert watch.answers == [f"You said: turn {n}" for n in range(turns)]
    # A Resumed per switch, numbered by connection; nothing reported lost: every byte once.
    assert [r.connection for r in watch.resumed] == list(range(2, len(emu.connections) + 1))
    assert watch.lost_bytes == 0
    assert_ledger(mic, watch, emu)
    assert mic.sent == soak.minutes * 60 * 1000 * 32
    assert not watch.errors


async def test_an_hour_long_call_on_one_handle(autojump_clock: trio.testing.MockClock) -> None:
    soak = Soak(
        minutes=60, connection_lifetime=600, go_away_time_left=50, turn_every=60, frame_ms=200
    )
    emu, mic, watch = await run_soak(soak)
    assert_the_call_went_well(soak, emu, mic, watch)
    assert len(watch.resumed) >= 5
    # Both ways of switching happened: at a fresh handle after goAway (nothing to replay) and at
    # the goAway deadline (the audio since the last turn replayed).
    replayed = [r.replayed for r in watch.resumed]
    assert 0 in replayed
    assert max(replayed) > 0
    # The replay log is trimmed at each checkpoint: it never holds more than one turn's worth.
    frames_a_minute = 60 * 1000 // soak.frame_ms
    assert max(soak.replay_sizes) <= frames_a_minute + 2


async def test_memory_stays_flat_across_switches(autojump_clock: trio.testing.MockClock) -> None:
    soak = Soak(
        minutes=5,
        connection_lifetime=60,
        go_away_time_left=20,
        turn_every=20,
        frame_ms=100,
        measure_memory=True,
    )
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start(1)
    try:
        emu, mic, watch = await run_soak(soak)
    finally:
        if started_here:
            tracemalloc.stop()
    assert_the_call_went_well(soak, emu, mic, watch)
    assert len(soak.memory) >= 5
    # The first switch still allocates one-time state; from the second on, no growth trend.
    baseline, last = soak.memory[1], soak.memory[-1]
    assert last - baseline <= max(baseline // 10, 256 * KIB), soak.memory
