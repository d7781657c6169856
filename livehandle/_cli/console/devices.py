"""The console's audio device layer: what a microphone and a speaker must do, whatever drives them.

The session loop talks only to these interfaces, so the same loop runs on the system's sound card
(:mod:`.sd_backend`, through PortAudio) and on the fake devices of the tests (:mod:`.fake`).

* A :class:`Microphone` yields 16 kHz mono PCM16 chunks (what the Live API takes), in real time.
* A :class:`Speaker` plays 24 kHz mono PCM16 (what the Live API speaks).  Model audio arrives
  faster than it plays, so the speaker queues it (:class:`PcmQueue`); :meth:`Speaker.flush`
  drops what is queued (a barge-in), and :meth:`Speaker.wait_dry` returns each time the queue
  runs dry, which the loop reports with ``playback_drained()``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol

import attrs

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from contextlib import AbstractAsyncContextManager

__all__ = [
    "INPUT_RATE",
    "MIC_CHUNK_MS",
    "OUTPUT_RATE",
    "PREBUFFER_SECONDS",
    "QUEUE_LIMIT_SECONDS",
    "AudioBackend",
    "DeviceInfo",
    "DevicesUnavailable",
    "Microphone",
    "PcmQueue",
    "Speaker",
    "format_devices",
    "pick_devices",
]

INPUT_RATE = 16000  # what the Live API takes from the microphone
OUTPUT_RATE = 24000  # what the Live API speaks
MIC_CHUNK_MS = 20  # each microphone chunk holds this much audio
#: The most model audio a speaker queues; beyond it new audio is dropped and counted.
QUEUE_LIMIT_SECONDS = 120
#: How much model audio a speaker gathers before it starts to play (see :class:`PcmQueue`).
PREBUFFER_SECONDS = 0.12


class DevicesUnavailable(Exception):
    """The audio devices cannot be used; the message is the one line to show the user."""


@attrs.frozen
class DeviceInfo:
    """One audio device as the backend lists it."""

    index: int
    name: str
    inputs: int  # input channels (0: not a microphone)
    outputs: int  # output channels (0: not a speaker)
    default_input: bool = False
    default_output: bool = False


class Microphone(Protocol):
    """A source of 16 kHz mono PCM16 chunks of :data:`MIC_CHUNK_MS`, delivered in real time."""

    async def read(self) -> bytes | None:
        """The next chunk, waiting for it; None once the input has ended for good."""
        ...

    @property
    def dropped(self) -> int:
        """Chunks lost because the session loop fell behind (reported in the summary)."""
        ...


class Speaker(Protocol):
    """A sink that plays 24 kHz mono PCM16 in real time."""

    def write(self, pcm: bytes) -> None:
        """Queue ``pcm`` to play after what is already queued (never blocks)."""
        ...

    def flush(self) -> int:
        """Drop everything queued (a barge-in); return how many bytes were dropped.

        Counted as bytes of the 24 kHz audio written, whatever rate the device plays at, as
        :attr:`dropped` is.
        """
        ...

    async def wait_dry(self) -> None:
        """Return the next time playback runs out of queued audio."""
        ...

    @property
    def queued(self) -> int:
        """Bytes of audio queued and not played yet."""
        ...

    @property
    def dropped(self) -> int:
        """Bytes of model audio dropped because the queue was full."""
        ...


class AudioBackend(Protocol):
    """Lists the devices and opens a microphone and a speaker on them."""

    def devices(self) -> list[DeviceInfo]:
        """Every device, in the backend's order (raises DevicesUnavailable)."""
        ...

    def open(
        self, microphone: DeviceInfo | None, speaker: DeviceInfo | None
    ) -> AbstractAsyncContextManager[tuple[Microphone, Speaker]]:
        """Open the devices (None: the default one) for an ``async with`` block."""
        ...


class PcmQueue:
    """The audio a speaker has still to play, safe to use from the sound card's thread.

    Bounded at :data:`QUEUE_LIMIT_SECONDS` of audio: a write that does not fit is dropped whole
    and counted in :attr:`dropped` (the summary reports it), never lost silently.

    Model audio arrives in chunks at about the pace it plays, so playing each chunk the moment
    it arrives would run dry between chunks.  After running dry the queue therefore holds back
    (:meth:`take` returns nothing: the device plays silence) until :data:`PREBUFFER_SECONDS` of
    audio is queued or the first of it has waited that long.  ``on_dry`` is called (from the
    thread that took the last bytes) each time the queue becomes empty by playing, not by a
    flush.
    """

    def __init__(self, *, rate: int = OUTPUT_RATE, on_dry: Callable[[], None]) -> None:
        self._limit = QUEUE_LIMIT_SECONDS * rate * 2
        self._prebuffer = int(PREBUFFER_SECONDS * rate) * 2
        self._data = bytearray()
        self._lock = threading.Lock()
        self._on_dry = on_dry
        self._playing = False  # past the prebuffer since the last time it ran dry
        self._waiting_since: float | None = None  # when the held-back audio began to wait
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._data)

    def write(self, pcm: bytes) -> None:
        with self._lock:
            if len(self._data) + len(pcm) > self._limit:
                self.dropped += len(pcm)
                return
            self._data += pcm

    def flush(self) -> int:
        with self._lock:
            dropped = len(self._data)
            self._data.clear()
            self._playing = False
            self._waiting_since = None
            return dropped

    def take(self, size: int, now: float) -> bytes:
        """Up to ``size`` bytes from the front to play at ``now`` (seconds, any clock)."""
        with self._lock:
            if not self._data:
                return b""
            if not self._playing:
                if self._waiting_since is None:
                    self._waiting_since = now
                waited = now - self._waiting_since
                if len(self._data) < self._prebuffer and waited < PREBUFFER_SECONDS:
                    return b""
                self._playing = True
            chunk = bytes(self._data[:size])
            del self._data[:size]
            dry = not self._data
            if dry:
                self._playing = False
                self._waiting_since = None
        if dry:
            self._on_dry()
        return chunk


def pick_devices(
    devices: Sequence[DeviceInfo], spec: str | None
) -> tuple[DeviceInfo | None, DeviceInfo | None]:
    """The (microphone, speaker) that ``--device SPEC`` names; None means the default one.

    ``SPEC`` is ``IN,OUT`` or one name for both; each part is a device index or a piece of its
    name (case-insensitive), and an empty part keeps the default.

    Raises:
        ValueError: a part names no device, or more than one, or one without the needed channels.
    """
    if spec is None:
        return None, None
    parts = spec.split(",")
    if len(parts) > 2:
        raise ValueError(f"--device {spec!r}: give IN,OUT or one device for both")
    wanted_in, wanted_out = (parts[0], parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    return (
        _pick(devices, wanted_in.strip(), "input"),
        _pick(devices, wanted_out.strip(), "output"),
    )


def _pick(devices: Sequence[DeviceInfo], wanted: str, kind: str) -> DeviceInfo | None:
    if not wanted:
        return None
    usable = [d for d in devices if (d.inputs if kind == "input" else d.outputs) > 0]
    if wanted.isdigit():
        found = [d for d in devices if d.index == int(wanted)]
        if not found:
            raise ValueError(f"--device: no device {wanted} (see --device list)")
        if found[0] not in usable:
            raise ValueError(f"--device: device {wanted} ({found[0].name}) has no {kind}")
        return found[0]
    exact = [d for d in usable if d.name.lower() == wanted.lower()]
    found = exact or [d for d in usable if wanted.lower() in d.name.lower()]
    if not found:
        raise ValueError(f"--device: no {kind} device named like {wanted!r} (see --device list)")
    if len(found) > 1:
        names = ", ".join(f"{d.index} {d.name}" for d in found)
        raise ValueError(f"--device: {wanted!r} names several {kind} devices: {names}")
    return found[0]


def format_devices(devices: Sequence[DeviceInfo]) -> list[str]:
    """The lines ``--device list`` prints: index, name, channels, ``<`` / ``>`` defaults."""
    if not devices:
        return ["no audio devices found"]
    lines = []
    for d in devices:
        marks = ("<" if d.default_input else " ") + (">" if d.default_output else " ")
        lines.append(f"{marks} {d.index:3d} {d.name}  ({d.inputs} in, {d.outputs} out)")
    lines.append("< default input, > default output; pick with --device IN[,OUT] (index or name)")
    return lines
