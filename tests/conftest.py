"""Suite-wide guards.

A test that asks for ``autojump_clock`` runs on a mock clock that jumps ahead whenever every task
is blocked, including while a real socket is waiting for the kernel, so a test that combines it
with a real listening socket (the emulator's :meth:`~livehandle.testing.LiveEmulator.running`)
can time out or reorder events at random.  Such a test must serve the emulator in memory
(:meth:`~livehandle.testing.LiveEmulator.in_memory` and its ``memory_transport()``); this guard
fails any test that does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio

if TYPE_CHECKING:
    from collections.abc import Iterator

MOCK_CLOCK_FIXTURES = frozenset({"autojump_clock", "mock_clock"})
SOCKET_UNDER_MOCK_CLOCK = (
    "a test on a mock clock opened a real listening socket; serve the emulator in memory "
    "(LiveEmulator.in_memory() with transport=emulator.memory_transport()) instead"
)


@pytest.fixture(autouse=True)
def _no_listening_socket_under_a_mock_clock(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Fail a test that uses a mock clock and opens a listening TCP socket."""
    if MOCK_CLOCK_FIXTURES.isdisjoint(request.fixturenames):
        yield
        return
    attempts: list[str] = []

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(f"open_tcp_listeners{args}")
        await trio.lowlevel.checkpoint()
        raise RuntimeError(SOCKET_UNDER_MOCK_CLOCK)

    monkeypatch.setattr(trio, "open_tcp_listeners", refuse)
    yield
    # Also caught when the test swallowed the error (e.g. a CLI that reports failures itself).
    assert not attempts, f"{SOCKET_UNDER_MOCK_CLOCK}: {attempts}"


@pytest.fixture
def fresh_unknown_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget which unknown wire names were logged, so a test sees its own DEBUG lines."""
    from livehandle._wire import unknown

    monkeypatch.setattr(unknown, "_seen", set())
    monkeypatch.setattr(unknown, "_overflowed", False)
