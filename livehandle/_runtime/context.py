"""Deferred context delivery: model context that waits for the user's next send.

With :attr:`~livehandle.ContextDelivery.DEFERRED` the turn pipeline does not put the context it
builds at a turn boundary (steering text, repair nudges, phase context) on the wire at once.  It
queues it in a :class:`PendingContext`, and may also *arm a prompt*: an empty ``clientContent`` with
``turnComplete: true`` that asks the model to speak from the context it already has.

* the :class:`DeferredWriter` (what ``handle.writer()`` returns in this mode) sends the queued
  context, as one ``clientContent`` with ``turnComplete: false``, just before the next user audio,
  text or video, so the model sees it before the user's words.  That flush leaves an armed prompt
  armed;
* only the voice reactor sends the armed prompt (``PromptModel``, on ``playback_drained()`` or
  ``user_speech_ended()``), and a client barge-in (``user_speech_started()``) disarms it.

Nothing is dropped silently: the queue is bounded and refuses more than ``capacity`` contents
with a ``ValueError``, and contents drained for a send that fails are put back.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, TypeVarTuple

import trio

from livehandle._errors import ProtocolError
from livehandle._runtime.writer import SessionWriter
from livehandle._wire import messages as m
from livehandle._wire.codec import encode_client

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Sequence

__all__ = ["DEFAULT_CONTEXT_CAPACITY", "DeferredWriter", "PendingContext"]

#: How many contents a :class:`PendingContext` holds unless told otherwise.
DEFAULT_CONTEXT_CAPACITY = 256

Ts = TypeVarTuple("Ts")


class PendingContext:
    """Model-context turns waiting to be sent, and whether a prompt is armed.

    One instance is shared by the turn pipeline (which queues), the :class:`DeferredWriter`
    (which flushes context before user input) and the reactor's effect executor (which sends
    context and the prompt on ``PromptModel``).  Every method is synchronous, so in Trio each
    one is atomic with respect to other tasks.

    Args:
        capacity: the most contents that may wait at once; pushing more raises ``ValueError``.
    """

    def __init__(self, capacity: int = DEFAULT_CONTEXT_CAPACITY) -> None:
        value: object = capacity  # checked at run time: callers may be untyped
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"capacity must be a positive int, got {capacity!r}")
        self._capacity = capacity
        self._contents: deque[m.Content] = deque()
        self._prompt = False

    @property
    def capacity(self) -> int:
        """The most contents that may wait at once."""
        return self._capacity

    def __len__(self) -> int:
        """How many contents are queued (the prompt flag is not counted)."""
        return len(self._contents)

    def __repr__(self) -> str:
        return (
            f"PendingContext(contents={len(self._contents)}, capacity={self._capacity}, "
            f"prompt={self._prompt})"
        )

    def push(self, content: m.Content) -> None:
        """Queue one content.

        Raises:
            ValueError: ``content`` is not an ``m.Content``, or the queue is full.
        """
        self.extend((content,))

    def extend(self, contents: Iterable[m.Content]) -> None:
        """Queue several contents in order; all of them or, on error, none.

        Raises:
            ValueError: an item is not an ``m.Content``, cannot be sent (e.g. a NaN in it), or
                they would not all fit.
        """
        batch = list(contents)
        for item in batch:
            if not isinstance(item, m.Content):
                raise ValueError(f"pending context must be m.Content, got {type(item).__name__}")
            try:  # checked now: a content that cannot be encoded would block every flush
                encode_client(m.ClientContent(turns=(item,), turn_complete=False))
            except ProtocolError as exc:
                raise ValueError(f"pending context cannot be sent: {exc}") from None
        if len(self._contents) + len(batch) > self._capacity:
            raise ValueError(
                f"pending context is full: {len(self._contents)} queued + {len(batch)} new "
                f"> capacity {self._capacity} (is anything sending user input to flush it?)"
            )
        self._contents.extend(batch)

    def restore(self, contents: Sequence[m.Content]) -> None:
        """Put contents back at the front of the queue, in order (a flush whose send failed).

        Never refuses: these contents were already admitted once, so the queue may briefly hold
        more than ``capacity`` if new ones were queued while the send was pending.
        """
        self._contents.extendleft(reversed(contents))

    def set_prompt(self) -> None:
        """Arm the prompt: the reactor will ask the model to speak when it is safe to."""
        self._prompt = True

    def has_prompt(self) -> bool:
        """True when a prompt is armed."""
        return self._prompt

    def clear_prompt(self) -> None:
        """Disarm the prompt (a barge-in); queued context stays."""
        self._prompt = False

    def take_prompt(self) -> bool:
        """Disarm the prompt and say whether it was armed."""
        armed, self._prompt = self._prompt, False
        return armed

    def drain_context(self) -> list[m.Content]:
        """Take every queued content, oldest first; the prompt flag is left as it is."""
        contents = list(self._contents)
        self._contents.clear()
        return contents

    def is_empty(self) -> bool:
        """True when no context is queued and no prompt is armed."""
        return not self._contents and not self._prompt


class DeferredWriter(SessionWriter):
    """A :class:`~livehandle.lowlevel.SessionWriter` that flushes deferred context first.

    It is the writer itself, not a second layer: it sends on the same session, with the same
    instruction strategy and telemetry, as the writer it is made from (:attr:`raw`).  Only user
    input differs: ``send_audio``, ``send_text`` and ``send_video`` check their input (bad input
    raises ``TypeError`` or ``ValueError``, sends nothing and flushes nothing), then send the
    queued context as one ``clientContent`` with ``turnComplete: false`` (when there is any),
    then the payload.  An armed prompt stays armed.  Every other method is the plain writer's and
    never flushes.

    Ordering: context queued before a user send is accepted by the session before that send's
    payload, even when several tasks send at once (flushing sends are serialised; a send that
    finds nothing queued and no flush in progress takes no lock).

    Failure: when the flush is not accepted (``SessionClosed``, cancellation), the drained
    contents are put back at the front of the queue, the error propagates and the payload is
    not sent.  A payload that fails after a successful flush leaves the context sent.

    Args:
        writer: the plain writer whose session, instruction strategy and telemetry it uses.
        pending: the queue shared with the turn pipeline and the effect executor.

    Raises:
        TypeError: ``writer`` is not a ``SessionWriter`` or ``pending`` not a ``PendingContext``.
    """

    def __init__(self, writer: SessionWriter, pending: PendingContext) -> None:
        if not isinstance(writer, SessionWriter):
            raise TypeError(f"writer must be a SessionWriter, got {type(writer).__name__}")
        if not isinstance(pending, PendingContext):
            raise TypeError(f"pending must be a PendingContext, got {type(pending).__name__}")
        super().__init__(writer._session, writer._instruction_message, telemetry=writer._telemetry)
        self._raw = writer
        self._pending = pending
        self._flush_lock = trio.Lock()

    @property
    def pending(self) -> PendingContext:
        """The queue this writer flushes."""
        return self._pending

    @property
    def raw(self) -> SessionWriter:
        """The plain writer this one was made from (sends through it never flush)."""
        return self._raw

    def defer(self, contents: Iterable[m.Content], *, prompt: bool = False) -> None:
        """Queue context for the next user send, and arm the prompt when ``prompt`` is true.

        Raises:
            ValueError: an item is not an ``m.Content`` or the queue is full (nothing queued
                and the prompt left as it was).
        """
        self._pending.extend(contents)
        if prompt:
            self._pending.set_prompt()

    async def flush_context(self) -> int:
        """Send the queued context now (not the prompt) and return how many contents went."""
        async with self._flush_lock:
            return await self._flush()

    # -- user input: flush first (input checked by the caller) ---------------------------------

    async def _send_audio(self, pcm: bytes) -> None:
        if self._must_serialise():
            await self._flush_then(super()._send_audio, pcm)
        else:
            await super()._send_audio(pcm)

    async def _send_text(self, text: str) -> None:
        if self._must_serialise():
            await self._flush_then(super()._send_text, text)
        else:
            await super()._send_text(text)

    async def _send_video(self, frame: bytes, mime_type: str) -> None:
        if self._must_serialise():
            await self._flush_then(super()._send_video, frame, mime_type)
        else:
            await super()._send_video(frame, mime_type)

    # -- helpers ------------------------------------------------------------------------------

    def _must_serialise(self) -> bool:
        # A flush in progress elsewhere must reach the session before this payload does.
        return len(self._pending) > 0 or self._flush_lock.locked()

    async def _flush_then(self, send: Callable[[*Ts], Awaitable[None]], *args: *Ts) -> None:
        async with self._flush_lock:
            await self._flush()
            await send(*args)

    async def _flush(self) -> int:
        contents = self._pending.drain_context()
        if not contents:
            return 0
        try:
            await self.send_client_content(contents, turn_complete=False)
        except BaseException:
            self._pending.restore(contents)
            raise
        return len(contents)
