"""LiveHandle and open_live_session against the emulator."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import pytest
import trio
import trio.testing

from livehandle._config.live import LiveConfig
from livehandle._errors import (
    ConnectionLost,
    InvalidArgument,
    PolicyViolation,
    ServerError,
    SessionClosed,
    SessionTaskFailed,
)
from livehandle._events import LiveEvent, SessionEvent, SessionPhase
from livehandle._open import open_live_session
from livehandle._runtime.lanes import Hooks
from livehandle._wire import messages as m
from livehandle.testing import Audio, Fault, LiveEmulator, Rule, Say, Scenario, When, audio
from tests.testing.helpers import until

if TYPE_CHECKING:
    from livehandle._handle import LiveHandle

TEXT = LiveConfig(response_modality="TEXT")
VOICE = LiveConfig()  # AUDIO with both transcriptions


def names(events: list[LiveEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


async def speak(handle: LiveHandle, ms: float, silence_ms: float = 1000) -> None:
    pcm = audio.synth_voice(ms, sample_rate=16000) + audio.silence(silence_ms)
    for chunk in audio.chunked(pcm, 100, sample_rate=16000):
        await handle.send_audio(chunk)


# -- conversations ----------------------------------------------------------------------------


async def test_text_conversation() -> None:
    async with LiveEmulator().running() as emu, open_live_session(TEXT, endpoint=emu.url) as handle:
        events = handle.events()
        await handle.send_text("hello")
        first = await until(events, LiveEvent.TurnComplete)
        await handle.send_text("again")
        second = await until(events, LiveEvent.TurnComplete)
    assert LiveEvent.TextComplete("You said: hello") in first
    assert names(first)[-3:] == ["InputTranscript", "OutputTranscript", "TurnComplete"]
    assert first[-3] == LiveEvent.InputTranscript("hello", is_final=True)
    assert first[-2] == LiveEvent.OutputTranscript("You said: hello", is_final=True)
    assert LiveEvent.TextComplete("You said: again") in second
    assert [(t.user, t.model, t.typed) for t in handle.transcript] == [
        ("hello", "You said: hello", True),
        ("again", "You said: again", True),
    ]


async def test_audio_conversation() -> None:
    async with (
        LiveEmulator().running() as emu,
        open_live_session(VOICE, endpoint=emu.url) as handle,
    ):
        emu.queue_transcript("What time is it")
        events = handle.events()
        await speak(handle, 900)
        seen = await until(events, LiveEvent.TurnComplete)
    pcm = b"".join(e.data for e in seen if isinstance(e, LiveEvent.Audio))
    assert audio.duration_ms(pcm, sample_rate=24000) > 500
    finals = [e for e in seen if getattr(e, "is_final", False)]
    assert finals == [
        LiveEvent.InputTranscript("What time is it", is_final=True),
        LiveEvent.OutputTranscript("You said: What time is it", is_final=True),
    ]
    snapshot = handle.telemetry.snapshot()
    assert snapshot["audio_chunks_out"] > 0
    assert snapshot["audio_chunks_in"] > 0
    assert snapshot["turn_count"] == 1


LONG = Scenario(rules=[Rule(When(text="story"), [Audio(8000, "Once upon a time")])])


async def test_interrupted_reply_drops_model_audio_until_the_interruption_is_handled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    emulator = LiveEmulator(LONG, realtime=True)
    async with (
        emulator.in_memory() as emu,
        open_live_session(VOICE, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        await handle.send_text("tell me a story")
        await until(events, LiveEvent.Audio)
        await trio.sleep(1)
        await handle.send_text("stop")
        interrupted = await until(events, LiveEvent.Interrupted)
        rest = await until(events, LiveEvent.TurnComplete)  # the interrupted turn ends
        after = await until(events, LiveEvent.TurnComplete)  # the answer to "stop"
    heard = sum(len(e.data) for e in interrupted if isinstance(e, LiveEvent.Audio))
    assert audio.duration_ms(bytes(heard), sample_rate=24000) < 2000
    assert not any(isinstance(e, LiveEvent.Audio) for e in rest)
    assert LiveEvent.OutputTranscript("You said: stop", is_final=True) in after
    assert handle.transcript[0].interrupted
    assert handle.telemetry.snapshot()["interruptions"] == 1


async def test_audio_arriving_after_interrupted_is_dropped_in_the_lane() -> None:
    received: list[LiveEvent] = []
    async with (
        LiveEmulator().running() as emu,
        open_live_session(VOICE, endpoint=emu.url) as handle,
    ):
        events = handle.events()
        await trio.testing.wait_all_tasks_blocked()
        conn = emu.connections[0]
        blob = m.Blob("audio/pcm;rate=24000", b"\x01\x00" * 480)
        chunk = m.ServerContent(model_turn=m.Content((m.Part(inline_data=blob),)))
        await conn.send(m.ServerContent(interrupted=True))
        await conn.send(chunk)  # stale audio racing the interruption
        await conn.send(m.ServerContent(turn_complete=True))
        received = await until(events, LiveEvent.TurnComplete)
    assert "Interrupted" in names(received)
    index = names(received).index("Interrupted")
    assert "Audio" not in names(received)[:index]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault("close", code=1007, reason="closing with 1007"), InvalidArgument),
        (Fault("close", code=1008, reason="closing with 1008"), PolicyViolation),
        (Fault("close", code=1011, reason="closing with 1011"), ServerError),
        (Fault("drop"), ConnectionLost),
    ],
    ids=["1007", "1008", "1011", "1006"],
)
async def test_server_close_codes_end_the_session_with_the_typed_error(
    fault: Fault, error: type
) -> None:
    scenario = Scenario(rules=[Rule(When(text="bye"), [fault])])
    async with (
        LiveEmulator(scenario).running() as emu,
        open_live_session(TEXT, endpoint=emu.url) as handle,
    ):
        stream = handle.stream()
        await handle.send_text("bye")
        with pytest.raises(error) as info:
            await handle.done()
        seen = [event async for event in stream]  # the stream ends with the session
        with pytest.raises(SessionClosed):
            await handle.send_text("anyone?")
    if fault.kind == "close":
        assert info.value.reason == fault.reason
    assert isinstance(seen[-1], LiveEvent.Disconnected)
    assert any(isinstance(e, LiveEvent.Error) for e in seen)
    assert handle.phase() is SessionPhase.DISCONNECTED


async def test_server_normal_close_ends_done_without_error() -> None:
    scenario = Scenario(rules=[Rule(When(text="bye"), [Fault("close", code=1000, reason="")])])
    async with (
        LiveEmulator(scenario).running() as emu,
        open_live_session(TEXT, endpoint=emu.url) as handle,
    ):
        await handle.send_text("bye")
        end = await handle.done()
    assert end.ok and end.initiated_by == "server"


async def test_go_away_is_published_and_the_deadline_close_ends_the_session_cleanly(
    autojump_clock: trio.testing.MockClock,
) -> None:
    scenario = Scenario(go_away_after=30, go_away_time_left=10)
    async with (
        LiveEmulator(scenario).in_memory() as emu,
        open_live_session(TEXT, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        go_away = (await until(events, LiveEvent.GoAway))[-1]
        end = await handle.done()  # the announced end, not a failure (issue 12, part 7)
    assert go_away == LiveEvent.GoAway(10.0)
    assert (end.initiated_by, end.code, end.reason, end.error) == ("server", 1011, "go_away", None)
    assert end.resume_handle == handle.resume_handle()
    assert handle.state.get("session:go_away_received") is True


async def test_disconnect_during_a_reply_is_clean_and_every_done_caller_wakes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ends = []
    async with LiveEmulator(LONG, realtime=True).in_memory() as emu:
        async with open_live_session(
            VOICE, endpoint=emu.url, transport=emu.memory_transport()
        ) as handle:
            events = handle.events()

            async def wait_done() -> None:
                ends.append(await handle.done())

            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(wait_done)
                await handle.send_text("story")
                await until(events, LiveEvent.Audio)
                start = trio.current_time()
                await handle.disconnect()
                await handle.disconnect()  # idempotent
                elapsed = trio.current_time() - start
        await emu.connections[0].wait_closed()
    assert len(ends) == 3
    assert all(end.ok and end.initiated_by == "client" for end in ends)
    assert elapsed <= 0.5
    assert emu.connections[0].close_code == 1000


async def test_a_stuck_hook_is_cancelled_after_the_grace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    stuck = trio.Event()

    async def on_event(event: LiveEvent) -> None:
        if isinstance(event, LiveEvent.TurnComplete):
            stuck.set()
            await trio.sleep_forever()  # a hook that never returns

    async with (
        LiveEmulator().in_memory() as emu,
        open_live_session(
            TEXT, endpoint=emu.url, transport=emu.memory_transport(), hooks=Hooks(on_event=on_event)
        ) as handle,
    ):
        await handle.send_text("hi")
        await stuck.wait()
        start = trio.current_time()
        await handle.disconnect()
        elapsed = trio.current_time() - start
    assert elapsed == pytest.approx(0.25, abs=0.01)  # the control lane's grace, then cancelled


async def test_a_subscriber_that_never_reads_does_not_delay_audio_to_another() -> None:
    config = attrs.evolve(VOICE, event_capacity=4)
    async with (
        LiveEmulator(LONG).running() as emu,
        open_live_session(config, endpoint=emu.url) as handle,
    ):
        sleeper = handle.events()  # never reads
        reader = handle.stream()
        await handle.send_text("story")
        seen = await until(reader, LiveEvent.TurnComplete)
        chunks = sum(isinstance(e, LiveEvent.Audio) for e in seen)
        assert chunks == 8000 // emu.chunk_ms
        assert sleeper.pending == 4
        with pytest.raises(Exception, match="missed"):
            await sleeper.receive()


async def test_no_task_is_left_after_exit() -> None:
    async with LiveEmulator().running() as emu:
        await trio.testing.wait_all_tasks_blocked()
        before = trio.lowlevel.current_statistics().tasks_living
        with trio.fail_after(5):  # a task left behind would keep the session's nursery open
            async with open_live_session(TEXT, endpoint=emu.url) as handle:
                await handle.send_text("hi")
                assert trio.lowlevel.current_statistics().tasks_living > before + 4
        await emu.connections[0].wait_closed()
        await trio.testing.wait_all_tasks_blocked()
        assert trio.lowlevel.current_statistics().tasks_living == before


async def test_an_exception_in_the_body_disconnects_and_propagates_unchanged() -> None:
    async with LiveEmulator().running() as emu:
        with pytest.raises(ZeroDivisionError):
            async with open_live_session(TEXT, endpoint=emu.url) as handle:
                _ = 1 / 0
        await emu.connections[0].wait_closed()
    assert emu.connections[0].close_code == 1000
    assert handle.phase() is SessionPhase.DISCONNECTED


async def test_a_failing_lane_surfaces_as_a_session_error() -> None:
    def on_event(event: LiveEvent) -> None:
        if isinstance(event, LiveEvent.TurnComplete):
            raise RuntimeError("bug in a hook")

    async def chat() -> None:
        async with open_live_session(TEXT, endpoint=emu.url, hooks=Hooks(on_event=on_event)) as h:
            await h.send_text("hi")
            await trio.sleep_forever()

    async with LiveEmulator().running() as emu:
        with pytest.raises(SessionTaskFailed) as info:
            await chat()
    assert "bug in a hook" in str(info.value)


async def test_connect_failures_raise_the_typed_error() -> None:
    async with LiveEmulator().running() as emu:
        with pytest.raises(PolicyViolation):
            async with open_live_session(LiveConfig(model="gemini-0.1-none"), endpoint=emu.url):
                pytest.fail("must not connect")


def test_no_endpoint_and_no_key_is_a_value_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    from livehandle._open import resolve_endpoint

    with pytest.raises(ValueError, match="GEMINI_API_KEY"):
        resolve_endpoint(None, None)


async def test_api_key_with_a_url_uses_the_google_ai_path_on_that_host() -> None:
    key = "AIzaSy-handle-test"
    async with (
        LiveEmulator(api_key=key).running() as emu,
        open_live_session(TEXT, endpoint=emu.url, api_key=key) as handle,
    ):
        assert key not in repr(handle)
    assert emu.connections[0].headers["x-goog-api-key"] == key
    assert "GenerativeService.BidiGenerateContent" in emu.connections[0].path


# -- sending ----------------------------------------------------------------------------------


async def test_bad_audio_raises_value_error_and_sends_nothing() -> None:
    async with (
        LiveEmulator().running() as emu,
        open_live_session(VOICE, endpoint=emu.url) as handle,
    ):
        with pytest.raises(ValueError, match="even number of bytes"):
            await handle.send_audio(b"\x00\x01\x02")
        with pytest.raises(TypeError, match="PCM16 bytes"):  # a wrong type: TypeError
            await handle.send_audio("not audio")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="non-empty string"):
            await handle.send_text("")
        await handle.send_video(b"\xff\xd8\xff")
    assert [type(r.message).__name__ for r in emu.connections[0].received] == [
        "Setup",
        "RealtimeInput",
    ]


async def test_sends_from_one_task_keep_their_order() -> None:
    async with (
        LiveEmulator().running() as emu,
        open_live_session(VOICE, endpoint=emu.url) as handle,
    ):
        for i in range(50):
            await handle.send_audio(bytes([i, 0]) * 160)
    received = emu.connections[0].messages(m.RealtimeInput)
    assert [r.audio.data[0] for r in received if r.audio] == list(range(50))


async def test_update_instruction_changes_later_replies() -> None:
    scenario = Scenario(default=[Say("[{instruction}] {user_text}")])
    config = attrs.evolve(TEXT, instruction="Be brief.", model="gemini-3.8-live")
    async with (
        LiveEmulator(scenario).running() as emu,
        open_live_session(config, endpoint=emu.url) as handle,
    ):
        events = handle.events()
        await handle.update_instruction("Be a pirate.")
        await handle.send_text("hi")
        seen = await until(events, LiveEvent.TurnComplete)
    assert LiveEvent.TextComplete("[Be a pirate.] hi") in seen
    assert isinstance(emu.connections[0].received[1].message, m.ContextUpdate)


async def test_manual_tool_response_round_trip() -> None:
    from livehandle.testing import CallTools, ToolCallSpec

    scenario = Scenario(
        default=[CallTools([ToolCallSpec("lookup", {"q": "x"})]), Say("got {result}")]
    )
    decl = m.Tool(function_declarations=(m.FunctionDeclaration("lookup"),))
    config = attrs.evolve(TEXT, tools=(decl,))
    async with (
        LiveEmulator(scenario).running() as emu,
        open_live_session(config, endpoint=emu.url) as handle,
    ):
        events = handle.events()
        await handle.send_text("find")
        call_event = (await until(events, LiveEvent.ToolCall))[-1]
        assert isinstance(call_event, LiveEvent.ToolCall)
        (call,) = call_event.calls
        await handle.send_tool_response(
            [m.FunctionResponse(id=call.id, name=call.name, response={"output": "42"})]
        )
        seen = await until(events, LiveEvent.TurnComplete)
    assert LiveEvent.TextComplete("got 42") in seen


async def test_raw_subscription_sees_wire_events() -> None:
    async with LiveEmulator().running() as emu, open_live_session(TEXT, endpoint=emu.url) as handle:
        raw = handle.subscribe()
        await handle.send_text("hi")
        kinds = []
        async for event in raw:
            kinds.append(type(event).__name__)
            if isinstance(event, SessionEvent.TurnComplete):
                break
        raw.close()
    assert "TextDelta" in kinds and "Usage" in kinds


# -- telemetry --------------------------------------------------------------------------------


async def test_periodic_telemetry_runs_with_no_subscriber(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = attrs.evolve(TEXT, telemetry_interval=1.0)
    async with (
        LiveEmulator().in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        await handle.send_text("hi")
        await trio.sleep(5)  # nobody listens meanwhile
        events = handle.events()
        await handle.send_text("again")
        seen = await until(events, LiveEvent.TurnMetrics)
        telemetry = await until(events, LiveEvent.Telemetry)
    metrics = seen[-1]
    assert isinstance(metrics, LiveEvent.TurnMetrics)
    assert metrics.turn == 2
    assert telemetry[-1].snapshot["turn_count"] == 2  # type: ignore[union-attr]


# -- regressions found in review ----------------------------------------------------------------


async def test_an_outer_cancel_scope_cancels_the_session_cleanly(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with LiveEmulator().in_memory() as emu:
        with trio.move_on_after(5) as outer:
            async with open_live_session(
                TEXT, endpoint=emu.url, transport=emu.memory_transport()
            ) as handle:
                await trio.sleep_forever()
        assert outer.cancelled_caught  # not a SessionTaskFailed: the cancel reached its scope
        assert trio.current_time() <= 5 + 0.5
    assert handle.phase() is SessionPhase.DISCONNECTED


async def test_disconnect_from_a_hook_still_publishes_disconnected() -> None:
    handle_box: list[LiveHandle] = []

    async def on_event(event: LiveEvent) -> None:
        if isinstance(event, LiveEvent.TurnComplete):
            await handle_box[0].disconnect()

    async with (
        LiveEmulator().running() as emu,
        open_live_session(TEXT, endpoint=emu.url, hooks=Hooks(on_event=on_event)) as handle,
    ):
        handle_box.append(handle)
        stream = handle.stream()
        await handle.send_text("hi")
        seen = [type(event).__name__ async for event in stream]
    assert seen[-2:] == ["TurnComplete", "Disconnected"]


@pytest.mark.parametrize(
    "endpoint", ["ws://127.0.0.1:99999", "ws:///no-host"], ids=["bad-port", "no-host"]
)
async def test_an_unusable_endpoint_raises_value_error_unwrapped(endpoint: str) -> None:
    with pytest.raises(ValueError, match="not a usable WebSocket URL"):
        async with open_live_session(TEXT, endpoint=endpoint):
            pytest.fail("must not connect")


async def test_a_failing_token_callable_raises_connect_failed() -> None:
    from livehandle._errors import ConnectFailed
    from livehandle._transport import Endpoint

    def token() -> str:
        raise RuntimeError("metadata server unreachable")

    endpoint = Endpoint.vertex(project="p", location="l", token=token, base_url="ws://127.0.0.1:1")
    with pytest.raises(ConnectFailed, match="metadata server unreachable"):
        async with open_live_session(TEXT, endpoint=endpoint):
            pytest.fail("must not connect")


async def test_done_raises_with_a_fresh_traceback_each_time() -> None:
    scenario = Scenario(rules=[Rule(When(text="bye"), [Fault("close", code=1011)])])
    async with (
        LiveEmulator(scenario).running() as emu,
        open_live_session(TEXT, endpoint=emu.url) as handle,
    ):
        await handle.send_text("bye")
        depths = []
        for _ in range(20):
            with pytest.raises(ServerError) as info:
                await handle.done()
            tb, depth = info.value.__traceback__, 0
            while tb is not None:
                depth, tb = depth + 1, tb.tb_next
            depths.append(depth)
    assert max(depths) == min(depths)


# -- the first subscription misses nothing (issue 12, part 9 c) ---------------------------------

FRAMES = 5


@pytest.mark.parametrize("run", range(5))
async def test_a_stream_opened_on_the_first_line_sees_connected_and_every_frame(
    autojump_clock: trio.testing.MockClock, run: int
) -> None:
    from tests.greeting import GreetingTransport

    with trio.fail_after(60):
        async with (
            LiveEmulator().in_memory() as emu,
            open_live_session(
                VOICE, endpoint=emu.url, transport=GreetingTransport(emu, FRAMES)
            ) as handle,
        ):
            stream = handle.stream()  # the body's first line: before any checkpoint
            events = handle.events()
            raw = handle.subscribe()
            seen: list[LiveEvent] = []
            async for event in stream:
                seen.append(event)
                if len([e for e in seen if isinstance(e, LiveEvent.Audio)]) == FRAMES:
                    break
            strict = await until(events, LiveEvent.Audio)
            wire = await until(raw, SessionEvent.AudioData)
    assert isinstance(seen[0], LiveEvent.Connected)
    assert stream.total_missed == 0
    assert len([e for e in seen if isinstance(e, LiveEvent.Audio)]) == FRAMES
    assert isinstance(strict[0], LiveEvent.Connected)
    assert isinstance(wire[0], SessionEvent.PhaseChanged)  # the session's very first event
    assert any(isinstance(e, SessionEvent.Connected) for e in wire)


async def test_a_subscription_made_after_the_first_checkpoint_gets_no_old_events(
    autojump_clock: trio.testing.MockClock,
) -> None:
    from tests.greeting import GreetingTransport

    with trio.fail_after(60):
        async with (
            LiveEmulator().in_memory() as emu,
            open_live_session(
                VOICE, endpoint=emu.url, transport=GreetingTransport(emu, FRAMES)
            ) as handle,
        ):
            first = handle.events()
            await until(first, LiveEvent.Connected)
            await trio.testing.wait_all_tasks_blocked()  # everything so far is published
            late, late_raw = handle.events(), handle.subscribe()
            assert (late.pending, late_raw.pending) == (0, 0)
            await handle.disconnect()
            rest = [e async for e in late]
            rest_raw = [e async for e in late_raw]
    assert names(rest) == ["Disconnected"]
    assert not any(isinstance(e, SessionEvent.Connected | SessionEvent.AudioData) for e in rest_raw)


async def test_a_hook_stuck_until_the_control_backlog_is_full_ends_the_session_loudly(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from livehandle._runtime.lanes import Lanes

    monkeypatch.setitem(Lanes.__init__.__kwdefaults__, "backlog_limit", 3)  # type: ignore[index]
    stuck = trio.Event()

    async def on_event(event: LiveEvent) -> None:
        if isinstance(event, LiveEvent.Connected):
            stuck.set()
            await trio.sleep_forever()  # the control lane never moves again

    config = LiveConfig(response_modality="TEXT", lane_capacity=2)

    async def stuck_session(emu: LiveEmulator) -> None:
        async with open_live_session(
            config, endpoint=emu.url, transport=emu.memory_transport(), hooks=Hooks(on_event)
        ) as handle:
            seen.append(handle)
            await stuck.wait()
            for n in range(10):  # each turn ends with critical events the lane must keep
                await handle.send_text(f"turn {n}")
                await trio.sleep(1)
            await trio.sleep_forever()

    seen: list[LiveHandle] = []
    with trio.fail_after(600):
        async with LiveEmulator().in_memory() as emu:
            with pytest.raises(SessionTaskFailed) as info:
                await stuck_session(emu)
    handle = seen[0]
    assert "control lane is stuck" in str(info.value)
    assert handle.state.get("session:disconnected") is True
