"""The input VAD's per-frame algorithm as it was before the fast paths (issue #15): the oracle.

``ReferenceVad`` computes every quantity of every frame (energy over every other sample, the
zero-crossing rate, the noise floor update) with no shortcut, exactly as
:class:`~livehandle.BackendInputVad` did before its decisions were made from bounds and lazy
values.  The equivalence tests feed both the same audio and require the same edges on the same
frames, the same states, the same noise floor (bit for bit) and the same ``last_probability``.
"""

from __future__ import annotations

import math
import struct

from livehandle._config.voice import VadConfig
from livehandle._runtime.vad import VadEvent, VadState

_FLOOR_DB = -96.0
_FULL_SCALE = 32767.0


class ReferenceVad:
    """The straightforward detector: one full computation per frame, nothing skipped."""

    def __init__(self, config: VadConfig | None = None) -> None:
        self.config = config = config if config is not None else VadConfig()
        size = config.frame_size
        self._frame_bytes = 2 * size
        halves = max(1, size // 2)
        self._rms_scale = 1.0 / (math.sqrt(halves) * _FULL_SCALE)
        self._sign_mask = int.from_bytes(b"\x80" * size, "little")
        self._zcr_divisor = float(size - 1)
        self._unpack = struct.Struct("<" + "h2x" * halves).unpack_from
        self._carry = b""
        self.state = VadState.SILENCE
        self._count = 0
        self.noise_floor_db = float(config.initial_noise_floor_db)
        self._adapt_frames = 0
        self.frames_processed = 0
        self.last_probability: float | None = None
        self.pre_speech: list[bytes] = []

    def process(self, pcm: bytes) -> list[VadEvent]:
        data = self._carry + pcm
        size = self._frame_bytes
        end = len(data) - len(data) % size
        self._carry = data[end:]
        events = []
        for offset in range(0, end, size):
            event = self._step(data[offset : offset + size])
            if event is not None:
                events.append(event)
        return events

    def _step(self, frame: bytes) -> VadEvent | None:
        config = self.config
        self.frames_processed += 1
        norm = math.hypot(*self._unpack(frame))
        energy_db = 20.0 * math.log10(norm * self._rms_scale) if norm else _FLOOR_DB
        energy_db = max(energy_db, _FLOOR_DB)
        signs = int.from_bytes(frame[1::2], "little") & self._sign_mask
        crossings = (signs ^ (signs >> 8)).bit_count() - (frame[-1] >> 7)
        zcr = crossings / self._zcr_divisor
        above = energy_db - self.noise_floor_db
        low, high = config.zcr_range
        speech_like = above > config.start_threshold_db and low <= zcr <= high
        loud = above > config.stop_threshold_db
        self.last_probability = 1.0 if speech_like else 0.0
        state = self.state
        if state is VadState.SILENCE:
            if not speech_like and energy_db > _FLOOR_DB:
                self._adapt_frames += 1
                alpha = min(0.1, max(0.01, 1.0 / self._adapt_frames))
                self.noise_floor_db = self.noise_floor_db * (1.0 - alpha) + energy_db * alpha
            self.pre_speech = [*self.pre_speech, frame][-config.pre_speech_frames :]
            if config.pre_speech_frames == 0:
                self.pre_speech = []
            if speech_like:
                self._count = 1
                return self._start()
        elif state is VadState.PENDING_SPEECH:
            if speech_like:
                self._count += 1
                return self._start()
            self.state = VadState.SILENCE
            self._count = 0
        elif state is VadState.SPEECH:
            if not loud:
                self._count = 1
                return self._end()
        elif loud:
            self.state = VadState.SPEECH
            self._count = 0
        else:
            self._count += 1
            return self._end()
        return None

    def _start(self) -> VadEvent | None:
        if self._count >= self.config.min_speech_frames:
            self.state = VadState.SPEECH
            self._count = 0
            return VadEvent.SPEECH_START
        self.state = VadState.PENDING_SPEECH
        return None

    def _end(self) -> VadEvent | None:
        if self._count >= self.config.hangover_frames:
            self.state = VadState.SILENCE
            self._count = 0
            self.pre_speech = []
            return VadEvent.SPEECH_END
        self.state = VadState.HANGOVER
        return None
