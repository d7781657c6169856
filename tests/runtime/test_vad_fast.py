"""The input VAD's fast paths decide every frame as the full computation does (issue #15).

:class:`~livehandle.BackendInputVad` settles most frames from a lower bound of the level, skips
the zero-crossing rate when the level alone decides, reads all-zero frames without arithmetic
and works out ``last_probability`` in Speech only when it is read.  Each test feeds the same
audio to it and to ``ReferenceVad`` (the straightforward per-frame computation) and requires
the same edges, states, counts, noise floor (bit for bit) and ``last_probability`` after every
frame.
"""

from __future__ import annotations

import math
import random
import struct

from hypothesis import given, settings, strategies as st

from livehandle._config.voice import VadConfig
from livehandle._runtime.vad import BackendInputVad, VadState
from livehandle.testing.audio import noise, silence, synth_voice
from tests.runtime.vad_reference import ReferenceVad


def _clock() -> float:
    return 0.0


def assert_same_frame_by_frame(config: VadConfig, pcm: bytes) -> list[object]:
    """Feed ``pcm`` frame by frame to both detectors, comparing everything after each frame."""
    fast, reference = BackendInputVad(config, clock=_clock), ReferenceVad(config)
    size = 2 * config.frame_size
    edges: list[object] = []
    for index in range(len(pcm) // size):
        frame = pcm[index * size : (index + 1) * size]
        got, want = fast.process(frame), reference.process(frame)
        assert got == want, index
        assert fast.state is reference.state, index
        assert fast.noise_floor_db == reference.noise_floor_db, index  # bit for bit
        assert fast.last_probability == reference.last_probability, index
        assert fast.frames_processed == reference.frames_processed
        assert fast.pre_speech_audio() == b"".join(reference.pre_speech)
        edges.extend((index, edge) for edge in got)
    return edges


def assert_same_edges_chunked(config: VadConfig, pcm: bytes, cuts: list[int]) -> None:
    """Feed ``pcm`` in uneven chunks, reading nothing between them: same edges, same end state."""
    fast, reference = BackendInputVad(config, clock=_clock), ReferenceVad(config)
    got, want = [], []
    previous = 0
    for cut in [*sorted(c & ~1 for c in cuts), len(pcm)]:
        cut = max(cut, previous)
        got += fast.process(pcm[previous:cut])
        want += reference.process(pcm[previous:cut])
        previous = cut
    assert got == want
    assert fast.state is reference.state
    assert fast.noise_floor_db == reference.noise_floor_db
    assert fast.last_probability == reference.last_probability  # resolved lazily, here


def pcm16(samples: list[int]) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def realistic(seed: int, rate: int = 16000) -> bytes:
    """Room noise, voices at several levels with pauses, a muted stretch, a loud burst."""
    rng = random.Random(seed)
    parts = [noise(rng.randint(200, 900), sample_rate=rate, level_dbfs=-62.0, seed=seed)]
    for turn in range(4):
        level = rng.uniform(-40.0, -10.0)
        parts.append(
            synth_voice(
                rng.randint(300, 1500), sample_rate=rate, seed=turn + seed, level_dbfs=level
            )
        )
        parts.append(
            noise(
                rng.randint(50, 700),
                sample_rate=rate,
                level_dbfs=rng.uniform(-70.0, -45.0),
                seed=seed + turn,
            )
        )
        if rng.random() < 0.3:
            parts.append(silence(rng.randint(30, 300), sample_rate=rate))
    return b"".join(parts)


# -- realistic signals ----------------------------------------------------------------------------


def test_realistic_scenes_give_the_same_decisions_on_every_frame():
    with_speech = 0
    for seed in range(12):
        with_speech += bool(assert_same_frame_by_frame(VadConfig(), realistic(seed)))
    assert with_speech >= 8  # most scenes do contain detected speech: the fast paths ran


def test_presets_and_other_frame_sizes_match():
    configs = [
        VadConfig.noisy_street(),
        VadConfig(frame_duration_ms=20),
        VadConfig(frame_duration_ms=10, min_speech_frames=1, hangover_frames=3),
        VadConfig(sample_rate=24000, frame_duration_ms=20),
        VadConfig(sample_rate=44100, frame_duration_ms=10),  # 441 samples: odd frame size
        VadConfig(sample_rate=8000, frame_duration_ms=1),  # 8 samples: the smallest quarter
        VadConfig(start_threshold_db=12.0, stop_threshold_db=12.0),  # no hysteresis
        VadConfig(zcr_range=(0.0, 1.0), initial_noise_floor_db=-120.0),  # zeros can be speech
    ]
    for config in configs:
        for seed in (3, 7):
            assert_same_frame_by_frame(config, realistic(seed, config.sample_rate))


def test_every_state_takes_its_fast_path():
    # Speech frames settled by the lower bound leave last_probability undecided until read.
    vad = BackendInputVad(clock=_clock)
    vad.process(noise(300, level_dbfs=-62.0, seed=1) + synth_voice(300, seed=0))
    assert vad.state is VadState.SPEECH
    assert vad._undecided is not None
    assert vad.last_probability == 1.0
    assert vad._undecided is None
    assert vad.snapshot().last_probability == 1.0


def test_all_zero_frames_never_teach_the_floor():
    config = VadConfig()
    edges = assert_same_frame_by_frame(config, silence(600) + noise(600, level_dbfs=-50.0))
    assert edges == []


# -- random signals -------------------------------------------------------------------------------


def synthetic(draw: st.DrawFn, frame_size: int) -> bytes:
    """Random segments: white noise, tones, zeros, impulses, ramps, at levels from -90 to 0 dB."""
    out: list[int] = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["noise", "tone", "zeros", "impulse", "odd_only", "ramp"]))
        count = draw(st.integers(1, 12)) * frame_size + draw(st.integers(0, frame_size))
        peak = int(32767 * 10 ** (draw(st.floats(-90.0, 0.0)) / 20))
        rng = random.Random(draw(st.integers(0, 2**32)))
        if kind == "noise":
            out += [rng.randint(-peak, peak) for _ in range(count)]
        elif kind == "tone":
            step = 2 * math.pi * draw(st.floats(20.0, 7900.0)) / 16000
            out += [round(peak * math.sin(step * i)) for i in range(count)]
        elif kind == "zeros":
            out += [0] * count
        elif kind == "impulse":
            out += [peak if rng.random() < 0.02 else 0 for _ in range(count)]
        elif kind == "odd_only":  # energy only where the lower bound does not look
            out += [rng.randint(-peak, peak) if i % 8 else 0 for i in range(count)]
        else:
            out += [min(32767, max(-32768, (i * peak) // count - peak // 2)) for i in range(count)]
    return pcm16([max(-32768, min(32767, s)) for s in out])


@st.composite
def configs(draw: st.DrawFn) -> VadConfig:
    start = draw(st.floats(0.0, 30.0))
    return VadConfig(
        sample_rate=draw(st.sampled_from([8000, 16000, 24000])),
        frame_duration_ms=draw(st.sampled_from([1, 10, 20, 30])),
        start_threshold_db=start,
        stop_threshold_db=start - draw(st.floats(0.0, 10.0)),
        min_speech_frames=draw(st.integers(1, 4)),
        hangover_frames=draw(st.integers(1, 10)),
        zcr_range=draw(st.sampled_from([(0.02, 0.5), (0.0, 1.0), (0.1, 0.3)])),
        initial_noise_floor_db=draw(st.floats(-110.0, -20.0)),
        pre_speech_frames=draw(st.integers(0, 4)),
    )


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_random_signals_give_the_same_decisions_on_every_frame(data):
    config = data.draw(configs())
    pcm = synthetic(data.draw, config.frame_size)
    assert_same_frame_by_frame(config, pcm)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_random_chunking_gives_the_same_edges_and_state(data):
    config = data.draw(configs())
    if data.draw(st.booleans()):
        pcm = synthetic(data.draw, config.frame_size)
    else:
        pcm = realistic(data.draw(st.integers(0, 50)), config.sample_rate)
    cuts = data.draw(st.lists(st.integers(0, len(pcm)), max_size=20))
    assert_same_edges_chunked(config, pcm, cuts)


def test_the_floor_matches_through_all_three_adaptation_phases():
    # alpha = 0.1 for the first 10 quiet frames, 1/n up to 100, then 0.01: 150 frames of a
    # background whose level wanders, compared bit for bit after every frame.
    pcm = b"".join(
        noise(300, level_dbfs=level, seed=index)
        for index, level in enumerate([-70.0, -55.0, -65.0, -50.0, -62.0] * 3)
    )
    assert len(pcm) // 960 == 150
    assert assert_same_frame_by_frame(VadConfig(), pcm) == []
