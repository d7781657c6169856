"""Deferred context: the PendingContext queue and the DeferredWriter's flush-before-send."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from livehandle._config.delivery import ContextDelivery
from livehandle._errors import SessionClosed
from livehandle._runtime.context import (
    DEFAULT_CONTEXT_CAPACITY,
    DeferredWriter,
    PendingContext,
)
from livehandle._runtime.writer import INPUT_AUDIO_MIME, SessionWriter, check_pcm16
from livehandle._wire import messages as m

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


def ctx(text: str) -> m.Content:
    return m.Content(parts=(m.Part(text=text),), role="model")


def context_message(*texts: str) -> m.ClientContent:
    return m.ClientContent(turns=tuple(ctx(t) for t in texts), turn_complete=False)


class FakeSession:
    """Records what a SessionWriter sends; can be told to fail or to wait first."""

    def __init__(self) -> None:
        self.sent: list[m.ClientMessage] = []
        self.error: Exception | None = None
        self.gate: trio.Event | None = None  # the next send waits for it, once
        self.waiting = trio.Event()

    async def send(self, message: m.ClientMessage) -> None:
        await trio.lowlevel.checkpoint()
        if self.gate is not None:
            gate, self.gate = self.gate, None
            self.waiting.set()
            await gate.wait()
        if self.error is not None:
            raise self.error
        self.sent.append(message)

    async def send_audio(self, pcm: bytes, mime_type: str) -> None:
        await self.send(m.RealtimeInput(audio=m.Blob(mime_type, pcm)))


def instruction_message(text: str) -> m.ClientMessage:
    return m.ClientContent(
        turns=(m.Content(parts=(m.Part(text=text),), role="system"),), turn_complete=False
    )


def make_writer(
    capacity: int = DEFAULT_CONTEXT_CAPACITY,
) -> tuple[DeferredWriter, PendingContext, FakeSession]:
    session = FakeSession()
    pending = PendingContext(capacity)
    writer = DeferredWriter(SessionWriter(session, instruction_message), pending)  # type: ignore[arg-type]
    return writer, pending, session


# -- PendingContext -------------------------------------------------------------------------------


def test_context_delivery_values() -> None:
    assert ContextDelivery.IMMEDIATE.value == "immediate"
    assert ContextDelivery.DEFERRED.value == "deferred"
    assert ContextDelivery("deferred") is ContextDelivery.DEFERRED


def test_pending_context_queues_in_order_and_drains_everything() -> None:
    pending = PendingContext()
    assert pending.is_empty()
    assert len(pending) == 0
    pending.push(ctx("a"))
    pending.extend([ctx("b"), ctx("c")])
    assert len(pending) == 3
    assert not pending.is_empty()
    assert pending.drain_context() == [ctx("a"), ctx("b"), ctx("c")]
    assert len(pending) == 0
    assert pending.drain_context() == []
    assert pending.is_empty()


def test_prompt_flag_is_armed_read_and_cleared() -> None:
    pending = PendingContext()
    assert not pending.has_prompt()
    pending.set_prompt()
    assert pending.has_prompt()
    assert not pending.is_empty()  # a prompt alone is not empty
    assert len(pending) == 0
    assert pending.take_prompt() is True
    assert pending.take_prompt() is False
    pending.set_prompt()
    pending.clear_prompt()
    assert not pending.has_prompt()
    assert pending.is_empty()


def test_draining_context_leaves_the_prompt_armed() -> None:
    pending = PendingContext()
    pending.push(ctx("a"))
    pending.set_prompt()
    assert pending.drain_context() == [ctx("a")]
    assert pending.has_prompt()


def test_clearing_the_prompt_keeps_the_context() -> None:
    pending = PendingContext()
    pending.push(ctx("a"))
    pending.set_prompt()
    pending.clear_prompt()
    assert pending.drain_context() == [ctx("a")]


@pytest.mark.parametrize("item", ["text", m.Part(text="x"), None, {"parts": []}])
def test_only_contents_can_be_queued(item: object) -> None:
    pending = PendingContext()
    with pytest.raises(ValueError, match=r"m\.Content"):
        pending.push(item)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"m\.Content"):
        pending.extend([ctx("ok"), item])  # type: ignore[list-item]
    assert len(pending) == 0  # all or nothing


def test_pushing_beyond_capacity_raises_and_loses_nothing() -> None:
    pending = PendingContext(capacity=3)
    assert pending.capacity == 3
    pending.extend([ctx("a"), ctx("b")])
    with pytest.raises(ValueError, match="full"):
        pending.extend([ctx("c"), ctx("d")])
    assert len(pending) == 2  # the batch that did not fit was not half-queued
    pending.push(ctx("c"))
    with pytest.raises(ValueError, match="capacity 3"):
        pending.push(ctx("d"))
    assert pending.drain_context() == [ctx("a"), ctx("b"), ctx("c")]


def test_default_capacity_is_256() -> None:
    pending = PendingContext()
    assert pending.capacity == DEFAULT_CONTEXT_CAPACITY == 256
    pending.extend(ctx(str(i)) for i in range(256))
    with pytest.raises(ValueError, match="full"):
        pending.push(ctx("one too many"))


@pytest.mark.parametrize("capacity", [0, -1, True, 2.5, "8"])
def test_capacity_must_be_a_positive_int(capacity: object) -> None:
    with pytest.raises(ValueError, match="capacity"):
        PendingContext(capacity)  # type: ignore[arg-type]


def test_restore_puts_contents_back_at_the_front_even_past_capacity() -> None:
    pending = PendingContext(capacity=2)
    pending.extend([ctx("a"), ctx("b")])
    drained = pending.drain_context()
    pending.extend([ctx("c"), ctx("d")])  # queued while the failed send was pending
    pending.restore(drained)
    assert len(pending) == 4
    assert pending.drain_context() == [ctx("a"), ctx("b"), ctx("c"), ctx("d")]


# -- DeferredWriter: flush before user input ------------------------------------------------------

PCM = b"\x01\x00\x02\x00"
JPEG = b"\xff\xd8\xff\xe0jpeg"


async def test_audio_goes_after_the_queued_context() -> None:
    writer, pending, session = make_writer()
    pending.extend([ctx("a"), ctx("b")])
    await writer.send_audio(PCM)
    assert session.sent == [
        context_message("a", "b"),
        m.RealtimeInput(audio=m.Blob(INPUT_AUDIO_MIME, PCM)),
    ]
    assert len(pending) == 0


async def test_text_goes_after_the_queued_context() -> None:
    writer, pending, session = make_writer()
    pending.push(ctx("a"))
    await writer.send_text("hello")
    assert session.sent == [
        context_message("a"),
        m.ClientContent(
            turns=(m.Content(parts=(m.Part(text="hello"),), role="user"),), turn_complete=True
        ),
    ]


async def test_video_goes_after_the_queued_context() -> None:
    writer, pending, session = make_writer()
    pending.push(ctx("a"))
    await writer.send_video(JPEG, "image/png")
    assert session.sent == [
        context_message("a"),
        m.RealtimeInput(video=m.Blob("image/png", JPEG)),
    ]


async def test_a_flush_sends_all_context_as_one_message_and_only_once() -> None:
    writer, pending, session = make_writer()
    pending.extend([ctx("a"), ctx("b"), ctx("c")])
    await writer.send_audio(PCM)
    await writer.send_audio(PCM)
    assert [type(msg).__name__ for msg in session.sent] == [
        "ClientContent",
        "RealtimeInput",
        "RealtimeInput",
    ]


async def test_nothing_queued_sends_just_the_payload() -> None:
    writer, _, session = make_writer()
    await writer.send_audio(PCM)
    await writer.send_text("hi")
    assert [type(msg).__name__ for msg in session.sent] == ["RealtimeInput", "ClientContent"]


async def test_the_prompt_stays_armed_after_a_flush() -> None:
    writer, pending, session = make_writer()
    pending.push(ctx("a"))
    pending.set_prompt()
    await writer.send_audio(PCM)
    assert pending.has_prompt()
    # the prompt itself never goes out with user input
    assert all(
        not (isinstance(msg, m.ClientContent) and msg.turns == () and msg.turn_complete)
        for msg in session.sent
    )


async def test_a_prompt_alone_is_not_flushed_by_user_input() -> None:
    writer, pending, session = make_writer()
    pending.set_prompt()
    await writer.send_text("hi")
    assert len(session.sent) == 1
    assert pending.has_prompt()


PASS_THROUGH: dict[str, Callable[[DeferredWriter], Awaitable[None]]] = {
    "send_client_content": lambda w: w.send_client_content([ctx("x")], turn_complete=True),
    "send_tool_response": lambda w: w.send_tool_response(
        [m.FunctionResponse(id="1", name="f", response={"ok": True})]
    ),
    "update_instruction": lambda w: w.update_instruction("be brief"),
    "signal_activity_start": lambda w: w.signal_activity_start(),
    "signal_activity_end": lambda w: _end_an_open_activity(w),
    "send_audio_stream_end": lambda w: w.send_audio_stream_end(),
}


async def _end_an_open_activity(writer: DeferredWriter) -> None:
    writer._activity_open = True  # as after a start (an end with none open sends nothing)
    await writer.signal_activity_end()


async def test_activity_marks_go_out_once_per_edge() -> None:
    writer, _, session = make_writer()
    await writer.signal_activity_end()  # nothing open: nothing to end
    await writer.signal_activity_start()
    await writer.signal_activity_start()
    assert writer.activity_open
    await writer.signal_activity_end()
    await writer.signal_activity_end()
    assert not writer.activity_open
    assert session.sent == [
        m.RealtimeInput(activity_start=m.ActivityStart()),
        m.RealtimeInput(activity_end=m.ActivityEnd()),
    ]


@pytest.mark.parametrize("method", sorted(PASS_THROUGH))
async def test_other_sends_pass_through_without_flushing(method: str) -> None:
    writer, pending, session = make_writer()
    pending.push(ctx("queued"))
    pending.set_prompt()
    await PASS_THROUGH[method](writer)
    assert len(session.sent) == 1
    assert session.sent[0] != context_message("queued")
    assert len(pending) == 1
    assert pending.has_prompt()


# A wrong type is a TypeError, a bad value a ValueError (the house rule).
BAD_INPUT: dict[str, tuple[type[Exception], Callable[[DeferredWriter], Awaitable[None]]]] = {
    "odd-length audio": (ValueError, lambda w: w.send_audio(b"\x01\x00\x02")),
    "audio as str": (TypeError, lambda w: w.send_audio("pcm")),  # type: ignore[arg-type]
    "empty text": (ValueError, lambda w: w.send_text("")),
    "text as bytes": (TypeError, lambda w: w.send_text(b"hi")),  # type: ignore[arg-type]
    "empty video": (ValueError, lambda w: w.send_video(b"")),
    "video as str": (TypeError, lambda w: w.send_video("frame")),  # type: ignore[arg-type]
    "video with a non-image MIME": (ValueError, lambda w: w.send_video(JPEG, "audio/pcm")),
    "video with an empty MIME": (ValueError, lambda w: w.send_video(JPEG, "")),
    "video with a MIME that is not a str": (
        TypeError,
        lambda w: w.send_video(JPEG, None),  # type: ignore[arg-type]
    ),
    "no tool responses": (ValueError, lambda w: w.send_tool_response([])),
    "a tool response that is not one": (
        TypeError,
        lambda w: w.send_tool_response([{"id": "1"}]),  # type: ignore[list-item]
    ),
    "empty instruction": (ValueError, lambda w: w.update_instruction("")),
    "instruction as None": (TypeError, lambda w: w.update_instruction(None)),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
async def test_bad_input_raises_and_flushes_nothing(case: str) -> None:
    writer, pending, session = make_writer()
    pending.extend([ctx("a"), ctx("b")])
    error, send = BAD_INPUT[case]
    with pytest.raises(error) as info:
        await send(writer)
    assert type(info.value) is error  # a TypeError is never a ValueError, and the reverse
    assert session.sent == []
    assert len(pending) == 2


async def test_a_failed_flush_keeps_the_context_and_sends_no_payload() -> None:
    writer, pending, session = make_writer()
    pending.extend([ctx("a"), ctx("b")])
    session.error = SessionClosed()
    with pytest.raises(SessionClosed):
        await writer.send_audio(PCM)
    assert session.sent == []
    session.error = None
    await writer.send_text("again")
    assert session.sent[0] == context_message("a", "b")  # nothing was lost or reordered


async def test_a_cancelled_flush_keeps_the_context() -> None:
    writer, pending, session = make_writer()
    pending.push(ctx("a"))
    session.gate = trio.Event()  # never set: the flush waits forever
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.send_audio, PCM)
        await session.waiting.wait()
        assert len(pending) == 0  # drained, in flight
        nursery.cancel_scope.cancel()
    assert session.sent == []
    assert pending.drain_context() == [ctx("a")]


async def test_context_queued_before_a_send_stays_ahead_of_another_tasks_payload() -> None:
    writer, pending, session = make_writer()
    pending.push(ctx("a"))
    release = session.gate = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.send_audio, b"\x01\x00")
        await session.waiting.wait()  # the first task's flush is stuck in the session
        nursery.start_soon(writer.send_audio, b"\x02\x00")
        await trio.testing.wait_all_tasks_blocked()
        assert session.sent == []  # the second payload waits behind the flush
        release.set()
    assert session.sent == [
        context_message("a"),
        m.RealtimeInput(audio=m.Blob(INPUT_AUDIO_MIME, b"\x01\x00")),
        m.RealtimeInput(audio=m.Blob(INPUT_AUDIO_MIME, b"\x02\x00")),
    ]


# -- DeferredWriter: application API --------------------------------------------------------------


async def test_flush_context_sends_now_and_counts() -> None:
    writer, pending, session = make_writer()
    assert await writer.flush_context() == 0
    assert session.sent == []
    pending.extend([ctx("a"), ctx("b")])
    pending.set_prompt()
    assert await writer.flush_context() == 2
    assert session.sent == [context_message("a", "b")]
    assert pending.has_prompt()


async def test_defer_queues_context_and_optionally_arms_the_prompt() -> None:
    writer, pending, session = make_writer()
    assert writer.pending is pending
    writer.defer([ctx("a")])
    assert len(pending) == 1
    assert not pending.has_prompt()
    writer.defer([ctx("b")], prompt=True)
    assert pending.has_prompt()
    assert session.sent == []  # nothing goes on the wire until the next user send
    await writer.send_audio(PCM)
    assert session.sent[0] == context_message("a", "b")


def test_defer_refuses_bad_or_too_much_context_without_arming() -> None:
    writer, pending, _ = make_writer(capacity=1)
    with pytest.raises(ValueError, match=r"m\.Content"):
        writer.defer(["not content"], prompt=True)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="full"):
        writer.defer([ctx("a"), ctx("b")], prompt=True)
    assert len(pending) == 0
    assert not pending.has_prompt()


def test_raw_is_the_wrapped_writer() -> None:
    session = FakeSession()
    raw = SessionWriter(session, instruction_message)  # type: ignore[arg-type]
    assert DeferredWriter(raw, PendingContext()).raw is raw


# -- one writer: the deferring writer is the writer, plus a flush ---------------------------------


def test_the_deferred_writer_is_a_session_writer_with_only_user_input_overridden() -> None:
    assert issubclass(DeferredWriter, SessionWriter)
    # Everything but user input is the plain writer's own method: no pass-through copies.
    for name in PASS_THROUGH:
        assert getattr(DeferredWriter, name) is getattr(SessionWriter, name), name
    overridden = {
        name
        for name, value in vars(DeferredWriter).items()
        if callable(value) and hasattr(SessionWriter, name) and not name.startswith("__")
    }
    assert overridden == {"_send_audio", "_send_text", "_send_video"}


def test_a_deferred_writer_needs_a_writer_and_a_queue() -> None:
    with pytest.raises(TypeError, match="SessionWriter"):
        DeferredWriter(FakeSession(), PendingContext())  # type: ignore[arg-type]
    raw = SessionWriter(FakeSession(), instruction_message)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="PendingContext"):
        DeferredWriter(raw, [])  # type: ignore[arg-type]


# -- telemetry: recorded once, by the writer, after the session accepted the send ------------------


class Recorder:
    """Stands in for SessionTelemetry: records what the writer reports."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def record_audio_in(self, nbytes: int) -> None:
        self.calls.append(("audio", nbytes))

    def record_text_send(self) -> None:
        self.calls.append(("text", 0))


def counted_writers() -> list[tuple[SessionWriter, FakeSession, Recorder]]:
    """A plain and a deferring writer (with context queued), each counting into a Recorder."""
    made = []
    for deferred in (False, True):
        session, recorder = FakeSession(), Recorder()
        writer = SessionWriter(session, instruction_message, telemetry=recorder)  # type: ignore[arg-type]
        if deferred:
            pending = PendingContext()
            pending.push(ctx("queued"))
            writer = DeferredWriter(writer, pending)
        made.append((writer, session, recorder))
    return made


async def test_a_successful_send_is_counted_once_on_either_writer() -> None:
    for writer, _, recorder in counted_writers():
        await writer.send_audio(PCM)
        await writer.send_text("hi")
        await writer.send_video(JPEG)
        await writer.send_client_content([ctx("x")], turn_complete=False)
        assert recorder.calls == [("audio", len(PCM)), ("text", 0)], type(writer).__name__


async def test_a_failed_send_is_not_counted() -> None:
    for writer, session, recorder in counted_writers():
        session.error = SessionClosed()
        with pytest.raises(SessionClosed):
            await writer.send_audio(PCM)
        with pytest.raises(SessionClosed):
            await writer.send_text("hi")
        assert recorder.calls == [], type(writer).__name__


async def test_a_cancelled_send_is_not_counted() -> None:
    for writer, session, recorder in counted_writers():
        sends = (
            functools.partial(writer.send_audio, PCM),
            functools.partial(writer.send_text, "hi"),
        )
        for send in sends:
            session.gate = trio.Event()  # never set: the send waits in the session
            session.waiting = trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(send)
                await session.waiting.wait()
                nursery.cancel_scope.cancel()
        assert recorder.calls == [], type(writer).__name__
        assert not any(isinstance(msg, m.RealtimeInput) for msg in session.sent)


async def test_bad_input_is_not_counted() -> None:
    for writer, _, recorder in counted_writers():
        with pytest.raises(ValueError, match="even number"):
            await writer.send_audio(b"\x01")
        with pytest.raises(TypeError, match="non-empty string"):
            await writer.send_text(None)  # type: ignore[arg-type]
        assert recorder.calls == []


# -- input is checked once per send ----------------------------------------------------------------


async def test_the_writer_checks_pcm_once_per_send(monkeypatch: pytest.MonkeyPatch) -> None:
    import livehandle._runtime.writer as writer_module

    checked: list[object] = []
    real = writer_module.check_pcm16

    def counting(data: object) -> bytes:
        checked.append(data)
        return real(data)

    monkeypatch.setattr(writer_module, "check_pcm16", counting)
    for writer, session, _ in counted_writers():
        checked.clear()
        await writer.send_audio(PCM)
        await writer.send_audio(bytearray(PCM))
        assert len(checked) == 2, type(writer).__name__
        assert session.sent[-1] == m.RealtimeInput(audio=m.Blob(INPUT_AUDIO_MIME, PCM))


def test_bytes_pass_the_pcm_check_without_a_copy() -> None:
    pcm = bytes(range(256)) * 4
    assert check_pcm16(pcm) is pcm  # the microphone's hot path copies nothing
    assert check_pcm16(memoryview(pcm)) == pcm
    assert check_pcm16(bytearray(pcm)) == pcm
