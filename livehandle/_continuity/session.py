"""L0.5: one logical session over successive connections (``LiveConfig(auto_resume=True)``).

A Gemini Live connection lasts about ten minutes (the server sends ``goAway``, then closes), and
networks drop connections.  :class:`ResumingSession` presents one session to the runtime across
any number of L0 :class:`~livehandle.lowlevel.Session` connections:

* **one event stream**: events of the current connection are forwarded in order; a connection's
  own end is not (the session goes on); ``Reconnecting`` and ``Resumed`` mark each switch, and
  ``Resumed`` is the first event of the new connection, so nothing slips between connections;
* **goAway**: the switch happens at a safe point (the newest handle is resumable and nothing was
  sent or received since it arrived): at once if the session is at one, else at the next fresh
  resumable handle, else ``go_away_margin`` seconds before the deadline (a timer: the server may
  go silent).  The old connection is closed first (the server refuses a resume while it is
  open), then the new one is opened with the newest resumable handle;
* **abnormal ends** (1006, 1011): reconnect with the newest resumable handle, with bounded,
  jittered backoff; a refused or expired handle, a fatal close (1007, 1008) or too many failed
  attempts end the session for good;
* **nothing lost silently**: sends never fail during a gap; the :class:`ReplayLog` holds what the
  server may not have and sends it again, in order, before anything newer.  Audio that could not
  be kept or whose fate is unknown is counted and reported in ``Resumed.lost_audio_ms``.

Tool answers stay bound to their connection: :attr:`ResumingSession.connection_id` counts
connections across the session, so an answer for a call from an old connection is refused.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Literal

import attrs
import trio

from livehandle._broadcast import Broadcast, Subscription
from livehandle._continuity.log import MESSAGE, TEXT, Entry, ReplayLog, new_entry
from livehandle._errors import (
    ConnectionClosed,
    ConnectionLost,
    InvalidArgument,
    NormalClosure,
    PolicyViolation,
    ResumeFailed,
    ServerError,
    SessionClosed,
    SessionError,
)
from livehandle._events import SessionEnd, SessionEvent, SessionPhase
from livehandle._logs import LogScope, current_scope, library_logger, scoped
from livehandle._nursery import let_go
from livehandle._session.session import Session
from livehandle._wire.codec import encode_client, encode_realtime_audio

if TYPE_CHECKING:
    from collections.abc import Callable

    from livehandle._continuity.policy import ResumePolicy
    from livehandle._session.options import SessionOptions
    from livehandle._transport.base import Transport
    from livehandle._transport.endpoints import Endpoint
    from livehandle._wire import messages as m

__all__ = ["ResumingSession"]

log = library_logger("livehandle.continuity")

#: Microphone audio is 16 kHz PCM16 mono: 32 bytes a millisecond.
BYTES_PER_MS = 32

# Events that are not "something happened in the conversation" for the safe-point rule.
_QUIET = (
    SessionEvent.SessionResumeUpdate,
    SessionEvent.GoAway,
    SessionEvent.Usage,
    SessionEvent.PhaseChanged,
)


_LEAVING_PHASES = (SessionPhase.DISCONNECTING, SessionPhase.DISCONNECTED)


@attrs.define
class _Switch:
    """Why the current connection is being left, and when that started."""

    reason: str
    since: float


class ResumingSession:
    """A session that outlives its connections (see the module docstring).

    Args:
        setup: the setup of the first connection; later ones carry the newest resumable handle.
        endpoint: where to connect.
        transport: how bytes move (default: trio-websocket).
        options: each connection's limits and capacities.
        policy: attempts, backoff and buffer bounds.
        transparent: the server reports ``lastConsumedClientMessageIndex`` (Vertex transparent
            resumption), which trims the replay log exactly.
    """

    def __init__(
        self,
        setup: m.Setup,
        *,
        endpoint: Endpoint,
        transport: Transport | None,
        options: SessionOptions,
        policy: ResumePolicy,
        transparent: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        encode_client(setup)  # a bad setup fails here, before any I/O
        self._setup = setup
        self._endpoint = endpoint
        self._transport = transport
        self._options = options
        self._policy = policy
        self._transparent = transparent
        self._rng = rng or random.Random()
        self._events: Broadcast[SessionEvent] = Broadcast(options.event_capacity)
        self._taps: list[Callable[[SessionEvent], None]] = []
        self._log = ReplayLog(
            audio_limit=policy.buffer_audio_ms * BYTES_PER_MS,
            message_limit=policy.buffer_messages,
            settle_bytes=round(policy.settle * 1000 * BYTES_PER_MS),
        )
        self._room = trio.lowlevel.ParkingLot()  # senders waiting for buffer room
        self._current: Session | None = None  # the connection events come from
        self._live: Session | None = None  # the connection sends go to (None during a gap)
        self._connections = 0  # attempts, refused ones included: each has its own id
        self._established = 0  # connections that completed their setup
        resumption = setup.session_resumption
        self._resume_handle = resumption.handle if resumption is not None else None
        self._phase = SessionPhase.DISCONNECTED
        self._leaving = False  # the current connection is being left (switch or end)
        self._go_away: float | None = None  # the current connection's switch deadline
        self._switch: _Switch | None = None
        self._wake = trio.Event()  # the current connection ended, or a switch is due
        self._gap_since: float | None = None
        self._closing = False
        self._end: SessionEnd | None = None
        self._ended = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._log_scope = LogScope()  # replaced by the scope ``run`` runs in
        #: Connections opened after the first one.
        self.reconnects = 0

    def __repr__(self) -> str:
        return (
            f"<ResumingSession {self._endpoint.redacted_url} connection={self._connections} "
            f"phase={self._phase.value}>"
        )

    # -- observation ----------------------------------------------------------------------------

    @property
    def phase(self) -> SessionPhase:
        """The logical phase (``CONNECTING`` during a gap)."""
        return self._phase

    @property
    def connection_id(self) -> int:
        """The current connection's number across the session: 1, then 2 after a switch...

        While the session is leaving a connection (a switch, or a connection that ended) it is
        the negated number, which no connection has: an answer computed then for a call of the
        old connection is refused, never held and sent on the next one.
        """
        return -self._connections if self._leaving else self._connections

    @property
    def resume_handle(self) -> str | None:
        """The newest handle the server marked resumable, or None."""
        return self._resume_handle

    @property
    def end(self) -> SessionEnd | None:
        """How the session ended for good, or None while it goes on."""
        return self._end

    @property
    def replay_log(self) -> ReplayLog:
        """What the server may not have yet (for telemetry and tests)."""
        return self._log

    def subscribe(
        self,
        *,
        capacity: int | None = None,
        on_lag: Literal["raise", "skip"] = "raise",
        accept: Callable[[SessionEvent], bool] | None = None,
    ) -> Subscription[SessionEvent]:
        """Subscribe to the session's events from now on, across connections."""
        return self._events.subscribe(capacity=capacity, on_lag=on_lag, accept=accept)

    def retain_events(self) -> None:
        """Keep the events published from now on for subscriptions made later (see Session)."""
        self._events.retain()

    def release_events(self) -> None:
        """Stop keeping events: later subscriptions see only what is published after them."""
        self._events.release()

    def add_tap(self, tap: Callable[[SessionEvent], None]) -> None:
        """Call ``tap`` synchronously with every event, in order, before subscribers get it."""
        self._taps.append(tap)

    async def wait_closed(self) -> SessionEnd:
        """Wait until the session has ended for good, and say how."""
        await self._ended.wait()
        assert self._end is not None
        return self._end

    def mark_tools_executing(self) -> None:
        """Note that the client started running the pending tool calls (for the phase)."""
        if self._current is not None:
            self._current.mark_tools_executing()

    # -- sending --------------------------------------------------------------------------------

    async def send(self, message: m.ClientMessage) -> None:
        """Send ``message`` now, or hold it for the next connection during a gap.

        Raises:
            SessionClosed: the session has ended for good (never during a gap).
            ProtocolError: the message cannot be encoded.
        """
        self._check_open()
        await self._submit(new_entry(encode_client(message), message))

    async def send_audio(self, pcm: bytes, mime_type: str) -> None:
        """Send one microphone frame, or hold it during a gap (the oldest held audio may go).

        Raises:
            SessionClosed: the session has ended for good.
        """
        text = encode_realtime_audio(pcm, mime_type)
        live, log = self._live, self._log
        if live is not None and not log.waiting:  # the hot path: one frame, no detour
            try:
                await live.send_encoded(text)
            except SessionClosed:
                self._check_open()  # ended for good: raise; else the connection died
                log.add_waiting(new_entry(text, None, len(pcm)))
                return
            log.add_queued_audio(text, len(pcm))
            return
        self._check_open()
        await self._submit(new_entry(text, None, len(pcm)))

    async def _submit(self, entry: Entry) -> None:
        while True:
            live = self._live
            if live is not None and self._log.all_queued:
                try:
                    await live.send_encoded(entry[TEXT], entry[MESSAGE])
                except SessionClosed:
                    self._check_open()  # ended for good: raise; else the connection died
                    self._log.add_waiting(entry)
                    return
                # No checkpoint since the connection accepted it: the log keeps the wire order.
                self._log.add_queued(entry)
                return
            if entry[MESSAGE] is None or self._log.message_room():
                await trio.lowlevel.checkpoint()
                self._check_open()
                if self._live is not None and self._log.all_queued:
                    continue  # the session went live meanwhile: send it now, after the replay
                self._log.add_waiting(entry)
                return
            await self._room.park()  # lossless: text, tool answers and instructions wait
            self._check_open()

    def _check_open(self) -> None:
        if self._end is not None:
            raise SessionClosed(cause=self._end.error)
        if self._closing:
            raise SessionClosed("the session is closing")

    # -- lifecycle ------------------------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[ResumingSession] = trio.TASK_STATUS_IGNORED
    ) -> SessionEnd:
        """Connect, then keep the session going across connections until it ends for good.

        Calls ``task_status.started(self)`` once the first ``setupComplete`` arrived; failures
        before that are raised from here, as for a single connection.
        """
        if self._nursery is not None:
            raise RuntimeError("a ResumingSession can only be run once")
        task_status = let_go(task_status)  # idle, this task keeps no start-up nursery alive
        # The handle's scope when a handle runs this session (its tasks then report each new
        # connection's number), else one of its own.
        scope = current_scope()
        self._log_scope = scope if scope is not None else LogScope()
        with scoped(self._log_scope):
            try:
                await self._run(task_status)
            finally:
                if self._end is None:  # cancelled from outside: the session ends here too
                    end = SessionEnd("client", 1000, "cancelled", None, self._resume_handle)
                    self._finish(end)
        assert self._end is not None
        return self._end

    async def _run(self, task_status: trio.TaskStatus[ResumingSession]) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            first = self._connection()
            try:
                await nursery.start(first.run)
            except BaseException:
                if first.end is not None:
                    self._finish(first.end, publish_error=False)
                raise
            self._go_live(first)
            task_status.started(self)
            await self._supervise(first)
            nursery.cancel_scope.cancel()

    async def close(self, code: int = 1000, reason: str = "") -> SessionEnd:
        """End the session for good: close the current connection gracefully (bounded).

        Messages still held for a next connection cannot be delivered any more; they are
        dropped, counted and logged.
        """
        if self._end is not None:
            return self._end
        self._closing = True
        with trio.CancelScope(shield=True):
            current = self._current
            if current is not None and current.end is None:
                await current.close(code, reason)
            end = self._finish(SessionEnd("client", code, reason, None, self._resume_handle))
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()
        return end

    def _connection(self) -> Session:
        setup = self._setup
        if self._connections and setup.session_resumption is not None:
            resumption = attrs.evolve(setup.session_resumption, handle=self._resume_handle)
            setup = attrs.evolve(setup, session_resumption=resumption)
        session = Session(
            setup, endpoint=self._endpoint, transport=self._transport, options=self._options
        )
        self._connections += 1
        self._log_scope.connection_id = self._connections  # the session's tasks report it now
        self._leaving = False
        self._current = session
        self._wake = trio.Event()
        self._go_away = None
        self._switch = None
        session.add_tap(lambda event: self._forward(session, event))
        return session

    def _go_live(self, session: Session) -> None:
        self._live = session
        self._gap_since = None
        self._room.unpark_all()

    async def _supervise(self, session: Session) -> None:
        """Follow each connection to its end; open the next one while the session goes on."""
        while True:
            await self._wake.wait()
            if self._closing:
                return
            switch = self._switch
            announced = switch is not None
            if switch is not None:
                self._live = None  # from now on sends wait for the next connection
                self._gap_since = switch.since
                # Announced before the old socket closes, so its running tools stop now.
                self._set_phase(SessionPhase.CONNECTING)
                self._publish(SessionEvent.Reconnecting(switch.reason, 1))
                await session.close(1000, "resuming on a new connection")  # old socket first
                reason = switch.reason
            else:
                end = session.end
                assert end is not None
                self._live = None
                self._gap_since = trio.current_time()
                resumable = self._resumable(end)
                if resumable is None:
                    self._finish(end)
                    return
                reason = resumable
            self._log.connection_lost()
            if self._resume_handle is None:
                # Reconnecting without a handle would start a new conversation in silence.
                self._fail(
                    ResumeFailed(
                        "no resumable handle to resume with",
                        cause=None if session.end is None else session.end.error,
                        attempts=0,
                    )
                )
                return
            self._set_phase(SessionPhase.CONNECTING)
            next_session = await self._reconnect(reason, announced=announced)
            if next_session is None:
                return
            await self._replay(next_session)
            session = next_session

    def _resumable(self, end: SessionEnd) -> str | None:
        """Why a connection that ended may be resumed, or None when the session must end."""
        if end.reason == "go_away" and end.error is None:
            return "go_away"
        error = end.error
        if isinstance(error, InvalidArgument | PolicyViolation | NormalClosure) or (
            error is None and end.initiated_by == "server"
        ):
            return None
        if isinstance(error, ConnectionLost) or end.initiated_by == "network":
            return "connection_lost"
        if isinstance(error, ServerError):
            return "server_error"
        if isinstance(error, ConnectionClosed):
            return "connection_closed"
        return None if error is None else "connection_lost"

    async def _reconnect(self, reason: str, *, announced: bool = False) -> Session | None:
        """Open the next connection, with backoff; None when the session ended instead."""
        assert self._nursery is not None
        last: SessionError | None = None
        for attempt in range(1, self._policy.max_attempts + 1):
            self._set_phase(SessionPhase.CONNECTING)
            if not (announced and attempt == 1):
                self._publish(SessionEvent.Reconnecting(reason, attempt))
            log.info("reconnecting (%s), attempt %d", reason, attempt)
            await trio.sleep(self._policy.delay(attempt, self._rng))
            if self._closing:
                return None
            session = self._connection()
            try:
                await self._nursery.start(session.run)
            except (SessionError, ValueError) as exc:
                last = exc if isinstance(exc, SessionError) else SessionClosed(str(exc))
                if isinstance(exc, InvalidArgument | PolicyViolation):
                    self._fail(
                        ResumeFailed("the server refused to resume", cause=last, attempts=attempt)
                    )
                    return None
                log.info("resume attempt %d failed: %s", attempt, exc)
                reason = "setup_failed"
                continue
            self.reconnects += 1
            return session
        self._fail(
            ResumeFailed(
                f"no connection after {self._policy.max_attempts} attempts",
                cause=last,
                attempts=self._policy.max_attempts,
            )
        )
        return None

    async def _replay(self, session: Session) -> None:
        """Send what the log holds, in order, before anything newer; then go live."""
        while (entry := self._log.next_waiting()) is not None:
            try:
                await session.send_encoded(entry[TEXT], entry[MESSAGE])
            except SessionClosed:
                return  # this connection died too: the supervisor sees its end
            self._log.mark_queued(entry)
            self._room.unpark_all()
        self._go_live(session)

    # -- events ---------------------------------------------------------------------------------

    def _forward(self, session: Session, event: SessionEvent) -> None:
        """The tap on each connection: forward, translate or hold its events."""
        if session is not self._current:
            return  # a late event of a connection the session has left
        match event:
            case SessionEvent.Connected():
                self._established += 1
                if self._established == 1:
                    self._publish(event)
                else:
                    self._resumed()
            case SessionEvent.Disconnected():
                self._leaving = True
                self._wake.set()
            case SessionEvent.Error(error=error) if isinstance(error, ConnectionClosed):
                pass  # the connection's end: published by _finish only if the session ends
            case SessionEvent.PhaseChanged(new=new):
                # A connection being left, or failing, says nothing of the session's phase.
                if new not in _LEAVING_PHASES and not self._leaving:
                    self._set_phase(new)
            case SessionEvent.SessionResumeUpdate(
                handle=handle, resumable=resumable, last_consumed_index=consumed
            ):
                if resumable and handle:
                    self._resume_handle = handle
                    index = consumed if self._transparent else None
                    self._log.checkpoint(session.messages_written, index)
                    self._room.unpark_all()
                    if self._go_away is not None:
                        self._request_switch("go_away")  # a fresh resumable point: switch now
                self._publish(event)
            case SessionEvent.GoAway(time_left=time_left):
                self._publish(event)
                self._on_go_away(session, time_left)
            case _:
                if not isinstance(event, _QUIET):
                    self._log.heard(session.messages_written)
                self._publish(event)

    def _on_go_away(self, session: Session, time_left: float | None) -> None:
        now = trio.current_time()
        left = 60.0 if time_left is None else time_left  # §3.5: about a minute when unsaid
        self._go_away = now + max(0.0, left - self._policy.go_away_margin)
        if self._resume_handle is not None and self._log.at_safe_point():
            self._request_switch("go_away")
        elif self._nursery is not None:
            self._nursery.start_soon(self._go_away_deadline, session, self._go_away)

    async def _go_away_deadline(self, session: Session, deadline: float) -> None:
        await trio.sleep_until(deadline)
        if session is self._current and self._switch is None and session.end is None:
            log.info("no safe point before the goAway deadline: switching now")
            self._request_switch("go_away")

    def _request_switch(self, reason: str) -> None:
        if self._switch is None and self._resume_handle is not None:
            self._switch = _Switch(reason, trio.current_time())
            self._live = None  # at once: nothing more goes to the old connection
            self._leaving = True
            self._wake.set()

    def _resumed(self) -> None:
        now = trio.current_time()
        since = self._gap_since if self._gap_since is not None else now
        lost_ms = self._log.take_lost() / BYTES_PER_MS
        log.info("resumed after %.0f ms; %.0f ms of audio lost", (now - since) * 1000.0, lost_ms)
        self._publish(
            SessionEvent.Resumed(self._established, (now - since) * 1000.0, len(self._log), lost_ms)
        )

    def _set_phase(self, new: SessionPhase) -> None:
        old = self._phase
        if new is not old:
            self._phase = new
            self._publish(SessionEvent.PhaseChanged(old, new))

    def _publish(self, event: SessionEvent) -> None:
        for tap in self._taps:
            tap(event)
        self._events.publish(event)

    def _fail(self, error: ResumeFailed) -> None:
        cause = error.cause
        code = cause.code if isinstance(cause, ConnectionClosed) else 1006
        self._finish(SessionEnd("network", code, str(error), error, self._resume_handle))

    def _finish(self, end: SessionEnd, *, publish_error: bool = True) -> SessionEnd:
        """Record the end for good: final events, close the stream, release waiting senders."""
        if self._end is not None:
            return self._end
        end = attrs.evolve(end, resume_handle=self._resume_handle)
        self._end = end
        self._live = None
        if publish_error and end.error is not None:
            self._publish(SessionEvent.Error(end.error))
        dropped = self._log.drain()
        if dropped:
            log.warning("the session ended with %d messages not delivered", dropped)
        self._set_phase(SessionPhase.DISCONNECTED)
        self._publish(SessionEvent.Disconnected(end))
        self._events.close()
        self._room.unpark_all()
        self._ended.set()
        return end
