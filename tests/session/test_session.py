"""The L0 session against a real WebSocket server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import socket

import pytest
import trio

from livehandle._errors import (
    ConnectFailed,
    ConnectionLost,
    InvalidArgument,
    Lagged,
    PolicyViolation,
    ProtocolError,
    ServerError,
    SessionClosed,
    SessionTimeout,
)
from livehandle._events import SessionEnd, SessionEvent, SessionPhase
from livehandle._session import Session, SessionOptions, open_session
from livehandle._transport import Endpoint, MemoryConnection, MemoryTransport
from livehandle._wire import messages as m
from tests.session.server import Peer, live_server
from tests.testing.helpers import until

SETUP = m.Setup(model="models/test-model", session_resumption=m.SessionResumptionConfig())
API_KEY = "AIzaSy-test-key-do-not-log"
TEXT_TURN = m.ClientContent(
    turns=(m.Content(parts=(m.Part(text="hello"),), role="user"),), turn_complete=True
)


def text_part(text: str) -> m.ServerContent:
    return m.ServerContent(model_turn=m.Content(parts=(m.Part(text=text),)))


def audio_part(data: bytes) -> m.ServerContent:
    blob = m.Blob("audio/pcm;rate=24000", data)
    return m.ServerContent(model_turn=m.Content(parts=(m.Part(inline_data=blob),)))


def kinds(events: list[SessionEvent]) -> list[str]:
    return [type(e).__name__ for e in events if not isinstance(e, SessionEvent.PhaseChanged)]


def after_start(events: list[SessionEvent]) -> list[SessionEvent]:
    """The events after the session's start (a subscription made first sees the start too)."""
    start = [SessionPhase.CONNECTING, SessionPhase.SETUP_SENT, SessionPhase.ACTIVE]
    assert [e.new for e in events[:3] if isinstance(e, SessionEvent.PhaseChanged)] == start
    assert isinstance(events[3], SessionEvent.Connected)
    return events[4:]


@pytest.fixture
def fail_after():
    with trio.fail_after(10):
        yield


async def test_handshake_sends_setup_first_and_publishes_connected() -> None:
    async with live_server() as server:
        session = Session(SETUP, endpoint=Endpoint.google_ai(API_KEY, base_url=server.url))
        sub = session.subscribe()
        async with trio.open_nursery() as nursery:
            await nursery.start(session.run)
            assert session.phase is SessionPhase.ACTIVE
            await session.close()
        events = [event async for event in sub]
    peer = server.peers[0]
    assert peer.received[0] == SETUP
    assert peer.headers["x-goog-api-key"] == API_KEY
    assert peer.path.endswith("GenerativeService.BidiGenerateContent")
    phases = [e.new for e in events if isinstance(e, SessionEvent.PhaseChanged)]
    assert phases == [
        SessionPhase.CONNECTING,
        SessionPhase.SETUP_SENT,
        SessionPhase.ACTIVE,
        SessionPhase.DISCONNECTING,
        SessionPhase.DISCONNECTED,
    ]
    assert SessionEvent.Connected(None, False) in events
    assert isinstance(events[-1], SessionEvent.Disconnected)


async def test_text_turn_yields_deltas_joined_text_and_turn_complete() -> None:
    async def script(peer: Peer) -> None:
        await peer.expect(m.ClientContent)
        await peer.send(text_part("Paris "))
        await peer.send(text_part("is the capital."))
        await peer.send(m.ServerContent(generation_complete=True))
        await peer.send(m.ServerContent(turn_complete=True), binary=False)  # text frames too

    async with (
        live_server(script) as server,
        open_session(SETUP, endpoint=Endpoint.from_url(server.url)) as session,
    ):
        with session.subscribe() as sub:
            await session.send(TEXT_TURN)
            events = after_start(await until(sub, SessionEvent.TurnComplete))
    assert kinds(events) == [
        "UserTextSent",  # the typed turn went out, in send order
        "TextDelta",
        "TextDelta",
        "GenerationComplete",
        "TextComplete",
        "TurnComplete",
    ]
    assert SessionEvent.TextComplete("Paris is the capital.") in events
    phases = [e.new for e in events if isinstance(e, SessionEvent.PhaseChanged)]
    assert phases == [SessionPhase.MODEL_SPEAKING, SessionPhase.ACTIVE]
    assert server.peers[0].received[1] == TEXT_TURN


async def test_audio_goes_out_and_model_audio_comes_back_byte_exact() -> None:
    chunks = [bytes([i]) * 1920 for i in range(3)]
    mic = bytes(range(256)) * 2

    async def script(peer: Peer) -> None:
        got = await peer.expect(m.RealtimeInput)
        assert got.audio == m.Blob("audio/pcm;rate=16000", mic)
        await peer.send(m.ServerContent(input_transcription=m.Transcription("hi there")))
        for chunk in chunks:
            await peer.send(audio_part(chunk))
        await peer.send(m.ServerContent(output_transcription=m.Transcription("Hello!")))
        usage = m.UsageMetadata(prompt_token_count=10, response_token_count=5, total_token_count=15)
        await peer.send(m.ServerContent(turn_complete=True, usage_metadata=usage))

    async with (
        live_server(script) as server,
        open_session(SETUP, endpoint=Endpoint.from_url(server.url)) as session,
    ):
        with session.subscribe() as sub:
            await session.send(m.RealtimeInput(audio=m.Blob("audio/pcm;rate=16000", mic)))
            events = await until(sub, SessionEvent.TurnComplete)
    audio = [e.data for e in events if isinstance(e, SessionEvent.AudioData)]
    assert audio == chunks
    assert SessionEvent.InputTranscription("hi there") in events
    assert SessionEvent.OutputTranscription("Hello!") in events
    usage_events = [e for e in events if isinstance(e, SessionEvent.Usage)]
    assert usage_events[0].usage.total_token_count == 15


async def test_tool_call_round_trip_and_phase_never_sticks() -> None:
    call = m.FunctionCall(name="get_weather", id="fc-1", args={"city": "Paris"})

    async def script(peer: Peer) -> None:
        await peer.expect(m.ClientContent)
        await peer.send(m.ToolCall((call,)))
        response = await peer.expect(m.ToolResponse)
        assert response.function_responses[0].id == "fc-1"
        await peer.send(text_part("It is sunny."))
        await peer.send(m.ServerContent(turn_complete=True))

    async with (
        live_server(script) as server,
        open_session(SETUP, endpoint=Endpoint.from_url(server.url)) as session,
    ):
        with session.subscribe() as sub:
            await session.send(TEXT_TURN)
            phases = []
            async for event in sub:
                if isinstance(event, SessionEvent.PhaseChanged):
                    phases.append(event.new)
                if isinstance(event, SessionEvent.ToolCall):
                    assert event.calls == (call,)
                    assert session.phase is SessionPhase.TOOL_CALL_PENDING
                    session.mark_tools_executing()
                    answer = m.FunctionResponse(
                        id="fc-1", name="get_weather", response={"output": "sunny"}
                    )
                    await session.send(m.ToolResponse((answer,)))
                if isinstance(event, SessionEvent.TurnComplete):
                    break
    assert phases[:3] == [SessionPhase.CONNECTING, SessionPhase.SETUP_SENT, SessionPhase.ACTIVE]
    assert phases[3:] == [
        SessionPhase.TOOL_CALL_PENDING,
        SessionPhase.TOOL_CALL_EXECUTING,
        SessionPhase.ACTIVE,
        SessionPhase.MODEL_SPEAKING,
        SessionPhase.ACTIVE,
    ]


async def test_tool_call_cancellation_is_published_and_leaves_the_tool_phase() -> None:
    async def script(peer: Peer) -> None:
        await peer.send(
            m.ToolCall((m.FunctionCall(name="f", id="a"), m.FunctionCall(name="f", id="b")))
        )
        await peer.send(m.ToolCallCancellation(("a", "b")))

    async with live_server(script) as server:
        session = Session(SETUP, endpoint=Endpoint.from_url(server.url))
        sub = session.subscribe()
        async with trio.open_nursery() as nursery:
            await nursery.start(session.run)
            async for event in sub:
                if isinstance(event, SessionEvent.ToolCallCancelled):
                    assert event.ids == ("a", "b")
                    break
            assert session.phase is SessionPhase.ACTIVE
            await session.close()


async def test_an_empty_tool_call_or_cancellation_changes_nothing() -> None:
    # proto3 omits empty lists: `toolCall: {}` is valid and names no call (issue 13).
    async def script(peer: Peer) -> None:
        await peer.send_raw('{"toolCall": {}}')
        await peer.send_raw('{"toolCallCancellation": {}}')
        await peer.send(m.ServerContent(turn_complete=True))

    async with live_server(script) as server:
        session = Session(SETUP, endpoint=Endpoint.from_url(server.url))
        sub = session.subscribe()
        seen: list[type] = []
        async with trio.open_nursery() as nursery:
            await nursery.start(session.run)
            async for event in sub:
                seen.append(type(event))
                if isinstance(event, SessionEvent.TurnComplete):
                    break
            assert session.phase is SessionPhase.ACTIVE
            await session.close()
    assert SessionEvent.ToolCall not in seen and SessionEvent.ToolCallCancelled not in seen
    assert SessionEvent.Error not in seen


async def test_go_away_then_deadline_close_ends_cleanly_with_reason_go_away() -> None:
    async def script(peer: Peer) -> None:
        await peer.send(m.SessionResumptionUpdate(new_handle="h1", resumable=True))
        await peer.send(m.GoAway(time_left=50.0))
        await peer.close(1011, "Deadline expired before operation could complete.")

    async with (
        live_server(script) as server,
        open_session(SETUP, endpoint=Endpoint.from_url(server.url)) as session,
    ):
        end = await session.wait_closed()
    assert end.error is None and end.ok  # the end the goAway announced is not a failure
    assert (end.initiated_by, end.code, end.reason) == ("server", 1011, "go_away")
    assert end.resume_handle == "h1"


async def test_a_fatal_close_after_go_away_is_still_an_error() -> None:
    async def script(peer: Peer) -> None:
        await peer.send(m.GoAway(time_left=50.0))
        await peer.close(1007, "Request contains an invalid argument.")

    async with (
        live_server(script) as server,
        open_session(SETUP, endpoint=Endpoint.from_url(server.url)) as session,
    ):
        end = await session.wait_closed()
    assert isinstance(end.error, InvalidArgument)
    assert end.reason == "Request contains an invalid argument."


async def test_go_away_event_carries_time_left_in_seconds() -> None:
    async def script(peer: Peer) -> None:
        await peer.send(m.GoAway(time_left=50.0))

    async with live_server(script) as server:
        session = Session(SETUP, endpoint=Endpoint.from_url(server.url))
        sub = session.subscribe()
        async with trio.open_nursery() as nursery:
            await nursery.start(session.run)
            async for event in sub:
                if isinstance(event, SessionEvent.GoAway):
                    assert event.time_left == 50.0
                    break
            await session.close()


async def test_resume_handle_is_the_newest_resumable_one() -> None:
    async def script(peer: Peer) -> None:
        await peer.send(m.SessionResumptionUpdate(new_handle="h1", resumable=True))
        await peer.send(m.SessionResumptionUpdate(resumable=False))
        await peer.send(m.SessionResumptionUpdate(new_handle="h2"))  # resumable absent: true
        await peer.send(m.SessionResumptionUpdate(new_handle="h3", resumable=False))
        await peer.send(m.ServerContent(turn_complete=True))

    async with (
        live_server(script) as server,
        open_session(SETUP, endpoint=Endpoint.from_url(server.url)) as session,
    ):
        with session.subscribe() as sub:
            updates = []
            async for event in sub:
                if isinstance(event, SessionEvent.SessionResumeUpdate):
                    updates.append((event.handle, event.resumable))
                if isinstance(event, SessionEvent.TurnComplete):
                    break
            assert session.resume_handle == "h2"
    assert updates == [("h1", True), (None, False), ("h2", True), ("h3", False)]


@pytest.mark.parametrize(
    ("code", "reason", "error_type"),
    [
        (1007, "Request contains an invalid argument.", InvalidArgument),
        (1008, "models/x is not found for API version v1beta", PolicyViolation),
        (1011, "Internal error occurred.", ServerError),
    ],
)
async def test_server_close_codes_become_typed_errors(
    code: int, reason: str, error_type: type
) -> None:
    async def script(peer: Peer) -> None:
        await peer.close(code, reason)

    async with (
        live_server(script) as server,
        open_session(SETUP, endpoint=Endpoint.from_url(server.url)) as session,
    ):
        end = await session.wait_closed()
        assert type(end.error) is error_type
        assert end.error.code == code and end.error.reason == reason
        with pytest.raises(SessionClosed) as info:
            await session.send(TEXT_TURN)
        assert info.value.cause is end.error
        assert session.phase is SessionPhase.DISCONNECTED


async def test_server_normal_close_is_a_clean_end() -> None:
    async def script(peer: Peer) -> None:
        await peer.close(1000)

    async with (
        live_server(script) as server,
        open_session(SETUP, endpoint=Endpoint.from_url(server.url)) as session,
    ):
        end = await session.wait_closed()
    assert end == SessionEnd("server", 1000, "", None, None)
    assert end.ok


async def test_dropped_connection_is_connection_lost() -> None:
    async def script(peer: Peer) -> None:
        await peer.drop()

    async with (
        live_server(script) as server,
        open_session(SETUP, endpoint=Endpoint.from_url(server.url)) as session,
    ):
        end = await session.wait_closed()
    assert isinstance(end.error, ConnectionLost)
    assert end.code == 1006 and end.initiated_by == "network"


async def test_malformed_frame_is_reported_and_the_session_continues() -> None:
    async def script(peer: Peer) -> None:
        await peer.send_raw(b"{not json")
        await peer.send_raw('{"brandNewKind":{}}')
        await peer.send(m.ServerContent(turn_complete=True))

    async with (
        live_server(script) as server,
        open_session(SETUP, endpoint=Endpoint.from_url(server.url)) as session,
    ):
        with session.subscribe() as sub:
            events = after_start(await until(sub, SessionEvent.TurnComplete))
    assert kinds(events) == ["Error", "TurnComplete"]
    error = events[0]
    assert isinstance(error, SessionEvent.Error) and isinstance(error.error, ProtocolError)


async def test_interrupted_drops_output_in_the_same_message_and_publishes_first() -> None:
    async def script(peer: Peer) -> None:
        await peer.send(audio_part(b"\x01\x00"))
        await peer.send(
            m.ServerContent(
                interrupted=True,
                model_turn=m.Content(parts=(m.Part(text="stale"),)),
                input_transcription=m.Transcription("wait"),
            )
        )
        await peer.send(m.ServerContent(turn_complete=True))

    async with (
        live_server(script) as server,
        open_session(SETUP, endpoint=Endpoint.from_url(server.url)) as session,
    ):
        with session.subscribe() as sub:
            events = after_start(await until(sub, SessionEvent.TurnComplete))
    assert kinds(events) == ["AudioData", "Interrupted", "InputTranscription", "TurnComplete"]
    phases = [e.new for e in events if isinstance(e, SessionEvent.PhaseChanged)]
    assert phases == [SessionPhase.MODEL_SPEAKING, SessionPhase.INTERRUPTED, SessionPhase.ACTIVE]


async def test_vertex_session_id_is_published_with_connected() -> None:
    async with live_server(setup_complete=m.SetupComplete(session_id="vx-1")) as server:
        session = Session(SETUP, endpoint=Endpoint.from_url(server.url))
        sub = session.subscribe()
        async with trio.open_nursery() as nursery:
            await nursery.start(session.run)
            assert session.session_id == "vx-1"
            await session.close()
    assert SessionEvent.Connected("vx-1", False) in [e async for e in sub]


async def test_setup_complete_never_arriving_times_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def never_answers(server: MemoryConnection) -> None:  # in memory: a mock clock
        await server.receive()  # the setup
        await trio.sleep_forever()

    transport = MemoryTransport(never_answers)
    start = trio.current_time()
    with pytest.raises(SessionTimeout) as info:
        async with open_session(
            SETUP, endpoint=Endpoint.from_url("ws://server.invalid"), transport=transport
        ):
            pytest.fail("must not get here")
    assert info.value.stage == "setup" and info.value.seconds == 15.0
    assert str(info.value) == "timed out after 15 s waiting for setupComplete"
    assert trio.current_time() - start == pytest.approx(15.0, abs=0.5)


async def test_rejected_setup_raises_the_close_error_from_open() -> None:
    reason = (
        "models/x is not found for API version v1beta, or is not supported for bidiGenerateContent."
    )
    async with live_server(setup_complete=(1008, reason)) as server:
        with pytest.raises(PolicyViolation) as info:
            async with open_session(SETUP, endpoint=Endpoint.from_url(server.url)):
                pytest.fail("must not get here")
    assert info.value.code == 1008 and info.value.reason == reason


async def test_connection_refused_raises_connect_failed_without_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = Endpoint.google_ai(API_KEY, key_in_query=True, base_url=f"ws://127.0.0.1:{port}")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConnectFailed) as info:
        async with open_session(SETUP, endpoint=endpoint):
            pytest.fail("must not get here")
    assert API_KEY not in str(info.value) and API_KEY not in info.value.url
    assert API_KEY not in caplog.text


async def test_graceful_close_flushes_queued_messages_then_closes_1000() -> None:
    async with live_server() as server:
        async with open_session(SETUP, endpoint=Endpoint.from_url(server.url)) as session:
            for i in range(3):
                await session.send(m.RealtimeInput(text=f"t{i}"))
        await server.finished.wait()
    peer = server.peers[0]
    assert [msg.text for msg in peer.received[1:]] == ["t0", "t1", "t2"]
    assert peer.close_code == 1000
    assert session.end is not None and session.end.ok and session.end.initiated_by == "client"


async def test_a_burst_from_one_task_is_written_by_the_caller_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from livehandle._transport.websocket import WebSocketConnection

    writes: list[str] = []
    send_atomic = WebSocketConnection.send_atomic

    async def recording(self: WebSocketConnection, message: str, within: float) -> None:
        writes.append(message)
        await send_atomic(self, message, within)

    monkeypatch.setattr(WebSocketConnection, "send_atomic", recording)
    async with live_server() as server:
        async with open_session(SETUP, endpoint=Endpoint.from_url(server.url)) as session:
            # The socket is free before each send, so each message is written in the caller's
            # task, one write each: nothing is ever queued and no writer task is needed.
            for i in range(100):
                await session.send(m.RealtimeInput(text=f"t{i}"))
        await server.finished.wait()
    texts = [msg.text for msg in server.peers[0].received[1:]]
    assert texts == [f"t{i}" for i in range(100)]
    assert len(writes) == 100  # one write per message, each in its caller's task


async def test_send_is_a_cancel_point_and_a_cancelled_send_queues_nothing() -> None:
    async with live_server() as server:
        async with open_session(SETUP, endpoint=Endpoint.from_url(server.url)) as session:
            with trio.CancelScope() as scope:
                scope.cancel()
                await session.send(m.RealtimeInput(text="never"))
            assert scope.cancelled_caught
            await session.send(m.RealtimeInput(text="sent"))
        await server.finished.wait()
    assert [msg.text for msg in server.peers[0].received[1:]] == ["sent"]


async def test_close_is_idempotent_and_sends_after_it_raise_at_once() -> None:
    async with (
        live_server() as server,
        open_session(SETUP, endpoint=Endpoint.from_url(server.url)) as session,
    ):
        first = await session.close()
        second = await session.close()
        assert first is second
        with pytest.raises(SessionClosed):
            await session.send(TEXT_TURN)


async def test_body_exception_propagates_unwrapped_after_closing() -> None:
    async with live_server() as server:
        with pytest.raises(KeyError):
            async with open_session(SETUP, endpoint=Endpoint.from_url(server.url)) as session:
                raise KeyError("from the body")
        assert session.end is not None and session.end.initiated_by == "client"


async def test_subscriptions_end_when_the_session_ends() -> None:
    async def script(peer: Peer) -> None:
        await peer.close(1000)

    async with (
        live_server(script) as server,
        open_session(SETUP, endpoint=Endpoint.from_url(server.url)) as session,
    ):
        sub = session.subscribe()
        events = [event async for event in sub]  # terminates: the broadcast closes
    assert isinstance(events[-1], SessionEvent.Disconnected)


async def test_slow_subscriber_lags_and_never_blocks_the_reader() -> None:
    count = 50

    async def script(peer: Peer) -> None:
        for i in range(count):
            await peer.send(text_part(str(i)))
        await peer.send(m.ServerContent(turn_complete=True))

    options = SessionOptions(event_capacity=8)
    async with (
        live_server(script) as server,
        open_session(SETUP, endpoint=Endpoint.from_url(server.url), options=options) as session,
    ):
        slow = session.subscribe()
        with session.subscribe(capacity=1000) as fast:
            async for event in fast:
                if isinstance(event, SessionEvent.TurnComplete):
                    break
        with pytest.raises(Lagged) as info:
            await slow.receive()
        assert info.value.missed > 0
        slow.close()


async def test_unencodable_setup_fails_before_connecting() -> None:
    bad = m.Setup(model="m", generation_config=m.GenerationConfig(temperature=float("inf")))
    with pytest.raises(ProtocolError):
        Session(bad, endpoint=Endpoint.from_url("ws://127.0.0.1:9"))


def test_options_reject_non_positive_values() -> None:
    with pytest.raises(ValueError, match="connect_timeout"):
        SessionOptions(connect_timeout=0)
    with pytest.raises(ValueError, match="outbound_capacity"):
        SessionOptions(outbound_capacity=-1)


def test_session_repr_does_not_show_the_key() -> None:
    endpoint = Endpoint.google_ai(API_KEY, key_in_query=True)
    assert API_KEY not in repr(Session(SETUP, endpoint=endpoint))
    assert json.dumps(repr(endpoint)).count(API_KEY) == 0


@pytest.mark.parametrize("run", range(5))
async def test_a_subscription_made_on_the_first_line_sees_every_event_from_the_start(
    autojump_clock: trio.testing.MockClock, run: int
) -> None:
    from livehandle.testing import LiveEmulator
    from tests.greeting import GreetingTransport
    from tests.testing.helpers import SETUP_AUDIO

    with trio.fail_after(60):
        async with (
            LiveEmulator().in_memory() as emu,
            open_session(
                SETUP_AUDIO,
                endpoint=Endpoint.from_url(emu.url),
                transport=GreetingTransport(emu, 5),
            ) as session,
        ):
            sub = session.subscribe()  # before the body's first checkpoint
            events = []
            while len([e for e in events if isinstance(e, SessionEvent.AudioData)]) < 5:
                events.append(await sub.receive())
            await trio.testing.wait_all_tasks_blocked()
            late = session.subscribe()
            assert late.pending == 0  # after the first checkpoint: only what follows
    assert kinds(events) == ["Connected"] + ["AudioData"] * 5
    assert [e.new for e in events if isinstance(e, SessionEvent.PhaseChanged)][:3] == [
        SessionPhase.CONNECTING,
        SessionPhase.SETUP_SENT,
        SessionPhase.ACTIVE,
    ]


async def test_frames_that_fill_the_socket_arrive_whole_though_their_sender_is_cancelled() -> None:
    # Over plain TCP the caller writes what the socket takes at once and awaits the rest
    # shielded: a cancel arriving meanwhile never cuts the frame.
    gate = trio.Event()

    async def slow_reader(peer: Peer) -> None:
        await gate.wait()  # the client's socket buffers fill up meanwhile

    big = "x" * 900_000  # under the test server's 1 MiB message limit
    async with live_server(slow_reader) as server:
        async with open_session(SETUP, endpoint=Endpoint.from_url(server.url)) as session:
            with trio.fail_after(20):
                with trio.CancelScope() as scope:

                    async def cancel_then_read() -> None:
                        await trio.sleep(0.2)  # a write is stuck by now
                        scope.cancel()
                        gate.set()

                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(cancel_then_read)
                        while True:  # until a send sees the cancel at its checkpoint
                            await session.send(m.RealtimeInput(text=big))
                assert scope.cancelled_caught
                sent = session.messages_written
                assert sent >= 2
                await session.send(m.RealtimeInput(text="after"))
        await server.finished.wait()
    texts = [msg.text for msg in server.peers[0].received[1:]]
    assert texts == [big] * sent + ["after"]
