"""livehandle._runtime.vad: the client-side input VAD and the turn-commit policy."""

from __future__ import annotations

import json
import math
import sys
from array import array

import attrs
import pytest
from hypothesis import given, settings, strategies as st

from livehandle._config.voice import (
    TurnCommitConfig,
    VadConfig,
)
from livehandle._runtime.turn_commit import (
    TurnCommitPolicy,
    TurnSignal,
)
from livehandle._runtime.vad import (
    BackendInputVad,
    BackendVadSnapshot,
    VadEvent,
    VadState,
)
from livehandle.testing.audio import noise, synth_voice

RATE = 16000
FRAME_MS = 30
FRAME = 480  # samples per 30 ms frame at 16 kHz
FRAME_BYTES = 2 * FRAME

START = VadEvent.SPEECH_START
END = VadEvent.SPEECH_END


# -- audio helpers --------------------------------------------------------------------------------


def frames(count: int) -> float:
    """Milliseconds of ``count`` whole frames."""
    return count * FRAME_MS


def voice(ms: float, *, seed: int = 0, level_dbfs: float = -16.0) -> bytes:
    # Seed 0's fundamental gives a zero-crossing rate of about 0.035, inside the default range.
    return synth_voice(ms, sample_rate=RATE, seed=seed, level_dbfs=level_dbfs)


def background(ms: float, *, seed: int = 1, level_dbfs: float = -60.0) -> bytes:
    return noise(ms, sample_rate=RATE, level_dbfs=level_dbfs, seed=seed)


def tone(freq_hz: float, ms: float, *, level_dbfs: float = -20.0) -> bytes:
    count = round(ms * RATE / 1000)
    peak = 32768 * 10 ** (level_dbfs / 20) * math.sqrt(2)
    samples = array(
        "h", [round(peak * math.sin(2 * math.pi * freq_hz * i / RATE)) for i in range(count)]
    )
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return self.now


def new_vad(config: VadConfig | None = None) -> BackendInputVad:
    return BackendInputVad(config, clock=FakeClock())


def events_by_frame(vad: BackendInputVad, pcm: bytes) -> list[tuple[int, VadEvent]]:
    """Feed ``pcm`` one frame at a time; each edge with the index of the frame that produced it."""
    assert len(pcm) % FRAME_BYTES == 0
    found: list[tuple[int, VadEvent]] = []
    for index in range(len(pcm) // FRAME_BYTES):
        events = vad.process(pcm[index * FRAME_BYTES : (index + 1) * FRAME_BYTES])
        found.extend((index, event) for event in events)
    return found


# 300 ms (10 frames) of quiet noise, 990 ms (33 frames) of voice, 600 ms (20 frames) of noise.
LEAD = 10
SPOKEN = 33
SCENE = background(frames(LEAD)) + voice(frames(SPOKEN)) + background(frames(20), seed=2)


# -- VadConfig ------------------------------------------------------------------------------------


def test_default_config_is_the_backend_default():
    config = VadConfig()
    assert attrs.asdict(config) == {
        "sample_rate": 16000,
        "frame_duration_ms": 30,
        "start_threshold_db": 15.0,
        "stop_threshold_db": 10.0,
        "min_speech_frames": 2,
        "hangover_frames": 8,
        "zcr_range": (0.02, 0.5),
        "initial_noise_floor_db": -60.0,
        "pre_speech_frames": 3,
    }
    assert config.frame_size == 480


def test_frame_size_follows_rate_and_duration():
    assert VadConfig(sample_rate=24000, frame_duration_ms=20).frame_size == 480
    assert VadConfig(sample_rate=8000, frame_duration_ms=10).frame_size == 80
    assert VadConfig(sample_rate=44100, frame_duration_ms=10).frame_size == 441


def test_noisy_street_preset():
    config = VadConfig.noisy_street()
    assert config.start_threshold_db == 21.0
    assert config.stop_threshold_db == 16.0
    assert config.min_speech_frames == 1
    assert config.hangover_frames == 10
    assert config.hangover_frames * config.frame_duration_ms == 300
    assert config.sample_rate == 16000
    assert config.frame_duration_ms == 30


def test_zcr_range_accepts_a_list_and_stores_a_tuple_of_floats():
    config = VadConfig(zcr_range=[0, 1])
    assert config.zcr_range == (0.0, 1.0)
    assert all(isinstance(bound, float) for bound in config.zcr_range)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sample_rate": 0}, "sample_rate must be a positive integer"),
        ({"sample_rate": -16000}, "sample_rate must be a positive integer"),
        ({"sample_rate": 16000.0}, "sample_rate must be a positive integer"),
        ({"frame_duration_ms": 0}, "frame_duration_ms must be a positive integer"),
        ({"frame_duration_ms": True}, "frame_duration_ms must be a positive integer"),
        ({"start_threshold_db": math.nan}, "start_threshold_db must be a finite number"),
        ({"stop_threshold_db": math.inf}, "stop_threshold_db must be a finite number"),
        ({"initial_noise_floor_db": "-60"}, "initial_noise_floor_db must be a finite number"),
        ({"stop_threshold_db": 16.0}, r"stop_threshold_db \(16.0\) must not exceed"),
        ({"min_speech_frames": 0}, "min_speech_frames must be an integer >= 1"),
        ({"hangover_frames": 0}, "hangover_frames must be an integer >= 1"),
        ({"hangover_frames": 2.5}, "hangover_frames must be an integer >= 1"),
        ({"pre_speech_frames": -1}, "pre_speech_frames must be an integer >= 0"),
        ({"zcr_range": (0.6, 0.4)}, r"zcr_range must satisfy 0 <= low <= high <= 1"),
        ({"zcr_range": (-0.1, 0.5)}, r"zcr_range must satisfy 0 <= low <= high <= 1"),
        ({"zcr_range": (0.1, 1.5)}, r"zcr_range must satisfy 0 <= low <= high <= 1"),
        ({"zcr_range": (0.1, math.nan)}, r"zcr_range must satisfy 0 <= low <= high <= 1"),
        ({"zcr_range": (0.1, 0.2, 0.3)}, "zcr_range must be a pair"),
        ({"zcr_range": "ab"}, "zcr_range must be a pair"),
        ({"zcr_range": (0.1, "0.5")}, "zcr_range bounds must be numbers"),
        ({"sample_rate": 50}, "a frame needs at least 2 samples"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VadConfig(**kwargs)


def test_stop_equal_to_start_is_allowed():
    assert VadConfig(start_threshold_db=12.0, stop_threshold_db=12.0).stop_threshold_db == 12.0


def test_config_is_frozen():
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        VadConfig().sample_rate = 8000  # type: ignore[misc]


def test_detector_rejects_a_config_of_another_type():
    with pytest.raises(ValueError, match="config must be a VadConfig"):
        BackendInputVad({"sample_rate": 16000})  # type: ignore[arg-type]


# -- detection ------------------------------------------------------------------------------------


def test_start_lands_on_the_second_speech_like_frame():
    vad = new_vad()
    found = events_by_frame(vad, SCENE[: (LEAD + 1) * FRAME_BYTES])
    assert found == []
    assert vad.state is VadState.PENDING_SPEECH  # the first voice frame (index 10)
    assert vad.last_probability == 1.0
    assert not vad.speaking
    found = events_by_frame(vad, SCENE[(LEAD + 1) * FRAME_BYTES : (LEAD + 2) * FRAME_BYTES])
    assert found == [(0, START)]
    assert vad.state is VadState.SPEECH
    assert vad.speaking
    assert vad.frames_processed == LEAD + 2


def test_start_and_end_frames_over_a_whole_scene():
    vad = new_vad()
    # Start on frame 11 (the 2nd voice frame); the voice stops after frame 42, frame 43 is the
    # first quiet one and the 8th quiet frame, frame 50, ends the speech.
    assert events_by_frame(vad, SCENE) == [(LEAD + 1, START), (LEAD + SPOKEN + 7, END)]
    assert vad.state is VadState.SILENCE


def test_end_fires_on_the_eighth_quiet_frame_of_hangover():
    vad = new_vad()
    first_quiet = LEAD + SPOKEN
    events_by_frame(vad, SCENE[: first_quiet * FRAME_BYTES])
    assert vad.state is VadState.SPEECH
    for quiet in range(1, 8):
        offset = (first_quiet + quiet - 1) * FRAME_BYTES
        assert vad.process(SCENE[offset : offset + FRAME_BYTES]) == []
        assert vad.state is VadState.HANGOVER
        assert vad.speaking  # hangover still counts as speaking
    offset = (first_quiet + 7) * FRAME_BYTES
    assert vad.process(SCENE[offset : offset + FRAME_BYTES]) == [END]
    assert vad.state is VadState.SILENCE
    assert not vad.speaking


def test_a_loud_frame_during_hangover_bridges_the_pause():
    pause = background(frames(5), seed=3)  # shorter than the 8-frame hangover
    pcm = background(frames(LEAD)) + voice(frames(10)) + pause + voice(frames(10), seed=2)
    pcm += background(frames(10), seed=4)
    vad = new_vad()
    found = events_by_frame(vad, pcm)
    # One start, one end: the 5-frame pause never ended the speech.
    assert found == [(LEAD + 1, START), (LEAD + 10 + 5 + 10 + 7, END)]


def test_a_one_frame_click_is_a_false_alarm():
    pcm = background(frames(LEAD)) + voice(frames(1)) + background(frames(10), seed=5)
    vad = new_vad()
    assert events_by_frame(vad, pcm[: (LEAD + 1) * FRAME_BYTES]) == []
    assert vad.state is VadState.PENDING_SPEECH  # the click was speech-like
    assert events_by_frame(vad, pcm[(LEAD + 1) * FRAME_BYTES :]) == []
    assert vad.state is VadState.SILENCE
    assert vad.last_probability == 0.0


def test_min_speech_frames_of_one_confirms_on_the_first_frame():
    pcm = background(frames(LEAD)) + voice(frames(1)) + background(frames(12), seed=5)
    vad = new_vad(VadConfig(min_speech_frames=1, hangover_frames=3))
    assert events_by_frame(vad, pcm) == [(LEAD, START), (LEAD + 3, END)]


def test_noisy_street_starts_on_the_first_loud_frame_and_holds_for_300_ms():
    pcm = background(frames(LEAD)) + voice(frames(5)) + background(frames(20), seed=5)
    vad = new_vad(VadConfig.noisy_street())
    assert events_by_frame(vad, pcm) == [(LEAD, START), (LEAD + 5 + 9, END)]


def test_a_high_frequency_tone_is_not_speech():
    vad = new_vad()
    events_by_frame(vad, background(frames(LEAD)))
    floor = vad.noise_floor_db
    assert floor == pytest.approx(-60.0, abs=1.0)
    whistle = tone(6000, frames(30))  # about 0.75 zero crossings per sample pair
    found = events_by_frame(vad, whistle)
    assert found == []
    assert vad.state is VadState.SILENCE
    assert vad.last_probability == 0.0


def test_a_low_tone_at_the_same_level_is_speech_like():
    # The control for the test above: same level, a zero-crossing rate inside the range.
    vad = new_vad()
    events_by_frame(vad, background(frames(LEAD)))
    assert events_by_frame(vad, tone(300, frames(30))) == [(1, START)]


def crossing_frame(crossings: int, amplitude: int = 10_000) -> bytes:
    """A loud frame whose sign changes exactly ``crossings`` times, all at its end."""
    steady = FRAME - crossings
    samples = array("h", [amplitude] * steady)
    samples.extend(-amplitude if i % 2 == 0 else amplitude for i in range(crossings))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


@pytest.mark.parametrize(
    ("zcr_range", "speech_like"),
    [
        ((0.0, 101 / 479), True),
        ((0.0, 100 / 479), False),
        ((101 / 479, 1.0), True),
        ((102 / 479, 1.0), False),
    ],
)
def test_zero_crossing_rate_is_sign_changes_over_n_minus_1(zcr_range, speech_like):
    # 101 crossings (an odd number, so the frame ends on a negative sample) in 480 samples.
    vad = new_vad(VadConfig(zcr_range=zcr_range))
    vad.process(crossing_frame(101))
    assert vad.last_probability == (1.0 if speech_like else 0.0)


def test_zero_is_a_positive_sign():
    # 0, -20000, 20000, -20000, 0, ...: with s >= 0 as positive every adjacent pair changes
    # sign.  (Not 0, -20000, 0, ...: the energy is measured on every other sample.)
    pattern = (0, -20_000, 20_000, -20_000)
    samples = array("h", [pattern[i % 4] for i in range(FRAME)])
    if sys.byteorder == "big":
        samples.byteswap()
    vad = new_vad(VadConfig(zcr_range=(1.0, 1.0)))
    vad.process(samples.tobytes())
    assert vad.last_probability == 1.0
    vad = new_vad(VadConfig(zcr_range=(0.0, 0.999)))
    vad.process(samples.tobytes())
    assert vad.last_probability == 0.0


def test_quiet_noise_never_starts():
    vad = new_vad()
    assert events_by_frame(vad, background(frames(200))) == []
    assert vad.frames_processed == 200
    assert vad.last_probability == 0.0
    assert vad.noise_floor_db == pytest.approx(-60.0, abs=0.5)


def test_digital_silence_does_not_teach_the_noise_floor():
    # Zeros first (a device warming up), then ordinary room noise: had the floor learnt -96 dB
    # from the zeros, the noise would sit 36 dB above it and be taken for endless speech.
    vad = new_vad()
    assert events_by_frame(vad, bytes(FRAME_BYTES * 20)) == []
    assert vad.noise_floor_db == -60.0
    assert events_by_frame(vad, background(frames(100), level_dbfs=-62.0)) == []
    assert not vad.speaking
    assert vad.noise_floor_db == pytest.approx(-62.0, abs=0.5)
    # Speech is still found over it.
    assert events_by_frame(vad, voice(frames(5))) == [(1, START)]


def test_noise_floor_follows_the_background_quickly_at_first():
    # alpha = min(0.1, max(0.01, 1/n)): 0.1 for the first ten quiet frames (one frame moves the
    # floor a tenth of the way), then 1/n: thirty frames (0.9 s) take it most of the way.
    vad = new_vad()
    vad.process(tone(300, frames(1), level_dbfs=-50.0))
    assert vad.noise_floor_db == pytest.approx(-59.0, abs=0.01)
    vad.process(tone(300, frames(29), level_dbfs=-50.0))
    assert vad.noise_floor_db == pytest.approx(-50.0, abs=1.5)
    assert vad.state is VadState.SILENCE


def test_noise_floor_moves_slowly_after_100_frames():
    vad = new_vad()
    events_by_frame(vad, background(frames(100), level_dbfs=-70.0))
    floor = vad.noise_floor_db
    # alpha is now 0.01: ten frames 10 dB louder move the floor by about 1 dB, not 10.
    events_by_frame(vad, background(frames(10), level_dbfs=-60.0, seed=7))
    assert vad.noise_floor_db - floor == pytest.approx(10 * (1 - 0.99**10), abs=0.3)


def test_audio_that_opens_with_speech_is_detected_and_does_not_teach_the_floor():
    # Digital silence, then a voice: the voice is compared with the initial floor; it is never
    # learnt as the background.
    for lead in (0, 3):
        vad = new_vad()
        pcm = bytes(FRAME_BYTES * lead) + voice(frames(20))
        assert events_by_frame(vad, pcm) == [(lead + 1, VadEvent.SPEECH_START)]
        assert vad.noise_floor_db == -60.0


def test_a_voice_like_background_is_learnt_from_a_matching_initial_floor():
    # A steady voice-like background 25 dB above the default floor would be taken for speech;
    # an initial floor near the room's level lets the detector learn it instead.
    vad = new_vad(VadConfig(initial_noise_floor_db=-40.0))
    assert events_by_frame(vad, voice(frames(100), seed=2, level_dbfs=-35.0)) == []
    assert vad.state is VadState.SILENCE
    assert vad.noise_floor_db == pytest.approx(-35.0, abs=3.0)


def test_noise_floor_adapts_to_a_steady_background():
    # 12 dB above the initial floor: not speech-like, so it is learnt.
    loud_room = background(frames(150), level_dbfs=-48.0)
    talk = voice(frames(30), level_dbfs=-48.0)

    adapted = new_vad()
    assert events_by_frame(adapted, loud_room) == []
    assert adapted.noise_floor_db == pytest.approx(-48.0, abs=1.0)
    # Speech at the level of the background is not detected any more...
    assert events_by_frame(adapted, talk) == []
    assert not adapted.speaking

    # ... while the same speech over a quiet room is.
    quiet = new_vad()
    events_by_frame(quiet, background(frames(150), level_dbfs=-70.0))
    assert quiet.noise_floor_db == pytest.approx(-70.0, abs=1.0)
    assert events_by_frame(quiet, talk) == [(1, START)]


def test_the_noise_floor_is_frozen_during_speech():
    vad = new_vad()
    events_by_frame(vad, SCENE[: (LEAD + 2) * FRAME_BYTES])
    floor = vad.noise_floor_db
    events_by_frame(vad, voice(frames(20), seed=2))
    assert vad.speaking
    assert vad.noise_floor_db == floor


def test_several_edges_in_one_call_and_one_clock_read():
    clock = FakeClock(5.0)
    vad = BackendInputVad(clock=clock)
    assert vad.process(SCENE) == [START, END]
    assert clock.calls == 1
    assert vad.last_transition_at == 5.0


def test_the_clock_is_read_only_for_edges():
    def broken_clock() -> float:
        raise AssertionError("the clock must not be read")

    vad = BackendInputVad(clock=broken_clock)
    assert vad.process(background(frames(40))) == []
    assert vad.snapshot().last_transition_ms_ago is None
    assert vad.frames_processed == 40


async def test_default_clock_is_trio_time():
    vad = BackendInputVad()
    assert vad.process(SCENE) == [START, END]
    assert vad.last_transition_at is not None
    assert vad.snapshot().last_transition_ms_ago == 0


# -- chunking and input checks ------------------------------------------------------------------


def test_partial_frames_are_carried_over():
    vad = new_vad()
    vad.process(b"\x00" * 958)
    assert vad.frames_processed == 0
    vad.process(b"\x00\x00")
    assert vad.frames_processed == 1
    vad.process(b"\x00" * (FRAME_BYTES * 2 + 10))
    assert vad.frames_processed == 3
    vad.process(b"\x00" * (FRAME_BYTES - 10))
    assert vad.frames_processed == 4
    assert vad.process(b"") == []
    assert vad.frames_processed == 4


def chunked_events(pcm: bytes, sizes: list[int]) -> list[tuple[int, int, VadEvent]]:
    """Feed ``pcm`` in chunks of the given sizes (cycled); each edge with the frames done before
    and after the call that returned it."""
    vad = new_vad()
    found: list[tuple[int, int, VadEvent]] = []
    offset = 0
    index = 0
    while offset < len(pcm):
        size = sizes[index % len(sizes)]
        index += 1
        before = vad.frames_processed
        events = vad.process(pcm[offset : offset + size])
        found.extend((before, vad.frames_processed, event) for event in events)
        offset += size
    return found


def assert_same_edges_as_whole_frames(pcm: bytes, sizes: list[int]) -> None:
    reference = new_vad()
    expected = events_by_frame(reference, pcm)
    found = chunked_events(pcm, sizes)
    assert [event for _, _, event in found] == [event for _, event in expected]
    # Each edge is returned by the call that completed its frame.
    for (before, after, _), (frame_index, _) in zip(found, expected, strict=True):
        assert before <= frame_index < after


SHOW = SCENE + background(frames(4), seed=9) + voice(frames(12), seed=2) + background(frames(12))


def test_322_byte_chunks_give_the_same_edges_as_whole_frames():
    assert len(events_by_frame(new_vad(), SHOW)) == 4
    assert_same_edges_as_whole_frames(SHOW, [322])
    assert_same_edges_as_whole_frames(SHOW, [2, 1918, 640, 14])


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(min_value=1, max_value=1200).map(lambda n: 2 * n), min_size=1))
def test_chunking_never_changes_the_edges(sizes):
    assert_same_edges_as_whole_frames(SHOW, sizes)


def test_chunking_never_changes_the_final_state():
    whole, pieces = new_vad(), new_vad()
    whole.process(SHOW)
    for offset in range(0, len(SHOW), 322):
        pieces.process(SHOW[offset : offset + 322])
    assert pieces.snapshot() == whole.snapshot()
    assert pieces.noise_floor_db == whole.noise_floor_db


def test_bytearray_is_accepted_and_not_aliased():
    vad = new_vad()
    buffer = bytearray(SCENE[: FRAME_BYTES + 100])
    vad.process(buffer)
    buffer[:] = b"\x7f" * len(buffer)  # the caller reuses its buffer
    assert vad.frames_processed == 1
    vad.process(bytes(FRAME_BYTES - 100))
    reference = new_vad()
    reference.process(SCENE[: FRAME_BYTES + 100] + bytes(FRAME_BYTES - 100))
    assert vad.snapshot() == reference.snapshot()


@pytest.mark.parametrize("bad", [b"\x00" * 961, b"\x01", b"\x00" * 3])
def test_odd_length_is_rejected_and_changes_nothing(bad):
    vad = new_vad()
    vad.process(b"\x00" * 900)  # a partial frame waits in the carry-over buffer
    with pytest.raises(ValueError, match="odd length"):
        vad.process(bad)
    assert vad.frames_processed == 0
    assert vad.last_probability is None
    vad.process(b"\x00" * 60)  # completes the frame only if the 900 bytes were kept as they were
    assert vad.frames_processed == 1


@pytest.mark.parametrize("bad", ["\x00\x00", [0, 0], memoryview(b"\x00\x00"), None, 2])
def test_non_bytes_are_rejected_and_change_nothing(bad):
    vad = new_vad()
    vad.process(bytes(FRAME_BYTES))
    with pytest.raises(ValueError, match="pcm must be PCM16 bytes"):
        vad.process(bad)
    assert vad.frames_processed == 1


# -- snapshot, reset, pre-speech audio ------------------------------------------------------------


def test_snapshot_before_any_audio():
    snap = new_vad().snapshot()
    assert snap == BackendVadSnapshot(
        backend="energy-zcr",
        sample_rate=16000,
        frame_duration_ms=30,
        frame_size=480,
        state="silence",
        speaking=False,
        last_probability=None,
        frames_processed=0,
        last_transition_ms_ago=None,
        noise_floor_db=-60.0,
    )


def test_snapshot_fields_and_json():
    clock = FakeClock(100.0)
    vad = BackendInputVad(VadConfig(sample_rate=16000, frame_duration_ms=30), clock=clock)
    vad.process(SCENE[: (LEAD + 2) * FRAME_BYTES])  # speech starts at clock 100.0
    clock.now = 100.25
    snap = vad.snapshot()
    assert snap.backend == vad.backend == "energy-zcr"
    assert snap.state == "speech"
    assert snap.speaking is True
    assert snap.last_probability == 1.0
    assert snap.frames_processed == LEAD + 2
    assert snap.last_transition_ms_ago == 250
    assert snap.noise_floor_db == vad.noise_floor_db
    # The mean of the ten -60 dB noise frames; the voice frames did not teach it.
    assert snap.noise_floor_db == pytest.approx(-60.0, abs=1.0)

    data = snap.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data == {
        "backend": "energy-zcr",
        "sample_rate": 16000,
        "frame_duration_ms": 30,
        "frame_size": 480,
        "state": "speech",
        "speaking": True,
        "last_probability": 1.0,
        "frames_processed": LEAD + 2,
        "last_transition_ms_ago": 250,
        "noise_floor_db": snap.noise_floor_db,
    }

    clock.now = 100.0996
    assert vad.snapshot().last_transition_ms_ago == 99  # whole milliseconds, rounded down
    clock.now = 101.0
    assert vad.snapshot().last_transition_ms_ago == 1000
    vad.process(SCENE[(LEAD + 2) * FRAME_BYTES :])  # the end, at clock 101.0
    clock.now = 101.007
    snap = vad.snapshot()
    assert snap.state == "silence"
    assert snap.speaking is False
    assert snap.last_transition_ms_ago == 7
    assert vad.last_transition_at == 101.0


def test_snapshot_hangover_state_and_a_clock_that_went_back():
    clock = FakeClock(10.0)
    vad = BackendInputVad(clock=clock)
    vad.process(SCENE[: (LEAD + SPOKEN + 1) * FRAME_BYTES])
    clock.now = 9.0
    snap = vad.snapshot()
    assert snap.state == "hangover"
    assert snap.speaking is True
    assert snap.last_transition_ms_ago == 0


def test_reset_forgets_everything():
    clock = FakeClock(3.0)
    vad = BackendInputVad(clock=clock)
    vad.process(SCENE[: (LEAD + 5) * FRAME_BYTES] + b"\x00" * 500)
    assert vad.speaking
    vad.reset()
    assert vad.snapshot() == BackendInputVad(clock=clock).snapshot()
    assert vad.last_transition_at is None
    assert vad.pre_speech_audio() == b""
    vad.process(b"\x00" * 460)  # the 500 carried bytes were dropped too
    assert vad.frames_processed == 0


def test_pre_speech_audio_keeps_the_last_silent_frames():
    vad = new_vad()
    assert vad.pre_speech_audio() == b""
    vad.process(SCENE[: (LEAD + 2) * FRAME_BYTES])
    assert vad.speaking
    # The ring keeps frames heard in Silence: frames 8 and 9 (noise) and 10 (the first voice
    # frame, which began the pending start).
    assert vad.pre_speech_audio() == SCENE[(LEAD - 2) * FRAME_BYTES : (LEAD + 1) * FRAME_BYTES]
    assert vad.process(SCENE[(LEAD + 2) * FRAME_BYTES : (LEAD + SPOKEN + 8) * FRAME_BYTES]) == [END]
    assert vad.pre_speech_audio() == b""  # emptied at the end of speech
    vad.process(SCENE[(LEAD + SPOKEN + 8) * FRAME_BYTES : (LEAD + SPOKEN + 9) * FRAME_BYTES])
    assert vad.pre_speech_audio() == SCENE[(LEAD + SPOKEN + 8) * FRAME_BYTES :][:FRAME_BYTES]


def test_pre_speech_frames_zero_keeps_nothing():
    vad = new_vad(VadConfig(pre_speech_frames=0))
    vad.process(SCENE[: (LEAD + 2) * FRAME_BYTES])
    assert vad.speaking
    assert vad.pre_speech_audio() == b""


def test_other_rates_and_frame_lengths():
    config = VadConfig(sample_rate=8000, frame_duration_ms=20)  # 160-sample frames
    vad = BackendInputVad(config, clock=FakeClock())
    quiet = noise(400, sample_rate=8000, seed=1)
    talk = synth_voice(400, sample_rate=8000, seed=0)
    assert vad.process(quiet) == []
    assert vad.frames_processed == 20
    assert vad.process(talk) == [START]
    assert vad.frames_processed == 40


# -- TurnCommitConfig -----------------------------------------------------------------------------


def test_turn_commit_presets():
    assert TurnCommitConfig.immediate() == TurnCommitConfig(eot_hold_ms=0, min_interruption_ms=0)
    assert TurnCommitConfig.responsive() == TurnCommitConfig(400, 600)
    assert TurnCommitConfig.conversational() == TurnCommitConfig(800, 1400)
    assert TurnCommitPolicy().config == TurnCommitConfig.responsive()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"eot_hold_ms": -1, "min_interruption_ms": 0}, "eot_hold_ms"),
        ({"eot_hold_ms": 0, "min_interruption_ms": -5}, "min_interruption_ms"),
        ({"eot_hold_ms": 0.5, "min_interruption_ms": 0}, "eot_hold_ms"),
        ({"eot_hold_ms": 0, "min_interruption_ms": True}, "min_interruption_ms"),
    ],
)
def test_turn_commit_config_validation(kwargs, field):
    with pytest.raises(ValueError, match=f"{field} must be a whole number of milliseconds >= 0"):
        TurnCommitConfig(**kwargs)


def test_policy_rejects_a_config_of_another_type():
    with pytest.raises(ValueError, match="config must be a TurnCommitConfig"):
        TurnCommitPolicy((400, 600))  # type: ignore[arg-type]


# -- TurnCommitPolicy -----------------------------------------------------------------------------


def test_immediate_start_on_a_free_floor():
    policy = TurnCommitPolicy(TurnCommitConfig.immediate())
    assert policy.advance(0, [START], model_speaking=False) == [TurnSignal.ACTIVITY_START]
    assert policy.turn_active


def test_immediate_start_while_the_model_speaks_is_an_interruption():
    policy = TurnCommitPolicy(TurnCommitConfig.immediate())
    assert policy.advance(0, [START], model_speaking=True) == [TurnSignal.INTERRUPTION_START]
    assert policy.turn_active


def test_immediate_end():
    policy = TurnCommitPolicy(TurnCommitConfig.immediate())
    policy.advance(0, [START], model_speaking=False)
    assert policy.advance(100, [END], model_speaking=False) == [TurnSignal.ACTIVITY_END]
    assert not policy.turn_active


def test_immediate_gives_one_signal_per_edge_even_within_one_call():
    policy = TurnCommitPolicy(TurnCommitConfig.immediate())
    assert policy.advance(0, [START, END, START, END], model_speaking=False) == [
        TurnSignal.ACTIVITY_START,
        TurnSignal.ACTIVITY_END,
        TurnSignal.ACTIVITY_START,
        TurnSignal.ACTIVITY_END,
    ]
    assert policy.advance(30, [START, END], model_speaking=True) == [
        TurnSignal.INTERRUPTION_START,
        TurnSignal.ACTIVITY_END,
    ]
    assert not policy.turn_active


def test_no_edges_no_signals():
    policy = TurnCommitPolicy(TurnCommitConfig.immediate())
    assert policy.advance(0, [], model_speaking=False) == []
    assert policy.advance(10_000, (), model_speaking=True) == []
    assert not policy.turn_active


def test_free_floor_start_is_never_delayed():
    policy = TurnCommitPolicy(TurnCommitConfig(eot_hold_ms=800, min_interruption_ms=10_000))
    assert policy.advance(0, [START], model_speaking=False) == [TurnSignal.ACTIVITY_START]


def test_backchannel_is_discarded_when_speech_ends_before_min_interruption():
    policy = TurnCommitPolicy(TurnCommitConfig(eot_hold_ms=600, min_interruption_ms=600))
    assert policy.advance(0, [START], model_speaking=True) == []
    assert not policy.turn_active
    assert policy.advance(200, [END], model_speaking=True) == []
    assert not policy.turn_active
    # Nothing surfaces later either: no interruption, and no end for a turn that never began.
    assert policy.advance(5000, [], model_speaking=True) == []
    assert policy.advance(5000, [], model_speaking=False) == []


def test_sustained_speech_becomes_an_interruption():
    policy = TurnCommitPolicy(TurnCommitConfig(eot_hold_ms=600, min_interruption_ms=600))
    assert policy.advance(0, [START], model_speaking=True) == []
    assert policy.advance(599, [], model_speaking=True) == []
    assert not policy.turn_active
    assert policy.advance(600, [], model_speaking=True) == [TurnSignal.INTERRUPTION_START]
    assert policy.turn_active
    assert policy.advance(700, [], model_speaking=True) == []  # committed once
    assert policy.advance(800, [END], model_speaking=True) == []
    assert policy.advance(1399, [], model_speaking=True) == []
    assert policy.advance(1400, [], model_speaking=True) == [TurnSignal.ACTIVITY_END]
    assert not policy.turn_active


def test_a_pending_interruption_commits_even_if_the_model_stopped_meanwhile():
    policy = TurnCommitPolicy(TurnCommitConfig.responsive())
    assert policy.advance(0, [START], model_speaking=True) == []
    assert policy.advance(600, [], model_speaking=False) == [TurnSignal.INTERRUPTION_START]


def test_end_is_held_for_eot_hold():
    policy = TurnCommitPolicy(TurnCommitConfig(eot_hold_ms=400, min_interruption_ms=600))
    assert policy.advance(0, [START], model_speaking=False) == [TurnSignal.ACTIVITY_START]
    assert policy.advance(100, [END], model_speaking=False) == []
    assert policy.advance(499, [], model_speaking=False) == []
    assert policy.turn_active
    assert policy.advance(500, [], model_speaking=False) == [TurnSignal.ACTIVITY_END]
    assert not policy.turn_active
    assert policy.advance(2000, [], model_speaking=False) == []


def test_a_new_start_cancels_a_pending_end():
    policy = TurnCommitPolicy(TurnCommitConfig(eot_hold_ms=600, min_interruption_ms=600))
    assert policy.advance(0, [START], model_speaking=False) == [TurnSignal.ACTIVITY_START]
    assert policy.advance(100, [END], model_speaking=False) == []
    # Speech resumes within the hold: the pause is bridged, no second start, no end.
    assert policy.advance(400, [START], model_speaking=False) == []
    assert policy.turn_active
    assert policy.advance(5000, [], model_speaking=False) == []
    assert policy.turn_active
    assert policy.advance(5100, [END], model_speaking=False) == []
    assert policy.advance(5700, [], model_speaking=False) == [TurnSignal.ACTIVITY_END]


def test_a_resumed_start_while_the_model_speaks_does_not_interrupt_the_active_turn():
    policy = TurnCommitPolicy(TurnCommitConfig.responsive())
    policy.advance(0, [START], model_speaking=False)
    policy.advance(100, [END], model_speaking=False)
    assert policy.advance(200, [START], model_speaking=True) == []
    assert policy.advance(5000, [], model_speaking=True) == []
    assert policy.turn_active


def test_start_and_end_in_one_call_with_a_hold():
    policy = TurnCommitPolicy(TurnCommitConfig(eot_hold_ms=600, min_interruption_ms=600))
    assert policy.advance(0, [START, END], model_speaking=False) == [TurnSignal.ACTIVITY_START]
    assert policy.turn_active
    assert policy.advance(700, [], model_speaking=False) == [TurnSignal.ACTIVITY_END]


def test_an_end_without_a_turn_is_ignored():
    policy = TurnCommitPolicy(TurnCommitConfig.immediate())
    assert policy.advance(0, [END], model_speaking=False) == []
    assert policy.advance(0, [END], model_speaking=True) == []
    assert not policy.turn_active


def test_reset_forgets_the_turn_and_pending_commits():
    policy = TurnCommitPolicy(TurnCommitConfig.responsive())
    policy.advance(0, [START], model_speaking=False)
    policy.advance(100, [END], model_speaking=False)
    policy.reset()
    assert not policy.turn_active
    assert policy.advance(10_000, [], model_speaking=False) == []  # the pending end is gone
    policy.advance(10_000, [START], model_speaking=True)  # a pending interruption
    policy.reset()
    assert policy.advance(20_000, [], model_speaking=True) == []
    assert policy.advance(20_000, [START], model_speaking=False) == [TurnSignal.ACTIVITY_START]


def test_bad_edges_are_rejected():
    policy = TurnCommitPolicy()
    with pytest.raises(ValueError, match="edges must hold VadEvent members"):
        policy.advance(0, ["speech_start"], model_speaking=False)  # type: ignore[list-item]


def test_detector_and_immediate_policy_over_audio():
    vad = new_vad()
    policy = TurnCommitPolicy(TurnCommitConfig.immediate())
    signals: list[TurnSignal] = []
    edges: list[VadEvent] = []
    audio_ms = 0
    for offset in range(0, len(SHOW), 640):  # 20 ms microphone chunks
        chunk = SHOW[offset : offset + 640]
        audio_ms += len(chunk) // 32
        found = vad.process(chunk)
        edges += found
        signals += policy.advance(audio_ms, found, model_speaking=False)
    assert edges == [START, END, START, END]
    assert signals == [
        TurnSignal.ACTIVITY_START,
        TurnSignal.ACTIVITY_END,
        TurnSignal.ACTIVITY_START,
        TurnSignal.ACTIVITY_END,
    ]
