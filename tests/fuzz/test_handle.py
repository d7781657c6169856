"""Fuzz a live handle: a server sends it mutated frames, and the session carries on.

Each example opens a real :class:`~livehandle.LiveHandle` (``open_live_session``) on an in-memory
transport whose server answers ``setup``, sends ten to twenty mutated frames
(``tests/fuzz/mutations.py``), then one valid text turn.  The handle must:

* surface nothing but :class:`~livehandle.ProtocolError` (as ``LiveEvent.Error``), and raise
  nothing out of ``open_live_session``;
* still deliver the valid turn as events after the bad frames;
* still send: ``send_text`` reaches the server;
* not end: ``done()`` stays unresolved.

One handle per example, on its own ``trio.run`` with an autojumping MockClock (no real time
passes, so the timeouts below cost nothing).  Opening a handle costs more than decoding a frame,
so this test runs a tenth of the profile's examples with at least ten frames each: the ``fuzz``
profile sends 10,000 to 20,000 mutated frames through 1,000 handles
(``tests/fuzz/profiles.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing
from hypothesis import event, given, note, strategies as st

from livehandle import ConnectionClosed, Endpoint, LiveConfig, LiveEvent, ProtocolError
from livehandle._open import open_live_session
from livehandle.lowlevel import (
    ClientContent,
    Content,
    MemoryTransport,
    Part,
    RealtimeInput,
    ServerContent,
    Setup,
    SetupComplete,
    decode_client,
    encode_server,
)
from tests.fuzz.known_bugs import describe
from tests.fuzz.mutations import frames, valid_server_trees
from tests.fuzz.profiles import FRAMES_PER_HANDLE as FRAMES, HANDLES

if TYPE_CHECKING:
    from livehandle.lowlevel import ClientMessage, MemoryConnection

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

ENDPOINT = Endpoint.from_url("ws://127.0.0.1:1/live")
CONFIG = LiveConfig(response_modality="TEXT", input_vad=None)
SENTINEL = "still-alive-after-fuzz"
PING = "ping-after-fuzz"
TIMEOUT = 60.0  # MockClock seconds: a hang fails the example instead of the whole run
VALID_TURN = encode_server(
    ServerContent(model_turn=Content(parts=(Part(text=SENTINEL),)), turn_complete=True)
)


def _text_of(message: ClientMessage) -> str:
    if isinstance(message, RealtimeInput):
        return message.text or ""
    if isinstance(message, ClientContent):
        return " ".join(p.text or "" for c in message.turns or () for p in c.parts)
    return ""


class FuzzServer:
    """Answers ``setup``, sends the mutated frames and one valid turn, then listens."""

    def __init__(self, frames: list[bytes | str]) -> None:
        self.frames = frames
        self.pinged = trio.Event()

    async def handler(self, conn: MemoryConnection) -> None:
        assert isinstance(decode_client(await conn.receive()), Setup)
        await conn.send(encode_server(SetupComplete()).encode())
        for frame in self.frames:
            await conn.send(frame)
        await conn.send(VALID_TURN)
        try:
            while True:
                if PING in _text_of(decode_client(await conn.receive())):
                    self.pinged.set()
        except ConnectionClosed:
            return


async def _exercise(frames: list[bytes | str]) -> None:
    server = FuzzServer(frames)
    transport = MemoryTransport(server.handler)
    errors: list[BaseException] = []
    async with open_live_session(CONFIG, endpoint=ENDPOINT, transport=transport) as handle:
        events = handle.stream()  # before the first checkpoint: sees every event
        with trio.fail_after(TIMEOUT):
            sentinel_seen = False
            async for item in events:
                if isinstance(item, LiveEvent.Error):
                    errors.append(item.error)
                elif isinstance(item, LiveEvent.Disconnected):
                    raise AssertionError(f"the session ended: {item.end!r}")
                elif isinstance(item, LiveEvent.TextDelta) and SENTINEL in item.text:
                    sentinel_seen = True
                elif isinstance(item, LiveEvent.TurnComplete) and sentinel_seen:
                    break
            await handle.send_text(PING)
            await server.pinged.wait()
        with trio.move_on_after(TIMEOUT):
            end = await handle.done()
            raise AssertionError(f"done() resolved: {end!r}")
    for error in errors:
        event(f"LiveEvent.Error: {type(error).__name__}")
        assert isinstance(error, ProtocolError), f"unexpected error event: {error!r}"


@HANDLES
@given(st.lists(frames(valid_server_trees), min_size=FRAMES[0], max_size=FRAMES[1]))
def test_handle_survives_mutated_frames(frames: list[bytes | str]) -> None:
    for frame in frames:
        note(f"frame: {describe(frame)}")
    trio.run(_exercise, frames, clock=trio.testing.MockClock(autojump_threshold=0))
