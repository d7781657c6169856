"""Findings of the hostile review of issue 16, kept as regression tests (each failed before)."""

from __future__ import annotations

import importlib.util
import json
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from livehandle import (
    Endpoint,
    FileJournalSink,
    LiveConfig,
    LiveEvent,
    LlmExtractor,
    StateConfig,
    TranscriptTurn,
    open_live_session,
)
from livehandle._extract.runner import ExtractionRunner
from livehandle._state import State
from livehandle.testing import LiveEmulator

#: The LlmExtractor needs the llm extra; CI installs it (tests/extract_llm fails there without it).
NEEDS_HTTPX = pytest.mark.skipif(
    importlib.util.find_spec("httpx") is None, reason="httpx is not installed (livehandle[llm])"
)

if TYPE_CHECKING:
    from pathlib import Path

    from livehandle import StateMutation

KEY = "AIzaSy-review-secret-0123456789abcdef"
WINDOW = (TranscriptTurn(1, "Hi, a table for four, name Ada.", "Sure."),)


def text_config(**kwargs: object) -> LiveConfig:
    return LiveConfig(response_modality="TEXT", **kwargs)  # type: ignore[arg-type]


# -- 1. a watcher step that overruns strands the rest of the queue -------------------------------


async def test_watcher_firings_left_by_a_timed_out_watcher_step_still_run_between_turns(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """After the 'watchers' step is cancelled by turn_step_timeout, later firings must still run.

    WatchHub.run only re-signals the runtime (``if queue: self.signal()``) after a normal
    return; a Cancelled from the step deadline skips it, and _queue_firing signals only when
    the queue goes from 0 to 1, so the leftover firings (and every later one) wait for the next
    TurnComplete, which in a quiet session never comes.
    """
    started: list[object] = []

    async def slow(mutation: StateMutation) -> None:
        started.append(mutation.new)
        await trio.sleep(3)

    config = text_config(state=StateConfig(watcher_timeout=10.0), turn_step_timeout=5.0)
    async with (
        LiveEmulator().in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        handle.state.watch("bg:x", slow)
        for value in (1, 2, 3):  # three firings; the step deadline cuts the second
            handle.state.set("bg:x", value)
        await trio.sleep(100)
        handle.state.set("bg:x", 4)  # a later background write
        await trio.sleep(100)
        assert handle.state.pending_watchers == 0, (
            f"started {started}, {handle.state.pending_watchers} firings stranded"
        )
        assert started == [1, 2, 3, 4]


# -- 2. the journal sink is never flushed or closed at the end of a session -----------------------


async def test_the_file_journal_sink_gets_every_mutation_once_the_session_has_ended(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Lines written after the last turn boundary (a background write, the runtime's own
    ``session:disconnected``) reach the file when the session ends; the sink stays open for its
    owner (the config may serve more sessions)."""
    path = tmp_path / "journal.jsonl"
    sink = FileJournalSink(path, flush_interval=3600.0)
    config = text_config(state=StateConfig(journal_sink=sink))
    async with (
        LiveEmulator().in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        handle.state.set("user:name", "Ada")
    keys = [json.loads(line)["key"] for line in path.read_text().splitlines()]
    closed, shown = sink.closed, repr(sink)
    sink.close()  # (so the leaked file does not fail the next test's teardown)
    assert "user:name" in keys, f"journal file holds only {keys}; {shown}"
    assert "session:disconnected" in keys
    assert not closed  # flushed, not closed: its owner closes it


# -- 3. LlmExtractor(timeout=...) is ignored: the runner cuts it at its 10 s default -------------


@NEEDS_HTTPX
async def test_llm_extractor_retry_after_a_429_fits_its_own_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The runner reads ``item.timeout``; LlmExtractor keeps it in ``_timeout`` (no property), so
    every LlmExtractor gets DEFAULT_TIMEOUT (10 s) however it was configured, and its documented
    429 retry (Retry-After honoured up to max_backoff=10 s) is killed mid-way."""
    ex = LlmExtractor(
        "intent",
        prompt="What does the user want?",
        timeout=30.0,
        endpoint=Endpoint.google_ai(KEY, base_url="ws://127.0.0.1:9"),
    )
    calls = 0

    async def attempt(url: str, body: bytes, resolved: object) -> tuple[int, bytes, dict[str, str]]:
        nonlocal calls
        calls += 1
        if calls == 1:
            return 429, b'{"error": {"code": 429, "message": "quota"}}', {"retry-after": "8"}
        await trio.sleep(3)  # a normal answer time, well inside the 30 s per attempt
        answer = {"candidates": [{"content": {"parts": [{"text": '{"goal": "book"}'}]}}]}
        return 200, json.dumps(answer).encode(), {}

    ex._attempt = attempt  # type: ignore[method-assign]
    runner = ExtractionRunner([ex])
    events = await runner.run([ex], lambda n: WINDOW, State())
    assert events == [LiveEvent.Extraction("intent", {"goal": "book"})], events


# -- 4. the bound on closing the extractors' HTTP clients is defeated by an inner shield ---------


class _StuckClient:
    closed_at: float | None = None

    async def aclose(self) -> None:
        await trio.sleep(3600)  # an HTTP pool whose close hangs (a peer that never reads)
        self.closed_at = trio.current_time()


@NEEDS_HTTPX
async def test_closing_the_llm_extractors_is_bounded_by_close_grace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """LiveRunner.run bounds the closers with move_on_after(CLOSE_GRACE), but
    LlmExtractor.aclose wraps client.aclose() in its own shielded scope, so the bound never
    applies and a hanging close holds the session's exit for ever."""
    ex = LlmExtractor("intent", prompt="What does the user want?")
    config = text_config(extractors=[ex])
    async with LiveEmulator().in_memory() as emu:
        async with open_live_session(
            config, endpoint=emu.url, transport=emu.memory_transport()
        ) as handle:
            bound = handle._extraction.extractors[0]  # type: ignore[union-attr]
            assert isinstance(bound, LlmExtractor)
            bound._client = _StuckClient()  # type: ignore[assignment]
            began = trio.current_time()
        took = trio.current_time() - began
    assert took < 10, f"closing the session took {took:g} s"


# -- 5. the API key stays reachable from a failed extraction's exception chain -------------------


@NEEDS_HTTPX
async def test_a_transport_failure_keeps_no_credential_in_the_exception_chain() -> None:
    """``raise self._fail(...) from None`` only hides the context from tracebacks:
    ``__context__`` still holds the httpx error, whose ``.request.headers`` carry
    ``x-goog-api-key``.  The WebSocket transport deliberately keeps ``__context__`` None for
    this very reason (see _transport/websocket.py); the ExtractionError event carries it on."""
    from livehandle import ExtractorRequestFailed

    listener = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener[0].socket.getsockname()[1]
    await listener[0].aclose()  # a port nobody listens on: ConnectError at once
    ex = LlmExtractor(
        "intent",
        prompt="p",
        endpoint=Endpoint.google_ai(KEY, base_url=f"ws://127.0.0.1:{port}"),
    )
    with trio.fail_after(10):
        with pytest.raises(ExtractorRequestFailed) as info:
            await ex.extract(WINDOW)
        await ex.aclose()
    leaks = []
    seen: set[int] = set()
    stack: list[BaseException] = [info.value]
    while stack:
        exc = stack.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        request = getattr(exc, "_request", None)
        if request is not None and KEY in str(dict(request.headers)):
            leaks.append(type(exc).__name__)
        stack.extend(e for e in (exc.__cause__, exc.__context__) if e is not None)
    assert not leaks, f"the API key is in the headers of {leaks} in the exception chain"


# -- 6. the emulator's GenerateRequest repr shows the API key ------------------------------------


@NEEDS_HTTPX
async def test_generate_request_repr_hides_the_credential() -> None:
    """EmulatorConnection hides headers and query credentials in its repr; GenerateRequest is a
    plain attrs.frozen, so an assertion failure printing emulator.generate_requests prints the
    x-goog-api-key (or the ?key= of the path)."""
    from livehandle.testing import Extract, Scenario

    emulator = LiveEmulator(Scenario(extractions=[Extract(reply={"goal": "book"})]), api_key=KEY)
    with trio.fail_after(10):
        async with emulator.running():
            ex = LlmExtractor(
                "intent", prompt="p", endpoint=Endpoint.google_ai(KEY, base_url=emulator.url)
            )
            await ex.extract(WINDOW)
            await ex.aclose()
    assert emulator.generate_requests
    assert KEY not in repr(emulator.generate_requests[0])


# -- 7. a watcher action on the control lane holds the next reply's audio after a barge-in -------


async def test_a_slow_watcher_action_does_not_stall_audio_after_a_barge_in(
    mock_clock: trio.testing.MockClock,
) -> None:
    """The issue: watcher actions "run on the control lane, in order, bounded by a timeout, and
    cannot stall audio".  But while an action runs (up to watcher_timeout, 5 s by default) the
    control lane cannot publish Interrupted, and the router holds every chunk of the next reply
    until it has (lanes.py route: ``elif not self.interrupted`` ... ``self._held.append``), then
    drops what exceeds the lane capacity.  The _interrupted_now fast path does not apply: the
    lane is not idle."""
    from livehandle._broadcast import Broadcast
    from livehandle._config.delivery import Delivery
    from livehandle._events import SessionEvent
    from livehandle._runtime.lanes import Lanes
    from livehandle._runtime.telemetry import SessionTelemetry

    live: Broadcast[LiveEvent] = Broadcast(10_000)
    out = live.subscribe()
    state = State()
    lanes = Lanes(live, telemetry=SessionTelemetry(), state=state, delivery=Delivery(), capacity=16)
    state._attach(on_pending=lanes.watchers_due)
    running = trio.Event()

    async def confirm(mutation: StateMutation) -> None:
        running.set()
        await trio.sleep(4)  # e.g. a booking confirmation that calls a slow API; under 5 s

    state.watch("user:slots_complete", confirm, when="became_true")
    async with trio.open_nursery() as nursery:
        await nursery.start(lanes.run)
        state.set("user:slots_complete", True)
        await running.wait()
        lanes.route(SessionEvent.Interrupted())  # the user barges in meanwhile
        lanes.route(SessionEvent.TurnComplete())
        for n in range(3):  # the model's next reply
            lanes.route(SessionEvent.AudioData(bytes([n, 0])))
        await trio.testing.wait_all_tasks_blocked()
        seen = [type(out.receive_nowait()).__name__ for _ in range(out.pending)]
        mock_clock.jump(10)
        nursery.cancel_scope.cancel()
    assert seen.count("Audio") == 3, f"delivered while the watcher ran: {seen}"


# -- 8. a restored session's extracted() reads derived:{name} for an extractor that never ran -----


async def test_restore_does_not_take_a_derived_value_for_an_extractor_result() -> None:
    """ExtractionRunner.restore reads ``state.get(name)``, the lenient read that falls back to
    ``derived:{name}`` for an unprefixed key, so a restored session reports a derived value as
    the extractor's latest result although the extractor never produced one."""
    from livehandle import extractor

    @extractor(name="total")
    async def total(turns: object) -> int | None:
        return None

    state = State()
    state.set("derived:total", 42)  # a computed value that happens to share the name
    runner = ExtractionRunner([total])
    runner.restore(state)
    assert runner.latest("total") is None
