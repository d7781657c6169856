"""Drops at the worst moments, each with the audio ledger: sent = consumed + reported lost.

Settle 0 on the in-memory transport (zero latency) unless a test says otherwise: everything
written before a checkpoint arrived is covered by it, so the ledger holds to the byte.
"""

from __future__ import annotations

import attrs
import trio
import trio._core._run
import trio.testing

from livehandle import (
    Endpoint,
    LiveConfig,
    LiveEvent,
    ResumePolicy,
    SessionEvent,
    open_live_session,
    tool,
)
from livehandle.lowlevel import ToolCall, ToolResponse
from livehandle.testing import (
    Audio,
    CallTools,
    Fault,
    LiveEmulator,
    Rule,
    Say,
    Scenario,
    ToolCallSpec,
    When,
)
from livehandle.testing.audio import synth_voice
from tests.continuity.ledger import Mic, Watch, assert_ledger, consumed

POLICY = ResumePolicy(settle=0, jitter=0.0)
TEXT = LiveConfig(response_modality="TEXT", auto_resume=True, resume_policy=POLICY)


def voice(ms: int, seed: int = 0) -> bytes:
    return synth_voice(ms, sample_rate=16000, seed=seed)


async def test_a_drop_during_user_speech(autojump_clock: trio.testing.MockClock) -> None:
    async with LiveEmulator().in_memory() as emu:
        transport = emu.memory_transport()
        async with open_live_session(TEXT, endpoint=emu.url, transport=transport) as handle:
            watch = Watch(handle)
            mic = Mic(handle)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch.run)
                await mic.silence(1.0)
                async with trio.open_nursery() as speech:
                    speech.start_soon(mic.play, voice(3000))

                    async def drop_mid_speech() -> None:
                        await trio.sleep(1.5)
                        await emu.connections[-1].fault(Fault("drop"))

                    speech.start_soon(drop_mid_speech)
                await mic.silence(2.0)  # the user stops: the server's VAD ends the turn
                await watch.turns_done(1)
                await handle.disconnect()
    assert [r.connection for r in watch.resumed] == [2]
    assert watch.resumed[0].replayed > 0  # the speech since the start checkpoint, again
    assert watch.lost_bytes == 0
    assert_ledger(mic, watch, emu)
    (conversation,) = emu.conversations
    assert [t.kind for t in conversation.answered] == ["speech"]  # one turn, answered once
    assert not watch.errors


async def test_a_drop_during_model_speech(autojump_clock: trio.testing.MockClock) -> None:
    scenario = Scenario(rules=[Rule(When(text="story"), [Audio(4000, "Once upon a time.")])])
    config = LiveConfig(auto_resume=True, resume_policy=POLICY)  # AUDIO replies
    async with LiveEmulator(scenario, realtime=True).in_memory() as emu:
        transport = emu.memory_transport()
        async with open_live_session(config, endpoint=emu.url, transport=transport) as handle:
            watch = Watch(handle)
            mic = Mic(handle)
            audio_out = 0

            async def listen() -> None:
                nonlocal audio_out
                async for event in handle.stream():
                    if isinstance(event, LiveEvent.Audio):
                        audio_out += len(event.data)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch.run)
                nursery.start_soon(listen)
                async with trio.open_nursery() as call:
                    call.start_soon(mic.silence, 10.0)

                    async def ask_then_drop() -> None:
                        await handle.send_text("tell me a story")
                        await trio.sleep(1.5)  # the reply is streaming, in real time
                        await emu.connections[-1].fault(Fault("drop"))
                        await watch.turns_done(1)

                    call.start_soon(ask_then_drop)
                await handle.disconnect()
    assert [r.connection for r in watch.resumed] == [2]
    assert watch.resumed[0].replayed > 0  # the question (and the audio since) go out again
    assert_ledger(mic, watch, emu)
    assert watch.lost_bytes == 0
    (conversation,) = emu.conversations
    assert [t.text for t in conversation.answered] == ["tell me a story"]  # answered once
    assert watch.turns == 1
    assert audio_out > 0


async def test_a_drop_during_a_tool_call(autojump_clock: trio.testing.MockClock) -> None:
    runs: list[int] = []
    started = trio.Event()

    @tool
    async def get_weather(city: str) -> str:
        """Slow: takes five seconds."""
        runs.append(len(runs) + 1)
        started.set()
        await trio.sleep(5)
        return f"sunny in {city}"

    scenario = Scenario(
        rules=[
            Rule(
                When(text="weather"),
                [CallTools([ToolCallSpec("get_weather", {"city": "Paris"})]), Say("{result}")],
            )
        ]
    )
    config = attrs.evolve(TEXT, tools=(get_weather,))
    async with LiveEmulator(scenario).in_memory() as emu:
        transport = emu.memory_transport()
        async with open_live_session(config, endpoint=emu.url, transport=transport) as handle:
            watch = Watch(handle)
            mic = Mic(handle)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch.run)
                async with trio.open_nursery() as call:
                    call.start_soon(mic.silence, 12.0)

                    async def ask_then_drop() -> None:
                        await handle.send_text("what is the weather")
                        await started.wait()
                        await trio.sleep(1)  # the tool runs
                        await emu.connections[-1].fault(Fault("drop"))
                        await watch.turns_done(1)

                    call.start_soon(ask_then_drop)
                await handle.disconnect()
            stats = handle.tool_stats
    # The call in flight was cancelled by the drop, once, and said why; the server issued it
    # again after the resume (same id), it ran again and was answered once, on the new
    # connection.  No stale answer, no error.
    assert runs == [1, 2]
    assert stats.calls == 2
    assert stats.answered == 1
    assert stats.cancelled_by_reconnect == 1
    assert (stats.stale_dropped, stats.cancelled_by_disconnect) == (0, 0)
    assert [e.reason for e in watch.cancelled] == ["connection_lost"]
    assert len(watch.cancelled[0].ids) == 1
    assert watch.errors == []
    first, second = emu.connections
    assert not first.messages(ToolResponse)
    (answer,) = second.messages(ToolResponse)
    assert [r.id for r in answer.function_responses] == [
        c.id for c in first.sent_messages(ToolCall)[0].function_calls
    ]
    assert watch.answers == ["sunny in Paris"]
    (conversation,) = emu.conversations
    assert [t.text for t in conversation.answered] == ["what is the weather"]
    assert_ledger(mic, watch, emu)
    assert watch.lost_bytes == 0


async def second_drop_during_the_replay() -> tuple[int, int, int, list[int]]:
    """Drop connection 2 while the replay goes out on it; (sent, consumed, lost, resumed)."""
    async with LiveEmulator().in_memory() as emu:
        transport = emu.memory_transport()
        async with open_live_session(TEXT, endpoint=emu.url, transport=transport) as handle:
            watch = Watch(handle)
            mic = Mic(handle)
            async with trio.open_nursery() as nursery:

                def drop_again(event: object) -> None:
                    # Synchronous, as the continuity layer publishes Resumed, before the replay:
                    # the drop lands while the replay is going out on connection 2.
                    if isinstance(event, SessionEvent.Resumed) and event.connection == 2:
                        nursery.start_soon(emu.connections[-1].fault, Fault("drop"))

                handle._session.add_tap(drop_again)
                nursery.start_soon(watch.run)
                async with trio.open_nursery() as call:
                    call.start_soon(mic.silence, 6.0)

                    async def talk() -> None:
                        await handle.send_text("one")
                        await watch.turns_done(1)
                        await trio.sleep(2)  # two seconds of audio after the checkpoint
                        await emu.connections[-1].fault(Fault("drop"))
                        await handle.send_text("two")
                        await watch.turns_done(2)

                    call.start_soon(talk)
                await handle.disconnect()
    (conversation,) = emu.conversations
    assert [t.text for t in conversation.answered] == ["one", "two"]
    return mic.sent, consumed(emu), watch.lost_bytes, [r.connection for r in watch.resumed]


#: Trio shuffles runnable tasks at random; these seeds of its scheduler make the runs
#: reproducible (about one in three orders shows the bug below).
SEEDS = range(10)


def test_a_second_drop_while_the_replay_goes_out() -> None:
    results = []
    try:
        for seed in SEEDS:
            trio._core._run._r.seed(seed)  # private: the scheduler's shuffle, for reproduction
            clock = trio.testing.MockClock(autojump_threshold=0)
            results.append(trio.run(second_drop_during_the_replay, clock=clock))
    finally:
        trio._core._run._r.seed()
    assert all(connections == [2, 3] for *_, connections in results)
    ledgers = [(sent, kept + lost) for sent, kept, lost, _ in results]
    assert all(sent == accounted for sent, accounted in ledgers), ledgers


async def test_a_refused_first_attempt_with_the_audio_buffer_overflowing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The network is down for a while: the first attempts are refused, audio keeps coming, the
    # buffer (2 s) overflows; the oldest audio is dropped and reported, never silently.
    policy = attrs.evolve(POLICY, backoff_initial=2.0, buffer_audio_ms=2000)
    config = attrs.evolve(TEXT, resume_policy=policy)
    async with LiveEmulator().in_memory() as emu:
        transport = emu.memory_transport()
        async with open_live_session(config, endpoint=emu.url, transport=transport) as handle:
            watch = Watch(handle)
            mic = Mic(handle)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch.run)
                async with trio.open_nursery() as call:
                    call.start_soon(mic.silence, 10.0)

                    async def talk() -> None:
                        await handle.send_text("one")
                        await watch.turns_done(1)
                        await trio.sleep(1)
                        transport.refuse = True
                        await emu.connections[-1].fault(Fault("drop"))
                        await trio.sleep(3)  # attempts 1 and 2 fail (at once, then after 2 s)
                        transport.refuse = False
                        await watch.resumes_done(1)
                        await handle.send_text("two")
                        await watch.turns_done(2)

                    call.start_soon(talk)
                await handle.disconnect()
    assert [e.reason for e in watch.reconnecting][:2] == ["connection_lost", "setup_failed"]
    # Resumed.connection counts the connections that opened (two refused attempts do not).
    assert [r.connection for r in watch.resumed] == [2]
    assert len(emu.connections) == 2
    lost = handle._session.replay_log  # type: ignore[attr-defined]
    assert watch.lost_bytes > 0
    assert lost.lost_audio_bytes == watch.lost_bytes
    assert handle.telemetry.snapshot()["lost_audio_ms"] == watch.resumed[0].lost_audio_ms
    assert_ledger(mic, watch, emu)
    (conversation,) = emu.conversations
    assert [t.text for t in conversation.answered] == ["one", "two"]


async def test_vertex_transparent_mode_trims_the_log_exactly(
    autojump_clock: trio.testing.MockClock,
) -> None:
    scenario = Scenario(checkpoint_every_messages=10)
    async with LiveEmulator(scenario).in_memory() as emu:
        endpoint = Endpoint.vertex(
            project="p", location="us-central1", token=lambda: "tok", base_url=emu.url
        )
        config = attrs.evolve(TEXT, transparent_resumption=True)
        transport = emu.memory_transport()
        async with open_live_session(config, endpoint=endpoint, transport=transport) as handle:
            watch = Watch(handle)
            mic = Mic(handle)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch.run)
                async with trio.open_nursery() as call:
                    call.start_soon(mic.silence, 6.0)

                    async def drop_mid_stream() -> None:
                        await trio.sleep(2.01)  # mid-stream, between two quiet checkpoints
                        await emu.connections[-1].fault(Fault("drop"))
                        await watch.resumes_done(1)
                        await handle.send_text("still there?")
                        await watch.turns_done(1)

                    call.start_soon(drop_mid_stream)
                await handle.disconnect()
    first = emu.connections[0]
    last = first.checkpoints[-1]
    after = len(first.received) - 1 - last.consumed_index  # messages after the checkpoint
    (resumed,) = watch.resumed
    assert resumed.replayed == after  # exactly what the server had not consumed
    assert 0 < after < 10
    assert resumed.lost_audio_ms == 0
    assert mic.sent == consumed(emu)  # exactly once
    assert_ledger(mic, watch, emu)
    (conversation,) = emu.conversations
    assert [t.text for t in conversation.answered] == ["still there?"]
