"""Shared pieces of the LlmExtractor tests: a schema, a transcript window, an emulator."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal

import attrs
import trio

from livehandle import Endpoint, LlmExtractor, TranscriptTurn
from livehandle.testing import LiveEmulator, Scenario

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from livehandle.testing import Extract

KEY = "AIzaSy-extractor-secret-0123456789abc"
REAL_TIME_LIMIT = 10  # seconds a real-socket test may take


@attrs.frozen
class Booking:
    """What a booking bot needs to know."""

    name: str | None
    party_size: int | None
    when: Literal["lunch", "dinner"] | None = None


WINDOW = (
    TranscriptTurn(1, "Hi, I'd like a table.", "Sure, for how many people?"),
    TranscriptTurn(2, "Four of us, name is Ada, for dinner.", "Great, booking that now."),
)


def extractor(endpoint: Endpoint | None = None, **options: object) -> LlmExtractor:
    defaults: dict[str, object] = {"prompt": "Fill in the booking.", "schema": Booking}
    defaults.update(options)
    return LlmExtractor("booking", endpoint=endpoint, **defaults)  # type: ignore[arg-type]


@asynccontextmanager
async def emulated(
    *rules: Extract, api_key: str | None = KEY
) -> AsyncIterator[tuple[LiveEmulator, Endpoint]]:
    """The emulator on a real loopback socket, and a Google AI endpoint with the key for it."""
    emulator = LiveEmulator(Scenario(extractions=rules), api_key=api_key)
    with trio.fail_after(REAL_TIME_LIMIT):
        async with emulator.running():
            yield emulator, Endpoint.google_ai(KEY, base_url=emulator.url)
