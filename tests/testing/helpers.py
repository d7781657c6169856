"""Shared helpers for the emulator tests: a subscribed L0 session and event collection."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

import trio

from livehandle._events import SessionEvent
from livehandle._session import Session, SessionOptions
from livehandle._transport import Endpoint
from livehandle._wire import messages as m
from livehandle.testing import MEMORY_URL

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from livehandle._broadcast import Subscription
    from livehandle._transport import Transport
    from livehandle.testing import LiveEmulator

T = TypeVar("T")

MODEL = "models/gemini-3.8-live"
ROUTING_KEY = "AIzaSy-emulator-routing-key"
TEXT = m.GenerationConfig(response_modalities=(m.Modality.TEXT,))
AUDIO = m.GenerationConfig(response_modalities=(m.Modality.AUDIO,))
SETUP_TEXT = m.Setup(model=MODEL, generation_config=TEXT)
SETUP_AUDIO = m.Setup(
    model=MODEL,
    generation_config=AUDIO,
    input_audio_transcription=m.AudioTranscriptionConfig(),
    output_audio_transcription=m.AudioTranscriptionConfig(),
)


def user_text(text: str, *, turn_complete: bool = True, role: str = "user") -> m.ClientContent:
    return m.ClientContent(
        turns=(m.Content(parts=(m.Part(text=text),), role=role),), turn_complete=turn_complete
    )


def mic(pcm: bytes) -> m.RealtimeInput:
    return m.RealtimeInput(audio=m.Blob("audio/pcm;rate=16000", pcm))


def transport_for(emu: LiveEmulator) -> Transport | None:
    """The emulator's memory transport when it serves in memory only, else None (WebSocket)."""
    return emu.memory_transport() if emu.url == MEMORY_URL else None


@asynccontextmanager
async def connect(
    emu: LiveEmulator, setup: m.Setup = SETUP_TEXT, *, endpoint: Endpoint | None = None
) -> AsyncIterator[tuple[Session, Subscription[SessionEvent]]]:
    """A session on the emulator, subscribed before it connects (no event is missed).

    In memory when the emulator serves in memory (``in_memory()``), else over its socket.
    """
    session = Session(
        setup,
        endpoint=endpoint or Endpoint.from_url(emu.url),
        transport=transport_for(emu),
        options=SessionOptions(event_capacity=100_000),
    )
    events = session.subscribe()
    async with trio.open_nursery() as nursery:
        await nursery.start(session.run)
        try:
            yield session, events
        finally:
            await session.close()
            events.close()


async def until(events: Subscription[T], kind: type) -> list[T]:
    """Collect events up to and including the first of ``kind``."""
    seen: list[T] = []
    async for event in events:
        seen.append(event)
        if isinstance(event, kind):
            return seen
    raise AssertionError(f"the session ended before {kind.__name__}: {seen}")


def kinds(events: list[SessionEvent]) -> list[str]:
    skip = (
        SessionEvent.PhaseChanged,
        SessionEvent.Usage,
        SessionEvent.SessionResumeUpdate,
        SessionEvent.UserTextSent,
    )
    return [type(e).__name__ for e in events if not isinstance(e, skip)]


def text_of(events: list[SessionEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, SessionEvent.TextDelta))


def transcript_of(events: list[SessionEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, SessionEvent.OutputTranscription))


def audio_of(events: list[SessionEvent]) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, SessionEvent.AudioData))


#: Endpoints of every kind, each with the backend, API version and constrained flag the emulator
#: should route it to: (make(url), backend, version, constrained).
ROUTED_ENDPOINTS = [
    (lambda url: Endpoint.from_url(url), "google_ai", "v1beta", False),
    (lambda url: Endpoint.google_ai(ROUTING_KEY, base_url=url), "google_ai", "v1beta", False),
    (
        lambda url: Endpoint.google_ai(ROUTING_KEY, base_url=url, api_version="v1alpha"),
        "google_ai",
        "v1alpha",
        False,
    ),
    (
        lambda url: Endpoint.ephemeral_token("auth_tokens/t1", base_url=url),
        "google_ai",
        "v1alpha",
        True,
    ),
    (
        lambda url: Endpoint.vertex(
            project="p", location="us-central1", token=lambda: "tok", base_url=url
        ),
        "vertex",
        "v1beta1",
        False,
    ),
]


def assert_key_kept_but_never_shown(emu: LiveEmulator, key: str, *, in_query: bool) -> None:
    """The emulator's record keeps the key (its checks read it) but no repr ever shows it."""
    good = emu.connections[0]
    assert (good.query.get("key") == key) is in_query
    for conn in emu.connections:
        assert key not in repr(conn)
        assert "wrong" not in repr(conn)
    if in_query:
        assert "key=***" in repr(good)
