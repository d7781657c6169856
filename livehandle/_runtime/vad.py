"""Client-side input voice activity detection: :class:`BackendInputVad`.

It finds where the user starts and stops speaking in 16-bit PCM input, with an energy +
zero-crossing detector over fixed frames and an adaptive noise floor.  It runs on every chunk in
the caller's task, so it is written to be cheap: no numpy, and each frame computes only what its
state's decision needs (see "Cost" in the class docstring); with CPython 3.11 on a 2-core cloud
VM, about 2.5 us per 30 ms frame of speech and 5-7 us per frame of room noise, see
``benchmarks/bench_vad.py``.  It does no I/O and reads a clock only to date its edges: it counts
audio frames, so the same audio gives the same edges however it is chunked.
:class:`~livehandle.TurnCommitPolicy` turns its edges into turn signals.

Example::

    vad = BackendInputVad()
    policy = TurnCommitPolicy(TurnCommitConfig.responsive())
    audio_ms = 0
    for chunk in microphone_chunks:  # PCM16 LE, 16 kHz, mono
        audio_ms += len(chunk) // 32
        for signal in policy.advance(audio_ms, vad.process(chunk), model_speaking):
            ...  # send activityStart / activityEnd
"""

from __future__ import annotations

import collections
import enum
import functools
import math
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs
import trio

from livehandle._config.voice import VadConfig

if TYPE_CHECKING:
    from livehandle._state import JsonValue

__all__ = [
    "BackendInputVad",
    "BackendVadSnapshot",
    "VadEvent",
    "VadState",
]

#: The name :class:`BackendInputVad` reports for its detector.
_BACKEND = "energy-zcr"

# Frame level of an all-zero (or empty) frame, and the lowest level any frame is given.
_FLOOR_DB = -96.0
# Full scale used by the level formula (20*log10(rms/32767)), as in the original detector.
_FULL_SCALE = 32767.0
# After the first 1/_MIN_ALPHA frames of silence the noise floor moves by this fraction per frame.
_MIN_ALPHA = 0.01
#: The fastest the noise floor moves, per frame: a voice's onset ramp (quiet attack frames that
#: are not yet speech-like) must not drag the floor up with it.
_MAX_ALPHA = 0.1
# 1/n is at least _MAX_ALPHA up to this many frames, and at most _MIN_ALPHA from this many on.
_FAST_FRAMES = 10
_SLOW_FRAMES = 100
# How far (dB) a lower bound of the level must clear a threshold to settle a decision without the
# exact level: far above the rounding of the level formula (about 1e-13 dB), far below anything
# audible, so a decision taken from the bound is the one the exact level gives.
_SURE_DB = 1e-6


class VadEvent(enum.Enum):
    """An edge of the user's speech found by :class:`BackendInputVad`.

    Attributes:
        SPEECH_START: speech was confirmed (``min_speech_frames`` speech-like frames in a row).
        SPEECH_END: speech stopped (``hangover_frames`` quiet frames in a row).
    """

    SPEECH_START = "speech_start"
    SPEECH_END = "speech_end"


class VadState(enum.StrEnum):
    """Where :class:`BackendInputVad`'s state machine is.

    Attributes:
        SILENCE: no speech; the noise floor is learnt here.
        PENDING_SPEECH: speech-like frames seen, not yet ``min_speech_frames`` of them.
        SPEECH: speech confirmed.
        HANGOVER: speech confirmed, the level has dropped, the end is not yet confirmed.
    """

    SILENCE = "silence"
    PENDING_SPEECH = "pending_speech"
    SPEECH = "speech"
    HANGOVER = "hangover"


_SILENCE = VadState.SILENCE
_PENDING = VadState.PENDING_SPEECH
_SPEECH = VadState.SPEECH
_HANGOVER = VadState.HANGOVER
_SPEECH_START = VadEvent.SPEECH_START
_SPEECH_END = VadEvent.SPEECH_END


# --------------------------------------------------------------------------------------------
# The detector
# --------------------------------------------------------------------------------------------


@attrs.frozen
class BackendVadSnapshot:
    """A point-in-time view of a :class:`BackendInputVad`, for diagnostics and telemetry.

    Attributes:
        backend: the detector's name (``"energy-zcr"``).
        sample_rate: input samples per second.
        frame_duration_ms: analysis frame length.
        frame_size: samples per frame.
        state: a :class:`VadState` value (``"silence"``, ``"pending_speech"``, ``"speech"``,
            ``"hangover"``).
        speaking: whether the detector is in speech (``"speech"`` or ``"hangover"``).
        last_probability: 1.0 if the last frame was speech-like, 0.0 if not, None before any.
        frames_processed: complete frames analysed so far.
        last_transition_ms_ago: whole milliseconds since the last edge, by the detector's clock;
            None before the first edge.
        noise_floor_db: the current noise floor estimate, dBFS.
    """

    backend: str
    sample_rate: int
    frame_duration_ms: int
    frame_size: int
    state: str
    speaking: bool
    last_probability: float | None
    frames_processed: int
    last_transition_ms_ago: int | None
    noise_floor_db: float

    def to_dict(self) -> dict[str, JsonValue]:
        """The fields as a JSON-ready dict (same names)."""
        return {
            "backend": self.backend,
            "sample_rate": self.sample_rate,
            "frame_duration_ms": self.frame_duration_ms,
            "frame_size": self.frame_size,
            "state": self.state,
            "speaking": self.speaking,
            "last_probability": self.last_probability,
            "frames_processed": self.frames_processed,
            "last_transition_ms_ago": self.last_transition_ms_ago,
            "noise_floor_db": self.noise_floor_db,
        }


@attrs.frozen
class _FrameConstants:
    """What a detector derives from its frame size alone, shared by every detector of that size.

    The unpacking formats of a 20 ms frame take several KiB: a session must not pay for its own.
    """

    rms_scale: float
    sign_mask: int
    unpack: Callable[..., tuple[int, ...]]
    unpack_quarter: Callable[..., tuple[int, ...]]
    zero_frame: bytes


@functools.lru_cache(maxsize=16)
def _frame_constants(size: int) -> _FrameConstants:
    # The energy is measured on every other sample (half the cost; the mean square of a voice or
    # of noise is the same on either half): rms/32767 = norm * rms_scale.
    halves = max(1, size // 2)
    # The lower bound of the level squares every 4th of those samples (frame samples 0, 8, 16,
    # ...), normalised as the level: see _level_lower_bound.
    quarter = (halves - 1) // 4 + 1
    return _FrameConstants(
        rms_scale=1.0 / (math.sqrt(halves) * _FULL_SCALE),
        # The sign bit of every sample's high byte, as one integer over the frame's high bytes.
        sign_mask=int.from_bytes(b"\x80" * size, "little"),
        unpack=struct.Struct("<" + "h2x" * halves).unpack_from,
        unpack_quarter=struct.Struct("<" + "h14x" * (quarter - 1) + "h").unpack_from,
        zero_frame=bytes(2 * size),
    )


class BackendInputVad:
    """Energy + zero-crossing voice activity detector for PCM16 microphone input.

    Feed it audio with :meth:`process`; it cuts the stream into frames of
    :attr:`VadConfig.frame_size` samples (a partial frame is kept for the next call) and returns
    the :class:`VadEvent` edges the complete frames produced.

    Per frame, as the original runtime's energy-ZCR backend (where this differs, it says so):

    * ``energy_db = 20*log10(rms/32767)``, at least -96, with the rms taken over every other
      sample (half the cost; the same mean square for a voice or for noise); ``zcr`` = adjacent
      sample pairs whose signs (``s >= 0``) differ, divided by ``n - 1``;
      ``above = energy_db - noise_floor``.
    * speech-like: ``above > start_threshold_db`` and the ZCR within ``zcr_range``; "loud":
      ``above > stop_threshold_db``.  :attr:`last_probability` is 1.0 or 0.0 from speech-like.
    * Silence: learn the noise floor from the frame (unless it is digital silence) and keep the
      frame in the pre-speech ring; a speech-like frame begins a pending start.  PendingSpeech:
      a speech-like frame extends the run, any other frame is a false alarm (back to Silence).
      Speech: a quiet frame begins the hangover.  Hangover: a loud frame goes back to Speech (no
      event), a quiet one extends it.
    * A run of ``min_speech_frames`` speech-like frames emits :attr:`VadEvent.SPEECH_START`; a
      run of ``hangover_frames`` quiet frames emits :attr:`VadEvent.SPEECH_END` and empties the
      pre-speech ring.  The frame that completes the run emits, counting the one that began it:
      with the defaults (2 / 8) the start is on the 2nd speech-like frame (60 ms) and the end on
      the 8th quiet frame (240 ms after the level drops).  (The original only checked the count
      on the frame after the run began, so a setting of 1 behaved like 2 and
      :meth:`VadConfig.noisy_street`'s "1-frame confirm" took two; here 1 means one.)

    The noise floor is an exponentially weighted mean of the frame levels heard in Silence, with
    ``alpha = min(0.1, max(0.01, 1/n))`` for the ``n``-th such frame.  The reference writes
    ``min(0.01, 1/n)``, which is always 0.01 (its own comment says "fast initial adaptation,
    slow drift"); ``max`` is what that describes: the floor first follows the background with a
    10-frame time constant (capped at 0.1 so that the quiet attack of a voice cannot drag it up),
    then, after 100 frames (3 s), drifts with a 100-frame time constant.  With ``min`` a
    background between -60 and -45 dBFS would take seconds to learn; with ``max`` the floor is
    at the background level within about half a second.

    Two additions to the reference, both about which Silence frames teach the floor:

    * only frames that are not speech-like.  With ``max``, the first frame of an utterance
      would otherwise become the floor at once (the level of the voice), and the utterance
      would be missed; audio that opens straight into speech is detected too.  The price: a
      background more than ``start_threshold_db`` above the initial floor that also has a
      voice-like zero-crossing rate is taken for speech; raise ``initial_noise_floor_db`` or
      use :meth:`VadConfig.noisy_street` in such rooms;
    * not frames of digital silence (level at the -96 dB floor, i.e. all or nearly all samples
      zero).  They say nothing about the room, and streams often open with zeros (a device
      warming up, a muted mic); learning -96 dB from them would make the first real room
      noise look 30 dB "above the floor": a false start that never ends.

    Cost: each state computes only what its one decision needs, and every value it does compute
    is the full computation's, bit for bit, so the edges, states, noise floor and
    ``last_probability`` are exactly those of computing everything on every frame (the tests
    compare the two frame by frame, on realistic and random audio):

    * the zero-crossing rate only when the level is above the start threshold (below it no
      frame is speech-like);
    * in Silence, the exact level of every frame (the floor learns it), except that an all-zero
      frame is -96 dB without arithmetic.  This is the floor of the cost: squaring every other
      sample is most of a frame's work, and where the user is quiet it cannot be skipped;
    * in PendingSpeech and Speech, first a lower bound of the level from a quarter of those
      samples (their norm cannot exceed the full norm): for a voice it is about 6 dB under the
      level and settles "above the threshold" at a quarter of the cost; the exact level only
      when the bound does not settle it;
    * in Speech, only "loud" changes anything, so whether a loud frame was also speech-like is
      left to :attr:`last_probability`, which works it out from that frame when it is read;
    * frames are read in place from the chunk (struct offsets), not sliced out, except the
      copies that are kept (the pre-speech ring, the frame behind an undecided probability).

    A numpy level was measured (``benchmarks/bench_vad.py``) and is not used: it makes Silence
    frames about 0.55-0.7x and Speech frames no cheaper (the lower bound already is), short of
    a decisive gain for an optional dependency and a second implementation to keep equal.

    Time: edges are found by counting frames.  ``clock`` (seconds, :func:`trio.current_time` by
    default) is read only after a call that produced an edge, to date it, and by
    :meth:`snapshot`.  Not thread-safe; use it from one task.

    Args:
        config: the settings; :class:`VadConfig` defaults (16 kHz, 30 ms frames) when None.
        clock: returns the current time in seconds.
    """

    __slots__ = (
        "_adapt_frames",
        "_carry",
        "_clock",
        "_config",
        "_count",
        "_frame_bytes",
        "_frames_processed",
        "_last_probability",
        "_last_transition_at",
        "_noise_floor",
        "_pre_speech",
        "_rms_scale",
        "_sign_mask",
        "_start_db",
        "_start_sure",
        "_state",
        "_stop_db",
        "_stop_sure",
        "_undecided",
        "_undecided_floor",
        "_unpack",
        "_unpack_quarter",
        "_zcr_divisor",
        "_zcr_hi",
        "_zcr_lo",
        "_zero_frame",
    )

    def __init__(
        self, config: VadConfig | None = None, *, clock: Callable[[], float] = trio.current_time
    ) -> None:
        if config is None:
            config = VadConfig()
        elif not isinstance(config, VadConfig):
            raise ValueError(f"config must be a VadConfig or None, got {type(config).__name__}")
        self._config = config
        self._clock = clock
        size = config.frame_size
        self._frame_bytes = 2 * size
        frame = _frame_constants(size)
        self._rms_scale = frame.rms_scale
        self._sign_mask = frame.sign_mask
        self._zcr_divisor = float(size - 1)
        self._unpack = frame.unpack
        self._unpack_quarter = frame.unpack_quarter
        self._zero_frame = frame.zero_frame
        self._start_db = float(config.start_threshold_db)
        self._stop_db = float(config.stop_threshold_db)
        self._start_sure = self._start_db + _SURE_DB
        self._stop_sure = self._stop_db + _SURE_DB
        self._zcr_lo, self._zcr_hi = config.zcr_range
        self._pre_speech: collections.deque[bytes] = collections.deque(
            maxlen=config.pre_speech_frames
        )
        self._init_state()

    def _init_state(self) -> None:
        self._carry = b""
        self._state = _SILENCE
        self._count = 0
        self._noise_floor = float(self._config.initial_noise_floor_db)
        self._adapt_frames = 0
        self._frames_processed = 0
        self._last_probability: float | None = None
        # A loud frame in Speech whose speech-likeness nobody has asked for yet: the frame and
        # the floor it was judged against (see last_probability).
        self._undecided: bytes | None = None
        self._undecided_floor = 0.0
        self._last_transition_at: float | None = None
        self._pre_speech.clear()

    # -- reading ---------------------------------------------------------------------------------

    @property
    def config(self) -> VadConfig:
        """The settings this detector was built with."""
        return self._config

    @property
    def backend(self) -> str:
        """The detector's name, ``"energy-zcr"``."""
        return _BACKEND

    @property
    def state(self) -> VadState:
        """The state machine's current state."""
        return self._state

    @property
    def speaking(self) -> bool:
        """Whether speech is confirmed and has not ended (Speech or Hangover)."""
        return self._state is _SPEECH or self._state is _HANGOVER

    @property
    def last_probability(self) -> float | None:
        """1.0 if the last frame was speech-like, 0.0 if not; None before the first frame.

        In Speech only "loud" matters to the detector, so whether a loud frame was also
        speech-like is worked out here, from that frame, when it is read (the same answer as
        computing it at once).
        """
        frame = self._undecided
        if frame is not None:
            floor = self._undecided_floor
            speech_like = self._level(frame, 0) - floor > self._start_db and self._zcr_in_range(
                frame, 0
            )
            self._set_probability(1.0 if speech_like else 0.0)
        return self._last_probability

    @property
    def frames_processed(self) -> int:
        """Complete frames analysed since construction or :meth:`reset`."""
        return self._frames_processed

    @property
    def noise_floor_db(self) -> float:
        """The current noise floor estimate, dBFS."""
        return self._noise_floor

    @property
    def last_transition_at(self) -> float | None:
        """The ``clock()`` reading after the last call that produced an edge; None before any."""
        return self._last_transition_at

    def pre_speech_audio(self) -> bytes:
        """Up to ``pre_speech_frames`` of the latest frames heard in Silence, oldest first.

        After a :attr:`VadEvent.SPEECH_START` this is the audio just before (and including the
        first frame of) the speech, for a caller that gates what it sends on the detector.
        Emptied when speech ends and by :meth:`reset`.
        """
        return b"".join(self._pre_speech)

    def snapshot(self) -> BackendVadSnapshot:
        """The detector's state now (reads ``clock`` if an edge has been seen)."""
        config = self._config
        at = self._last_transition_at
        ago = None if at is None else int(max(0.0, self._clock() - at) * 1000)
        return BackendVadSnapshot(
            backend=_BACKEND,
            sample_rate=config.sample_rate,
            frame_duration_ms=config.frame_duration_ms,
            frame_size=config.frame_size,
            state=self._state.value,
            speaking=self.speaking,
            last_probability=self.last_probability,
            frames_processed=self._frames_processed,
            last_transition_ms_ago=ago,
            noise_floor_db=self._noise_floor,
        )

    # -- processing ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything heard, partial frame included: as newly built (same config, clock)."""
        self._init_state()

    def process(self, pcm: bytes | bytearray) -> list[VadEvent]:
        """Analyse more microphone audio.

        Args:
            pcm: PCM16 little-endian mono samples (``bytes`` or ``bytearray``), any whole number
                of samples; it need not line up with frames.

        Returns:
            The edges produced by the frames this call completed, in order (usually none).

        Raises:
            ValueError: if ``pcm`` is not bytes or has an odd length; the detector is unchanged.
        """
        given: object = pcm  # callers outside the type checker pass anything
        if isinstance(given, bytearray):
            given = bytes(given)
        elif not isinstance(given, bytes):
            raise ValueError(f"pcm must be PCM16 bytes, got {type(given).__name__}")
        if len(given) & 1:
            raise ValueError(
                f"pcm must hold whole 16-bit samples: {len(given)} bytes is an odd length"
            )
        data = self._carry + given if self._carry else given
        size = self._frame_bytes
        end = len(data) - len(data) % size
        self._carry = data[end:] if end < len(data) else b""
        events: list[VadEvent] = []
        if not end:
            return events
        # The frames are read in place (struct offsets), never sliced out, except where a copy
        # is kept (the pre-speech ring, an undecided last_probability).
        step = self._step
        for offset in range(0, end, size):
            event = step(data, offset)
            if event is not None:
                events.append(event)
        if events:
            self._last_transition_at = self._clock()
        return events

    # -- one frame (see "Cost" in the class docstring) -------------------------------------------

    def _step(self, data: bytes, offset: int) -> VadEvent | None:
        """Run the frame at ``data[offset:offset + frame_bytes]`` through the detector."""
        self._frames_processed += 1
        state = self._state
        floor = self._noise_floor
        if state is _SILENCE:  # the common case, kept inline
            frame = data[offset : offset + self._frame_bytes]
            if frame == self._zero_frame:
                energy_db = _FLOOR_DB
            else:  # as _level
                norm = math.hypot(*self._unpack(frame))
                energy_db = 20.0 * math.log10(norm * self._rms_scale) if norm else _FLOOR_DB
                if energy_db < _FLOOR_DB:
                    energy_db = _FLOOR_DB
            speech_like = energy_db - floor > self._start_db and self._zcr_in_range(data, offset)
            self._last_probability = 1.0 if speech_like else 0.0
            self._undecided = None
            # Learn the background from quiet frames only: a speech-like frame would teach the
            # floor the voice (at once, early on), and digital silence tells nothing about it.
            if not speech_like and energy_db > _FLOOR_DB:
                self._adapt_frames = adapted = self._adapt_frames + 1
                # min(_MAX_ALPHA, max(_MIN_ALPHA, 1/n)), without the calls.
                if adapted <= _FAST_FRAMES:
                    alpha = _MAX_ALPHA
                elif adapted < _SLOW_FRAMES:
                    alpha = 1.0 / adapted
                else:
                    alpha = _MIN_ALPHA
                self._noise_floor = floor * (1.0 - alpha) + energy_db * alpha
            self._pre_speech.append(frame)
            if speech_like:
                self._count = 1
                return self._confirm_start()
            return None
        if state is _SPEECH:
            if (
                self._level_lower_bound(data, offset) - floor > self._stop_sure
                or self._level(data, offset) - floor > self._stop_db
            ):
                # Loud: speech goes on.  Speech-like or not is left for last_probability.
                self._undecided = data[offset : offset + self._frame_bytes]
                self._undecided_floor = floor
                return None
            # Quiet (at or below the stop threshold, so at or below the start threshold too).
            self._set_probability(0.0)
            self._count = 1
            return self._confirm_end()
        if state is _PENDING:
            speech_like = (
                self._level_lower_bound(data, offset) - floor > self._start_sure
                or self._level(data, offset) - floor > self._start_db
            ) and self._zcr_in_range(data, offset)
            self._set_probability(1.0 if speech_like else 0.0)
            if speech_like:
                self._count += 1
                return self._confirm_start()
            self._state = _SILENCE
            self._count = 0
            return None
        # Hangover.
        above = self._level(data, offset) - floor
        if above > self._stop_db:  # the level is back up: the pause is bridged
            speech_like = above > self._start_db and self._zcr_in_range(data, offset)
            self._set_probability(1.0 if speech_like else 0.0)
            self._state = _SPEECH
            self._count = 0
            return None
        self._set_probability(0.0)
        self._count += 1
        return self._confirm_end()

    def _level(self, data: bytes, offset: int) -> float:
        """The frame's level, dBFS (at least -96), from every other sample."""
        # Every other sample as an int (the struct format is little-endian on every host), and
        # their Euclidean norm: on CPython 3.11 without numpy, boxing the samples is most of the
        # cost and hypot is the cheapest sum of squares over them (about 3x faster than
        # sum(map(mul, s, s)), and exact enough: int16 squares are exact in a double).
        norm = math.hypot(*self._unpack(data, offset))
        if not norm:
            return _FLOOR_DB
        energy_db = 20.0 * math.log10(norm * self._rms_scale)
        return energy_db if energy_db > _FLOOR_DB else _FLOOR_DB

    def _level_lower_bound(self, data: bytes, offset: int) -> float:
        """At most :meth:`_level`: the same formula over a quarter of its samples.

        The samples are a subset of those :meth:`_level` squares, so their norm is at most
        that norm, and the level (a monotonic function of the norm) at most that level, up to
        rounding far below ``_SURE_DB``.  About a quarter of the cost: for a voice the bound is
        about 6 dB under the level, which settles "above the threshold" for most voice frames.
        """
        norm = math.hypot(*self._unpack_quarter(data, offset))
        if not norm:
            return _FLOOR_DB
        energy_db = 20.0 * math.log10(norm * self._rms_scale)
        return energy_db if energy_db > _FLOOR_DB else _FLOOR_DB

    def _zcr_in_range(self, data: bytes, offset: int) -> bool:
        """Whether the frame's zero-crossing rate is within ``zcr_range``."""
        # Zero crossings from the high bytes (odd offsets of little-endian PCM16): keep each sign
        # bit, XOR every byte with its successor, count the set bits.  The last byte has no
        # successor and XORs with zero, so its own sign bit is taken back off.
        stop = offset + self._frame_bytes
        signs = int.from_bytes(data[offset + 1 : stop : 2], "little") & self._sign_mask
        crossings = (signs ^ (signs >> 8)).bit_count() - (data[stop - 1] >> 7)
        return self._zcr_lo <= crossings / self._zcr_divisor <= self._zcr_hi

    def _set_probability(self, probability: float) -> None:
        self._last_probability = probability
        self._undecided = None

    def _confirm_start(self) -> VadEvent | None:
        if self._count >= self._config.min_speech_frames:
            self._state = _SPEECH
            self._count = 0
            return _SPEECH_START
        self._state = _PENDING
        return None

    def _confirm_end(self) -> VadEvent | None:
        if self._count >= self._config.hangover_frames:
            self._state = _SILENCE
            self._count = 0
            self._pre_speech.clear()
            return _SPEECH_END
        self._state = _HANGOVER
        return None
