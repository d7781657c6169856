"""What the L0 session knows about the conversation, learned from the messages it carries.

:class:`ProtocolState` turns each decoded server message into :class:`~livehandle.SessionEvent` s
and keeps the state those messages imply: the :class:`~livehandle.SessionPhase`, the newest
resumable handle, the model text of the current turn and the tool calls still waiting for an
answer.  It is synchronous and does no I/O: the session's reader feeds it server messages, its
writer feeds it the client messages it sent.  The phase never sticks: a tool call is followed by
Active or ModelSpeaking again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from livehandle._events import SessionEvent, SessionPhase
from livehandle._logs import library_logger
from livehandle._wire import messages as m

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["ProtocolState"]

log = library_logger("livehandle.session")

_TOOL_PHASES = (SessionPhase.TOOL_CALL_PENDING, SessionPhase.TOOL_CALL_EXECUTING)
_NO_CALLS: frozenset[str] = frozenset()


class ProtocolState:
    """The phase, resume handle, turn text and pending tool calls of one session.

    Args:
        publish: called with every event, in order (the session's taps and broadcast).
        scrub: applied once to each turn's joined text before ``TextComplete`` is published
            (the endpoint's credential scrubber: an echo split across frames is whole only
            there).
    """

    __slots__ = (
        "_pending_calls",
        "_publish",
        "_scrub",
        "_turn_text",
        "go_away",
        "phase",
        "resume_handle",
    )

    def __init__(
        self, publish: Callable[[SessionEvent], None], scrub: Callable[[str], str] | None = None
    ) -> None:
        self._publish = publish
        self._scrub = scrub
        self.phase = SessionPhase.DISCONNECTED
        self.resume_handle: str | None = None
        #: When a ``goAway`` arrived (Trio time) and the time it left, or None.
        self.go_away: tuple[float, float | None] | None = None
        self._turn_text: list[str] = []
        # immutable, the shared empty one while no call is pending (an idle session owns none)
        self._pending_calls: frozenset[str] = _NO_CALLS

    def set_phase(self, new: SessionPhase) -> None:
        """Move to ``new`` and publish ``PhaseChanged`` (nothing when it is the current phase)."""
        old = self.phase
        if new is not old:
            self.phase = new
            self._publish(SessionEvent.PhaseChanged(old, new))

    def after_send(self, message: m.ClientMessage | None) -> None:
        """Account for a message the writer has put on the wire (None: an audio frame)."""
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
            self._pending_calls = self._pending_calls.difference(answered)
            if not self._pending_calls and self.phase in _TOOL_PHASES:
                self.set_phase(SessionPhase.ACTIVE)

    def mark_tools_executing(self) -> None:
        """Note that the client started running the pending tool calls (for the phase)."""
        if self.phase is SessionPhase.TOOL_CALL_PENDING:
            self.set_phase(SessionPhase.TOOL_CALL_EXECUTING)

    def handle(self, message: m.ServerMessage) -> None:
        """Publish the events one decoded server message carries, updating the state first."""
        publish = self._publish
        # Usage first: it rides on the turn-ending message and belongs to the turn it ends.
        if not isinstance(message, m.UnknownServerMessage) and message.usage_metadata is not None:
            publish(SessionEvent.Usage(message.usage_metadata))
        match message:
            case m.ServerContent():
                self._handle_content(message)
            case m.ToolCall(function_calls=()) | m.ToolCallCancellation(ids=()):
                # proto3 omits an empty list: `toolCall: {}` names no call, so nothing is pending
                # and there is nothing to answer or cancel (no phase change, no event).
                log.debug("ignoring a %s that names no call", type(message).__name__)
            case m.ToolCall(function_calls=calls):
                self._pending_calls = self._pending_calls.union(
                    c.id for c in calls if c.id is not None
                )
                self.set_phase(SessionPhase.TOOL_CALL_PENDING)
                publish(SessionEvent.ToolCall(calls))
            case m.ToolCallCancellation(ids=ids):
                self._pending_calls = self._pending_calls.difference(ids)
                if not self._pending_calls and self.phase in _TOOL_PHASES:
                    self.set_phase(SessionPhase.ACTIVE)
                publish(SessionEvent.ToolCallCancelled(ids))
            case m.GoAway(time_left=time_left):
                self.go_away = (trio.current_time(), time_left)
                publish(SessionEvent.GoAway(time_left))
            case m.SessionResumptionUpdate():
                resumable = message.resumable
                if resumable is None:  # absent means resumable when a handle came with it
                    resumable = bool(message.new_handle)
                if resumable and message.new_handle:
                    self.resume_handle = message.new_handle
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
            if self.phase in (SessionPhase.ACTIVE, SessionPhase.MODEL_SPEAKING):
                self.set_phase(SessionPhase.USER_SPEAKING)
            self._publish(SessionEvent.VoiceActivityStart())
        else:
            if self.phase is SessionPhase.USER_SPEAKING:
                self.set_phase(SessionPhase.ACTIVE)
            self._publish(SessionEvent.VoiceActivityEnd())

    def _handle_content(self, content: m.ServerContent) -> None:
        publish = self._publish
        if content.interrupted:
            # Barge-in first: it is the most time-critical signal.  Model output carried in the
            # same message belongs to the interrupted turn and is dropped.
            self.set_phase(SessionPhase.INTERRUPTED)
            self._turn_text.clear()
            publish(SessionEvent.Interrupted())
            self.set_phase(SessionPhase.ACTIVE)
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
                text = "".join(self._turn_text)
                if self._scrub is not None:
                    text = self._scrub(text)
                publish(SessionEvent.TextComplete(text))
                self._turn_text.clear()
            self._pending_calls = _NO_CALLS
            self.set_phase(SessionPhase.ACTIVE)  # already ACTIVE when subscribers see the event
            publish(SessionEvent.TurnComplete(content.turn_complete_reason))

    def _model_output(self, turn: m.Content) -> None:
        publish = self._publish
        if self.phase not in (SessionPhase.DISCONNECTING, SessionPhase.MODEL_SPEAKING):
            self.set_phase(SessionPhase.MODEL_SPEAKING)
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
