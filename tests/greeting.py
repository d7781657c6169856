"""A transport for tests where the emulator speaks first: audio right behind ``setupComplete``.

The frames are queued on the connection before the client has even read ``setupComplete``, so
they reach the client as early as the server could possibly send them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from livehandle._wire import messages as m
from livehandle.testing import audio

if TYPE_CHECKING:
    import trio

    from livehandle._transport import Endpoint
    from livehandle._transport.base import Connection
    from livehandle.testing import LiveEmulator


def greeting_frame(n: int) -> m.ServerContent:
    pcm = audio.synth_voice(40, sample_rate=24000)[: 960 + 2 * n]  # each frame a different size
    blob = m.Blob("audio/pcm;rate=24000", pcm)
    return m.ServerContent(model_turn=m.Content(parts=(m.Part(inline_data=blob),), role="model"))


class GreetingConnection:
    """Delegates to the emulator's connection; sends the greeting as setupComplete is read."""

    def __init__(self, inner: Connection, emu: LiveEmulator, frames: int) -> None:
        self._inner = inner
        self._emu = emu
        self._frames = frames
        self._greeted = False

    async def receive(self) -> bytes | str:
        data = await self._inner.receive()
        text = data if isinstance(data, str) else data.decode()
        if not self._greeted and "setupComplete" in text:
            self._greeted = True
            conn = self._emu.connections[-1]
            for n in range(self._frames):
                await conn.send(greeting_frame(n))
        return data

    async def send(self, message: str | bytes) -> None:
        await self._inner.send(message)

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        await self._inner.aclose(code, reason)


class GreetingTransport:
    """The emulator's memory transport, with :class:`GreetingConnection` on top."""

    def __init__(self, emu: LiveEmulator, frames: int) -> None:
        self._inner = emu.memory_transport()
        self._emu = emu
        self._frames = frames

    async def connect(self, endpoint: Endpoint, nursery: trio.Nursery) -> Connection:
        inner = await self._inner.connect(endpoint, nursery)
        return GreetingConnection(inner, self._emu, self._frames)
