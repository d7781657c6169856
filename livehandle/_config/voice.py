"""Voice settings: the input VAD's (:class:`VadConfig`) and the turn-commit policy's.

Plain, validated data: :class:`~livehandle.BackendInputVad` and
:class:`~livehandle.TurnCommitPolicy` consume them.  Every check runs when a value is built and
fails with a ``ValueError`` that names the field.
"""

from __future__ import annotations

import attrs

from livehandle._fields import finite, int_at_least, positive_int

__all__ = ["TurnCommitConfig", "VadConfig"]


def _zcr_range(value: object) -> tuple[float, float]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ValueError(
            f"zcr_range must be a pair (low, high) of zero-crossing rates, got {value!r}"
        )
    lo: object = value[0]
    hi: object = value[1]
    if (
        not isinstance(lo, int | float)
        or not isinstance(hi, int | float)
        or isinstance(lo, bool)
        or isinstance(hi, bool)
    ):
        raise ValueError(f"zcr_range bounds must be numbers, got {value!r}")
    if not 0.0 <= lo <= hi <= 1.0:
        raise ValueError(f"zcr_range must satisfy 0 <= low <= high <= 1, got ({lo!r}, {hi!r})")
    return (float(lo), float(hi))


@attrs.frozen
class VadConfig:
    """Settings of :class:`BackendInputVad`, checked when built.

    Attributes:
        sample_rate: input samples per second (the Live API takes 16 kHz input).
        frame_duration_ms: analysis frame length; every decision is made once per frame.
        start_threshold_db: how far (dB) a frame's level must be above the noise floor, with a
            voice-like zero-crossing rate, to count as speech-like.
        stop_threshold_db: how far above the noise floor a frame must stay to keep speech going
            (at most ``start_threshold_db``; the gap is the hysteresis).
        min_speech_frames: speech-like frames in a row that confirm a start; the start is
            reported on the frame that completes the run.
        hangover_frames: frames in a row at or below the stop threshold that end speech; the end
            is reported on the frame that completes the run.
        zcr_range: the zero-crossing rates (sign changes per adjacent sample pair, 0..1) a
            speech-like frame may have; a hum is below it, hiss and whistles above it.
        initial_noise_floor_db: the noise floor (dBFS) assumed before any audio is heard.
        pre_speech_frames: how many of the latest silent frames
            :meth:`BackendInputVad.pre_speech_audio` keeps (audio just before a start).

    Raises:
        ValueError: naming the field, for a non-positive rate or frame length, a non-finite
            threshold, a stop threshold above the start threshold, a count below its minimum, a
            bad ``zcr_range``, or a frame shorter than two samples.
    """

    sample_rate: int = attrs.field(default=16000, validator=positive_int)
    frame_duration_ms: int = attrs.field(default=30, validator=positive_int)
    start_threshold_db: float = attrs.field(default=15.0, validator=finite)
    stop_threshold_db: float = attrs.field(default=10.0, validator=finite)
    min_speech_frames: int = attrs.field(default=2, validator=int_at_least(1))
    hangover_frames: int = attrs.field(default=8, validator=int_at_least(1))
    zcr_range: tuple[float, float] = attrs.field(default=(0.02, 0.5), converter=_zcr_range)
    initial_noise_floor_db: float = attrs.field(default=-60.0, validator=finite)
    pre_speech_frames: int = attrs.field(default=3, validator=int_at_least(0))

    def __attrs_post_init__(self) -> None:
        if self.stop_threshold_db > self.start_threshold_db:
            raise ValueError(
                f"stop_threshold_db ({self.stop_threshold_db!r}) must not exceed "
                f"start_threshold_db ({self.start_threshold_db!r})"
            )
        if self.frame_size < 2:
            raise ValueError(
                f"frame_duration_ms={self.frame_duration_ms} gives {self.frame_size} sample(s) at "
                f"{self.sample_rate} Hz; a frame needs at least 2 samples"
            )

    @property
    def frame_size(self) -> int:
        """Samples per frame: ``sample_rate * frame_duration_ms // 1000``."""
        return self.sample_rate * self.frame_duration_ms // 1000

    @classmethod
    def noisy_street(cls) -> VadConfig:
        """Settings for loud backgrounds: start 21 dB, stop 16 dB, 1-frame confirm, 300 ms hangover.

        Meant to sit behind a denoiser: a louder margin over the noise floor is needed to start,
        and speech is confirmed on its first speech-like frame to make up for it.
        """
        frame_ms = 30
        return cls(
            frame_duration_ms=frame_ms,
            start_threshold_db=21.0,
            stop_threshold_db=16.0,
            min_speech_frames=1,
            hangover_frames=300 // frame_ms,
        )


def _milliseconds(_: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"{attribute.name} must be a whole number of milliseconds >= 0, got {value!r}"
        )


@attrs.frozen
class TurnCommitConfig:
    """The operating point of :class:`TurnCommitPolicy`.

    Both times are counted from the VAD edge, which already includes the detector's hangover.

    Attributes:
        eot_hold_ms: extra silence after a speech end before the end of turn is committed;
            speech that resumes within it bridges the pause and no end is sent.  Raw edges end
            turns in mid-sentence pauses (about 21 % false ends on TurnBench); 800 ms brings that
            to about 9 %.
        min_interruption_ms: how long speech that starts while the model is speaking must last
            before it is committed as an interruption; shorter speech is a backchannel and is
            dropped.  1400 ms takes false barge-ins from about 70 % to about 6 %.

    Raises:
        ValueError: naming the field, if a time is negative or not an int.
    """

    eot_hold_ms: int = attrs.field(validator=_milliseconds)
    min_interruption_ms: int = attrs.field(validator=_milliseconds)

    @classmethod
    def immediate(cls) -> TurnCommitConfig:
        """No hold, no sustain (0 / 0): one signal per VAD edge, as it happens."""
        return cls(eot_hold_ms=0, min_interruption_ms=0)

    @classmethod
    def responsive(cls) -> TurnCommitConfig:
        """The default: 400 ms end-of-turn hold, 600 ms interruption sustain."""
        return cls(eot_hold_ms=400, min_interruption_ms=600)

    @classmethod
    def conversational(cls) -> TurnCommitConfig:
        """Few false commits (about 0.1 on TurnBench): 800 ms hold, 1400 ms sustain."""
        return cls(eot_hold_ms=800, min_interruption_ms=1400)
