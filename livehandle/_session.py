"""The L0 session: one connection speaking the Live protocol, as two tasks and a broadcast.

:func:`open_session` connects, sends ``setup``, waits for ``setupComplete`` and yields a
:class:`Session`.  Inside, exactly two tasks run in the session's nursery:

* the **reader** drains the connection continuously (trio-websocket stops answering pings and close
  frames while its queue is full), decodes each frame and publishes :class:`SessionEvent` s on a
  :class:`~livehandle.lowlevel.Broadcast`, which never blocks it;
* the **writer** is the only task that writes to the socket; it drains a bounded outbound channel,
  so messages leave in the order :meth:`Session.send` accepted them.

The session tracks its :class:`SessionPhase`, the newest resumable handle and ``goAway``, and turns
close codes into :class:`~livehandle.ConnectionClosed` subclasses.  When it ends, for any
reason, it publishes ``Error`` (if abnormal) and ``Disconnected`` as the last events, closes the
broadcast so every subscription ends, and makes every later send raise
:class:`~livehandle.SessionClosed` at once.
"""

from __future__ import annotations

import logging
import math
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal

import attrs
import trio

from livehandle._broadcast import Broadcast, Subscription
from livehandle._errors import (
    ConnectFailed,
    ConnectionClosed,
    NormalClosure,
    ProtocolError,
    SessionClosed,
    SessionError,
    SessionTimeout,
)
from livehandle._events import SessionEnd, SessionEvent, SessionPhase
from livehandle._nursery import open_owned_nursery
from livehandle._transport.websocket import WebSocketTransport
from livehandle._wire import messages as m
from livehandle._wire.codec import decode_server, encode_client, encode_realtime_audio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from livehandle._transport.base import Connection, Transport
    from livehandle._transport.endpoints import Endpoint

__all__ = ["Session", "SessionOptions", "open_session"]

log = logging.getLogger("livehandle.session")

_TOOL_PHASES = (SessionPhase.TOOL_CALL_PENDING, SessionPhase.TOOL_CALL_EXECUTING)


def _positive(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0 or math.isinf(value):
        raise ValueError(f"{attribute.name} must be a positive finite number, got {value!r}")


@attrs.frozen
class SessionOptions:
    """Limits and capacities of an L0 session.

    Attributes:
        connect_timeout: seconds to open the WebSocket.
        setup_timeout: seconds to wait for ``setupComplete`` after sending ``setup``.
        close_grace: seconds a graceful close may spend on each of its steps (flushing queued
            messages, then the close handshake) before the session is torn down.
        outbound_capacity: messages :meth:`Session.send` may queue before it waits (lossless).
        event_capacity: events each subscriber may fall behind before it gets ``Lagged``.
    """

    connect_timeout: float = attrs.field(default=10.0, validator=_positive)
    setup_timeout: float = attrs.field(default=15.0, validator=_positive)
    close_grace: float = attrs.field(default=0.25, validator=_positive)
    outbound_capacity: int = attrs.field(default=256, validator=_positive)
    event_capacity: int = attrs.field(default=512, validator=_positive)


class Session:
    """One live connection: sends client messages, publishes server events.

    Create it with :func:`open_session`, or construct it and ``await nursery.start(session.run)``
    to subscribe before it connects (so no event, not even ``Connected``, is missed).
    """

    def __init__(
        self,
        setup: m.Setup,
        *,
        endpoint: Endpoint,
        transport: Transport | None = None,
        options: SessionOptions | None = None,
    ) -> None:
        if transport is None:
            transport = WebSocketTransport()
        self._setup_text = encode_client(setup)  # a bad setup fails here, before any I/O
        self._setup = setup
        self._endpoint = endpoint
        self._transport = transport
        self._options = options or SessionOptions()
        self._events: Broadcast[SessionEvent] = Broadcast(self._options.event_capacity)
        self._taps: list[Callable[[SessionEvent], None]] = []
        # lossless: send() waits when the writer is behind
        self._outbound_send, self._outbound_receive = trio.open_memory_channel[
            tuple[str, m.ClientMessage | None]  # None: an audio frame, nothing to do once sent
        ](self._options.outbound_capacity)
        self._phase = SessionPhase.DISCONNECTED
        self._resume_handle: str | None = None
        self._session_id: str | None = None
        self._turn_text: list[str] = []
        self._pending_calls: set[str] = set()
        self._closing = False
        self._end: SessionEnd | None = None
        self._ended = trio.Event()
        self._writer_done = trio.Event()
        self._writer_scope = trio.CancelScope()
        self._connection: Connection | None = None
        self._connection_id = 0
        self._cancel_scope: trio.CancelScope | None = None
        self._started = False

    def __repr__(self) -> str:
        return f"<Session {self._endpoint.redacted_url} phase={self._phase.value}>"

    # -- observation --------------------------------------------------------------------------

    @property
    def phase(self) -> SessionPhase:
        """The current phase."""
        return self._phase

    @property
    def connection_id(self) -> int:
        """Which connection the session is on: 1 for the first, +1 for each one after it.

        Tool calls remember it, so that an answer is never sent on a newer connection than the
        one that asked (0 before the first connection).
        """
        return self._connection_id

    @property
    def resume_handle(self) -> str | None:
        """The newest handle the server marked resumable, or None."""
        return self._resume_handle

    @property
    def session_id(self) -> str | None:
        """Vertex's session id from ``setupComplete``, if any."""
        return self._session_id

    @property
    def end(self) -> SessionEnd | None:
        """How the session ended, or None while it is open."""
        return self._end

    @property
    def setup(self) -> m.Setup:
        """The setup message this session sent."""
        return self._setup

    def subscribe(
        self,
        *,
        capacity: int | None = None,
        on_lag: Literal["raise", "skip"] = "raise",
        accept: Callable[[SessionEvent], bool] | None = None,
    ) -> Subscription[SessionEvent]:
        """Subscribe to the raw event stream from now on.

        The subscription ends after the ``Disconnected`` event.  A subscriber that falls more than
        ``capacity`` events behind gets :class:`~livehandle.Lagged` (or, with
        ``on_lag="skip"``, silently continues with the oldest event it still has).  ``accept``
        filters what is buffered for this subscriber.
        """
        return self._events.subscribe(capacity=capacity, on_lag=on_lag, accept=accept)

    async def wait_closed(self) -> SessionEnd:
        """Wait until the session has ended, and say how."""
        await self._ended.wait()
        assert self._end is not None
        return self._end

    # -- sending ------------------------------------------------------------------------------

    async def send(self, message: m.ClientMessage) -> None:
        """Queue ``message`` for the writer; waits while the outbound queue is full.

        The message is encoded in the caller's task, so a message that cannot be encoded raises
        here and nothing is queued.  Returning means accepted, not yet written to the socket.

        Raises:
            SessionClosed: the session has ended or is closing (raised at once).
            ProtocolError: the message cannot be encoded.
        """
        self._check_open()
        await self._enqueue(encode_client(message), message)

    async def send_audio(self, pcm: bytes, mime_type: str) -> None:
        """Queue one ``realtimeInput.audio`` frame, encoded directly (the microphone's hot path).

        The same as ``send(RealtimeInput(audio=Blob(mime_type, pcm)))`` on the wire; ``pcm`` is
        not checked here (the writer above checks it).

        Raises:
            SessionClosed: the session has ended or is closing (raised at once).
        """
        self._check_open()
        await self._enqueue(encode_realtime_audio(pcm, mime_type), None)

    async def _enqueue(self, text: str, message: m.ClientMessage | None) -> None:
        # A cancel point always; a scheduler round trip only when the queue is full.  A burst of
        # frames then queues up while the caller runs and the writer sends it as one batch.
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            try:
                self._outbound_send.send_nowait((text, message))
            except trio.WouldBlock:
                await self._outbound_send.send((text, message))
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise self._closed_error() from None

    def _check_open(self) -> None:
        if self._end is not None or self._closing or not self._started:
            raise self._closed_error()

    def _closed_error(self) -> SessionClosed:
        if self._end is not None:
            return SessionClosed(cause=self._end.error)
        if not self._started:
            return SessionClosed("the session is not connected yet")
        return SessionClosed("the session is closing")

    # -- lifecycle ----------------------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[Session] = trio.TASK_STATUS_IGNORED
    ) -> SessionEnd:
        """Connect, set up, then run the reader and writer until the session ends.

        Calls ``task_status.started(self)`` once ``setupComplete`` has arrived.  Failures before
        that (connect, timeouts, a server that rejects the setup) are raised from here, so
        ``nursery.start(session.run)`` raises them.  Afterwards nothing is raised: the end is
        returned, published as ``Disconnected``, and available from :meth:`wait_closed`.
        """
        if self._cancel_scope is not None:
            raise RuntimeError("a Session can only be run once")
        failure: SessionError | ValueError | None = None
        try:
            async with trio.open_nursery() as nursery:
                self._cancel_scope = nursery.cancel_scope
                try:
                    connection = await self._connect_and_setup(nursery)
                except (SessionError, ValueError) as exc:  # raised below, unwrapped
                    failure = exc
                    nursery.cancel_scope.cancel()
                except Exception as exc:  # e.g. a Vertex token callable that failed
                    url = self._endpoint.redacted_url
                    failure = ConnectFailed(
                        f"could not open {url}: {type(exc).__name__}: {exc}", url=url
                    )
                    failure.__cause__ = exc
                    nursery.cancel_scope.cancel()
                else:
                    self._connection = connection
                    self._connection_id += 1
                    nursery.start_soon(self._run_reader, connection)
                    nursery.start_soon(self._run_writer, connection)
                    self._started = True
                    task_status.started(self)
            if failure is not None:
                error = (
                    failure if isinstance(failure, SessionError) else SessionClosed(str(failure))
                )
                self._finish(_end_for(error, self._resume_handle), publish_error=False)
                raise failure
        finally:
            if self._end is None:  # cancelled from outside: the session ends here too
                self._finish(SessionEnd("client", 1000, "cancelled", None, self._resume_handle))
        end = self._end
        assert end is not None
        return end

    async def close(self, code: int = 1000, reason: str = "") -> SessionEnd:
        """End the session gracefully: flush queued messages, close the socket, wait for the end.

        Idempotent.  Bounded: each step gets ``close_grace`` seconds, then the session's tasks are
        cancelled.  Shielded, so it completes even when the caller is being cancelled.
        """
        if self._end is not None:
            return self._end
        if not self._closing:
            self._closing = True
            self._set_phase(SessionPhase.DISCONNECTING)
            self._outbound_send.close()  # the writer drains what was accepted, then stops
        grace = self._options.close_grace
        with trio.CancelScope(shield=True):
            if self._started:  # the writer runs only once the session is set up
                with trio.move_on_after(grace):
                    await self._writer_done.wait()
            if self._connection is not None:
                await self._connection.aclose(code, reason)
            with trio.move_on_after(grace):
                await self._ended.wait()
            if not self._ended.is_set():
                # The reader never saw the close completing; end it ourselves.
                self._finish(SessionEnd("client", code, reason, None, self._resume_handle))
                if self._cancel_scope is not None:
                    self._cancel_scope.cancel()
        end = self.end  # the property: mypy narrowed the attribute above
        assert end is not None
        return end

    async def _connect_and_setup(self, nursery: trio.Nursery) -> Connection:
        opts = self._options
        self._set_phase(SessionPhase.CONNECTING)
        try:
            with trio.fail_after(opts.connect_timeout):
                connection = await self._transport.connect(self._endpoint, nursery)
        except trio.TooSlowError:
            raise SessionTimeout("the connection", opts.connect_timeout) from None
        try:
            self._set_phase(SessionPhase.SETUP_SENT)
            await connection.send(self._setup_text)
            try:
                with trio.fail_after(opts.setup_timeout):
                    complete = await self._wait_setup_complete(connection)
            except trio.TooSlowError:
                raise SessionTimeout("setupComplete", opts.setup_timeout) from None
        except BaseException:
            with trio.CancelScope(shield=True):
                await connection.aclose(1000, "")
            raise
        self._session_id = complete.session_id
        self._set_phase(SessionPhase.ACTIVE)
        resumed = bool(self._setup.session_resumption and self._setup.session_resumption.handle)
        self._publish(SessionEvent.Connected(complete.session_id, resumed))
        return connection

    async def _wait_setup_complete(self, connection: Connection) -> m.SetupComplete:
        while True:
            data = await connection.receive()
            try:
                message = decode_server(data)
            except ProtocolError as exc:
                log.warning("ignoring an undecodable frame before setupComplete: %s", exc)
                continue
            if isinstance(message, m.SetupComplete):
                return message
            log.debug("ignoring %s before setupComplete", type(message).__name__)

    # -- tasks --------------------------------------------------------------------------------

    async def _run_reader(self, connection: Connection) -> None:
        """Drain the connection; never blocks on subscribers (publishing cannot block)."""
        try:
            while True:
                data = await connection.receive()
                try:
                    message = decode_server(data)
                except ProtocolError as exc:
                    log.warning("ignoring an undecodable frame: %s", exc)
                    self._publish(SessionEvent.Error(exc))
                    continue
                self._handle(message)
        except ConnectionClosed as exc:
            self._finish(_end_for(exc, self._resume_handle, closing=self._closing))
        # Stop the writer (it may be blocked on the dead socket), let the transport finish its
        # close handshake and cleanup (idempotent, bounded), then end whatever the transport left
        # in the nursery, so run() returns promptly on every path.
        self._writer_scope.cancel()
        await connection.aclose()
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    async def _run_writer(self, connection: Connection) -> None:
        """The only task that writes to the socket; stops when the channel is closed and empty.

        Everything already queued goes out before the writer waits again, as one batch when the
        connection can write batches: one scheduler round trip and one socket write per burst
        instead of one per message.
        """
        outbound = self._outbound_receive
        send_batch: Callable[[list[str]], Awaitable[None]] | None = getattr(
            connection, "send_batch", None
        )
        limit = self._options.outbound_capacity
        try:
            with self._writer_scope:
                while True:
                    try:
                        first = outbound.receive_nowait()
                    except trio.WouldBlock:
                        first = await outbound.receive()
                    batch = [first]
                    if send_batch is not None:
                        while len(batch) < limit:
                            try:
                                batch.append(outbound.receive_nowait())
                            except (trio.WouldBlock, trio.EndOfChannel):
                                break
                    try:
                        if send_batch is None:
                            await connection.send(first[0])
                        else:
                            await send_batch([text for text, _ in batch])
                    except ConnectionClosed:
                        return  # the reader sees the same close and ends the session
                    for _, message in batch:
                        self._after_send(message)
        except (trio.EndOfChannel, trio.ClosedResourceError):
            pass  # closed and drained: a graceful close, or the end of the session
        finally:
            self._writer_done.set()

    # -- state --------------------------------------------------------------------------------

    def add_tap(self, tap: Callable[[SessionEvent], None]) -> None:
        """Call ``tap`` synchronously with every event, in order, before subscribers get it.

        For the runtime's own routing: a tap runs in the reader task, so it must be quick and
        must never block (it cannot await).  An exception from a tap ends the session's tasks.
        """
        self._taps.append(tap)

    def _publish(self, event: SessionEvent) -> None:
        for tap in self._taps:
            tap(event)
        self._events.publish(event)

    def _set_phase(self, new: SessionPhase) -> None:
        old = self._phase
        if new is not old:
            self._phase = new
            self._publish(SessionEvent.PhaseChanged(old, new))

    def _after_send(self, message: m.ClientMessage | None) -> None:
        if message is None:
            return
        if isinstance(message, m.ClientContent) and message.turn_complete:
            typed = " ".join(
                part.text
                for turn in message.turns or ()
                if turn.role in (None, "user")
                for part in turn.parts
                if part.text
            )
            if typed:
                self._publish(SessionEvent.UserTextSent(typed))
        elif isinstance(message, m.RealtimeInput) and message.text:
            self._publish(SessionEvent.UserTextSent(message.text))
        elif isinstance(message, m.ToolResponse):
            answered = {r.id for r in message.function_responses if r.id is not None}
            self._pending_calls -= answered
            if not self._pending_calls and self._phase in _TOOL_PHASES:
                self._set_phase(SessionPhase.ACTIVE)

    def mark_tools_executing(self) -> None:
        """Note that the client started running the pending tool calls (for the phase)."""
        if self._phase is SessionPhase.TOOL_CALL_PENDING:
            self._set_phase(SessionPhase.TOOL_CALL_EXECUTING)

    def _handle(self, message: m.ServerMessage) -> None:
        publish = self._publish
        # Usage first: it rides on the turn-ending message and belongs to the turn it ends.
        if not isinstance(message, m.UnknownServerMessage) and message.usage_metadata is not None:
            publish(SessionEvent.Usage(message.usage_metadata))
        match message:
            case m.ServerContent():
                self._handle_content(message)
            case m.ToolCall(function_calls=calls):
                self._pending_calls |= {c.id for c in calls if c.id is not None}
                self._set_phase(SessionPhase.TOOL_CALL_PENDING)
                publish(SessionEvent.ToolCall(calls))
            case m.ToolCallCancellation(ids=ids):
                self._pending_calls -= set(ids)
                if not self._pending_calls and self._phase in _TOOL_PHASES:
                    self._set_phase(SessionPhase.ACTIVE)
                publish(SessionEvent.ToolCallCancelled(ids))
            case m.GoAway(time_left=time_left):
                publish(SessionEvent.GoAway(time_left))
            case m.SessionResumptionUpdate():
                resumable = message.resumable
                if resumable is None:  # absent means resumable when a handle came with it
                    resumable = bool(message.new_handle)
                if resumable and message.new_handle:
                    self._resume_handle = message.new_handle
                publish(
                    SessionEvent.SessionResumeUpdate(
                        message.new_handle, resumable, message.last_consumed_client_message_index
                    )
                )
            case (
                m.VoiceActivity(activity_type="ACTIVITY_START")
                | m.VoiceActivityDetectionSignal(vad_signal_type="VAD_SIGNAL_TYPE_SOS")
            ):
                self._user_activity(started=True)
            case (
                m.VoiceActivity(activity_type="ACTIVITY_END")
                | m.VoiceActivityDetectionSignal(vad_signal_type="VAD_SIGNAL_TYPE_EOS")
            ):
                self._user_activity(started=False)
            case m.UnknownServerMessage(raw=raw):
                log.debug("ignoring a server message of unknown kind: %s", sorted(raw))
            case _:
                pass  # a late setupComplete, an empty message, other VAD signal types

    def _user_activity(self, *, started: bool) -> None:
        if started:
            if self._phase in (SessionPhase.ACTIVE, SessionPhase.MODEL_SPEAKING):
                self._set_phase(SessionPhase.USER_SPEAKING)
            self._publish(SessionEvent.VoiceActivityStart())
        else:
            if self._phase is SessionPhase.USER_SPEAKING:
                self._set_phase(SessionPhase.ACTIVE)
            self._publish(SessionEvent.VoiceActivityEnd())

    def _handle_content(self, content: m.ServerContent) -> None:
        publish = self._publish
        if content.interrupted:
            # Barge-in first: it is the most time-critical signal.  Model output carried in the
            # same message belongs to the interrupted turn and is dropped.
            self._set_phase(SessionPhase.INTERRUPTED)
            self._turn_text.clear()
            publish(SessionEvent.Interrupted())
            self._set_phase(SessionPhase.ACTIVE)
        elif content.model_turn is not None:
            self._model_output(content.model_turn)
        if (t := content.input_transcription) is not None and t.text:
            publish(SessionEvent.InputTranscription(t.text, bool(t.finished)))
        if (t := content.interim_input_transcription) is not None and t.text:
            publish(SessionEvent.InputTranscription(t.text, bool(t.finished), interim=True))
        if not content.interrupted:
            if (t := content.output_transcription) is not None and t.text:
                publish(SessionEvent.OutputTranscription(t.text, bool(t.finished)))
            if content.grounding_metadata is not None:
                publish(SessionEvent.Grounding(content.grounding_metadata))
        if content.generation_complete:
            publish(SessionEvent.GenerationComplete())
        if content.turn_complete:
            if self._turn_text:
                publish(SessionEvent.TextComplete("".join(self._turn_text)))
                self._turn_text.clear()
            self._pending_calls.clear()
            self._set_phase(SessionPhase.ACTIVE)  # already ACTIVE when subscribers see the event
            publish(SessionEvent.TurnComplete(content.turn_complete_reason))

    def _model_output(self, turn: m.Content) -> None:
        publish = self._publish
        if self._phase not in (SessionPhase.DISCONNECTING, SessionPhase.MODEL_SPEAKING):
            self._set_phase(SessionPhase.MODEL_SPEAKING)
        for part in turn.parts:
            if part.text is not None:
                if part.thought:
                    publish(SessionEvent.Thought(part.text))
                else:
                    self._turn_text.append(part.text)
                    publish(SessionEvent.TextDelta(part.text))
            elif (blob := part.inline_data) is not None:
                if not blob.mime_type or blob.mime_type.startswith("audio/"):
                    mime = blob.mime_type or "audio/pcm;rate=24000"  # empty MIME seen in practice
                    publish(SessionEvent.AudioData(blob.data, mime))
                else:
                    publish(SessionEvent.Media(blob.mime_type, blob.data))
            elif part.executable_code is not None:
                publish(SessionEvent.ExecutableCode(part.executable_code))
            elif part.code_execution_result is not None:
                publish(SessionEvent.CodeExecutionResult(part.code_execution_result))

    def _finish(self, end: SessionEnd, *, publish_error: bool = True) -> None:
        """Record the end once: final events, close the broadcast and the outbound channel."""
        if self._end is not None:
            return
        self._end = end
        if publish_error and end.error is not None:
            self._publish(SessionEvent.Error(end.error))
        self._set_phase(SessionPhase.DISCONNECTED)
        self._publish(SessionEvent.Disconnected(end))
        self._events.close()
        self._outbound_send.close()
        self._outbound_receive.close()  # queued-but-unsent messages are dropped; senders see closed
        self._ended.set()
        if end.error is not None:
            log.info("session ended: %s", end.error)


def _end_for(
    error: SessionError, resume_handle: str | None, *, closing: bool = False
) -> SessionEnd:
    """Describe the end caused by ``error`` (a close, a timeout, a refused connection)."""
    if isinstance(error, ConnectionClosed):
        if closing:
            return SessionEnd("client", error.code, error.reason, None, resume_handle)
        if error.code == 1006:
            return SessionEnd("network", 1006, error.reason, error, resume_handle)
        failure = None if isinstance(error, NormalClosure) else error
        return SessionEnd("server", error.code, error.reason, failure, resume_handle)
    return SessionEnd("network", 1006, str(error), error, resume_handle)


@asynccontextmanager
async def open_session(
    setup: m.Setup,
    *,
    endpoint: Endpoint,
    transport: Transport | None = None,
    options: SessionOptions | None = None,
) -> AsyncIterator[Session]:
    """Open an L0 session for the duration of the ``async with`` block.

    Yields once ``setupComplete`` has arrived.  On exit the session is closed gracefully (bounded
    by ``options.close_grace``) and no task is left behind.  Errors before the yield (connect,
    timeout, rejected setup) are raised as they are; an exception from the body propagates
    unchanged, after the session is closed.
    """
    session = Session(setup, endpoint=endpoint, transport=transport, options=options)
    async with open_owned_nursery(session.close, "session") as nursery:
        await nursery.start(session.run)
        yield session
