"""Fake audio devices: generated speech in, captured audio out, on Trio's clock.

They let the console run without a sound card: in its tests (with ``trio.testing.MockClock``)
and anywhere PortAudio is missing.  The microphone streams a script in real time: speech made
with :func:`~livehandle.testing.audio.synth_voice` (see :func:`spoken`) and, between the
pieces, waits on whatever the script awaits.  The speaker plays in real time too and keeps
everything it played and every flush.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import trio

from livehandle._cli.console.devices import (
    INPUT_RATE,
    MIC_CHUNK_MS,
    OUTPUT_RATE,
    DeviceInfo,
    PcmQueue,
)

__all__ = ["FakeBackend", "FakeMicrophone", "FakeSpeaker", "ScriptItem", "spoken"]

#: A microphone script item: audio to stream, or something to wait for before going on.
ScriptItem = bytes | Callable[[], Awaitable[object]]
PLAY_TICK_MS = 40

DEFAULT_DEVICES = (
    DeviceInfo(0, "Fake Microphone", inputs=1, outputs=0, default_input=True),
    DeviceInfo(1, "Fake Speaker", inputs=0, outputs=2, default_output=True),
    DeviceInfo(2, "Fake USB Headset", inputs=1, outputs=2),
)


def spoken(words: str) -> bytes:
    """Generated speech (about 60 ms per character) with silence around it, at 16 kHz."""
    from livehandle.testing import audio

    speech = audio.synth_voice(len(words) * 60, sample_rate=INPUT_RATE, seed=words)
    return audio.silence(200) + speech + audio.silence(1000)


class FakeMicrophone:
    """Streams its script in :data:`MIC_CHUNK_MS` chunks at real-time pace, then ends."""

    def __init__(self, script: Sequence[ScriptItem]) -> None:
        self._script = list(script)
        self._chunks: list[bytes] = []
        self._next_at: float | None = None
        self.dropped = 0  # chunks lost (a test sets it to stand for a loop that fell behind)

    async def read(self) -> bytes | None:
        from livehandle.testing import audio

        while not self._chunks:
            if not self._script:
                return None
            item = self._script.pop(0)
            if isinstance(item, bytes):
                self._chunks = audio.chunked(item, MIC_CHUNK_MS, sample_rate=INPUT_RATE)
            else:
                await item()
                self._next_at = None
        now = trio.current_time()
        self._next_at = now if self._next_at is None else max(self._next_at, now)
        await trio.sleep_until(self._next_at)
        chunk = self._chunks.pop(0)
        self._next_at += len(chunk) / 2 / INPUT_RATE
        return chunk


class FakeSpeaker:
    """Plays queued audio in :data:`PLAY_TICK_MS` ticks; records what played and the flushes."""

    def __init__(self) -> None:
        self._queue = PcmQueue(on_dry=self._ran_dry)
        self._dry = trio.Event()
        self._progress = trio.Event()
        self.played = bytearray()
        self.flushes: list[int] = []  # bytes dropped by each flush
        self.dry_count = 0

    @property
    def dropped(self) -> int:
        return self._queue.dropped

    @property
    def queued(self) -> int:
        return len(self._queue)

    def write(self, pcm: bytes) -> None:
        self._queue.write(pcm)

    def flush(self) -> int:
        dropped = self._queue.flush()
        self.flushes.append(dropped)
        return dropped

    async def wait_dry(self) -> None:
        await self._dry.wait()

    async def wait_played(self, seconds: float) -> None:
        """Wait until ``seconds`` more of audio have played."""
        target = len(self.played) + int(seconds * OUTPUT_RATE) * 2
        while len(self.played) < target:
            await self._progress.wait()

    async def play(self) -> None:
        """Play until cancelled."""
        step = OUTPUT_RATE * 2 * PLAY_TICK_MS // 1000
        while True:
            await trio.sleep(PLAY_TICK_MS / 1000)
            chunk = self._queue.take(step, trio.current_time())
            if chunk:
                self.played += chunk
                self._progress.set()
                self._progress = trio.Event()

    def _ran_dry(self) -> None:
        self.dry_count += 1
        self._dry.set()
        self._dry = trio.Event()


class FakeBackend:
    """An :class:`~.devices.AudioBackend` of fake devices; remembers which it opened."""

    def __init__(
        self, script: Sequence[ScriptItem] = (), devices: Sequence[DeviceInfo] = DEFAULT_DEVICES
    ) -> None:
        self.script = script
        self._devices = list(devices)
        self.opened: list[tuple[DeviceInfo | None, DeviceInfo | None]] = []
        self.microphone: FakeMicrophone | None = None
        self.speaker: FakeSpeaker | None = None

    def devices(self) -> list[DeviceInfo]:
        return list(self._devices)

    @asynccontextmanager
    async def open(
        self, microphone: DeviceInfo | None, speaker: DeviceInfo | None
    ) -> AsyncIterator[tuple[FakeMicrophone, FakeSpeaker]]:
        self.opened.append((microphone, speaker))
        self.microphone = FakeMicrophone(self.script)
        self.speaker = FakeSpeaker()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.speaker.play)
            yield self.microphone, self.speaker
            nursery.cancel_scope.cancel()
