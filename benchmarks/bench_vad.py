"""Speed of the emulator's audio generators, its server-side VAD and the client input VAD.

Run: ``python benchmarks/bench_vad.py`` (after ``pip install -e .``).  Prints, for:

* synth_voice: 10 s of model audio at 24 kHz (ms, best of several repeats);
* noise: 10 s at 16 kHz (ms, best);
* ServerVad.feed over 60 s of 16 kHz speech, pauses and noise, all at once and in 20 ms chunks
  (the size of a typical microphone frame) (ms, best);
* BackendInputVad.process (``livehandle._runtime.vad``, run on every microphone chunk in the
  caller's task) over the same 60 s, in 20 ms chunks and in whole 30 ms frames: microseconds per
  30 ms analysis frame, the median of several runs (and the best).  Budget: well under 30 us.

``run()`` returns the numbers as a dict and ``report()`` formats them, like the other benchmark
modules, so ``run_all.py`` can include this one.
"""

from __future__ import annotations

import platform
import statistics
import time
import timeit
from typing import TYPE_CHECKING, Any

from livehandle._runtime.vad import BackendInputVad
from livehandle.testing._vad import ServerVad
from livehandle.testing.audio import chunked, noise, silence, synth_voice

if TYPE_CHECKING:
    from collections.abc import Callable

REPEATS = 5
INPUT_VAD_RUNS = 7

SCENE = b"".join(
    silence(500) + synth_voice(2000, sample_rate=16000, seed=i) + noise(1500, seed=i)
    for i in range(15)
)
CHUNKS = chunked(SCENE, 20, sample_rate=16000)
FRAMES = chunked(SCENE, 30, sample_rate=16000)
FRAME_COUNT = len(SCENE) // 960


def vad_all_at_once() -> None:
    ServerVad().feed(SCENE)


def vad_in_chunks() -> None:
    vad = ServerVad()
    for chunk in CHUNKS:
        vad.feed(chunk)


def input_vad(chunks: list[bytes]) -> Callable[[], int]:
    def feed() -> int:
        vad = BackendInputVad(clock=time.monotonic)
        edges = 0
        for chunk in chunks:
            edges += len(vad.process(chunk))
        return edges

    return feed


def best_ms(stmt: Callable[[], object]) -> float:
    return min(timeit.repeat(stmt, number=1, repeat=REPEATS)) * 1000


def per_frame_us(stmt: Callable[[], object]) -> dict[str, float]:
    times = timeit.repeat(stmt, number=1, repeat=INPUT_VAD_RUNS)
    return {
        "median": statistics.median(times) / FRAME_COUNT * 1e6,
        "best": min(times) / FRAME_COUNT * 1e6,
    }


def run() -> dict[str, Any]:
    return {
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
    }


def report(result: dict[str, Any]) -> str:
    seconds = result["scene_s"]
    chunks = result["input_vad_20ms_chunks_us_per_frame"]
    frames = result["input_vad_30ms_frames_us_per_frame"]
    one_feed, small_feeds = result["server_vad_one_feed_ms"], result["server_vad_20ms_feeds_ms"]
    lines = [
        f"synth_voice 10 s @ 24 kHz:          {result['synth_voice_10s_ms']:8.2f} ms",
        f"noise 10 s @ 16 kHz:                {result['noise_10s_ms']:8.2f} ms",
        f"ServerVad {seconds:.0f} s, one feed:          {one_feed:8.2f} ms",
        f"ServerVad {seconds:.0f} s, 20 ms feeds:       {small_feeds:8.2f} ms",
        f"BackendInputVad, 20 ms feeds:       {chunks['median']:8.2f} us / 30 ms frame"
        f" (median of {INPUT_VAD_RUNS}; best {chunks['best']:.2f})",
        f"BackendInputVad, 30 ms feeds:       {frames['median']:8.2f} us / 30 ms frame"
        f" (median of {INPUT_VAD_RUNS}; best {frames['best']:.2f})",
        f"  ({result['frames']} frames, {result['input_vad_edges']} edges,"
        f" Python {result['python']})",
    ]
    return "\n".join(lines)


def main() -> None:
    print(report(run()))


if __name__ == "__main__":
    main()
