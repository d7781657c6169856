"""Speed of the emulator's audio generators and server-side VAD, in one run.

Run: ``python benchmarks/bench_vad.py`` (after ``pip install -e .``).  Prints milliseconds, the
best of several repeats, for:

* synth_voice: 10 s of model audio at 24 kHz;
* noise: 10 s at 16 kHz;
* ServerVad.feed over 60 s of 16 kHz speech, pauses and noise, all at once and in 20 ms chunks
  (the size of a typical microphone frame).
"""

from __future__ import annotations

import timeit
from typing import TYPE_CHECKING

from livehandle.testing.audio import chunked, noise, silence, synth_voice
from livehandle.testing.vad import ServerVad

if TYPE_CHECKING:
    from collections.abc import Callable

REPEATS = 5

SCENE = b"".join(
    silence(500) + synth_voice(2000, sample_rate=16000, seed=i) + noise(1500, seed=i)
    for i in range(15)
)
CHUNKS = chunked(SCENE, 20, sample_rate=16000)


def vad_all_at_once() -> None:
    ServerVad().feed(SCENE)


def vad_in_chunks() -> None:
    vad = ServerVad()
    for chunk in CHUNKS:
        vad.feed(chunk)


def best_ms(stmt: Callable[[], object]) -> float:
    return min(timeit.repeat(stmt, number=1, repeat=REPEATS)) * 1000


def main() -> None:
    seconds = len(SCENE) / 2 / 16000
    print(f"synth_voice 10 s @ 24 kHz:          {best_ms(lambda: synth_voice(10_000)):8.2f} ms")
    print(f"noise 10 s @ 16 kHz:                {best_ms(lambda: noise(10_000)):8.2f} ms")
    print(f"ServerVad {seconds:.0f} s, one feed:          {best_ms(vad_all_at_once):8.2f} ms")
    print(f"ServerVad {seconds:.0f} s, 20 ms feeds:       {best_ms(vad_in_chunks):8.2f} ms")


if __name__ == "__main__":
    main()
