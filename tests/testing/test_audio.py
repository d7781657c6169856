"""livehandle.testing.audio: deterministic generators, levels, chunking, WAV files, resampling."""

from __future__ import annotations

import itertools
import math
import struct
import wave
from array import array

import pytest

from livehandle.testing import audio
from livehandle.testing.audio import (
    chunked,
    duration_ms,
    noise,
    read_wav,
    rms_dbfs,
    silence,
    synth_voice,
    to_mono_16k,
    write_wav,
)


def samples(pcm: bytes) -> array[int]:
    out = array("h")
    out.frombytes(pcm)
    return out


def frame_levels(pcm: bytes, sample_rate: int, frame_ms: float = 20) -> list[float]:
    return [rms_dbfs(c) for c in chunked(pcm, frame_ms, sample_rate=sample_rate)]


def interleave(left: bytes, right: bytes) -> bytes:
    out = array("h", bytes(len(left) * 2))
    out[0::2] = samples(left)
    out[1::2] = samples(right)
    return out.tobytes()


def write_stereo_wav(path: str, pcm: bytes, sample_rate: int) -> None:
    with wave.open(path, "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(pcm)


def test_all_lists_every_public_function() -> None:
    assert sorted(audio.__all__) == audio.__all__
    assert all(callable(getattr(audio, name)) for name in audio.__all__)


# synth_voice


def test_synth_voice_same_arguments_give_identical_bytes() -> None:
    first = synth_voice(1500, sample_rate=16000, seed="hello", level_dbfs=-20)
    second = synth_voice(1500, sample_rate=16000, seed="hello", level_dbfs=-20)
    assert first == second


@pytest.mark.parametrize(("seed_a", "seed_b"), [(0, 1), ("alice", "bob"), (7, "7")])
def test_synth_voice_different_seeds_give_different_audio(
    seed_a: int | str, seed_b: int | str
) -> None:
    assert synth_voice(500, seed=seed_a) != synth_voice(500, seed=seed_b)


@pytest.mark.parametrize(
    ("ms", "rate", "expected"),
    [
        (0, 24000, 0),
        (1000, 24000, 24000),
        (1000, 16000, 16000),
        (20, 16000, 320),
        (10.03, 16000, 160),
        (33.3, 44100, 1469),
        (12345, 24000, 296280),
    ],
)
def test_synth_voice_has_exactly_the_rounded_sample_count(
    ms: float, rate: int, expected: int
) -> None:
    pcm = synth_voice(ms, sample_rate=rate)
    assert len(pcm) == 2 * expected == 2 * round(ms * rate / 1000)


@pytest.mark.parametrize("level", [-16.0, -26.0, -42.0, -55.0])
@pytest.mark.parametrize("rate", [16000, 24000])
@pytest.mark.parametrize("seed", [0, 3, "speaker"])
def test_synth_voice_level_matches_level_dbfs(level: float, rate: int, seed: int | str) -> None:
    assert rms_dbfs(synth_voice(2000, sample_rate=rate, level_dbfs=level, seed=seed)) == (
        pytest.approx(level, abs=1.5)
    )


def test_synth_voice_level_holds_for_short_clips() -> None:
    for ms in (20, 55, 130, 333):
        assert rms_dbfs(synth_voice(ms, seed=ms)) == pytest.approx(-16.0, abs=1.5)


@pytest.mark.parametrize("seed", range(6))
def test_synth_voice_never_falls_silent_but_has_a_syllable_envelope(seed: int) -> None:
    levels = frame_levels(synth_voice(4000, sample_rate=16000, seed=seed), 16000)
    assert min(levels) > -30.0  # well above every VAD threshold at the default level
    assert max(levels) - min(levels) > 8.0  # not a steady tone: the envelope swings


def test_synth_voice_at_full_level_clips_instead_of_wrapping() -> None:
    values = samples(synth_voice(500, level_dbfs=0.0))
    assert max(values) <= 32767
    assert min(values) >= -32768
    assert rms_dbfs(synth_voice(500, level_dbfs=0.0)) > -4.0


def test_synth_voice_fundamental_is_in_the_voice_range() -> None:
    values = samples(synth_voice(1000, sample_rate=16000, seed=1))
    crossings = sum(1 for a, b in itertools.pairwise(values) if a < 0 <= b)
    # upward zero crossings per second: at least the fundamental, not a hiss
    assert 80 <= crossings <= 1000


# silence and noise


def test_silence_is_all_zero_with_the_rounded_length() -> None:
    assert silence(250) == bytes(2 * 4000)
    assert silence(250, sample_rate=24000) == bytes(2 * 6000)
    assert silence(0) == b""
    assert rms_dbfs(silence(100)) == -math.inf


def test_noise_is_deterministic_and_seeded() -> None:
    assert noise(300, seed=5) == noise(300, seed=5)
    assert noise(300, seed=5) != noise(300, seed=6)
    assert len(noise(300, sample_rate=24000)) == 2 * 7200


@pytest.mark.parametrize("level", [-60.0, -50.0, -70.0])
def test_noise_level_matches_level_dbfs_in_every_frame(level: float) -> None:
    pcm = noise(3000, level_dbfs=level, seed=2)
    assert rms_dbfs(pcm) == pytest.approx(level, abs=1.0)
    assert max(frame_levels(pcm, 16000)) < level + 2.0


# duration_ms, chunked, rms_dbfs


def test_duration_ms_counts_samples() -> None:
    assert duration_ms(bytes(32000), sample_rate=16000) == 1000.0
    assert duration_ms(bytes(960), sample_rate=24000) == 20.0
    assert duration_ms(b"", sample_rate=16000) == 0.0


def test_chunked_splits_into_whole_samples_and_joins_back() -> None:
    pcm = synth_voice(1010, sample_rate=16000)
    chunks = chunked(pcm, 100, sample_rate=16000)
    assert b"".join(chunks) == pcm
    assert [len(c) for c in chunks] == [3200] * 10 + [320]


def test_chunked_fractional_chunk_sizes_do_not_drift() -> None:
    pcm = silence(1000, sample_rate=22050)  # 10 ms = 220.5 samples
    chunks = chunked(pcm, 10, sample_rate=22050)
    assert len(chunks) == 100
    assert {len(c) // 2 for c in chunks} == {220, 221}
    assert b"".join(chunks) == pcm


def test_chunked_empty_input_gives_no_chunks() -> None:
    assert chunked(b"", 20, sample_rate=16000) == []


def test_rms_dbfs_of_known_signals() -> None:
    full_square = array("h", [32767, -32768] * 100).tobytes()
    assert rms_dbfs(full_square) == pytest.approx(0.0, abs=0.01)
    tenth = array("h", [3277, -3277] * 100).tobytes()
    assert rms_dbfs(tenth) == pytest.approx(-20.0, abs=0.01)
    sine = array("h", [round(32767 * math.sin(2 * math.pi * i / 64)) for i in range(6400)])
    assert rms_dbfs(sine.tobytes()) == pytest.approx(-3.01, abs=0.02)
    assert rms_dbfs(b"") == -math.inf


# WAV files and resampling


def test_wav_round_trip_keeps_samples_and_rate(tmp_path) -> None:
    pcm = synth_voice(750, sample_rate=24000, seed="wav")
    path = tmp_path / "voice.wav"
    write_wav(path, pcm, sample_rate=24000)
    assert read_wav(path) == (pcm, 24000, 1)
    assert read_wav(str(path)) == (pcm, 24000, 1)


def test_stereo_44k_wav_converts_to_mono_16k_of_right_length_and_level(tmp_path) -> None:
    voice = synth_voice(1500, sample_rate=44100, seed="stereo", level_dbfs=-20)
    path = tmp_path / "stereo.wav"
    write_stereo_wav(str(path), interleave(voice, voice), 44100)

    pcm, rate, channels = read_wav(path)
    assert (rate, channels) == (44100, 2)
    assert len(pcm) == 4 * len(voice) // 2
    mono = to_mono_16k(pcm, rate, channels)
    assert len(mono) == 2 * round(len(voice) // 2 * 16000 / 44100) == 2 * 24000
    assert rms_dbfs(mono) == pytest.approx(-20.0, abs=1.0)


def test_downmix_averages_channels() -> None:
    voice = synth_voice(500, sample_rate=16000, level_dbfs=-20)
    mono = to_mono_16k(interleave(voice, silence(500)), 16000, 2)
    assert len(mono) == len(voice)
    assert rms_dbfs(mono) == pytest.approx(-26.02, abs=0.1)  # half the amplitude
    assert to_mono_16k(interleave(voice, voice), 16000, 2) == voice


def test_to_mono_16k_interpolates_linearly() -> None:
    ramp = array("h", [0, 100, 200, 300]).tobytes()
    assert samples(to_mono_16k(ramp, 8000, 1)) == array("h", [0, 50, 100, 150, 200, 250, 300, 300])
    assert to_mono_16k(ramp, 16000, 1) == ramp
    down = samples(to_mono_16k(array("h", range(0, 4800, 10)).tobytes(), 48000, 1))
    assert down == array("h", range(0, 4800, 30))
    assert to_mono_16k(b"", 44100, 2) == b""


def test_to_mono_16k_accepts_another_target_rate() -> None:
    pcm = to_mono_16k(silence(1000, sample_rate=44100), 44100, 1, target_rate=24000)
    assert len(pcm) == 2 * 24000


def test_read_wav_rejects_a_file_that_is_not_a_wav(tmp_path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("this is not audio, just some text that is long enough")
    with pytest.raises(ValueError, match=r"not a WAV file \(it does not start with RIFF"):
        read_wav(path)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="not a WAV file"):
        read_wav(empty)


def test_read_wav_reads_8_bit_samples_written_by_the_stdlib(tmp_path) -> None:
    path = tmp_path / "u8.wav"
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(1)
        writer.setframerate(8000)
        writer.writeframes(bytes(range(256)))
    pcm, rate, channels = read_wav(path)
    assert (rate, channels, len(pcm)) == (8000, 1, 512)
    assert pcm[:4] == struct.pack("<2h", -32768, -32512)


def test_read_wav_reads_floating_point_wav(tmp_path) -> None:
    data = struct.pack("<4f", 0.0, 0.5, -0.5, 0.25)
    fmt = struct.pack("<HHIIHH", 3, 1, 16000, 64000, 4, 32)  # format 3 = IEEE float
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    path = tmp_path / "float.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    assert read_wav(path) == (struct.pack("<4h", 0, 16384, -16384, 8192), 16000, 1)


# bad input


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: synth_voice(-1), "duration_ms must be a finite number >= 0"),
        (lambda: synth_voice(math.nan), "duration_ms must be a finite number >= 0"),
        (lambda: synth_voice(10, sample_rate=0), "sample_rate must be positive"),
        (lambda: synth_voice(10, level_dbfs=3), "level_dbfs must be a finite number <= 0"),
        (lambda: silence(-5), "duration_ms must be a finite number >= 0"),
        (lambda: silence(5, sample_rate=-16000), "sample_rate must be positive"),
        (lambda: noise(-5), "duration_ms must be a finite number >= 0"),
        (lambda: noise(5, level_dbfs=math.inf), "level_dbfs must be a finite number <= 0"),
        (lambda: duration_ms(b"\x00", sample_rate=16000), "whole samples: 1 bytes"),
        (lambda: duration_ms(b"\x00\x00", sample_rate=0), "sample_rate must be positive"),
        (lambda: chunked(b"\x00" * 3, 20, sample_rate=16000), "whole samples"),
        (lambda: chunked(b"\x00" * 4, 0.01, sample_rate=16000), "at least one sample"),
        (lambda: chunked(b"\x00" * 4, -20, sample_rate=16000), "at least one sample"),
        (lambda: rms_dbfs(b"\x00" * 5), "whole samples"),
        (lambda: write_wav("unused.wav", b"\x00", sample_rate=16000), "whole samples"),
        (lambda: write_wav("unused.wav", b"", sample_rate=0), "sample_rate must be positive"),
        (lambda: to_mono_16k(b"\x00" * 6, 16000, 2), "multiple of 4 .one 2-channel frame"),
        (lambda: to_mono_16k(b"", 16000, 0), "channels must be positive"),
        (lambda: to_mono_16k(b"", 0, 1), "sample_rate must be positive"),
        (lambda: to_mono_16k(b"", 16000, 1, target_rate=0), "target_rate must be positive"),
    ],
)
def test_bad_input_raises_value_error_with_the_reason(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
