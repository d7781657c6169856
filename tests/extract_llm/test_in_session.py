"""An LlmExtractor in a live session: bound to the session's endpoint, run by the turn pipeline.

Over a real loopback socket (httpx needs one), bounded in real time.
"""

from __future__ import annotations

import attrs
import trio

from livehandle import LiveConfig, LiveEvent, LlmExtractor, open_live_session
from livehandle.testing import Extract, LiveEmulator, Scenario
from tests.testing.helpers import until

BOUND = 20.0  # seconds of real time


@attrs.frozen
class Intent:
    """What the caller wants."""

    action: str
    party_size: int | None = None


async def test_an_llm_extractor_fills_an_attrs_class_through_the_session_endpoint() -> None:
    script = Scenario(extractions=[Extract(reply={"action": "book", "party_size": 4})])
    intent = LlmExtractor("intent", prompt="What does the caller want?", schema=Intent)
    config = LiveConfig(response_modality="TEXT", extractors=[intent])
    with trio.fail_after(BOUND):
        async with (
            LiveEmulator(script, api_key="k-123").running() as emu,
            open_live_session(config, endpoint=emu.url, api_key="k-123") as handle,
        ):
            events = handle.events()
            await handle.send_text("A table for four, please.")
            seen = await until(events, LiveEvent.TurnComplete)
            assert handle.extracted("intent", Intent) == Intent("book", 4)
            assert handle.extracted("intent") == Intent("book", 4)
            requests = emu.generate_requests
    assert LiveEvent.Extraction("intent", {"action": "book", "party_size": 4}) in seen
    assert len(requests) == 1
    assert "A table for four, please." in requests[0].text
    assert intent.endpoint is None  # the configured extractor stays unbound: a copy was bound


async def test_a_failing_llm_extractor_is_an_extraction_error_and_the_turn_completes() -> None:
    script = Scenario(extractions=[Extract(status=500)])
    intent = LlmExtractor("intent", prompt="?", schema=Intent)
    config = LiveConfig(response_modality="TEXT", extractors=[intent])
    with trio.fail_after(BOUND):
        async with (
            LiveEmulator(script, api_key="k-123").running() as emu,
            open_live_session(config, endpoint=emu.url, api_key="k-123") as handle,
        ):
            events = handle.events()
            await handle.send_text("hello")
            seen = await until(events, LiveEvent.TurnComplete)
            assert handle.extracted("intent") is None
    errors = [e for e in seen if isinstance(e, LiveEvent.ExtractionError)]
    assert len(errors) == 1 and errors[0].name == "intent"
    assert "k-123" not in str(errors[0].error)
