"""pytest fixtures that serve the Live API emulator to a test.

pytest loads this plugin automatically wherever livehandle is installed (entry point
``pytest11: livehandle``); ``-p no:livehandle`` turns it off.  It provides:

``live_emulator``
    A :class:`~livehandle.testing.LiveEmulator` serving on ``ws://127.0.0.1:<free port>`` for the
    duration of one test (function scope), started in the test's Trio run.  Use it to look at what
    the client sent (``live_emulator.connections``) or to act on a connection.
``live_endpoint``
    The emulator's URL, e.g. ``"ws://127.0.0.1:40123"``; pass it to
    :meth:`Endpoint.from_url <livehandle.Endpoint.from_url>` (or as ``base_url`` to
    :meth:`Endpoint.google_ai <livehandle.Endpoint.google_ai>`).
``live_transport``
    A transport to the emulator in memory; pass it as ``transport=`` (with ``live_endpoint``).
    A test that asks for it gets an emulator that opens no socket at all
    (:meth:`LiveEmulator.in_memory <livehandle.testing.LiveEmulator.in_memory>`), and
    ``live_endpoint`` is then ``livehandle.testing.MEMORY_URL``: the way to test on a mock
    clock (pytest-trio's ``autojump_clock``), which must not be mixed with real sockets.
``live_emulator_scenario``
    The :class:`~livehandle.testing.Scenario` the emulator plays; by default None, which means the
    echo assistant (``"You said: <what the user said>"``).  Override it to script the model.
``live_emulator_options``
    Other :class:`~livehandle.testing.LiveEmulator` keyword arguments, as a dict (``api_key``,
    ``models``, ``binary_frames``, ``realtime``, ``chunk_ms``, ``ssl_context``...; everything
    except ``scenario``); empty by default.

``live_emulator``, ``live_endpoint`` and ``live_transport`` are Trio fixtures, so they can only be
used by Trio tests: set ``trio_mode = true`` in the pytest configuration, or mark the test with
``@pytest.mark.trio``.  They need pytest-trio (``pip install livehandle[test]``); without it this
plugin still loads but defines only the two customization fixtures, and a test asking for
``live_emulator`` fails with pytest's "fixture not found".

In memory, on a mock clock (seconds of Trio time take no wall time)::

    import trio.testing

    from livehandle import LiveConfig, LiveEvent, open_live_session
    from livehandle.lowlevel import Transport


    async def test_a_reply_in_memory(
        live_endpoint: str, live_transport: Transport, autojump_clock: trio.testing.MockClock
    ) -> None:
        config = LiveConfig(response_modality="TEXT")
        async with open_live_session(
            config, endpoint=live_endpoint, transport=live_transport
        ) as handle:
            events = handle.stream()
            await handle.send_text("hello")
            seen = []
            async for event in events:
                seen.append(event)
                if isinstance(event, LiveEvent.TurnComplete):
                    break
        assert LiveEvent.TextComplete("You said: hello") in seen

A complete test, as it would appear in a test module::

    from livehandle import Endpoint, SessionEvent
    from livehandle.lowlevel import open_session
    from livehandle.testing import LiveEmulator
    from livehandle.lowlevel import ClientContent, Content, GenerationConfig, Modality, Part, Setup

    SETUP = Setup(
        model="models/gemini-3.8-live",
        generation_config=GenerationConfig(response_modalities=(Modality.TEXT,)),
    )


    async def test_the_model_echoes_a_typed_turn(
        live_emulator: LiveEmulator, live_endpoint: str
    ) -> None:
        deltas: list[str] = []
        complete = None
        async with open_session(SETUP, endpoint=Endpoint.from_url(live_endpoint)) as session:
            with session.subscribe() as events:
                turn = Content(parts=(Part(text="hello"),), role="user")
                await session.send(ClientContent(turns=(turn,), turn_complete=True))
                async for event in events:
                    match event:
                        case SessionEvent.TextDelta(text=text):
                            deltas.append(text)
                        case SessionEvent.TextComplete(text=text):
                            complete = text
                            break
        assert complete == "You said: hello"
        assert "".join(deltas) == "You said: hello"
        assert live_emulator.connections[0].setup == SETUP

To script the model, override ``live_emulator_scenario`` in the test module or in a
``conftest.py`` (the closest definition wins, as for any pytest fixture); likewise
``live_emulator_options``::

    import pytest
    from livehandle.testing import Rule, Say, Scenario, When


    @pytest.fixture
    def live_emulator_scenario() -> Scenario:
        return Scenario(rules=[Rule(When(text="weather"), [Say("It is sunny.")])])


    @pytest.fixture
    def live_emulator_options() -> dict[str, object]:
        return {"api_key": "test-key", "binary_frames": False}

Either override may itself depend on other fixtures (``tmp_path``, a parametrized fixture...),
which is how one test module can run the same test against several scenarios.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from livehandle._transport.memory import MemoryTransport
    from livehandle.testing._emulator import LiveEmulator
    from livehandle.testing._scenario import Scenario

try:
    from pytest_trio import trio_fixture as _trio_fixture
except ImportError:  # pytest-trio is in the "test" extra only
    _trio_fixture = None

__all__ = ["live_emulator_options", "live_emulator_scenario"]

_F = TypeVar("_F", bound="Callable[..., Any]")


@pytest.fixture
def live_emulator_scenario() -> Scenario | None:
    """The scenario ``live_emulator`` plays; None (the default) is the echo assistant."""
    return None


@pytest.fixture
def live_emulator_options() -> dict[str, Any]:
    """Extra ``LiveEmulator`` keyword arguments for ``live_emulator`` (default: none)."""
    return {}


if _trio_fixture is not None:

    def _async_fixture(function: _F) -> _F:
        """``pytest_trio.trio_fixture``, typed (pytest-trio ships no type information)."""
        assert _trio_fixture is not None
        fixture: _F = _trio_fixture(function)
        return fixture

    @_async_fixture
    async def live_emulator(
        request: pytest.FixtureRequest,
        live_emulator_scenario: Scenario | None,
        live_emulator_options: dict[str, Any],
    ) -> AsyncIterator[LiveEmulator]:
        """A running ``LiveEmulator`` (echo assistant unless customized), for one test.

        In memory, with no socket, when the test also asks for ``live_transport``.
        """
        from livehandle.testing._emulator import LiveEmulator

        emulator = LiveEmulator(live_emulator_scenario, **live_emulator_options)
        in_memory = "live_transport" in request.fixturenames
        async with emulator.in_memory() if in_memory else emulator.running():
            yield emulator

    @_async_fixture
    def live_endpoint(live_emulator: LiveEmulator) -> str:
        """The running emulator's URL (``ws://127.0.0.1:PORT``, or its in-memory URL)."""
        return live_emulator.url

    @_async_fixture
    def live_transport(live_emulator: LiveEmulator) -> MemoryTransport:
        """A transport to ``live_emulator`` in memory (which then opens no socket)."""
        return live_emulator.memory_transport()

    __all__ += ["live_emulator", "live_endpoint", "live_transport"]
