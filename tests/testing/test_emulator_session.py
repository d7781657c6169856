"""Emulator connections: paths, credentials, frames, resumption, goAway, faults and recording."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing

from livehandle._errors import ConnectFailed, ConnectionLost, InvalidArgument
from livehandle._events import SessionEvent
from livehandle._session import open_session
from livehandle._transport import Endpoint, WebSocketTransport
from livehandle._wire import messages as m
from livehandle.testing import Fault, LiveEmulator, Pause, Rule, Say, Scenario, When
from tests.testing.helpers import (
    MODEL,
    ROUTED_ENDPOINTS,
    SETUP_TEXT,
    assert_key_kept_but_never_shown,
    connect,
    kinds,
    text_of,
    until,
    user_text,
)

KEY = "AIzaSy-emulator-test-key"
RESUMABLE = attrs.evolve(SETUP_TEXT, session_resumption=m.SessionResumptionConfig())


# -- serving ----------------------------------------------------------------------------------


async def test_serve_with_nursery_start_returns_once_listening() -> None:
    emu = LiveEmulator()
    with pytest.raises(RuntimeError, match="not serving"):
        _ = emu.url
    async with trio.open_nursery() as nursery:
        started = await nursery.start(emu.serve)
        assert started is emu
        assert emu.url.startswith("ws://127.0.0.1:")
        async with connect(emu):
            pass
        nursery.cancel_scope.cancel()
    assert len(emu.connections) == 1


@pytest.mark.parametrize("serving", ["socket", "memory"])
@pytest.mark.parametrize(("make", "backend", "version", "constrained"), ROUTED_ENDPOINTS)
async def test_google_ai_constrained_and_vertex_paths_are_served(
    make, backend: str, version: str, constrained: bool, serving: str
) -> None:
    emulator = LiveEmulator()
    async with emulator.running() if serving == "socket" else emulator.in_memory() as emu:
        endpoint = make(emu.url)
        setup = attrs.evolve(SETUP_TEXT, model=endpoint.model_name("gemini-3.8-live"))
        async with connect(emu, setup, endpoint=endpoint) as (session, events):
            await session.send(user_text("hi"))
            assert text_of(await until(events, SessionEvent.TurnComplete)) == "You said: hi"
    conn = emu.connections[0]
    assert (conn.backend, conn.api_version, conn.constrained) == (backend, version, constrained)
    if backend == "vertex":
        assert conn.headers["authorization"] == "Bearer tok"
        assert session.session_id is not None  # Vertex adds a session id to setupComplete


async def test_an_unknown_path_is_rejected_at_the_http_level() -> None:
    async with LiveEmulator().running() as emu:
        with pytest.raises(ConnectFailed) as info:
            async with open_session(SETUP_TEXT, endpoint=Endpoint.from_url(emu.url + "/nope")):
                pytest.fail("must not connect")
    assert info.value.status_code == 404


@pytest.mark.parametrize("in_query", [False, True])
async def test_a_configured_key_is_checked_in_header_or_query(in_query: bool) -> None:
    async with LiveEmulator(api_key=KEY).running() as emu:
        good = Endpoint.google_ai(KEY, base_url=emu.url, key_in_query=in_query)
        async with connect(emu, endpoint=good):
            pass
        bad = Endpoint.google_ai("wrong", base_url=emu.url, key_in_query=in_query)
        with pytest.raises(InvalidArgument) as info:
            async with open_session(SETUP_TEXT, endpoint=bad):
                pytest.fail("must not connect")
    assert info.value.reason == "API key not valid. Please pass a valid API key."
    assert_key_kept_but_never_shown(emu, KEY, in_query=in_query)


async def test_ephemeral_tokens_and_bearer_tokens_are_checked_when_configured() -> None:
    async with LiveEmulator(
        ephemeral_tokens={"auth_tokens/ok"}, bearer_tokens={"tok"}
    ).running() as emu:
        token = Endpoint.ephemeral_token("auth_tokens/ok", base_url=emu.url)
        async with connect(emu, endpoint=token):
            pass
        with pytest.raises(InvalidArgument):
            async with open_session(
                SETUP_TEXT, endpoint=Endpoint.ephemeral_token("auth_tokens/no", base_url=emu.url)
            ):
                pytest.fail("must not connect")
        vertex = Endpoint.vertex(project="p", location="l", token=lambda: "bad", base_url=emu.url)
        with pytest.raises(InvalidArgument):
            async with open_session(
                attrs.evolve(SETUP_TEXT, model=vertex.model_name("gemini-3.8-live")),
                endpoint=vertex,
            ):
                pytest.fail("must not connect")


@pytest.mark.parametrize("binary", [True, False])
async def test_server_frames_are_binary_by_default_and_text_on_request(binary: bool) -> None:
    async with LiveEmulator(binary_frames=binary).running() as emu, trio.open_nursery() as nursery:
        conn = await WebSocketTransport().connect(Endpoint.from_url(emu.url), nursery)
        await conn.send(f'{{"setup": {{"model": "{MODEL}"}}}}')
        frame = await conn.receive()
        await conn.aclose()
    assert isinstance(frame, bytes if binary else str)


async def test_concurrent_connections_are_independent() -> None:
    scenario = Scenario(default=[Say("turn {turn}: {user_text}")])
    async with LiveEmulator(scenario).running() as emu:
        replies: dict[str, list[str]] = {}

        async def chat(name: str) -> None:
            async with connect(emu) as (session, events):
                for text in (f"{name}-1", f"{name}-2"):
                    await session.send(user_text(text))
                    replies.setdefault(name, []).append(
                        text_of(await until(events, SessionEvent.TurnComplete))
                    )

        async with trio.open_nursery() as nursery:
            for name in ("a", "b", "c"):
                nursery.start_soon(chat, name)
    assert replies == {n: [f"turn 1: {n}-1", f"turn 2: {n}-2"] for n in "abc"}
    assert len({id(c.conversation) for c in emu.connections}) == 3


# -- resumption -------------------------------------------------------------------------------


async def test_resumption_updates_are_unresumable_during_replies_and_fresh_at_quiet_points() -> (
    None
):
    async with LiveEmulator().running() as emu, connect(emu, RESUMABLE) as (session, events):
        await session.send(user_text("hi"))
        seen = await until(events, SessionEvent.TurnComplete)
        seen += await until(events, SessionEvent.SessionResumeUpdate)
    updates = [
        (e.handle, e.resumable) for e in seen if isinstance(e, SessionEvent.SessionResumeUpdate)
    ]
    assert updates == [("emu-1-1", True), (None, False), ("emu-1-2", True)]
    assert session.resume_handle == "emu-1-2"


async def test_a_known_handle_continues_the_same_conversation() -> None:
    scenario = Scenario(default=[Say("turn {turn}: {user_text}")])
    async with LiveEmulator(scenario).running() as emu:
        async with connect(emu, RESUMABLE) as (session, events):
            await session.send(user_text("first"))
            await until(events, SessionEvent.TurnComplete)
            handle = (await until(events, SessionEvent.SessionResumeUpdate))[-1].handle
        resumed = attrs.evolve(
            RESUMABLE, session_resumption=m.SessionResumptionConfig(handle=handle)
        )
        async with connect(emu, resumed) as (session, events):
            await session.send(user_text("second"))
            seen = await until(events, SessionEvent.TurnComplete)
    assert text_of(seen) == "turn 2: second"
    first, second = emu.connections
    assert second.resumed_from == handle
    assert second.conversation is first.conversation
    assert ("user", "first") in second.conversation.history


async def test_an_unknown_handle_is_refused_with_a_clear_reason() -> None:
    setup = attrs.evolve(SETUP_TEXT, session_resumption=m.SessionResumptionConfig(handle="stale"))
    async with LiveEmulator().running() as emu:
        with pytest.raises(InvalidArgument, match="Invalid session resumption handle"):
            async with open_session(setup, endpoint=Endpoint.from_url(emu.url)):
                pytest.fail("must not connect")


async def test_transparent_resumption_is_refused_on_google_ai() -> None:
    setup = attrs.evolve(SETUP_TEXT, session_resumption=m.SessionResumptionConfig(transparent=True))
    async with LiveEmulator().running() as emu:
        with pytest.raises(InvalidArgument):
            async with open_session(setup, endpoint=Endpoint.from_url(emu.url)):
                pytest.fail("must not connect")


# -- goAway -----------------------------------------------------------------------------------


async def test_go_away_after_connection_age_then_deadline_close(
    autojump_clock: trio.testing.MockClock,
) -> None:
    scenario = Scenario(go_away_after=540, go_away_time_left=50)
    async with LiveEmulator(scenario).in_memory() as emu, connect(emu) as (session, events):
        start = trio.current_time()
        go_away = (await until(events, SessionEvent.GoAway))[-1]
        at_go_away = trio.current_time() - start
        end = await session.wait_closed()
        at_close = trio.current_time() - start
    assert isinstance(go_away, SessionEvent.GoAway) and go_away.time_left == 50
    assert at_go_away == pytest.approx(540, abs=0.1)
    assert at_close == pytest.approx(590, abs=0.1)
    assert (end.code, end.reason, end.error) == (1011, "go_away", None)
    assert emu.connections[0].close_reason == "Deadline expired before operation could complete."


async def test_go_away_after_a_turn_count(autojump_clock: trio.testing.MockClock) -> None:
    scenario = Scenario(go_away_after_turns=2, go_away_time_left=5)
    async with LiveEmulator(scenario).in_memory() as emu, connect(emu) as (session, events):
        for text in ("one", "two"):
            await session.send(user_text(text))
            seen = await until(events, SessionEvent.TurnComplete)
        assert not any(isinstance(e, SessionEvent.GoAway) for e in seen)
        assert (await until(events, SessionEvent.GoAway))[-1] == SessionEvent.GoAway(5.0)
        end = await session.wait_closed()
    assert end.code == 1011


# -- faults -----------------------------------------------------------------------------------


def faulty(*steps: object) -> Scenario:
    return Scenario(rules=[Rule(When(text="fault"), [Say("before"), *steps, Say("after")])])  # type: ignore[list-item]


async def test_drop_fault_loses_the_connection_without_a_close_frame() -> None:
    async with LiveEmulator(faulty(Fault("drop"))).running() as emu, connect(emu) as (session, _):
        await session.send(user_text("fault"))
        end = await session.wait_closed()
    assert isinstance(end.error, ConnectionLost)


async def test_close_fault_uses_the_chosen_code_and_reason() -> None:
    fault = Fault("close", code=1008, reason="Your project has been denied access to the Live API")
    async with LiveEmulator(faulty(fault)).running() as emu, connect(emu) as (session, _):
        await session.send(user_text("fault"))
        end = await session.wait_closed()
    assert end.code == 1008
    assert end.reason == "Your project has been denied access to the Live API"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("malformed", ["Error"]),  # the client reports an undecodable frame and goes on
        ("unknown_kind", []),  # ignored
        ("usage_only", []),
        ("empty_content", []),
    ],
)
async def test_frame_faults_reach_the_client_mid_reply(kind: str, expected: list[str]) -> None:
    async with (
        LiveEmulator(faulty(Fault(kind))).running() as emu,
        connect(emu) as (session, events),
    ):  # type: ignore[arg-type]
        await session.send(user_text("fault"))
        seen = await until(events, SessionEvent.TurnComplete)
    assert kinds(seen) == [
        "Connected",
        "TextDelta",
        *expected,
        "TextDelta",
        "GenerationComplete",
        "TextComplete",
        "TurnComplete",
    ]
    assert text_of(seen) == "before after"
    if kind == "usage_only":
        assert sum(isinstance(e, SessionEvent.Usage) for e in seen) == 2


async def test_stall_stops_mid_reply_until_the_user_barges_in(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        LiveEmulator(faulty(Fault("stall"))).in_memory() as emu,
        connect(emu) as (session, events),
    ):
        await session.send(user_text("fault"))
        await until(events, SessionEvent.TextDelta)
        await trio.sleep(3600)
        assert emu.connections[0].sent_messages(m.ServerContent)[-1].turn_complete is None
        await session.send(user_text("hello?"))
        seen = await until(events, SessionEvent.TurnComplete)
    assert kinds(seen) == ["Interrupted", "TurnComplete"]


async def test_delayed_setup_complete(autojump_clock: trio.testing.MockClock) -> None:
    async with LiveEmulator(Scenario(setup_delay=4)).in_memory() as emu:
        start = trio.current_time()
        async with connect(emu):
            assert trio.current_time() - start == pytest.approx(4, abs=0.1)


async def test_setup_complete_never_sent_times_the_client_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    from livehandle._errors import SessionTimeout

    async with LiveEmulator(Scenario(setup_complete=False)).in_memory() as emu:
        with pytest.raises(SessionTimeout):
            async with open_session(SETUP_TEXT, endpoint=Endpoint.from_url(emu.url)):
                pytest.fail("must not connect")


async def test_go_away_fault_mid_reply(autojump_clock: trio.testing.MockClock) -> None:
    scenario = faulty(Fault("go_away", time_left=2))
    async with LiveEmulator(scenario).in_memory() as emu, connect(emu) as (session, events):
        await session.send(user_text("fault"))
        seen = await until(events, SessionEvent.TurnComplete)
        end = await session.wait_closed()
    assert SessionEvent.GoAway(2.0) in seen
    assert end.code == 1011


async def test_a_test_can_inject_faults_and_messages_on_a_live_connection() -> None:
    async with LiveEmulator().running() as emu, connect(emu) as (session, events):
        conn = emu.connections[0]
        await conn.send(m.ServerContent(output_transcription=m.Transcription("pushed")))
        assert (await until(events, SessionEvent.OutputTranscription))[-1].text == "pushed"  # type: ignore[union-attr]
        await conn.fault(Fault("close", code=1011, reason="Internal error occurred."))
        end = await session.wait_closed()
    assert end.reason == "Internal error occurred."
    await conn.wait_closed()
    with pytest.raises(RuntimeError, match="not open"):
        await conn.send(m.ServerContent())


# -- recording --------------------------------------------------------------------------------


async def test_every_client_message_is_recorded_in_order_with_timestamps(
    autojump_clock: trio.testing.MockClock,
) -> None:
    scenario = Scenario(default=[Pause(1), Say("ok")])
    async with LiveEmulator(scenario).in_memory() as emu, connect(emu) as (session, events):
        await session.send(user_text("a"))
        await until(events, SessionEvent.TurnComplete)
        await session.send(m.RealtimeInput(text="b"))
        await until(events, SessionEvent.TurnComplete)
        await session.send(m.RealtimeInput(video=m.Blob("image/jpeg", b"\xff\xd8")))
        await trio.testing.wait_all_tasks_blocked()
    received = emu.connections[0].received
    assert [type(r.message).__name__ for r in received] == [
        "Setup",
        "ClientContent",
        "RealtimeInput",
        "RealtimeInput",
    ]
    times = [r.at for r in received]
    assert times == sorted(times)
    assert times[2] - times[1] == pytest.approx(1, abs=0.1)
    assert emu.connections[0].messages(m.ClientContent) == [user_text("a")]
    assert emu.connections[0].close_code == 1000


async def test_stopping_the_emulator_is_prompt_when_a_client_stopped_reading() -> None:
    from livehandle.testing import Audio

    scenario = Scenario(default=[Audio(600_000)])  # ten minutes of audio, as fast as possible
    with trio.fail_after(5):
        async with LiveEmulator(scenario).running() as emu, trio.open_nursery() as nursery:
            conn = await WebSocketTransport().connect(Endpoint.from_url(emu.url), nursery)
            await conn.send(f'{{"setup": {{"model": "{MODEL}"}}}}')
            await conn.receive()  # setupComplete
            await conn.send('{"realtimeInput": {"text": "go"}}')
            await trio.sleep(0.5)  # the client now reads nothing; the emulator's sends back up
            nursery.cancel_scope.cancel()
        # leaving running() must not wait for the stuck send
