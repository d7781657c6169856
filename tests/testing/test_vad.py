"""livehandle.testing._vad: the emulator's energy VAD, in audio time."""

from __future__ import annotations

import itertools

import attrs
import pytest
from hypothesis import given, settings, strategies as st

from livehandle.testing._vad import ServerVad, VadEdge
from livehandle.testing.audio import noise, silence, synth_voice

RATE = 16000


def voice(ms: float, *, level_dbfs: float = -16.0, seed: int | str = 0) -> bytes:
    return synth_voice(ms, sample_rate=RATE, level_dbfs=level_dbfs, seed=seed)


def feed_in_chunks(vad: ServerVad, pcm: bytes, chunk_bytes: int) -> list[VadEdge]:
    edges: list[VadEdge] = []
    for offset in range(0, len(pcm), chunk_bytes):
        edges += vad.feed(pcm[offset : offset + chunk_bytes])
    return edges


def start(at_ms: float) -> VadEdge:
    return VadEdge("start", at_ms)


def end(at_ms: float) -> VadEdge:
    return VadEdge("end", at_ms)


def test_speech_between_silences_starts_and_ends_at_the_speech_boundaries() -> None:
    vad = ServerVad(silence_duration_ms=800)
    edges = vad.feed(silence(500) + voice(1200) + silence(1000))
    assert edges == [start(500.0), end(1700.0)]
    assert vad.last_speech_ms == 1200.0
    assert vad.audio_ms == 2700.0
    assert not vad.speaking


def test_end_is_emitted_only_once_the_silence_duration_has_been_fed() -> None:
    vad = ServerVad(silence_duration_ms=800)
    assert vad.feed(silence(500)) == []
    assert vad.feed(voice(1200)) == [start(500.0)]
    assert vad.speaking
    assert vad.speech_started_at_ms == 500.0
    assert vad.feed(silence(780)) == []  # audio time 2480: only 780 ms of silence so far
    assert vad.speaking
    assert vad.feed(silence(20)) == [end(1700.0)]  # audio time 2500: 800 ms of silence
    assert not vad.speaking
    assert vad.speech_started_at_ms is None
    assert vad.feed(silence(500)) == []


def test_start_is_emitted_as_soon_as_the_first_speech_frame_is_complete() -> None:
    vad = ServerVad()
    assert vad.feed(silence(300) + voice(10)) == []
    assert vad.feed(voice(10, seed=1)) == [start(300.0)]


@pytest.mark.parametrize("start_sensitivity", ["HIGH", "LOW"])
@pytest.mark.parametrize("end_sensitivity", ["HIGH", "LOW"])
def test_noise_and_silence_never_start_speech(start_sensitivity, end_sensitivity) -> None:
    vad = ServerVad(start_sensitivity=start_sensitivity, end_sensitivity=end_sensitivity)
    assert vad.feed(noise(5000, level_dbfs=-60.0, seed=1)) == []
    assert vad.feed(silence(2000)) == []
    assert vad.feed(noise(5000, level_dbfs=-60.0, seed=2)) == []
    assert vad.flush() == []
    assert not vad.speaking


@pytest.mark.parametrize("start_sensitivity", ["HIGH", "LOW"])
@pytest.mark.parametrize("end_sensitivity", ["HIGH", "LOW"])
def test_default_level_voice_is_one_continuous_speech_for_every_sensitivity(
    start_sensitivity, end_sensitivity
) -> None:
    vad = ServerVad(start_sensitivity=start_sensitivity, end_sensitivity=end_sensitivity)
    edges = vad.feed(noise(400) + voice(6000, seed="long") + noise(1000))
    assert edges == [start(400.0), end(6400.0)]


def test_pause_shorter_than_silence_duration_does_not_split_the_turn() -> None:
    vad = ServerVad(silence_duration_ms=800)
    pcm = silence(200) + voice(600) + silence(700) + voice(600, seed=1) + silence(900)
    assert vad.feed(pcm) == [start(200.0), end(2100.0)]
    assert vad.last_speech_ms == 1900.0


def test_pause_of_the_silence_duration_splits_the_turn() -> None:
    vad = ServerVad(silence_duration_ms=500)
    pcm = silence(200) + voice(600) + silence(700) + voice(600, seed=1) + silence(900)
    assert vad.feed(pcm) == [start(200.0), end(800.0), start(1500.0), end(2100.0)]
    assert vad.last_speech_ms == 600.0


@pytest.mark.parametrize("click_at_ms", [300, 310])  # inside one frame, and across two
def test_prefix_padding_rejects_a_10_ms_click(click_at_ms: int) -> None:
    vad = ServerVad(prefix_padding_ms=100)
    pcm = silence(click_at_ms) + voice(10) + silence(1000)
    assert vad.feed(pcm) == []
    assert vad.flush() == []


def test_prefix_padding_still_dates_the_start_at_the_first_speech_frame() -> None:
    vad = ServerVad(prefix_padding_ms=100)
    assert vad.feed(silence(300) + voice(80)) == []  # 80 ms of speech: not committed yet
    assert vad.feed(voice(20, seed=1)) == [start(300.0)]


def test_prefix_padding_restarts_after_an_interruption() -> None:
    vad = ServerVad(prefix_padding_ms=100)
    pcm = silence(100) + voice(60) + silence(40) + voice(60, seed=1) + silence(100) + voice(200)
    assert vad.feed(pcm) == [start(360.0)]


def test_with_default_padding_a_single_loud_frame_starts_speech() -> None:
    vad = ServerVad()
    assert vad.feed(silence(300) + voice(20) + silence(1000)) == [start(300.0), end(320.0)]


def test_flush_ends_speech_at_the_current_audio_time() -> None:
    vad = ServerVad()
    assert vad.feed(silence(100) + voice(1000) + silence(310)) == [start(100.0)]
    assert vad.audio_ms == 1410.0  # includes the partial frame still buffered
    assert vad.flush() == [end(1410.0)]
    assert not vad.speaking
    assert vad.last_speech_ms == 1310.0
    assert vad.flush() == []


def test_flush_without_speech_forgets_an_uncommitted_start() -> None:
    vad = ServerVad(prefix_padding_ms=100)
    assert vad.feed(silence(100) + voice(60)) == []
    assert vad.flush() == []
    assert vad.feed(voice(60, seed=1) + silence(100)) == []  # the run started again at 160 ms


def test_after_flush_frames_start_at_the_current_audio_time() -> None:
    vad = ServerVad()
    vad.feed(silence(110) + b"\x01")  # 110 ms: 5 whole frames, half a frame and an odd byte
    assert vad.flush() == []
    assert vad.audio_ms == 110.0
    assert vad.feed(voice(20)) == [start(110.0)]


def test_audio_ms_counts_whole_samples_including_a_partial_frame() -> None:
    vad = ServerVad()
    assert vad.audio_ms == 0.0
    vad.feed(silence(15) + b"\x00")
    assert vad.audio_ms == 15.0
    vad.feed(b"\x00")
    assert vad.audio_ms == 15.0 + 1000 / RATE


def test_low_start_sensitivity_ignores_a_quieter_voice_that_high_detects() -> None:
    # Frame levels of this voice range from about -52 to -38 dBFS: above -45, never above -35.
    quiet = silence(300) + voice(2000, level_dbfs=-42.0, seed="quiet") + silence(1000)
    high = ServerVad(start_sensitivity="HIGH", end_sensitivity="LOW")
    assert high.feed(quiet) == [start(300.0), end(2300.0)]
    assert ServerVad(start_sensitivity="LOW", end_sensitivity="LOW").feed(quiet) == []
    assert ServerVad(start_sensitivity="LOW", end_sensitivity="HIGH").feed(quiet) == []


def test_low_end_sensitivity_keeps_a_quiet_tail_as_speech() -> None:
    # Continue thresholds with HIGH start sensitivity: -48 dBFS (end HIGH), -53 dBFS (end LOW).
    pcm = voice(500) + noise(1000, level_dbfs=-50.0) + silence(1000)
    assert ServerVad(end_sensitivity="HIGH").feed(pcm) == [start(0.0), end(500.0)]
    assert ServerVad(end_sensitivity="LOW").feed(pcm) == [start(0.0), end(1500.0)]


def test_thresholds_have_hysteresis() -> None:
    assert ServerVad().start_threshold_dbfs == -45.0
    assert ServerVad(start_sensitivity="LOW").start_threshold_dbfs == -35.0
    for start_sensitivity in ("HIGH", "LOW"):
        high = ServerVad(start_sensitivity=start_sensitivity, end_sensitivity="HIGH")
        low = ServerVad(start_sensitivity=start_sensitivity, end_sensitivity="LOW")
        assert low.continue_threshold_dbfs < high.continue_threshold_dbfs
        assert high.continue_threshold_dbfs < high.start_threshold_dbfs


def test_works_at_another_sample_rate() -> None:
    vad = ServerVad(sample_rate=24000, silence_duration_ms=300)
    pcm = synth_voice(500, sample_rate=24000) + silence(400, sample_rate=24000)
    assert vad.feed(silence(100, sample_rate=24000) + pcm) == [start(100.0), end(600.0)]


SCENE = (
    silence(200)
    + voice(500)
    + silence(400)
    + voice(10, seed="click")
    + silence(330)
    + voice(300, seed=2)
    + noise(250)
    + voice(170, seed=3)
    + b"\x05"
)
SCENE_EDGES = [start(200.0), end(700.0), start(1440.0)]  # the 10 ms click is too short


def scene_vad() -> ServerVad:
    return ServerVad(silence_duration_ms=300, prefix_padding_ms=40)


@pytest.mark.parametrize("chunk_bytes", [1, 7, 640, 3200, len(SCENE)])
def test_same_audio_in_different_chunkings_gives_identical_edges(chunk_bytes: int) -> None:
    vad = scene_vad()
    assert feed_in_chunks(vad, SCENE, chunk_bytes) == SCENE_EDGES
    assert vad.flush() == [end(2160.0)]


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(SCENE)), max_size=40))
def test_random_chunk_boundaries_give_identical_edges(cuts: list[int]) -> None:
    vad = scene_vad()
    bounds = [0, *sorted(cuts), len(SCENE)]
    edges: list[VadEdge] = []
    for lo, hi in itertools.pairwise(bounds):
        edges += vad.feed(SCENE[lo:hi])
    assert edges == SCENE_EDGES
    assert vad.flush() == [end(2160.0)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sample_rate": 0}, "sample_rate must be positive"),
        ({"frame_ms": 0}, "frame_ms must be positive"),
        ({"prefix_padding_ms": -1}, "prefix_padding_ms must be >= 0"),
        ({"silence_duration_ms": -5}, "silence_duration_ms must be >= 0"),
        ({"sample_rate": 10, "frame_ms": 20}, "shorter than one sample"),
        ({"start_sensitivity": "MEDIUM"}, "start_sensitivity"),
        ({"end_sensitivity": "high"}, "end_sensitivity"),
    ],
)
def test_bad_configuration_raises_value_error(kwargs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerVad(**kwargs)


def test_configuration_is_fixed_after_construction() -> None:
    vad = ServerVad()
    with pytest.raises(attrs.exceptions.FrozenAttributeError):
        vad.silence_duration_ms = 100
