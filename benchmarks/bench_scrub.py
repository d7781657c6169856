"""Scrubbing credentials out of 100 KB of adversarial text: the time of each scrub, in ms.

Run: ``python benchmarks/bench_scrub.py``.  A benchmark, not a test (timing goals never go in
tests): the target is that every call stays well under 50 ms on 100 KB, i.e. the scrubbing
regexes never backtrack catastrophically (the cost stays linear in the text).  Each input is a
near-miss built to make a naive pattern work hard; the best of five runs is reported.
"""

from __future__ import annotations

import time

from livehandle import Endpoint

KEY = "AIzaSyD-canary-0123456789abcdefghijk"
TARGET_S = 0.05


def main() -> None:
    token = "ya29.a0AfB_byC" + "x1Y2z3" * 40  # an access-token-sized secret (254 characters)
    vertex = Endpoint.vertex(project="p", location="l", token=lambda: token).resolve()
    google = Endpoint.google_ai(KEY).resolve()
    inputs = [
        ("long near-echoes", vertex, (token[:-1] + "!") * (100_000 // len(token))),
        ("shortened-echo heads", vertex, token[:20] * 5_000),
        ("key prefixes", google, (KEY[:8] + "x") * 11_111),
        ("escapes starting the key", google, ("\\u0041" + "IzaSy") * 9_090),
        ("backslashes", google, "\\" * 100_000),
        ("a cut-off tail", google, "a" * 100_000 + KEY[:30]),
    ]
    worst = 0.0
    for name, endpoint, text in inputs:
        cells = []
        for scrub in (endpoint.scrub, endpoint.scrub_frame, endpoint.scrub_content):
            best = float("inf")
            for _ in range(5):
                started = time.perf_counter()
                scrub(text)
                best = min(best, time.perf_counter() - started)
            worst = max(worst, best)
            cells.append(f"{scrub.__name__} {best * 1e3:6.2f} ms")
        print(f"{name:26} " + "  ".join(cells))
    verdict = "MET" if worst < TARGET_S else "MISSED"
    print(f"{verdict}: the slowest scrub of 100 KB took {worst * 1e3:.1f} ms (target < 50 ms)")


if __name__ == "__main__":
    main()
