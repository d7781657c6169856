"""The console's sound card: microphone and speaker through ``sounddevice`` (PortAudio).

``sounddevice`` is the optional extra ``livehandle[console]``; it needs the PortAudio library
(``libportaudio2`` on Debian and Ubuntu).  Either missing is reported as one
:class:`~.devices.DevicesUnavailable` line saying how to install it.

PortAudio calls back on its own thread.  The microphone's callback hands each block to Trio
(``run_sync_soon``) into a channel of :data:`MIC_QUEUE_CHUNKS` chunks; when the loop falls that
far behind, new chunks are dropped and counted (:attr:`SoundDeviceMicrophone.dropped`, which
the closing summary reports).  The
speaker's callback takes what it needs from a :class:`~.devices.PcmQueue` and plays silence
when it is empty.  A device that refuses 16 kHz (or 24 kHz) is opened at its own default rate and
the audio is resampled.
"""

from __future__ import annotations

import importlib
import time as time_module
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any

import trio

from livehandle._cli.console.devices import (
    INPUT_RATE,
    MIC_CHUNK_MS,
    OUTPUT_RATE,
    DeviceInfo,
    DevicesUnavailable,
    PcmQueue,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["INSTALL_HINT", "MIC_QUEUE_CHUNKS", "SoundDeviceBackend", "load_sounddevice"]

INSTALL_HINT = (
    "the console's audio needs sounddevice and PortAudio: pip install 'livehandle[console]' "
    "(and apt-get install libportaudio2 on Debian/Ubuntu), or run with --text"
)
#: Microphone chunks (of 20 ms) waiting for the session loop: one second.
MIC_QUEUE_CHUNKS = 50
SPEAKER_BLOCK_MS = 20


def load_sounddevice() -> Any:
    """Import ``sounddevice``; DevicesUnavailable with :data:`INSTALL_HINT` when it cannot be."""
    try:
        return importlib.import_module("sounddevice")
    except ImportError:  # the extra is not installed
        raise DevicesUnavailable(INSTALL_HINT) from None
    except OSError:  # installed, but "PortAudio library not found"
        raise DevicesUnavailable(INSTALL_HINT) from None


class SoundDeviceBackend:
    """The system's audio devices through ``sounddevice`` (imported when made)."""

    def __init__(self) -> None:
        self._sd = load_sounddevice()

    def devices(self) -> list[DeviceInfo]:
        sd = self._sd
        try:
            found = list(sd.query_devices())
            default_in, default_out = _defaults(sd)
        except sd.PortAudioError as exc:
            raise DevicesUnavailable(f"cannot list the audio devices: {exc}") from None
        return [
            DeviceInfo(
                index=int(info.get("index", position)),
                name=str(info["name"]),
                inputs=int(info["max_input_channels"]),
                outputs=int(info["max_output_channels"]),
                default_input=int(info.get("index", position)) == default_in,
                default_output=int(info.get("index", position)) == default_out,
            )
            for position, info in enumerate(found)
        ]

    @asynccontextmanager
    async def open(
        self, microphone: DeviceInfo | None, speaker: DeviceInfo | None
    ) -> AsyncIterator[tuple[SoundDeviceMicrophone, SoundDeviceSpeaker]]:
        token = trio.lowlevel.current_trio_token()
        mic = SoundDeviceMicrophone(token)
        out = SoundDeviceSpeaker(token)
        input_stream = self._start(microphone, "input", INPUT_RATE, mic)
        try:
            output_stream = self._start(speaker, "output", OUTPUT_RATE, out)
            try:
                yield mic, out
            finally:
                _close(output_stream)
        finally:
            _close(input_stream)

    def _start(self, device: DeviceInfo | None, kind: str, rate: int, sink: Any) -> Any:
        """Open and start a stream at ``rate``, else at the device's own rate (resampled)."""
        sd = self._sd
        where = None if device is None else device.index
        kind_class = sd.RawInputStream if kind == "input" else sd.RawOutputStream
        problem: Exception | None = None
        for attempt in (rate, None):
            try:
                actual = attempt or int(sd.query_devices(where, kind)["default_samplerate"])
                sink.rate = actual
                stream = kind_class(
                    samplerate=actual,
                    blocksize=actual
                    * (MIC_CHUNK_MS if kind == "input" else SPEAKER_BLOCK_MS)
                    // 1000,
                    channels=1,
                    dtype="int16",
                    device=where,
                    callback=sink.callback,
                )
                stream.start()
                return stream
            except (sd.PortAudioError, ValueError) as exc:
                problem = exc
        name = "the default" if device is None else f"{device.index} {device.name}"
        raise DevicesUnavailable(f"cannot open {name} {kind} device: {problem}")


class SoundDeviceMicrophone:
    """Microphone blocks from PortAudio's thread, resampled to 16 kHz in Trio."""

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self._token = token
        self._send, self._receive = trio.open_memory_channel[bytes](MIC_QUEUE_CHUNKS)
        self.rate = INPUT_RATE
        self.dropped = 0  # chunks the loop was too slow to take

    def callback(self, data: Any, frames: int, time: Any, status: Any) -> None:
        with suppress(trio.RunFinishedError):
            self._token.run_sync_soon(self._push, bytes(data))

    def _push(self, pcm: bytes) -> None:
        if self.rate != INPUT_RATE:
            from livehandle.testing import audio

            pcm = audio.to_mono_16k(pcm, self.rate, 1, target_rate=INPUT_RATE)
        try:
            self._send.send_nowait(pcm)
        except trio.WouldBlock:
            self.dropped += 1

    async def read(self) -> bytes | None:
        return await self._receive.receive()


class SoundDeviceSpeaker:
    """Model audio queued for PortAudio's thread; silence when there is none."""

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self._token = token
        self._dry = trio.Event()
        self.rate = OUTPUT_RATE

    @property
    def rate(self) -> int:
        """The device's sample rate (set before its stream starts; the queue is sized by it)."""
        return self._rate

    @rate.setter
    def rate(self, value: int) -> None:
        self._rate = value
        self._queue = PcmQueue(rate=value, on_dry=self._dry_from_thread)

    @property
    def dropped(self) -> int:
        """Bytes of model audio (24 kHz, as written) dropped because the queue was full."""
        return self._as_written(self._queue.dropped)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def write(self, pcm: bytes) -> None:
        if self.rate != OUTPUT_RATE:
            from livehandle.testing import audio

            pcm = audio.to_mono_16k(pcm, OUTPUT_RATE, 1, target_rate=self.rate)
        self._queue.write(pcm)

    def flush(self) -> int:
        """Drop what is queued; return it as bytes of model audio (24 kHz, as written)."""
        return self._as_written(self._queue.flush())

    def _as_written(self, queued: int) -> int:
        """Bytes of audio at the device's rate as bytes of the 24 kHz audio they came from."""
        if self.rate == OUTPUT_RATE:
            return queued
        return queued // 2 * OUTPUT_RATE // self.rate * 2

    async def wait_dry(self) -> None:
        await self._dry.wait()

    def callback(self, out: Any, frames: int, time: Any, status: Any) -> None:
        size = frames * 2
        chunk = self._queue.take(size, time_module.monotonic())
        out[: len(chunk)] = chunk
        if len(chunk) < size:
            out[len(chunk) :] = bytes(size - len(chunk))

    def _dry_from_thread(self) -> None:
        with suppress(trio.RunFinishedError):
            self._token.run_sync_soon(self._ran_dry)

    def _ran_dry(self) -> None:
        self._dry.set()
        self._dry = trio.Event()


def _defaults(sd: Any) -> tuple[int, int]:
    pair = sd.default.device
    try:
        first, second = pair
    except TypeError:
        first = second = pair
    return _as_index(first), _as_index(second)


def _as_index(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _close(stream: Any) -> None:
    try:
        stream.stop()
    finally:
        stream.close()
