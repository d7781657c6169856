"""The suite's guard (tests/conftest.py): no listening socket in a test on a mock clock."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import livehandle

if TYPE_CHECKING:
    import pytest

pytest_plugins = ["pytester"]

ROOT = Path(livehandle.__file__).resolve().parent.parent
CONFTEST = ROOT / "tests" / "conftest.py"

TESTS = """
import trio
import trio.testing

from livehandle.testing import LiveEmulator


async def test_a_socket_on_a_mock_clock(autojump_clock):
    async with LiveEmulator().running():
        pass


async def test_a_swallowed_attempt_still_fails(autojump_clock):
    try:
        async with LiveEmulator().running():
            pass
    except BaseExceptionGroup:
        pass  # e.g. a command-line tool that reports its failures itself


async def test_in_memory_on_a_mock_clock(autojump_clock):
    async with LiveEmulator().in_memory() as emulator:
        emulator.memory_transport()


async def test_a_socket_in_real_time():
    with trio.fail_after(10):
        async with LiveEmulator().running() as emulator:
            assert emulator.url.startswith("ws://127.0.0.1:")
"""


def test_a_listening_socket_fails_a_test_on_a_mock_clock_and_only_then(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    path = [str(pytester.path), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(test_guarded=TESTS)
    result = pytester.runpytest_subprocess("-p", "pytest_trio.plugin", "-rA")
    # The socket test fails in its call (the refused socket) and in its teardown (the check).
    result.assert_outcomes(passed=3, failed=1, errors=2)
    outcomes = {
        line.split(" - ")[0]
        for line in result.stdout.lines
        if line.startswith(("PASSED", "FAILED", "ERROR"))
    }
    assert outcomes == {
        "PASSED test_guarded.py::test_in_memory_on_a_mock_clock",
        "PASSED test_guarded.py::test_a_socket_in_real_time",
        "PASSED test_guarded.py::test_a_swallowed_attempt_still_fails",
        "FAILED test_guarded.py::test_a_socket_on_a_mock_clock",
        "ERROR test_guarded.py::test_a_socket_on_a_mock_clock",
        "ERROR test_guarded.py::test_a_swallowed_attempt_still_fails",
    }
    result.stdout.fnmatch_lines(["*AssertionError: a test on a mock clock opened a real*"])
