"""Findings of the fresh-eyes review of the architecture change (each test fails on the bug)."""

from __future__ import annotations

import importlib
import pickle
import typing

import attrs
import pytest
import trio
import trio.testing

import livehandle
import livehandle.lowlevel
import livehandle.testing
from livehandle import Endpoint, LiveConfig, open_live_session
from livehandle._runtime.bargein import CurrentBargeIn
from livehandle._runtime.voice import VoiceRuntime
from livehandle._runtime.writer import SessionWriter
from livehandle._wire import messages as m
from livehandle.testing import LiveEmulator

PCM = b"\x01\x00\x02\x00" * 160  # 10 ms of 16 kHz PCM16


# -- __module__ rewriting ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls",
    [
        livehandle.FunctionCall,
        livehandle.Tool,
        livehandle.SessionEnd,
        livehandle.Endpoint,
        livehandle.lowlevel.ToolCall,
        livehandle.testing.When,
        livehandle.testing.Sent,
    ],
    ids=lambda cls: cls.__qualname__,
)
def test_get_type_hints_works_on_public_classes(cls: type) -> None:
    # Bug: publish() rewrites __module__ to a namespace that lacks the names the string
    # annotations use, so typing.get_type_hints (which worked before the change) raises NameError.
    typing.get_type_hints(cls)


# -- deprecation aliases ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("livehandle.wire.messages", "Content"),  # documented module path before the change
        ("livehandle.transport", "WebSocketTransport"),  # documented in reference/transport.rst
        ("livehandle.transport", "ResolvedEndpoint"),
    ],
)
def test_old_module_paths_still_import_with_a_deprecation_warning(module: str, name: str) -> None:
    # Bug: names that moved to livehandle.lowlevel must keep a one-release alias; these documented
    # module paths raise ModuleNotFoundError instead of warning.
    target = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match="livehandle.lowlevel"):
        obj = getattr(target, name)
    assert obj is getattr(livehandle.lowlevel, name)


# -- pickling errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        livehandle.ConnectFailed("could not connect", url="wss://h/live", status_code=403),
        livehandle.SessionTimeout("setup", 5.0),
        livehandle.ToolTimeout("lookup", 2.0),
        livehandle.ToolArgumentError("lookup", ["argument 'x': missing"], wrong_type=False),
        livehandle.StaleToolResponse(("c1",), 1, 2),
        livehandle.ConnectionLost(1006, "gone"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_public_errors_survive_pickling(error: Exception) -> None:
    # Bug: the errors' __init__ signatures differ from their args, so unpickling raises TypeError
    # (or doubles the message), e.g. when an error crosses a process boundary.
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)


# -- converter --------------------------------------------------------------------------------


def test_state_refuses_an_int_with_no_json_text() -> None:
    # Bug: to_json_value accepts an int json.dumps cannot write (> 4300 digits); State.set
    # succeeds and the failure surfaces later, far from the caller, when the state is encoded.
    state = livehandle.State()
    with pytest.raises(ValueError, match="state key 'big'"):
        state.set("big", 10**5000)


def test_tool_result_refuses_an_int_with_no_json_text() -> None:
    # Bug: the same for tool results: accepted here, then a ProtocolError when the response is
    # encoded for the wire, instead of the documented TypeError/ValueError at conversion.
    with pytest.raises(ValueError, match="tool result"):
        livehandle.lowlevel.to_response_payload(10**5000)


def test_state_refuses_a_deeply_nested_value_with_a_value_error() -> None:
    # Bug: a deeply nested (non-recursive) list escapes as RecursionError, not a typed error.
    value: list[object] = []
    for _ in range(50_000):
        value = [value]
    with pytest.raises(ValueError, match="state key 'deep'"):
        livehandle.State().set("deep", value)


# -- the voice runtime's preroll --------------------------------------------------------------


@attrs.define
class _Session:
    """Just enough of a Session for a SessionWriter: records sends, can block audio sends."""

    audio: list[bytes] = attrs.field(factory=list)
    messages: list[m.ClientMessage] = attrs.field(factory=list)
    block_audio: bool = False

    async def send_audio(self, pcm: bytes, mime_type: str) -> None:
        if self.block_audio:
            await trio.sleep_forever()
        await trio.lowlevel.checkpoint()
        self.audio.append(pcm)

    async def send(self, message: m.ClientMessage) -> None:
        await trio.lowlevel.checkpoint()
        self.messages.append(message)


async def test_a_cancelled_send_audio_keeps_the_preroll_it_had_not_sent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Bug: under client authority, send_audio pops a preroll chunk before sending it; when that
    # send is cancelled the chunk is gone: never sent, never put back, never counted.
    session = _Session()
    writer = SessionWriter(session, lambda text: m.ClientContent())  # type: ignore[arg-type]
    voice = VoiceRuntime(
        writer, emit=lambda event: None, barge_in=CurrentBargeIn(), client_authority=True
    )
    held = b"\x05\x00" * 160
    async with trio.open_nursery() as nursery:
        voice.attach(nursery)
        await voice.send_audio(held)  # no activity open: kept as preroll
        await voice.user_speech_started()  # activityStart goes out
        session.block_audio = True
        with trio.move_on_after(1):
            await voice.send_audio(PCM)  # cancelled while sending the preroll
        session.block_audio = False
        await voice.send_audio(PCM)
        voice.stop()
    assert held in session.audio


# -- activity marks through the writer the handle hands out ------------------------------------


async def test_activity_marks_from_the_handles_writer_are_not_repeated(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Bug: handle.writer().signal_activity_start() bypasses the voice runtime's once-per-edge
    # bookkeeping, so the runtime sends a second activityStart and holds back audio meanwhile.
    config = LiveConfig(server_vad=False, input_vad=None, response_modality="TEXT")
    async with LiveEmulator().in_memory() as emulator:
        async with open_live_session(
            config, endpoint=emulator.url, transport=emulator.memory_transport()
        ) as handle:
            await handle.writer().signal_activity_start()
            await handle.user_speech_started()
            await handle.send_audio(PCM)
            await trio.sleep(1)
        conn = emulator.connections[0]
        await conn.wait_closed()
    starts = conn.messages(m.RealtimeInput)
    marks = [message for message in starts if message.activity_start is not None]
    audio = [message for message in starts if message.audio is not None]
    assert len(marks) == 1
    assert len(audio) == 1


# -- secrets ----------------------------------------------------------------------------------


async def test_emulator_connection_repr_hides_the_credential_in_the_query(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Bug: EmulatorConnection's repr shows `path` with its query, so ?key= and ?access_token=
    # credentials appear in reprs (and in pytest's assertion output).
    token = "auth_tokens/very-secret-token"
    async with LiveEmulator().in_memory() as emulator:
        endpoint = Endpoint.ephemeral_token(token, base_url=emulator.url)
        async with open_live_session(
            LiveConfig(response_modality="TEXT", input_vad=None),
            endpoint=endpoint,
            transport=emulator.memory_transport(),
        ):
            pass
        await emulator.connections[0].wait_closed()
    text = repr(emulator.connections[0])
    assert "very-secret-token" not in text
    assert "very-secret-token".replace("/", "%2F") not in text
