"""The audio ledger of the resumption tests: sent = consumed + reported lost.

* **sent**: microphone bytes the handle accepted (``send_audio`` returned), counted here;
* **consumed**: what the emulator's conversation consumed along its lineage
  (``Conversation.audio_bytes``: a resume restarts from the checkpoint's count);
* **reported lost**: the sum of ``Resumed.lost_audio_ms`` over the session, in bytes.

A :class:`Watch` reads one ``events()`` subscription for the whole session (across connections)
and keeps what the tests assert on; a :class:`Mic` streams audio at real pace on the mock clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from livehandle import LiveEvent

if TYPE_CHECKING:
    from collections.abc import Callable

    from livehandle import LiveHandle
    from livehandle.testing import LiveEmulator

#: Microphone audio is 16 kHz PCM16 mono.
BYTES_PER_MS = 32


class Watch:
    """Everything one subscription saw, with events to wait on (no polling, no sleeps)."""

    def __init__(self, handle: LiveHandle) -> None:
        self.events = handle.events()
        self.resumed: list[LiveEvent.Resumed] = []
        self.reconnecting: list[LiveEvent.Reconnecting] = []
        self.cancelled: list[LiveEvent.ToolCancelled] = []
        self.answers: list[str] = []
        self.errors: list[LiveEvent.Error] = []
        self.turns = 0
        self.on_resumed: Callable[[LiveEvent.Resumed], None] | None = None
        self._news = trio.lowlevel.ParkingLot()  # woken at every turn and every resume

    async def run(self) -> None:
        async for event in self.events:
            match event:
                case LiveEvent.Resumed():
                    self.resumed.append(event)
                    if self.on_resumed is not None:
                        self.on_resumed(event)
                    self._news.unpark_all()
                case LiveEvent.Reconnecting():
                    self.reconnecting.append(event)
                case LiveEvent.ToolCancelled():
                    self.cancelled.append(event)
                case LiveEvent.TextComplete(text=text):
                    self.answers.append(text)
                case LiveEvent.Error():
                    self.errors.append(event)
                case LiveEvent.TurnComplete():
                    self.turns += 1
                    self._news.unpark_all()

    async def turns_done(self, count: int) -> None:
        """Wait until ``count`` turns have completed in all (at once if they have)."""
        while self.turns < count:
            await self._news.park()

    async def resumes_done(self, count: int) -> LiveEvent.Resumed:
        """Wait until ``count`` resumes have been seen in all; return the last one."""
        while len(self.resumed) < count:
            await self._news.park()
        return self.resumed[-1]

    @property
    def lost_bytes(self) -> int:
        """Audio reported lost over the session (``Resumed.lost_audio_ms``), in bytes."""
        return round(sum(r.lost_audio_ms for r in self.resumed) * BYTES_PER_MS)


class Mic:
    """Streams ``audio`` at real pace in ``frame_ms`` frames; counts the bytes accepted."""

    def __init__(self, handle: LiveHandle, *, frame_ms: int = 20) -> None:
        self.handle = handle
        self.frame_bytes = frame_ms * BYTES_PER_MS
        self.frame_s = frame_ms / 1000
        self.sent = 0

    async def play(self, audio: bytes) -> None:
        """Send ``audio`` frame by frame, one frame per frame duration of Trio time."""
        start = trio.current_time()
        for n, offset in enumerate(range(0, len(audio), self.frame_bytes), start=1):
            frame = audio[offset : offset + self.frame_bytes]
            await self.handle.send_audio(frame)
            self.sent += len(frame)
            await trio.sleep_until(start + n * self.frame_s)

    async def silence(self, seconds: float) -> None:
        """Send ``seconds`` of digital silence at real pace."""
        start = trio.current_time()
        frame = bytes(self.frame_bytes)
        for n in range(1, round(seconds / self.frame_s) + 1):
            await self.handle.send_audio(frame)
            self.sent += len(frame)
            await trio.sleep_until(start + n * self.frame_s)


def consumed(emulator: LiveEmulator) -> int:
    """The audio the one conversation of the test consumed (its lineage count)."""
    (conversation,) = emulator.conversations
    return conversation.audio_bytes


def assert_ledger(mic: Mic, watch: Watch, emulator: LiveEmulator) -> None:
    """sent = consumed + reported lost, to the byte."""
    assert mic.sent == consumed(emulator) + watch.lost_bytes, (
        f"sent {mic.sent} != consumed {consumed(emulator)} + reported lost {watch.lost_bytes}"
    )
