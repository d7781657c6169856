"""Hypothesis profiles of the fuzz tests: a quick one for every run, a long one for ``nox -s fuzz``.

The fuzz tests take their settings from :data:`FUZZ`, never from the global default profile, so
choosing a profile here changes no other test of the suite.  ``LIVEHANDLE_FUZZ_PROFILE`` picks it:

* ``ci-fast`` (the default): 100 examples per test, so ``nox -s tests`` and ``nox -s coverage``
  run the fuzz tests as ordinary property tests in a few seconds;
* ``fuzz``: 10,000 examples per test (``nox -s fuzz``), with the reproduction blob printed on
  failure.  The seed comes from ``--hypothesis-seed`` (the nox session prints the one it uses).

No deadline in either: an example's time depends on the machine and on coverage tracing, and
the fuzz tests look for wrong exceptions, not for slow ones.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

ENV = "LIVEHANDLE_FUZZ_PROFILE"
FAST_EXAMPLES = 100
FUZZ_EXAMPLES = 10_000

settings.register_profile(
    "ci-fast",
    max_examples=FAST_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz",
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

PROFILE = os.environ.get(ENV, "ci-fast")
if PROFILE not in ("ci-fast", "fuzz"):
    raise ValueError(f"{ENV}={PROFILE!r}: expected 'ci-fast' or 'fuzz'")

#: The settings every fuzz test uses (``@FUZZ`` above ``@given``).
FUZZ = settings(settings.get_profile(PROFILE))

#: Frames per live-handle example, and the settings of that test: one tenth of the examples, each
#: feeding a fresh handle at least ``FRAMES_PER_HANDLE[0]`` frames, so the ``fuzz`` profile still
#: sends at least 10,000 mutated frames through handles (at ~20 ms per handle opened, 10,000
#: handles would take minutes on their own).
FRAMES_PER_HANDLE = (10, 20)
HANDLES = settings(FUZZ, max_examples=max(25, FUZZ.max_examples // FRAMES_PER_HANDLE[0]))
