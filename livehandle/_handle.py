"""LiveHandle: the one object a voice bot holds for a live session.

It is created by :func:`~livehandle.open_live_session` and is valid inside its ``async with``
block.  Sends go through one bounded outbound queue (lossless: a send waits while it is full), so
calls from one task keep their order; several tasks may share the handle.  Events come out three
ways: :meth:`LiveHandle.subscribe` (raw wire events), :meth:`LiveHandle.events` (LiveEvents; a
subscriber that falls behind gets ``Lagged``) and :meth:`LiveHandle.stream` (LiveEvents, skipping
lag, ending with the session).  After the session has ended every send raises ``SessionClosed``
at once.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import trio

from livehandle._broadcast import Broadcast, Subscription
from livehandle._events import SessionPhase
from livehandle._runtime.dispatch import ToolDispatcher
from livehandle._runtime.lanes import Hooks, Lanes
from livehandle._runtime.telemetry import SessionTelemetry
from livehandle._runtime.voice import VoiceRuntime
from livehandle._runtime.writer import SessionWriter
from livehandle._state import State

if TYPE_CHECKING:
    from collections.abc import Sequence

    from livehandle._config.live import LiveConfig
    from livehandle._events import LiveEvent, SessionEnd, SessionEvent
    from livehandle._runtime.context import DeferredWriter
    from livehandle._runtime.dispatch import ToolStats
    from livehandle._runtime.reactor import VoiceRuntimeState
    from livehandle._runtime.transcript import TranscriptTurn
    from livehandle._runtime.vad import BackendVadSnapshot
    from livehandle._session import Session
    from livehandle._transport.endpoints import Endpoint
    from livehandle._wire import messages as m

__all__ = ["DISCONNECT_GRACE", "LiveHandle"]

DISCONNECT_GRACE = 0.25  # seconds each lane may spend draining during disconnect()


class LiveHandle:
    """Stream audio, text and video in; receive model audio, transcripts and tool calls out."""

    def __init__(
        self,
        session: Session,
        config: LiveConfig,
        endpoint: Endpoint,
        *,
        hooks: Hooks | None = None,
    ) -> None:
        self._session = session
        self._config = config
        self._endpoint = endpoint
        self._events: Broadcast[LiveEvent] = Broadcast(config.event_capacity)
        self._state = State()
        self._telemetry = SessionTelemetry()
        self._writer = SessionWriter(
            session, functools.partial(config.instruction_update_message, endpoint=endpoint)
        )
        self._voice = VoiceRuntime(
            self._writer,
            emit=self._events.publish,
            barge_in=lambda: self._lanes.barge_in,
            delivery=config.context_delivery,
            vad=config.input_vad,
            turn_commit=config.turn_commit,
            client_authority=not config.server_vad,
            on_speech_start=self._telemetry.record_turn_start,
            on_speech_end=self._telemetry.record_speech_end,
            model_speaking=lambda: session.phase is SessionPhase.MODEL_SPEAKING,
        )
        self._tools = ToolDispatcher(
            config.function_tools,
            writer=self._writer,
            emit=self._events.publish,
            state=self._state,
            barge_in=lambda: self._lanes.barge_in,
            connection_id=lambda: session.connection_id,
            on_tool_call=config.on_tool_call,
            before_tool_response=config.before_tool_response,
            manual=config.manual_tools,
            declared=config.declared_functions,
            acknowledge=endpoint.backend != "vertex",  # Vertex has no willContinue
        )
        # The router is a tap on the session: it sees every event, from Connected on, in order.
        self._lanes = Lanes(
            self._events,
            telemetry=self._telemetry,
            state=self._state,
            delivery=config.delivery,
            capacity=config.lane_capacity,
            telemetry_interval=config.telemetry_interval,
            hooks=hooks,
            on_model_audio=self._voice.model_audio_delivered,
            on_interrupted=self._voice.interrupted,
            dispatch_tools=self._dispatch_tools,
            cancel_tools=self._tools.cancel,
        )
        session.add_tap(self._lanes.route)
        self._disconnecting = False
        self._disconnected = trio.Event()

    def __repr__(self) -> str:
        return f"<LiveHandle {self._endpoint.redacted_url} phase={self.phase().value}>"

    # -- sending ------------------------------------------------------------------------------

    async def send_audio(self, pcm: bytes) -> None:
        """Send a chunk of 16 kHz mono PCM16 microphone audio, through the input VAD.

        A speech start detected in the chunk runs :meth:`user_speech_started` before the chunk
        goes out; a speech end runs :meth:`user_speech_ended` after it.  With server VAD off,
        the matching ``activityStart``/``activityEnd`` marks are sent once per edge.

        Raises:
            ValueError: not bytes, or an odd number of bytes (nothing is sent).
            SessionClosed: the session has ended.
        """
        await self._voice.send_audio(pcm)  # validates: whole PCM16 samples, or ValueError
        self._telemetry.record_audio_in(len(pcm))

    async def send_text(self, text: str) -> None:
        """Send a typed turn; once sent it is recorded as the user side of the current turn."""
        self._telemetry.record_text_send()
        await self._voice.writer.send_text(text)  # the session reports it once on the wire

    async def send_video(self, frame: bytes, mime_type: str = "image/jpeg") -> None:
        """Send one video frame (JPEG or PNG)."""
        await self._voice.writer.send_video(frame, mime_type)

    async def update_instruction(self, instruction: str) -> None:
        """Replace the system instruction (contextUpdate, or the backend's fallback)."""
        await self._writer.update_instruction(instruction)

    async def send_tool_response(self, responses: Sequence[m.FunctionResponse]) -> None:
        """Answer function calls from a ``ToolCall`` event."""
        await self._writer.send_tool_response(responses)

    def _dispatch_tools(self, calls: tuple[m.FunctionCall, ...]) -> None:
        self._session.mark_tools_executing()
        self._tools.dispatch(calls)

    @property
    def tool_stats(self) -> ToolStats:
        """What happened to the model's tool calls so far (answered, cancelled, errors...)."""
        return self._tools.stats

    def writer(self) -> SessionWriter | DeferredWriter:
        """The writer user input goes through: a DeferredWriter when context is deferred."""
        return self._voice.writer

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

    # -- ending -------------------------------------------------------------------------------

    async def done(self) -> SessionEnd:
        """Wait for the session to end; every caller is woken.

        Returns:
            how it ended, when it ended normally (our disconnect, or the server's close 1000).

        Raises:
            SessionError: the subclass for an abnormal end (e.g. ``ServerError`` for 1011).
        """
        end = await self._session.wait_closed()
        if end.error is not None:
            # Every caller raises the same error; start each raise with a fresh traceback.
            raise end.error.with_traceback(None)
        return end

    async def disconnect(self) -> None:
        """End the session: close with 1000, drain the lanes (0.25 s each), stop the rest.

        Idempotent and safe from any task; concurrent callers wait for the first.  Shielded, so
        it completes when the caller is being cancelled; bounded by the close grace plus 0.5 s.
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
            if not self._lanes.in_control_lane():
                # From a hook, the control lane still has to publish Disconnected; it closes
                # the stream itself once it has.
                self._events.close()
        self._disconnected.set()

    async def _run_lanes(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the lanes and the voice runtime's effect nursery until the session ends."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self._voice.run)
            await nursery.start(self._tools.run)
            await nursery.start(self._run_lanes_then_stop_voice)
            task_status.started()

    async def _run_lanes_then_stop_voice(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        try:
            await self._lanes.run(task_status=task_status)
        finally:
            # The session has ended: no effect or tool can send any more.
            self._tools.stop()
            self._voice.stop()
