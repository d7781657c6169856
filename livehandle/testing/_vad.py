"""The emulator's server-side voice activity detector.

:class:`ServerVad` mimics the Live API's automatic activity detection on the client's 16 kHz PCM16
input with a plain energy detector.  It measures time only by counting samples ("audio time"),
never by the clock, so the same audio always gives the same edges at the same audio times, however
it is split into chunks and however fast it arrives.

How it decides, one frame (``frame_ms``, 20 ms by default) at a time:

* A frame is *loud* when its RMS level reaches the start threshold (:data:`START_THRESHOLD_DBFS`:
  -45 dBFS for ``"HIGH"`` start sensitivity, -35 dBFS for ``"LOW"``).
* While not speaking, a run of consecutive loud frames lasting at least ``prefix_padding_ms`` (and
  at least one frame) commits a ``"start"`` edge, dated at the beginning of the run's first frame.
* While speaking, a frame counts as *voiced* when its level reaches the lower continue threshold:
  the start threshold minus :data:`END_HYSTERESIS_DB` (3 dB for ``"HIGH"`` end sensitivity, which
  ends turns more readily, 8 dB for ``"LOW"``).  Once the audio since the end of the last voiced
  frame reaches ``silence_duration_ms``, an ``"end"`` edge is emitted, dated at the end of that
  last voiced frame.

Sources: the settings and their defaults are the Live API's (wire-protocol.md §2.1
``realtimeInputConfig``: start/end sensitivity HIGH on Google AI and LOW on Vertex,
``prefixPaddingMs``, ``silenceDurationMs`` "approximately 800ms" by default); a turn ends only
after trailing silence in the stream, or at ``audioStreamEnd`` (§2.3, §5.6).  The detector itself
and its thresholds are the emulator's own: the real detector is not documented.

Resulting thresholds (start / continue, dBFS): HIGH/HIGH -45/-48, HIGH/LOW -45/-53,
LOW/HIGH -35/-38, LOW/LOW -35/-43.  :func:`livehandle.testing.audio.synth_voice` at its default
-16 dBFS never drops below about -26 dBFS in any frame, so it is one continuous stretch of speech
for every setting; :func:`~livehandle.testing.audio.noise` at -60 dBFS and silence never start one.
"""

from __future__ import annotations

import operator
import sys
from array import array
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Literal

import attrs

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["END_HYSTERESIS_DB", "START_THRESHOLD_DBFS", "ServerVad", "VadEdge"]

#: Frame level (RMS, dBFS) at or above which a frame counts as the start of speech.
START_THRESHOLD_DBFS: Final[Mapping[str, float]] = MappingProxyType({"HIGH": -45.0, "LOW": -35.0})
#: How far below the start threshold a frame may fall and still count as continued speech.
END_HYSTERESIS_DB: Final[Mapping[str, float]] = MappingProxyType({"HIGH": 3.0, "LOW": 8.0})

_FULL_SCALE = 32768.0
_BIG_ENDIAN = sys.byteorder == "big"
_SENSITIVITIES = ("HIGH", "LOW")


@attrs.frozen
class VadEdge:
    """A change of speech activity.

    Attributes:
        kind: ``"start"`` when speech began, ``"end"`` when it ended.
        at_ms: audio time of the edge in milliseconds since the detector started: the beginning of
            the first speech frame for ``"start"``, the end of the last speech frame for ``"end"``
            (or the audio time of :meth:`ServerVad.flush`).
    """

    kind: Literal["start", "end"]
    at_ms: float


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


def _not_negative(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


_sensitivity = attrs.validators.in_(_SENSITIVITIES)
_fixed = attrs.setters.frozen


@attrs.define
class ServerVad:
    """Energy-based voice activity detector working in audio time.

    Feed it the input audio with :meth:`feed`; each call returns the edges that the fed audio
    completed.  Configuration is fixed at construction.

    Attributes:
        sample_rate: input samples per second.
        start_sensitivity: ``"HIGH"`` starts on quieter speech (-45 dBFS) than ``"LOW"``
            (-35 dBFS).
        end_sensitivity: ``"HIGH"`` ends speech more readily (continue threshold 3 dB below the
            start threshold) than ``"LOW"`` (8 dB below).
        prefix_padding_ms: how long speech must last before a start is committed (at least one
            frame is always needed).
        silence_duration_ms: how much non-speech after the last speech frame ends the speech.
        frame_ms: analysis frame length.

    Raises:
        ValueError: on construction, for a non-positive rate or frame length, a negative
            duration, an unknown sensitivity, or a frame shorter than one sample.
    """

    sample_rate: int = attrs.field(default=16000, validator=_positive, on_setattr=_fixed)
    start_sensitivity: Literal["HIGH", "LOW"] = attrs.field(
        default="HIGH", validator=_sensitivity, on_setattr=_fixed
    )
    end_sensitivity: Literal["HIGH", "LOW"] = attrs.field(
        default="HIGH", validator=_sensitivity, on_setattr=_fixed
    )
    prefix_padding_ms: int = attrs.field(default=20, validator=_not_negative, on_setattr=_fixed)
    silence_duration_ms: int = attrs.field(default=800, validator=_not_negative, on_setattr=_fixed)
    frame_ms: int = attrs.field(default=20, validator=_positive, on_setattr=_fixed)

    _frame_samples: int = attrs.field(init=False, repr=False)
    _start_energy: float = attrs.field(init=False, repr=False)
    _continue_energy: float = attrs.field(init=False, repr=False)
    _prefix_frames: int = attrs.field(init=False, repr=False)
    _buffer: bytearray = attrs.field(init=False, repr=False, factory=bytearray)
    # Sample index of the first sample still in _buffer (= samples already analysed or dropped).
    _position: int = attrs.field(init=False, repr=False, default=0)
    _speaking: bool = attrs.field(init=False, repr=False, default=False)
    _run_start: int = attrs.field(init=False, repr=False, default=0)
    _run_frames: int = attrs.field(init=False, repr=False, default=0)
    _started_at: int = attrs.field(init=False, repr=False, default=0)
    _voiced_until: int = attrs.field(init=False, repr=False, default=0)
    _last_speech_samples: int = attrs.field(init=False, repr=False, default=0)

    def __attrs_post_init__(self) -> None:
        frame = round(self.sample_rate * self.frame_ms / 1000)
        if frame < 1:
            raise ValueError(
                f"frame_ms={self.frame_ms} is shorter than one sample at {self.sample_rate} Hz"
            )
        self._frame_samples = frame
        self._start_energy = self._frame_energy(self.start_threshold_dbfs)
        self._continue_energy = self._frame_energy(self.continue_threshold_dbfs)
        # Whole frames needed to cover prefix_padding_ms, and at least one (exact integer maths).
        needed = -(-(self.prefix_padding_ms * self.sample_rate) // (1000 * frame))
        self._prefix_frames = max(1, needed)

    def _frame_energy(self, level_dbfs: float) -> float:
        """The sum of squares of one frame whose RMS level is ``level_dbfs``."""
        return self._frame_samples * (_FULL_SCALE * 10 ** (level_dbfs / 20)) ** 2

    def _ms(self, samples: int) -> float:
        return samples * 1000 / self.sample_rate

    @property
    def start_threshold_dbfs(self) -> float:
        """The frame level (dBFS) needed to start speech."""
        return START_THRESHOLD_DBFS[self.start_sensitivity]

    @property
    def continue_threshold_dbfs(self) -> float:
        """The frame level (dBFS) needed to keep counting as speech once started."""
        return self.start_threshold_dbfs - END_HYSTERESIS_DB[self.end_sensitivity]

    @property
    def speaking(self) -> bool:
        """Whether a start edge has been emitted and its end edge not yet."""
        return self._speaking

    @property
    def audio_ms(self) -> float:
        """Audio time fed so far, in milliseconds (whole samples, including a partial frame)."""
        return self._ms(self._position + len(self._buffer) // 2)

    @property
    def speech_started_at_ms(self) -> float | None:
        """Audio time at which the current speech began, or None when not speaking."""
        return self._ms(self._started_at) if self._speaking else None

    @property
    def last_speech_ms(self) -> float:
        """Duration of the last finished speech segment in milliseconds (0.0 before the first)."""
        return self._ms(self._last_speech_samples)

    def feed(self, pcm: bytes) -> list[VadEdge]:
        """Analyse more input audio.

        Args:
            pcm: PCM16 little-endian mono bytes of any length; a trailing partial frame (or odd
                byte) is kept and completed by the next call.

        Returns:
            The edges completed by this audio, in order (usually none).
        """
        buffer = self._buffer
        buffer += pcm
        size = self._frame_samples
        frame_bytes = 2 * size
        frames = len(buffer) // frame_bytes
        if frames == 0:
            return []
        used = frames * frame_bytes
        samples = array("h")
        samples.frombytes(buffer[:used])
        del buffer[:used]
        if _BIG_ENDIAN:
            samples.byteswap()

        edges: list[VadEdge] = []
        mul = operator.mul
        start_energy = self._start_energy
        continue_energy = self._continue_energy
        silence_limit = self.silence_duration_ms * self.sample_rate  # in samples * 1000
        position = self._position
        for offset in range(0, frames * size, size):
            frame = samples[offset : offset + size]
            energy = sum(map(mul, frame, frame))
            frame_start = position + offset
            frame_end = frame_start + size
            if self._speaking:
                if energy >= continue_energy:
                    self._voiced_until = frame_end
                elif (frame_end - self._voiced_until) * 1000 >= silence_limit:
                    edges.append(self._end(self._voiced_until))
            elif energy >= start_energy:
                if self._run_frames == 0:
                    self._run_start = frame_start
                self._run_frames += 1
                if self._run_frames >= self._prefix_frames:
                    self._run_frames = 0
                    self._speaking = True
                    self._started_at = self._run_start
                    self._voiced_until = frame_end
                    edges.append(VadEdge("start", self._ms(self._run_start)))
            else:
                self._run_frames = 0
        self._position = position + frames * size
        return edges

    def flush(self) -> list[VadEdge]:
        """End of the input stream (``audioStreamEnd``).

        If speaking, ends the speech now: the end edge is dated at the current audio time
        (:attr:`audio_ms`).  A buffered partial frame is discarded and an uncommitted start is
        forgotten; audio fed afterwards is analysed in frames starting at the current audio time.

        Returns:
            The end edge if speech was in progress, else an empty list.
        """
        self._position += len(self._buffer) // 2
        self._buffer.clear()
        self._run_frames = 0
        if not self._speaking:
            return []
        return [self._end(self._position)]

    def _end(self, at: int) -> VadEdge:
        self._speaking = False
        self._last_speech_samples = at - self._started_at
        return VadEdge("end", self._ms(at))
