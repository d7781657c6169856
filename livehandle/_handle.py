"""LiveHandle: the one object a voice bot holds for a live session.

It is created by :func:`~livehandle.open_live_session` and is valid inside its ``async with``
block.  Sends go through one bounded outbound queue (lossless: a send waits while it is full), so
calls from one task keep their order; several tasks may share the handle.  Events come out three
ways: :meth:`LiveHandle.subscribe` (raw wire events), :meth:`LiveHandle.events` (LiveEvents; a
subscriber that falls behind gets ``Lagged``) and :meth:`LiveHandle.stream` (LiveEvents, skipping
lag, ending with the session).  After the session has ended every send raises ``SessionClosed``
at once.  The handle is built by ``livehandle._assemble``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast, final, overload

import attrs
import trio

from livehandle._errors import SessionError
from livehandle._nursery import LazyEvent
from livehandle._public import NoPublicConstructor
from livehandle._runtime.pipeline import context_contents
from livehandle._runtime.writer import SessionWriter, check_pcm16, check_tool_responses

if TYPE_CHECKING:
    from collections.abc import Sequence

    from livehandle._broadcast import Broadcast, Subscription
    from livehandle._events import LiveEvent, SessionEnd, SessionEvent, SessionPhase
    from livehandle._extract.runner import ExtractionRunner
    from livehandle._extract.turns import TranscriptTurn
    from livehandle._flow import Flow, FlowExplanation, Resume
    from livehandle._persist.capture import SnapshotSource
    from livehandle._persist.saver import SnapshotSaver
    from livehandle._persist.snapshot import SessionSnapshot
    from livehandle._runtime.answers import ToolStats
    from livehandle._runtime.dispatch import ToolDispatcher
    from livehandle._runtime.flow import FlowGovernor
    from livehandle._runtime.lanes import Lanes
    from livehandle._runtime.reactor import VoiceRuntimeState
    from livehandle._runtime.telemetry import SessionTelemetry
    from livehandle._runtime.vad import BackendVadSnapshot
    from livehandle._runtime.voice import VoiceRuntime
    from livehandle._session.port import SessionPort
    from livehandle._state import State
    from livehandle._transport.endpoints import Endpoint
    from livehandle._wire import messages as m

__all__ = ["DISCONNECT_GRACE", "LiveHandle"]

_T = TypeVar("_T")

DISCONNECT_GRACE = 0.25  # seconds each lane may spend draining during disconnect()


@final
class LiveHandle(metaclass=NoPublicConstructor):
    """Stream audio, text and video in; receive model audio, transcripts and tool calls out.

    Get one from :func:`~livehandle.open_live_session`: the class has no public constructor
    (``LiveHandle(...)`` raises ``TypeError``) and is not meant to be subclassed.

    Accessors follow one rule.  A **property** is one of the session's records, something it
    keeps adding to over its whole life (:attr:`state`, :attr:`telemetry`, :attr:`tool_stats`,
    :attr:`transcript`): reading it is cheap, never waits and changes nothing.  A **method**
    either answers a question about the session at the moment of the call, with a snapshot that
    does not change afterwards (:meth:`phase`, :meth:`voice_state`, :meth:`input_vad_state`,
    :meth:`resume_handle`), or hands out something to act through (:meth:`writer`,
    :meth:`subscribe`, :meth:`events`, :meth:`stream`).

    Input is checked once, here at the public boundary (or in the writer's public methods, the
    other public way in): a wrong type raises ``TypeError``, a bad value ``ValueError``, and
    nothing is sent.  A send is counted in :attr:`telemetry` once the session accepted it.
    """

    _get_one_from: ClassVar[str] = "livehandle.open_live_session()"

    def __init__(
        self,
        session: SessionPort,
        endpoint: Endpoint,
        *,
        events: Broadcast[LiveEvent],
        state: State,
        telemetry: SessionTelemetry,
        writer: SessionWriter,
        voice: VoiceRuntime,
        tools: ToolDispatcher,
        lanes: Lanes,
        source: SnapshotSource,
        extraction: ExtractionRunner | None = None,
        governor: FlowGovernor | None = None,
    ) -> None:
        self._session = session
        self._extraction = extraction
        self._governor = governor
        self._endpoint = endpoint
        self._events = events
        self._state = state
        self._telemetry = telemetry
        self._writer = writer
        self._voice = voice
        self._tools = tools
        self._lanes = lanes
        self._source = source
        self._saver: SnapshotSaver | None = None
        self._end_error: SessionError | None = None
        self._disconnecting = False
        self._disconnected = LazyEvent()

    def __repr__(self) -> str:
        return f"<LiveHandle {self._endpoint.redacted_url} phase={self.phase().value}>"

    # -- sending ------------------------------------------------------------------------------

    async def send_audio(self, pcm: bytes) -> None:
        """Send a chunk of 16 kHz mono PCM16 microphone audio, through the input VAD.

        A speech start detected in the chunk runs :meth:`user_speech_started` before the chunk
        goes out; a speech end runs :meth:`user_speech_ended` after it.  With server VAD off,
        the matching ``activityStart``/``activityEnd`` marks are sent once per edge.

        Raises:
            TypeError: not bytes-like (nothing is sent).
            ValueError: an odd number of bytes (nothing is sent, the VAD sees nothing).
            SessionClosed: the session has ended.
        """
        # Checked here, once: the VAD and the writer below take the checked bytes as they are.
        await self._voice.send_audio(check_pcm16(pcm))

    async def send_text(self, text: str) -> None:
        """Send a typed turn; once sent it is recorded as the user side of the current turn.

        Raises:
            TypeError: not a str.
            ValueError: the empty string.
            SessionClosed: the session has ended.
        """
        await self._writer.send_text(text)  # the session reports it once on the wire

    async def send_video(self, frame: bytes, mime_type: str = "image/jpeg") -> None:
        """Send one video frame (JPEG or PNG).

        Raises:
            TypeError: the frame is not bytes-like or the MIME type not a str.
            ValueError: an empty frame, or a MIME type that is not ``image/*``.
            SessionClosed: the session has ended.
        """
        await self._writer.send_video(frame, mime_type)

    async def update_instruction(self, instruction: str) -> None:
        """Replace the system instruction (contextUpdate, or the backend's fallback).

        Raises:
            TypeError: not a str.
            ValueError: the empty string.
        """
        await self._writer.update_instruction(instruction)

    async def send_tool_response(self, responses: Sequence[m.FunctionResponse]) -> None:
        """Answer function calls from a ``ToolCall`` event.

        When a flow governs the session, each final answer without an ``"error"`` key counts
        as a success of its tool, as the session's own answers do.

        Raises:
            TypeError: an item is not a ``FunctionResponse``.
            ValueError: no responses.
        """
        checked = check_tool_responses(responses)
        await self._writer.send_tool_response(checked)
        self._tools.application_answered(checked)

    @property
    def tool_stats(self) -> ToolStats:
        """What happened to the model's tool calls so far (answered, cancelled, errors...)."""
        return self._tools.stats

    def writer(self) -> SessionWriter:
        """The session's one writer, the same object for the whole session.

        A :class:`~livehandle.lowlevel.DeferredWriter` (a ``SessionWriter`` that flushes queued
        context before user input) when ``context_delivery`` is deferred.
        """
        return self._writer

    # -- voice --------------------------------------------------------------------------------

    async def playback_drained(self) -> None:
        """Tell the runtime the speaker buffer is empty: an armed prompt may go out now."""
        await self._voice.playback_drained()

    async def flush_deferred_prompt(self) -> None:
        """Send an armed prompt if the user is not speaking (the same path as playback_drained)."""
        await self._voice.playback_drained()

    async def user_speech_started(self) -> None:
        """The user started speaking (barge-in): cancels an armed prompt, keeps queued context.

        ``send_audio`` calls it on its own when the input VAD detects speech; call it yourself
        when you run your own VAD (and set ``input_vad=None``).
        """
        await self._voice.user_speech_started()

    async def user_speech_ended(self) -> None:
        """The user stopped speaking: an armed prompt goes out unless the model is playing."""
        await self._voice.user_speech_ended()

    def voice_state(self) -> VoiceRuntimeState:
        """A snapshot of the voice state (who is speaking, playback, the armed prompt)."""
        return self._voice.voice_state()

    def input_vad_state(self) -> BackendVadSnapshot | None:
        """A snapshot of the input VAD (None when ``input_vad`` is off)."""
        return self._voice.input_vad_state()

    # -- receiving ----------------------------------------------------------------------------

    def subscribe(self) -> Subscription[SessionEvent]:
        """Raw wire-level events from now on; ``receive()`` raises ``Lagged`` when behind."""
        return self._session.subscribe()

    def events(self) -> Subscription[LiveEvent]:
        """LiveEvents from now on; ``receive()`` raises ``Lagged(missed)`` when behind."""
        return self._events.subscribe()

    def stream(self) -> Subscription[LiveEvent]:
        """LiveEvents from now on as an async iterator that skips lag and ends with the session."""
        return self._events.subscribe(on_lag="skip")

    # -- state --------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """Typed session state (``session:`` keys are kept up to date by the runtime)."""
        return self._state

    @overload
    def extracted(self, name: str, type: None = None) -> Any: ...
    @overload
    def extracted(self, name: str, type: type[_T]) -> _T | None: ...

    def extracted(self, name: str, type: object = None) -> Any:
        """The latest result of the extractor ``name``, or None before its first result.

        Args:
            name: the extractor's name (as configured in ``LiveConfig(extractors=...)``).
            type: if given, the result is structured into it strictly (attrs classes,
                dataclasses, ``list[int]``, ``X | None``...), as :meth:`State.try_get` does;
                without it, the result comes back as the extractor's declared result type.

        Raises:
            ValueError: no extractor of that name is configured (a typo is never a silent
                None), or the result does not fit ``type`` (a ``TypeError`` when its kind is
                wrong); the message names the extractor and the type.
        """
        if self._extraction is None:
            raise ValueError(f"no extractor is named {name!r} (none is configured)")
        return self._extraction.latest(name, cast("Any", type))

    def add_context(
        self, context: str | m.Content | Sequence[m.Content], *, prompt: bool = False
    ) -> None:
        """Give the model context at the next turn boundary (step 6 of the turn pipeline).

        The boundary delivers it the way the session delivers context: at once, as one
        ``clientContent`` with ``turnComplete: false`` (immediate delivery), or queued for the
        user's next send (``context_delivery="deferred"``).  Use it from a watcher's action or
        any task to steer the model without interrupting it.

        Args:
            context: a text (sent as a user-role turn), a :class:`~livehandle.lowlevel.Content`,
                or a sequence of them.
            prompt: also ask the model to respond once the context is delivered (immediate: an
                empty ``turnComplete: true`` turn; deferred: arm the prompt).

        Raises:
            TypeError: ``context`` is not a str, a Content or a sequence of Contents.
            ValueError: an empty text, or too many contents already wait (nothing queued).
        """
        self._lanes.pipeline.add_context(context_contents(context), prompt=prompt)

    # -- the flow -------------------------------------------------------------------------------

    def explain(self) -> FlowExplanation | None:
        """What the governing flow allows now, and why: None when no flow governs the session.

        A synchronous snapshot that never waits and changes nothing: the active steps, the
        tools allowed and blocked (each with the reason a call would be refused with), the
        requirements still missing, each active step's progress as a guard trace, and the
        recent violations.  ``print(handle.explain())`` reads well in a log.
        """
        return None if self._governor is None else self._governor.explain()

    def why_blocked(self) -> FlowExplanation | None:
        """The same snapshot as :meth:`explain`, by the name a debugging session asks for."""
        return self.explain()

    def digress(self, flow: Flow, *, then: Resume | str = "resume") -> None:
        """Let ``flow`` govern a side topic until it completes; then resume the main flow.

        ``then`` says what happens to the flow below when the digression completes:
        ``"resume"`` (it goes on where it was), ``"restart"`` (it starts again from its first
        step) or ``"terminate"`` (it ends: every tool is refused, with the reason, and the
        session stays open).  The change is published as ``LiveEvent.PhaseTransition``; the
        digression's first guidance reaches the model at the next turn boundary.

        Raises:
            SessionError: no flow governs the session (``LiveConfig(flow=...)`` is not set).
            TypeError: ``flow`` is not a :class:`~livehandle.Flow`.
            ValueError: ``then`` is none of the three, a flow of that name is on the stack
                already, or the flow was terminated.
            FlowError: ``flow`` names a tool the session does not have.
        """
        if self._governor is None:
            raise SessionError("digress() needs a governing flow: set LiveConfig(flow=...)")
        self._governor.digress(flow, then)

    @property
    def telemetry(self) -> SessionTelemetry:
        """Counters and latencies; ``telemetry.snapshot()`` is JSON-ready."""
        return self._telemetry

    @property
    def transcript(self) -> list[TranscriptTurn]:
        """The finished turns of the conversation so far, oldest first (a copy)."""
        return self._lanes.transcript.turns

    def resume_handle(self) -> str | None:
        """The newest resumable session handle, to resume this conversation later."""
        return self._session.resume_handle

    def phase(self) -> SessionPhase:
        """The session's current phase."""
        return self._session.phase

    @property
    def session_id(self) -> str:
        """The session's id: the one given to ``open_live_session``, or a generated one."""
        return self._source.session_id

    def snapshot(self) -> SessionSnapshot:
        """The session now, as a :class:`~livehandle.SessionSnapshot` (to save it yourself).

        It carries the committed State, the kept transcript turns, the newest resumable handle
        and when it arrived, a telemetry summary and the config's fingerprint; never a secret.
        """
        return self._source.take()

    def _attach_saver(self, saver: SnapshotSaver) -> None:
        """Save snapshots through ``saver`` at turn boundaries, new handles and disconnect."""
        self._saver = saver
        self._lanes.pipeline.on_boundary = saver.offer
        self._source.on_handle = saver.offer

    def _end_with(self, error: SessionError) -> None:
        """Make ``error`` the session's end (``done()`` raises it, ``Disconnected`` carries it)."""
        self._end_error = error
        self._lanes.end_error = error

    # -- ending -------------------------------------------------------------------------------

    async def done(self) -> SessionEnd:
        """Wait for the session to end; every caller is woken.

        Returns:
            how it ended, when it ended normally (our disconnect, or the server's close 1000).

        Raises:
            SessionError: the subclass for an abnormal end (e.g. ``ServerError`` for 1011).
        """
        end = await self._session.wait_closed()
        if self._end_error is not None:
            end = attrs.evolve(end, error=self._end_error)
        if end.error is not None:
            # Every caller raises the same error; start each raise with a fresh traceback.
            raise end.error.with_traceback(None)
        return end

    async def disconnect(self) -> None:
        """End the session: close with 1000, drain the lanes (0.25 s each), stop the rest.

        Idempotent and safe from any task; concurrent callers wait for the first.  Shielded, so
        it completes when the caller is being cancelled; bounded by the close grace plus 0.5 s,
        plus, with a session store, the final snapshot's save and the lease's release (2 s
        each at most).
        """
        if self._disconnecting:
            await self._disconnected.wait()
            return
        self._disconnecting = True
        with trio.CancelScope(shield=True):
            self._tools.stop()  # tools first: background ones are cancelled, not awaited
            self._voice.stop()  # concurrent effects: nothing to send on a closing session
            await self._session.close(1000)
            await self._lanes.drain(DISCONNECT_GRACE)
            if self._saver is not None:
                await self._saver.finish()  # the final snapshot, after the last turn
            if not self._lanes.in_control_lane():
                # From a hook, the control lane still has to publish Disconnected; it closes
                # the stream itself once it has.
                self._events.close()
        self._disconnected.set()
