"""open_live_session(): the nursery-scoped entry point of livehandle.

::

    async with open_live_session(LiveConfig(instruction="Be brief."), api_key=key) as handle:
        await handle.send_text("Hello!")
        async for event in handle.stream():
            ...

On entry it connects, sends the setup, waits for ``setupComplete`` and starts the lanes; on exit
it disconnects (if the body did not) and every task of the session has finished.  An exception
from the body comes out unchanged, after the disconnect.  Connect and setup failures come out as
the matching :class:`~livehandle.SessionError` subclass.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from livehandle._config.live import LiveConfig
from livehandle._continuity import ResumingSession
from livehandle._handle import assemble_live_handle
from livehandle._nursery import open_owned_nursery
from livehandle._session import Session, SessionOptions
from livehandle._transport.endpoints import Endpoint

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from livehandle._handle import LiveHandle, LiveRunner
    from livehandle._runtime.lanes import Hooks
    from livehandle._session.port import SessionPort
    from livehandle._transport.base import Transport

__all__ = ["open_live_session", "resolve_endpoint"]


def resolve_endpoint(endpoint: Endpoint | str | None, api_key: str | None) -> Endpoint:
    """Pick the endpoint: an explicit one (or URL), else Google AI with ``api_key`` or the env.

    Raises:
        ValueError: nothing to connect to (no endpoint, no key, no ``GEMINI_API_KEY``).
    """
    if isinstance(endpoint, Endpoint):
        return endpoint
    if isinstance(endpoint, str):
        if api_key is not None:  # the same code path as Google AI, pointed at another host
            return Endpoint.google_ai(api_key, base_url=endpoint)
        return Endpoint.from_url(endpoint)
    if api_key is not None:
        return Endpoint.google_ai(api_key)
    found = Endpoint.from_env()
    if found is None:
        raise ValueError(
            "no endpoint to connect to: pass api_key=..., endpoint=... (e.g. the emulator's URL), "
            "or set GEMINI_API_KEY"
        )
    return found


@asynccontextmanager
async def open_live_session(
    config: LiveConfig | None = None,
    *,
    api_key: str | None = None,
    endpoint: Endpoint | str | None = None,
    transport: Transport | None = None,
    hooks: Hooks | None = None,
) -> AsyncIterator[LiveHandle]:
    """Open a live session for the duration of an ``async with`` block.

    Args:
        config: what the session is (model, voice, instruction, limits); defaults to
            ``LiveConfig()``.
        api_key: a Gemini API key (Google AI); default: ``GEMINI_API_KEY``.
        endpoint: an :class:`~livehandle.Endpoint`, or a ``ws://``/``wss://`` URL such
            as the emulator's (with ``api_key``, the Google AI path on that host).
        transport: how bytes move (default: trio-websocket).
        hooks: application callbacks run by the lanes.

    Yields:
        the :class:`~livehandle.LiveHandle`, once ``setupComplete`` arrived and the lanes run.
        A subscription (``events()``, ``stream()``, ``subscribe()``) made before the body's
        first checkpoint sees every event from the session's start, ``Connected`` included;
        one made later sees what follows it.

    Raises:
        ValueError: invalid configuration, or no endpoint and no key.
        SessionError: the subclass for a failed connect, a timeout, or a rejected setup.
    """
    config = config or LiveConfig()
    resolved = resolve_endpoint(endpoint, api_key)
    options = SessionOptions(
        connect_timeout=config.connect_timeout,
        setup_timeout=config.setup_timeout,
        outbound_capacity=config.outbound_capacity,
        event_capacity=config.event_capacity,
    )
    setup = config.to_setup(resolved)
    session: SessionPort
    if config.auto_resume:
        session = ResumingSession(
            setup,
            endpoint=resolved,
            transport=transport,
            options=options,
            policy=config.resume_policy,
            transparent=config.transparent_resumption,
        )
    else:
        session = Session(setup, endpoint=resolved, transport=transport, options=options)
    session.retain_events()  # and the handle's LiveEvents, retained by assemble_live_handle
    handle, runner = assemble_live_handle(session, config, resolved, hooks=hooks)
    async with open_owned_nursery(handle.disconnect, "live session") as nursery:
        await nursery.start(session.run)
        await nursery.start(runner.run)  # the voice effects, the tools and the lanes
        # Trio runs a new task only once the running one reaches a checkpoint: this one ends
        # the retention once the body has reached its first, so subscriptions made before it
        # see every event from the start.
        nursery.start_soon(_release, session, runner)
        yield handle


async def _release(session: SessionPort, runner: LiveRunner) -> None:
    """End the retention of the session's events and the handle's LiveEvents."""
    session.release_events()
    runner.release_events()
