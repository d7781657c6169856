"""Fuzz tests: report which profile runs (see ``tests/fuzz/profiles.py``)."""

from __future__ import annotations

from tests.fuzz.profiles import ENV, FUZZ, PROFILE


def pytest_report_header() -> str:
    return f"livehandle fuzz profile: {PROFILE!r} ({FUZZ.max_examples} examples per test; {ENV})"
