"""The L0 session: one connection speaking the Live protocol, as two tasks and a broadcast.

:func:`open_session` connects, sends ``setup``, waits for ``setupComplete`` and yields a
:class:`Session`.  The task that runs the session is its reader once set up; besides it, only
the transport's own tasks run, and a writer task while there is a backlog:

* the **reader** drains the connection continuously (trio-websocket stops answering pings and close
  frames while its queue is full), decodes each frame and publishes :class:`SessionEvent` s on a
  :class:`~livehandle.lowlevel.Broadcast`, which never blocks it;
* sends write in the caller's task while the socket is free, and a **writer** task drains a
  bounded queue only under backpressure, so messages leave in the order :meth:`Session.send`
  accepted them and an idle session runs no writer at all.

The session tracks its :class:`SessionPhase`, the newest resumable handle and ``goAway``, and turns
close codes into :class:`~livehandle.ConnectionClosed` subclasses.  When it ends, for any
reason, it publishes ``Error`` (if abnormal) and ``Disconnected`` as the last events, closes the
broadcast so every subscription ends, and makes every later send raise
:class:`~livehandle.SessionClosed` at once.
"""

from __future__ import annotations

import math
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal

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
from livehandle._logs import connection_scope, library_logger
from livehandle._nursery import LazyEvent, let_go, open_owned_nursery
from livehandle._session.options import SessionOptions
from livehandle._session.outbound import Outbound
from livehandle._session.protocol import ProtocolState
from livehandle._transport.websocket import WebSocketTransport
from livehandle._wire import messages as m
from livehandle._wire.codec import decode_server, encode_client, encode_realtime_audio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from livehandle._transport.base import Connection, Transport
    from livehandle._transport.endpoints import Endpoint

__all__ = ["Session", "open_session"]

log = library_logger("livehandle.session")


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
        self._protocol = ProtocolState(self._publish, endpoint.scrub_content)
        # lossless: a send waits while the queue is full
        self._outbound = Outbound(
            self._options.outbound_capacity, self._options.write_timeout, self._protocol.after_send
        )
        self._session_id: str | None = None
        self._closing = False
        self._end: SessionEnd | None = None
        self._ended = LazyEvent()
        self._connection: Connection | None = None
        self._connection_id = 0
        self._cancel_scope: trio.CancelScope | None = None
        self._started = False

    def __repr__(self) -> str:
        return f"<Session {self._endpoint.redacted_url} phase={self._protocol.phase.value}>"

    # -- observation --------------------------------------------------------------------------

    @property
    def phase(self) -> SessionPhase:
        """The current phase."""
        return self._protocol.phase

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
        return self._protocol.resume_handle

    @property
    def messages_written(self) -> int:
        """How many client messages after ``setup`` have been put on the wire so far.

        The n-th message :meth:`send` accepted is the n-th written (sends keep their order),
        so a layer above can tell which of its messages have left.
        """
        return self._outbound.written

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

    def retain_events(self) -> None:
        """Keep the events published from now on for subscriptions made later.

        Until :meth:`release_events`, a new subscription starts with every event kept so far
        (at most ``event_capacity``; what overflowed is reported as lag).  :func:`open_session`
        retains from before the connection until its body's first checkpoint, so a
        subscription made on the body's first line sees ``Connected`` and everything after.
        """
        self._events.retain()

    def release_events(self) -> None:
        """Stop keeping events: later subscriptions see only what is published after them."""
        self._events.release()

    async def wait_closed(self) -> SessionEnd:
        """Wait until the session has ended, and say how."""
        await self._ended.wait()
        assert self._end is not None
        return self._end

    # -- sending ------------------------------------------------------------------------------

    async def send(self, message: m.ClientMessage) -> None:
        """Send ``message``: written at once while the socket is free, else queued.

        The message is encoded in the caller's task, so a message that cannot be encoded raises
        here and nothing is sent.  Returning means accepted: written to the socket, or queued
        behind earlier messages (waits while the outbound queue is full).  A write that has
        started is never cut short by a cancel (see ``SessionOptions.write_timeout``).

        Raises:
            SessionClosed: the session has ended or is closing (raised at once).
            ProtocolError: the message cannot be encoded.
        """
        self._check_open()  # before encoding: a closed session refuses at once
        await self.send_encoded(encode_client(message), message)

    async def send_audio(self, pcm: bytes, mime_type: str) -> None:
        """Send one ``realtimeInput.audio`` frame, encoded directly (the microphone's hot path).

        The same as ``send(RealtimeInput(audio=Blob(mime_type, pcm)))`` on the wire; ``pcm`` is
        not checked here (the writer above checks it).

        Raises:
            SessionClosed: the session has ended or is closing (raised at once).
        """
        await self.send_encoded(encode_realtime_audio(pcm, mime_type))

    async def send_encoded(self, text: str, message: m.ClientMessage | None = None) -> None:
        """Send a client message already encoded to JSON text (for a layer that keeps it).

        ``message`` is the decoded form, for the session's own bookkeeping (the typed-text events,
        the tool-call phase); None for an audio frame.  The text is sent as it is.

        Raises:
            SessionClosed: the session has ended or is closing (raised at once).
        """
        self._check_open()
        # A cancel point always; a scheduler round trip only when the socket or the queue makes
        # the caller wait.
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            await self._outbound.send(text, message)
        except trio.ClosedResourceError:
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
        """Connect, set up, then read (and write under backpressure) until the session ends.

        Calls ``task_status.started(self)`` once ``setupComplete`` has arrived.  Failures before
        that (connect, timeouts, a server that rejects the setup) are raised from here, so
        ``nursery.start(session.run)`` raises them.  Afterwards nothing is raised: the end is
        returned, published as ``Disconnected``, and available from :meth:`wait_closed`.
        """
        if self._cancel_scope is not None:
            raise RuntimeError("a Session can only be run once")
        task_status = let_go(task_status)  # idle, this task keeps no start-up nursery alive
        # One frame for the whole run (not a helper): an idle session waits in this task.
        with connection_scope():  # this connection's tasks log its number, and only its
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
                        self._outbound.attach(connection, nursery)
                        log.info("connected to %s", self._endpoint.redacted_url)
                        self._started = True
                        task_status.started(self)
                        await self._run_reader(connection)  # this task reads from now on
                if failure is not None:
                    error = (
                        failure
                        if isinstance(failure, SessionError)
                        else SessionClosed(str(failure))
                    )
                    self._finish(_end_for(error, self._protocol.resume_handle), publish_error=False)
                    raise failure
            finally:
                if self._end is None:  # cancelled from outside: the session ends here too
                    self._finish(
                        SessionEnd("client", 1000, "cancelled", None, self._protocol.resume_handle)
                    )
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
            self._protocol.set_phase(SessionPhase.DISCONNECTING)
            self._outbound.close()  # what was accepted still goes out
        grace = self._options.close_grace
        with trio.CancelScope(shield=True):
            with trio.move_on_after(grace):
                await self._outbound.flush()
            if self._connection is not None:
                await self._connection.aclose(code, reason)
            with trio.move_on_after(grace):
                await self._ended.wait()
            if not self._ended.is_set():
                # The reader never saw the close completing; end it ourselves.
                self._finish(SessionEnd("client", code, reason, None, self._protocol.resume_handle))
                if self._cancel_scope is not None:
                    self._cancel_scope.cancel()
        end = self.end  # the property: mypy narrowed the attribute above
        assert end is not None
        return end

    async def _connect_and_setup(self, nursery: trio.Nursery) -> Connection:
        opts = self._options
        self._protocol.set_phase(SessionPhase.CONNECTING)
        # One cancel scope bounds the connect, then the wait for setupComplete (the send between
        # them is not bounded): Trio keeps an exited scope with a deadline until that deadline
        # has passed, so one scope costs an idle session half of what two would for 10-15 s.
        # A connect that finishes just as its deadline passes is a timeout: the scope is
        # cancelled by then, and the setup's send raises; the connection is closed below.
        step, timeout = "connect", opts.connect_timeout
        try:
            with trio.CancelScope(deadline=trio.current_time() + timeout) as limit:
                connection = await self._transport.connect(self._endpoint, nursery)
                limit.deadline = math.inf
                try:
                    self._protocol.set_phase(SessionPhase.SETUP_SENT)
                    setup_text, self._setup_text = self._setup_text, ""  # sent once: not kept
                    await connection.send(setup_text)
                    step, timeout = "setup", opts.setup_timeout
                    limit.deadline = trio.current_time() + timeout
                    complete = await self._wait_setup_complete(connection)
                except BaseException:
                    with trio.CancelScope(shield=True):
                        await connection.aclose(1000, "")
                    raise
        except trio.TooSlowError:  # a transport's own bound (e.g. a proxy's): the same timeout
            raise SessionTimeout(step, timeout) from None
        if limit.cancelled_caught:
            raise SessionTimeout(step, timeout)
        self._session_id = complete.session_id
        self._protocol.set_phase(SessionPhase.ACTIVE)
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
                self._protocol.handle(message)
        except ConnectionClosed as exc:
            self._finish(
                _end_for(
                    exc,
                    self._protocol.resume_handle,
                    closing=self._closing,
                    after_go_away=self._protocol.go_away is not None,
                )
            )
        # Stop the writer (it may be blocked on the dead socket), let the transport finish its
        # close handshake and cleanup (idempotent, bounded), then end whatever the transport left
        # in the nursery, so run() returns promptly on every path.
        self._outbound.stop()
        await connection.aclose()
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    # -- state --------------------------------------------------------------------------------

    def mark_tools_executing(self) -> None:
        """Note that the client started running the pending tool calls (for the phase)."""
        self._protocol.mark_tools_executing()

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

    def _finish(self, end: SessionEnd, *, publish_error: bool = True) -> None:
        """Record the end once: final events, close the broadcast and the outbound channel."""
        if self._end is not None:
            return
        self._end = end
        if publish_error and end.error is not None:
            self._publish(SessionEvent.Error(end.error))
        self._protocol.set_phase(SessionPhase.DISCONNECTED)
        self._publish(SessionEvent.Disconnected(end))
        self._events.close()
        self._outbound.stop()  # queued-but-unsent messages are dropped; senders see closed
        self._ended.set()
        if end.error is not None:
            log.info("session ended: %s", end.error)
        else:
            log.info("session ended by the %s (code %d)", end.initiated_by, end.code)


#: Close codes that end a connection for a reason of its own even after a goAway.
_FATAL_CODES = (1007, 1008)


def _end_for(
    error: SessionError,
    resume_handle: str | None,
    *,
    closing: bool = False,
    after_go_away: bool = False,
) -> SessionEnd:
    """Describe the end caused by ``error`` (a close, a timeout, a refused connection).

    After a ``goAway`` the server ends the connection when its time is up (close 1011 "Deadline
    expired", or a plain drop, wire-protocol §3.5, §5.4): that is the announced end, not a
    failure, and its reason is ``"go_away"``.
    """
    if isinstance(error, ConnectionClosed):
        if closing:
            return SessionEnd("client", error.code, error.reason, None, resume_handle)
        if after_go_away and error.code not in _FATAL_CODES:
            return SessionEnd("server", error.code, "go_away", None, resume_handle)
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

    Yields once ``setupComplete`` has arrived.  A subscription made before the body's first
    checkpoint sees every event from the start, ``Connected`` included (the session's events
    are retained until then); one made later sees what follows it.  On exit the session is
    closed gracefully (bounded by ``options.close_grace``) and no task is left behind.  Errors
    before the yield (connect, timeout, rejected setup) are raised as they are; an exception
    from the body propagates unchanged, after the session is closed.
    """
    session = Session(setup, endpoint=endpoint, transport=transport, options=options)
    session.retain_events()
    async with open_owned_nursery(session.close, "session") as nursery:
        await nursery.start(session.run)
        # Trio runs a new task only once the running one reaches a checkpoint: this one ends
        # the retention once the body has reached its first.
        nursery.start_soon(_call, session.release_events)
        yield session


async def _call(function: Callable[[], None]) -> None:
    """Call ``function`` (a task that runs only once its starter has reached a checkpoint)."""
    function()
