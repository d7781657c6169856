"""Speed of the emulator's audio generators, its server-side VAD and the client input VAD.

Run: ``python benchmarks/bench_vad.py`` (after ``pip install -e .``).  Prints, for:

* synth_voice: 10 s of model audio at 24 kHz (ms, best of several repeats);
* noise: 10 s at 16 kHz (ms, best);
* ServerVad.feed over 60 s of 16 kHz speech, pauses and noise, all at once and in 20 ms chunks
  (the size of a typical microphone frame) (ms, best);
* BackendInputVad.process (``livehandle.BackendInputVad``, run on every microphone chunk in the
  caller's task) in microseconds per 30 ms of audio (one analysis frame at the default 30 ms),
  the median of several runs (and the best):

  - over the same 60 s, in 20 ms chunks and in whole 30 ms frames;
  - per state: 20 s of room noise (the detector stays in Silence, where the floor needs the
    exact level of every frame) and 20 s of voice (Speech, mostly settled by the lower bound of
    the level);
  - with 20 ms analysis frames (``VadConfig(frame_duration_ms=20)``), in 20 ms chunks;
  - when numpy is installed, a numpy level (the one computation pure Python cannot make
    cheaper: ``sqrt(x @ x)`` over the same samples, which gives the same norm as ``math.hypot``)
    against the shipped pure-Python detector, alternated run by run: the median of the paired
    ratios numpy / pure, per scene.  Not shipped (see the BackendInputVad docstring); measured
    here so that the decision can be checked again on another machine.

``run()`` returns the numbers as a dict and ``report()`` formats them, like the other benchmark
modules, so ``run_all.py`` can include this one.
"""

from __future__ import annotations

import math
import platform
import statistics
import time
import timeit
from typing import TYPE_CHECKING, Any

from livehandle._config.voice import VadConfig
from livehandle._runtime.vad import BackendInputVad
from livehandle.testing._vad import ServerVad
from livehandle.testing.audio import chunked, noise, silence, synth_voice

if TYPE_CHECKING:
    from collections.abc import Callable

REPEATS = 5
INPUT_VAD_RUNS = 7
PAIRED_RUNS = 11

SCENE = b"".join(
    silence(500) + synth_voice(2000, sample_rate=16000, seed=i) + noise(1500, seed=i)
    for i in range(15)
)
CHUNKS = chunked(SCENE, 20, sample_rate=16000)
FRAMES = chunked(SCENE, 30, sample_rate=16000)
FRAME_COUNT = len(SCENE) // 960

ROOM = noise(20_000, level_dbfs=-60.0, seed=3)
VOICE = b"".join(synth_voice(2000, sample_rate=16000, seed=i) for i in range(10))
PER_STATE = {
    "room noise (Silence)": chunked(ROOM, 20, sample_rate=16000),
    "voice (Speech)": chunked(VOICE, 20, sample_rate=16000),
}
FRAMES_20MS = VadConfig(frame_duration_ms=20)


def vad_all_at_once() -> None:
    ServerVad().feed(SCENE)


def vad_in_chunks() -> None:
    vad = ServerVad()
    for chunk in CHUNKS:
        vad.feed(chunk)


def input_vad(
    chunks: list[bytes],
    config: VadConfig | None = None,
    detector: type[BackendInputVad] = BackendInputVad,
) -> Callable[[], int]:
    def feed() -> int:
        vad = detector(config, clock=time.monotonic)
        edges = 0
        for chunk in chunks:
            edges += len(vad.process(chunk))
        return edges

    return feed


def best_ms(stmt: Callable[[], object]) -> float:
    return min(timeit.repeat(stmt, number=1, repeat=REPEATS)) * 1000


def per_frame_us(stmt: Callable[[], object], frames: int = FRAME_COUNT) -> dict[str, float]:
    """Microseconds per 30 ms of audio (``frames`` of them): median and best of the runs."""
    times = timeit.repeat(stmt, number=1, repeat=INPUT_VAD_RUNS)
    return {
        "median": statistics.median(times) / frames * 1e6,
        "best": min(times) / frames * 1e6,
    }


def _audio_frames(chunks: list[bytes]) -> int:
    return sum(map(len, chunks)) // 960


def _numpy_detector() -> type[BackendInputVad] | None:
    """The detector with its exact level computed by numpy, or None without numpy."""
    try:
        import numpy as np  # optional: measured only when installed
    except ImportError:
        return None
    samples = np.dtype("<i2")

    class NumpyLevelVad(BackendInputVad):
        """Squares the level's samples with numpy; the lower bound stays pure Python."""

        __slots__ = ()

        def __init__(self, config: VadConfig | None = None, **kwargs: Any) -> None:
            super().__init__(config, **kwargs)
            size = self._frame_bytes // 2

            def norm_only(data: bytes, offset: int = 0) -> tuple[float]:
                # The detector takes math.hypot(*unpack(...)): of one value, that value.
                every_other = np.frombuffer(data, samples, size, offset)[::2].astype(np.float64)
                return (math.sqrt(every_other @ every_other),)  # an exact sum: below 2**53

            self._unpack = norm_only

    return NumpyLevelVad


def paired_ratio(
    base: Callable[[], object], variant: Callable[[], object], frames: int
) -> dict[str, float]:
    """Variant / base, alternated run by run (the order too): median of the paired ratios."""
    ratios, base_us, variant_us = [], [], []
    for run in range(PAIRED_RUNS):
        timed = {}
        for name in ("base", "variant") if run % 2 == 0 else ("variant", "base"):
            stmt = base if name == "base" else variant
            timed[name] = timeit.timeit(stmt, number=1) / frames * 1e6
        base_us.append(timed["base"])
        variant_us.append(timed["variant"])
        ratios.append(timed["variant"] / timed["base"])
    return {
        "ratio": statistics.median(ratios),
        "base_us": statistics.median(base_us),
        "variant_us": statistics.median(variant_us),
    }


def run() -> dict[str, Any]:
    result: dict[str, Any] = {
        "python": platform.python_version(),
        "scene_s": len(SCENE) / 2 / 16000,
        "frames": FRAME_COUNT,
        "input_vad_edges": input_vad(CHUNKS)(),
        "synth_voice_10s_ms": best_ms(lambda: synth_voice(10_000)),
        "noise_10s_ms": best_ms(lambda: noise(10_000)),
        "server_vad_one_feed_ms": best_ms(vad_all_at_once),
        "server_vad_20ms_feeds_ms": best_ms(vad_in_chunks),
        "input_vad_20ms_chunks_us_per_frame": per_frame_us(input_vad(CHUNKS)),
        "input_vad_30ms_frames_us_per_frame": per_frame_us(input_vad(FRAMES)),
        "input_vad_20ms_analysis_frames_us_per_frame": per_frame_us(input_vad(CHUNKS, FRAMES_20MS)),
        "input_vad_per_state_us_per_frame": {
            name: per_frame_us(input_vad(chunks), _audio_frames(chunks))
            for name, chunks in PER_STATE.items()
        },
    }
    numpy_vad = _numpy_detector()
    if numpy_vad is not None:
        scenes = {"mixed scene": CHUNKS, **PER_STATE}
        result["numpy_level_vs_pure"] = {
            f"{name}, {ms} ms frames": paired_ratio(
                input_vad(chunks, config),
                input_vad(chunks, config, numpy_vad),
                _audio_frames(chunks),
            )
            for ms, config in ((30, None), (20, FRAMES_20MS))
            for name, chunks in scenes.items()
        }
    return result


def report(result: dict[str, Any]) -> str:
    seconds = result["scene_s"]
    chunks = result["input_vad_20ms_chunks_us_per_frame"]
    frames = result["input_vad_30ms_frames_us_per_frame"]
    short = result["input_vad_20ms_analysis_frames_us_per_frame"]
    one_feed, small_feeds = result["server_vad_one_feed_ms"], result["server_vad_20ms_feeds_ms"]
    lines = [
        f"synth_voice 10 s @ 24 kHz:          {result['synth_voice_10s_ms']:8.2f} ms",
        f"noise 10 s @ 16 kHz:                {result['noise_10s_ms']:8.2f} ms",
        f"ServerVad {seconds:.0f} s, one feed:          {one_feed:8.2f} ms",
        f"ServerVad {seconds:.0f} s, 20 ms feeds:       {small_feeds:8.2f} ms",
        f"BackendInputVad, 20 ms feeds:       {chunks['median']:8.2f} us / 30 ms of audio"
        f" (median of {INPUT_VAD_RUNS}; best {chunks['best']:.2f})",
        f"BackendInputVad, 30 ms feeds:       {frames['median']:8.2f} us / 30 ms of audio"
        f" (median of {INPUT_VAD_RUNS}; best {frames['best']:.2f})",
        f"  20 ms analysis frames, 20 ms feeds: {short['median']:6.2f} us / 30 ms of audio",
    ]
    for name, cost in result["input_vad_per_state_us_per_frame"].items():
        lines.append(f"  {name + ', 20 ms feeds:':34s}{cost['median']:6.2f} us / 30 ms of audio")
    lines.append(
        f"  ({result['frames']} frames, {result['input_vad_edges']} edges,"
        f" Python {result['python']})"
    )
    paired = result.get("numpy_level_vs_pure")
    if paired:
        lines.append("numpy level (not shipped) / pure Python, median of paired ratios:")
        for name, cell in paired.items():
            lines.append(
                f"  {name + ':':38s}{cell['ratio']:5.2f}x"
                f"  ({cell['variant_us']:.2f} vs {cell['base_us']:.2f} us / 30 ms of audio)"
            )
    return "\n".join(lines)


def main() -> None:
    print(report(run()))


if __name__ == "__main__":
    main()
