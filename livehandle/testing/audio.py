"""Deterministic PCM16 audio helpers for tests, demos and the Live API emulator.

Everything here works on raw PCM16 audio: signed 16-bit little-endian samples, mono unless a
function says otherwise, held in :class:`bytes`.  Levels are in dBFS relative to a full scale of
32768, so a full-scale square wave is 0 dBFS and a full-scale sine about -3 dBFS.

The generators are deterministic: the same arguments always give the same bytes, so tests that
feed generated audio through the emulator's voice activity detector get the same edges on every
run.  They are written in pure Python (no numpy, no ``audioop``) and avoid per-sample Python
arithmetic where they can, building short tables with :mod:`array` and tiling them.

Bad arguments (negative or non-finite durations, non-positive sample rates, PCM with an odd number
of bytes where whole samples are needed) raise :class:`ValueError` saying what was wrong.
"""

from __future__ import annotations

import hashlib
import math
import operator
import os
import random
import sys
import wave
from array import array

from livehandle.testing._mark import embed as embed_mark, mark_bits
from livehandle.testing._wav import parse_wav

__all__ = [
    "chunked",
    "duration_ms",
    "load_wav",
    "noise",
    "read_wav",
    "rms_dbfs",
    "silence",
    "speech",
    "synth_voice",
    "to_mono_16k",
    "write_wav",
]

_FULL_SCALE = 32768.0
_MIN_SAMPLE = -32768
_MAX_SAMPLE = 32767
_BIG_ENDIAN = sys.byteorder == "big"

# synth_voice: number of harmonics of the fundamental, and the envelope quantisation (levels per
# unit of amplitude; one scaled copy of the period table is built per level actually used).
_HARMONICS = 8
_ENVELOPE_STEPS = 64
# noise: size of the table of Gaussian values that random indices pick from.
_NOISE_TABLE_BITS = 12


def _check_rate(sample_rate: int, name: str = "sample_rate") -> None:
    if sample_rate <= 0:
        raise ValueError(f"{name} must be positive, got {sample_rate}")


def _check_duration(value: float, name: str = "duration_ms") -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")


def _check_level(level_dbfs: float) -> None:
    if not math.isfinite(level_dbfs) or level_dbfs > 0:
        raise ValueError(f"level_dbfs must be a finite number <= 0, got {level_dbfs}")


def _check_whole_samples(pcm: bytes, channels: int = 1) -> None:
    frame_bytes = 2 * channels
    if len(pcm) % frame_bytes:
        what = "sample" if channels == 1 else f"{channels}-channel frame"
        raise ValueError(
            f"PCM16 data must hold whole samples: {len(pcm)} bytes is not a multiple of "
            f"{frame_bytes} (one {what})"
        )


def _sample_count(duration: float, sample_rate: int) -> int:
    return round(duration * sample_rate / 1000)


def _to_samples(pcm: bytes) -> array[int]:
    """Little-endian PCM16 bytes to an array of ints (length must already be even)."""
    samples = array("h")
    samples.frombytes(pcm)
    if _BIG_ENDIAN:
        samples.byteswap()
    return samples


def _to_bytes(samples: array[int]) -> bytes:
    """An array('h') to little-endian PCM16 bytes."""
    if _BIG_ENDIAN:
        samples = array("h", samples)
        samples.byteswap()
    return samples.tobytes()


def _swap_if_big_endian(pcm: bytes) -> bytes:
    """Convert between little-endian and native byte order (the stdlib wave module is native)."""
    if not _BIG_ENDIAN:
        return pcm
    samples = array("h")
    samples.frombytes(pcm)
    samples.byteswap()
    return samples.tobytes()


def _clamp(value: int) -> int:
    return _MIN_SAMPLE if value < _MIN_SAMPLE else _MAX_SAMPLE if value > _MAX_SAMPLE else value


def _seed_bytes(seed: int | str) -> bytes:
    text = f"{type(seed).__name__}:{seed}"
    return hashlib.blake2b(text.encode("utf-8"), digest_size=32).digest()


def synth_voice(
    duration_ms: float,
    *,
    sample_rate: int = 24000,
    seed: int | str = 0,
    level_dbfs: float = -16.0,
) -> bytes:
    """A deterministic, speech-like voiced signal.

    The signal is a steady "vowel": eight harmonics of a fundamental between 95 and 230 Hz with
    falling amplitudes and fixed phases, under a syllable-rate amplitude envelope (a 3-5 Hz
    sinusoid plus a slower one) that swings between 20 % and 100 % of its peak and never reaches
    zero, so an energy-based voice activity detector sees one continuous stretch of speech.  The
    fundamental, the harmonic weights and phases and the envelope rate and phases all come from a
    BLAKE2 hash of ``seed``, so different seeds sound like different voices and the same seed
    always gives the same bytes.

    How it stays fast in pure Python: the fundamental is rounded so one period is a whole number
    of samples, and that single period is computed once.  The envelope is evaluated once per
    period (not per sample) and quantised to 1/64 steps; one scaled copy of the period table is
    built per step actually used, and the output is those tables concatenated and cut to length.
    The level is exact by construction: the mean square of the period and of the quantised
    envelope are known before any sample is written, so the tables are scaled to hit
    ``level_dbfs`` (up to int16 rounding, and clipping if the level is near 0 dBFS).

    Args:
        duration_ms: length in milliseconds; the result has exactly
            ``round(duration_ms * sample_rate / 1000)`` samples.
        sample_rate: samples per second (24000 for model audio, 16000 for user speech).
        seed: picks the voice; any int or str.
        level_dbfs: RMS level of the whole result, in dBFS (at most 0).

    Returns:
        PCM16 little-endian mono bytes.

    Raises:
        ValueError: if the duration is negative, the sample rate not positive or the level above
            0 dBFS.
    """
    _check_duration(duration_ms)
    _check_rate(sample_rate)
    _check_level(level_dbfs)
    total = _sample_count(duration_ms, sample_rate)
    if total == 0:
        return b""
    digest = _seed_bytes(seed)

    # One period of the harmonic waveform.
    f0 = 95.0 + 135.0 * int.from_bytes(digest[0:2], "little") / 65535
    period = max(4, round(sample_rate / f0))
    harmonics = [
        (k, (0.55 + 0.9 * digest[4 + k] / 255) / k, 2 * math.pi * digest[14 + k] / 255)
        for k in range(1, _HARMONICS + 1)
        if 2 * k < period  # keep every harmonic below the Nyquist frequency
    ]
    step = 2 * math.pi / period
    wave_period = [
        sum(a * math.sin(k * step * i + phase) for k, a, phase in harmonics) for i in range(period)
    ]
    period_mean_square = math.fsum(v * v for v in wave_period) / period

    # The envelope, one quantised value per period (the last period may be cut short).
    rate1 = 3.0 + 2.0 * digest[2] / 255
    rate2 = rate1 * 0.37
    phase1 = 2 * math.pi * digest[3] / 255
    phase2 = 2 * math.pi * digest[24] / 255
    blocks = -(-total // period)
    levels: list[int] = []
    env_energy = 0.0
    for b in range(blocks):
        t = (b + 0.5) * period / sample_rate
        env = (
            0.6
            + 0.25 * math.sin(2 * math.pi * rate1 * t + phase1)
            + 0.15 * math.sin(2 * math.pi * rate2 * t + phase2)
        )
        q = round(env * _ENVELOPE_STEPS)
        levels.append(q)
        length = min(period, total - b * period)
        env_energy += (q / _ENVELOPE_STEPS) ** 2 * length
    env_mean_square = env_energy / total

    target_rms = _FULL_SCALE * 10 ** (level_dbfs / 20)
    scale = target_rms / math.sqrt(period_mean_square * env_mean_square) / _ENVELOPE_STEPS
    tables: dict[int, array[int]] = {}
    out = array("h")
    for q in levels:
        table = tables.get(q)
        if table is None:
            gain = scale * q
            table = tables[q] = array("h", [_clamp(round(gain * v)) for v in wave_period])
        out += table
    del out[total:]
    return _to_bytes(out)


#: speech(): milliseconds of voice per character of text (about 14 characters a second), the
#: shortest voiced part, and the default silence after it (the emulator's VAD ends a turn after
#: 800 ms of silence by default).
_SPEECH_MS_PER_CHAR = 70
_SPEECH_MIN_MS = 500
_SPEECH_SILENCE_MS = 1000


def speech(
    text: str,
    rate: int = 16000,
    *,
    silence_ms: float = _SPEECH_SILENCE_MS,
    level_dbfs: float = -16.0,
) -> bytes:
    """Speech-like audio that the emulator hears as ``text``: one user turn, ready to send.

    The result is :func:`synth_voice` (voice chosen by ``text``) lasting 70 ms per character of
    ``text`` (at least 500 ms), followed by ``silence_ms`` of digital silence, so that the
    emulator's server VAD (:class:`~livehandle.testing.ServerVad`, at its default settings) sees
    one speech turn that starts with the voice and ends in the silence.

    The emulator cannot recognise words, so the text travels inside the audio: it is written
    into the lowest bit of the first samples of the voice (a *speech mark*: a sync word, the
    UTF-8 length and bytes, a CRC-32), which moves no sample by more than one step (-90 dBFS).
    The emulator scans all the audio it receives for marks, however the audio is chunked, and
    uses the text found as the transcript of the next speech turn: the
    ``inputTranscription`` it sends, the text a ``When(text=..., kind="speech")`` rule is matched
    against, and ``{user_text}`` in the reply.  A mark takes precedence over
    :meth:`~livehandle.testing.LiveEmulator.queue_transcript` (whose queue it leaves as it
    is); marks found before one turn ends are joined with spaces.

    The mark survives only if the samples reach the emulator unchanged: send the bytes as they
    are (any chunking), at 16 kHz.  Audio made at another ``rate`` carries the mark too, but it
    does not survive resampling; for such audio queue the transcript instead.

    Args:
        text: what the speech "says"; 1 to 4096 bytes of UTF-8.
        rate: samples per second (16000, the Live API's input rate, for the emulator to hear
            the text).
        silence_ms: digital silence after the voice; use more than the VAD's
            ``silence_duration_ms`` (800 ms by default) for the turn to end.
        level_dbfs: RMS level of the voice in dBFS.

    Returns:
        PCM16 little-endian mono bytes: ``round(max(500, 70 * len(text)) * rate / 1000)`` voiced
        samples (more at rates so low that the mark would not fit), then the silence.

    Raises:
        ValueError: if the text is empty or too long, the rate not positive, the silence
            negative or the level above 0 dBFS.
    """
    _check_rate(rate, "rate")
    _check_duration(silence_ms, "silence_ms")
    needed = mark_bits(text)  # validates the text
    # At very low rates the mark (one bit per sample) may need more samples than the text's time.
    voiced_ms: float = max(
        _SPEECH_MIN_MS, _SPEECH_MS_PER_CHAR * len(text), 1000 * needed / rate + 1
    )
    voice = synth_voice(voiced_ms, sample_rate=rate, seed=text, level_dbfs=level_dbfs)
    return embed_mark(voice, text) + silence(silence_ms, sample_rate=rate)


def silence(duration_ms: float, *, sample_rate: int = 16000) -> bytes:
    """Digital silence (all-zero samples).

    Args:
        duration_ms: length in milliseconds; ``round(duration_ms * sample_rate / 1000)`` samples.
        sample_rate: samples per second.

    Returns:
        PCM16 little-endian mono bytes, all zero.

    Raises:
        ValueError: if the duration is negative or the sample rate not positive.
    """
    _check_duration(duration_ms)
    _check_rate(sample_rate)
    return bytes(2 * _sample_count(duration_ms, sample_rate))


def noise(
    duration_ms: float,
    *,
    sample_rate: int = 16000,
    level_dbfs: float = -60.0,
    seed: int = 0,
) -> bytes:
    """Deterministic low-level Gaussian background noise.

    A table of 4096 Gaussian values is drawn from ``random.Random(seed)`` and normalised to the
    requested RMS level; each output sample is a table entry picked by random bytes from the same
    generator.  The level of any stretch longer than a few milliseconds is within a fraction of a
    dB of ``level_dbfs``.  At the default -60 dBFS it stays well below every threshold of
    :class:`livehandle.testing.ServerVad`.

    Args:
        duration_ms: length in milliseconds; ``round(duration_ms * sample_rate / 1000)`` samples.
        sample_rate: samples per second.
        level_dbfs: RMS level in dBFS (at most 0).
        seed: the random seed; the same seed gives the same bytes.

    Returns:
        PCM16 little-endian mono bytes.

    Raises:
        ValueError: if the duration is negative, the sample rate not positive or the level above
            0 dBFS.
    """
    _check_duration(duration_ms)
    _check_rate(sample_rate)
    _check_level(level_dbfs)
    total = _sample_count(duration_ms, sample_rate)
    rng = random.Random(seed)
    size = 1 << _NOISE_TABLE_BITS
    raw = [rng.gauss(0.0, 1.0) for _ in range(size)]
    rms = math.sqrt(math.fsum(v * v for v in raw) / size)
    gain = _FULL_SCALE * 10 ** (level_dbfs / 20) / rms
    table = [_clamp(round(gain * v)) for v in raw]
    picks = array("H")
    picks.frombytes(rng.randbytes(2 * total))
    if _BIG_ENDIAN:
        picks.byteswap()
    mask = size - 1
    return _to_bytes(array("h", [table[i & mask] for i in picks]))


def duration_ms(pcm: bytes, *, sample_rate: int) -> float:
    """The duration of mono PCM16 audio in milliseconds.

    Args:
        pcm: PCM16 mono bytes.
        sample_rate: samples per second.

    Returns:
        ``len(pcm) / 2 / sample_rate * 1000``.

    Raises:
        ValueError: if ``pcm`` has an odd number of bytes or the sample rate is not positive.
    """
    _check_rate(sample_rate)
    _check_whole_samples(pcm)
    return len(pcm) // 2 * 1000 / sample_rate


def chunked(pcm: bytes, chunk_ms: float, *, sample_rate: int) -> list[bytes]:
    """Split mono PCM16 audio into consecutive chunks of ``chunk_ms`` milliseconds.

    Chunk boundaries are at ``round(i * chunk_ms * sample_rate / 1000)`` samples, so when a chunk
    is not a whole number of samples the sizes alternate and never drift.  No sample is split; the
    last chunk may be shorter.  Joining the chunks gives back ``pcm``.

    Args:
        pcm: PCM16 mono bytes.
        chunk_ms: chunk length in milliseconds; must be at least one sample.
        sample_rate: samples per second.

    Returns:
        The chunks in order (an empty list for empty input).

    Raises:
        ValueError: if ``pcm`` has an odd number of bytes, the sample rate is not positive or a
            chunk would be shorter than one sample.
    """
    _check_rate(sample_rate)
    _check_whole_samples(pcm)
    per_chunk = chunk_ms * sample_rate / 1000 if math.isfinite(chunk_ms) else 0.0
    if per_chunk < 1:
        raise ValueError(
            f"chunk_ms must be at least one sample ({1000 / sample_rate:g} ms at "
            f"{sample_rate} Hz), got {chunk_ms}"
        )
    total = len(pcm) // 2
    chunks: list[bytes] = []
    index = 0
    start = 0
    while start < total:
        index += 1
        end = min(total, round(index * per_chunk))
        chunks.append(pcm[2 * start : 2 * end])
        start = end
    return chunks


def rms_dbfs(pcm: bytes) -> float:
    """The RMS level of PCM16 audio in dBFS (full scale 32768).

    Args:
        pcm: PCM16 bytes (any channel count; all samples are pooled).

    Returns:
        ``20 * log10(rms / 32768)``, or ``-math.inf`` for empty or all-zero input.

    Raises:
        ValueError: if ``pcm`` has an odd number of bytes.
    """
    _check_whole_samples(pcm)
    if not pcm:
        return -math.inf
    samples = _to_samples(pcm)
    energy = sum(map(operator.mul, samples, samples))
    if energy == 0:
        return -math.inf
    return 20 * math.log10(math.sqrt(energy / len(samples)) / _FULL_SCALE)


def read_wav(path: str | os.PathLike[str]) -> tuple[bytes, int, int]:
    """Read a WAV file as PCM16, whatever its common encoding.

    Reads integer PCM of 8, 16, 24 or 32 bits and IEEE float of 32 or 64 bits, plain or in
    ``WAVE_FORMAT_EXTENSIBLE`` (what sox and ffmpeg write for more than two channels or more than
    16 bits), any sample rate and channel count, in pure Python.  Samples wider than 16 bits keep
    their top 16 bits; float samples are clipped to [-1, 1] and scaled by 32767.  Chunks other than
    ``fmt`` and ``data`` are skipped; a partial last frame is dropped.  :func:`load_wav` also
    converts the result to 16 kHz mono.

    Args:
        path: the file to read.

    Returns:
        ``(pcm, sample_rate, channels)``: the little-endian PCM16 sample data (channels
        interleaved), the sample rate in Hz and the channel count.

    Raises:
        ValueError: if the file is not a WAV file, is truncated, or uses another encoding
            (compressed formats such as ADPCM, mu-law or MP3); the message names the file, the
            encoding and what is supported.
        OSError: if the file cannot be opened.
    """
    name = os.fspath(path)
    with open(name, "rb") as file:
        data = file.read()
    return parse_wav(data, name)


def load_wav(path: str | os.PathLike[str]) -> bytes:
    """Read any common WAV file as Live API input: 16 kHz mono PCM16.

    :func:`read_wav` followed by :func:`to_mono_16k` (channels averaged, linear resampling), so
    the result can go straight to :meth:`~livehandle.LiveHandle.send_audio` or be cut into
    microphone chunks with :func:`chunked`.

    Args:
        path: the file to read.

    Returns:
        PCM16 little-endian mono bytes at 16000 Hz.

    Raises:
        ValueError: as :func:`read_wav`.
        OSError: if the file cannot be opened.
    """
    pcm, sample_rate, channels = read_wav(path)
    return to_mono_16k(pcm, sample_rate, channels)


def write_wav(path: str | os.PathLike[str], pcm: bytes, *, sample_rate: int) -> None:
    """Write mono PCM16 audio to a WAV file (16-bit PCM, one channel).

    Args:
        path: the file to create or overwrite.
        pcm: PCM16 little-endian mono bytes.
        sample_rate: samples per second.

    Raises:
        ValueError: if ``pcm`` has an odd number of bytes or the sample rate is not positive.
        OSError: if the file cannot be written.
    """
    _check_rate(sample_rate)
    _check_whole_samples(pcm)
    with wave.open(os.fspath(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(_swap_if_big_endian(pcm))


def to_mono_16k(pcm: bytes, sample_rate: int, channels: int, *, target_rate: int = 16000) -> bytes:
    """Downmix PCM16 audio to mono and resample it, e.g. a WAV file to Live API input.

    Channels are averaged (rounded to the nearest integer).  Resampling is linear interpolation
    between neighbouring input samples in exact integer arithmetic, with no anti-aliasing filter:
    good enough for speech test fixtures, not for hi-fi.  The output has
    ``round(frames * target_rate / sample_rate)`` samples, where output sample ``j`` sits at
    input position ``j * sample_rate / target_rate``.

    Args:
        pcm: PCM16 little-endian bytes, channels interleaved.
        sample_rate: the input's samples per second.
        channels: the input's channel count.
        target_rate: the output's samples per second.

    Returns:
        PCM16 little-endian mono bytes at ``target_rate``.

    Raises:
        ValueError: if a rate or the channel count is not positive, or ``pcm`` does not hold a
            whole number of frames.
    """
    _check_rate(sample_rate)
    _check_rate(target_rate, "target_rate")
    if channels <= 0:
        raise ValueError(f"channels must be positive, got {channels}")
    _check_whole_samples(pcm, channels)
    samples = _to_samples(pcm)
    if channels == 1:
        mono: list[int] | array[int] = samples
    else:
        half = channels // 2
        columns = [samples[c::channels] for c in range(channels)]
        mono = [(total + half) // channels for total in map(sum, zip(*columns, strict=True))]
    if sample_rate == target_rate:
        return _to_bytes(array("h", mono))
    count = len(mono)
    out_count = round(count * target_rate / sample_rate)
    if count == 0 or out_count == 0:
        return b""
    common = math.gcd(sample_rate, target_rate)
    step_in = sample_rate // common
    step_out = target_rate // common
    rounding = step_out // 2
    padded = list(mono)
    padded += (padded[-1], padded[-1])  # the last output samples may look one sample past the end
    out = [
        (padded[i] * (step_out - frac) + padded[i + 1] * frac + rounding) // step_out
        for i, frac in (divmod(j * step_in, step_out) for j in range(out_count))
    ]
    return _to_bytes(array("h", out))
