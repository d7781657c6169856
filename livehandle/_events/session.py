"""Events a session publishes.

:class:`SessionEvent` is the raw, wire-level stream (L0): one or more events per server message, in
arrival order, published on the session's broadcast.  Each variant is a frozen attrs class reached
through the namespace, so it reads well in ``match`` statements::

    match event:
        case SessionEvent.AudioData(data=pcm):
            player.feed(pcm)
        case SessionEvent.TurnComplete():
            ...

:class:`SessionPhase` is the session's coarse state; :class:`SessionEnd` says how a session ended.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Literal, TypeAlias

import attrs

from livehandle._errors import SessionError
from livehandle._events.variant import variant
from livehandle._wire.messages import (
    CodeExecutionResult as _CodeExecutionResult,
    ExecutableCode as _ExecutableCode,
    FunctionCall,
    GroundingMetadata,
    UsageMetadata,
)

__all__ = ["SessionEnd", "SessionEvent", "SessionPhase"]


class SessionPhase(enum.Enum):
    """The coarse state of a session's connection and turn.

    Connection: DISCONNECTED -> CONNECTING -> SETUP_SENT -> ACTIVE ... DISCONNECTING ->
    DISCONNECTED.  Turns: ACTIVE -> MODEL_SPEAKING (model output) -> ACTIVE (turnComplete);
    INTERRUPTED on barge-in, then ACTIVE; TOOL_CALL_PENDING on a tool call, left again when every
    call is answered or cancelled, or when model output resumes, so the phase never sticks;
    USER_SPEAKING between server voice-activity start and end signals.
    """

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    SETUP_SENT = "setup_sent"
    ACTIVE = "active"
    USER_SPEAKING = "user_speaking"
    MODEL_SPEAKING = "model_speaking"
    INTERRUPTED = "interrupted"
    TOOL_CALL_PENDING = "tool_call_pending"
    TOOL_CALL_EXECUTING = "tool_call_executing"
    DISCONNECTING = "disconnecting"


@attrs.frozen
class SessionEnd:
    """How a session ended.

    Attributes:
        initiated_by: ``"client"`` (we disconnected), ``"server"`` (it sent a close frame) or
            ``"network"`` (the connection dropped).
        code: the WebSocket close code (1006 for a drop).
        reason: the close reason text.
        error: the classified error for an abnormal end; None for a normal one.
        resume_handle: the newest resumable handle at the end, to resume the conversation.
    """

    initiated_by: Literal["client", "server", "network"]
    code: int
    reason: str = ""
    error: SessionError | None = None
    resume_handle: str | None = None

    @property
    def ok(self) -> bool:
        """True when the session ended normally (client disconnect or server close 1000)."""
        return self.error is None


class SessionEvent:
    """Base class and namespace of the raw events of a session (one L0 stream)."""

    __slots__ = ()

    if TYPE_CHECKING:
        Connected: TypeAlias = "_Connected"
        TextDelta: TypeAlias = "_TextDelta"
        TextComplete: TypeAlias = "_TextComplete"
        AudioData: TypeAlias = "_AudioData"
        Media: TypeAlias = "_Media"
        InputTranscription: TypeAlias = "_InputTranscription"
        OutputTranscription: TypeAlias = "_OutputTranscription"
        Thought: TypeAlias = "_Thought"
        ExecutableCode: TypeAlias = "_ExecutableCodeEvent"
        CodeExecutionResult: TypeAlias = "_CodeExecutionResultEvent"
        Grounding: TypeAlias = "_Grounding"
        ToolCall: TypeAlias = "_ToolCall"
        ToolCallCancelled: TypeAlias = "_ToolCallCancelled"
        TurnComplete: TypeAlias = "_TurnComplete"
        GenerationComplete: TypeAlias = "_GenerationComplete"
        Interrupted: TypeAlias = "_Interrupted"
        PhaseChanged: TypeAlias = "_PhaseChanged"
        GoAway: TypeAlias = "_GoAway"
        Reconnecting: TypeAlias = "_Reconnecting"
        Resumed: TypeAlias = "_Resumed"
        SessionResumeUpdate: TypeAlias = "_SessionResumeUpdate"
        VoiceActivityStart: TypeAlias = "_VoiceActivityStart"
        VoiceActivityEnd: TypeAlias = "_VoiceActivityEnd"
        Usage: TypeAlias = "_Usage"
        UserTextSent: TypeAlias = "_UserTextSent"
        Error: TypeAlias = "_Error"
        Disconnected: TypeAlias = "_Disconnected"


@variant(SessionEvent, "Connected")
@attrs.frozen
class _Connected(SessionEvent):
    """``setupComplete`` arrived; the session is live. ``session_id`` is Vertex's."""

    session_id: str | None = None
    resumed: bool = False


@variant(SessionEvent, "TextDelta")
@attrs.frozen
class _TextDelta(SessionEvent):
    """A text part of model output (TEXT modality)."""

    text: str


@variant(SessionEvent, "TextComplete")
@attrs.frozen
class _TextComplete(SessionEvent):
    """All text parts of the turn, joined; published just before TurnComplete."""

    text: str


@variant(SessionEvent, "AudioData")
@attrs.frozen
class _AudioData(SessionEvent):
    """A chunk of model audio (normally PCM16 mono, 24 kHz)."""

    data: bytes
    mime_type: str = "audio/pcm;rate=24000"


@variant(SessionEvent, "Media")
@attrs.frozen
class _Media(SessionEvent):
    """Inline model output that is not audio (e.g. an image)."""

    mime_type: str
    data: bytes


@variant(SessionEvent, "InputTranscription")
@attrs.frozen
class _InputTranscription(SessionEvent):
    """A fragment of the transcript of the user's speech; ``interim`` ones are provisional."""

    text: str
    finished: bool = False
    interim: bool = False


@variant(SessionEvent, "OutputTranscription")
@attrs.frozen
class _OutputTranscription(SessionEvent):
    """A fragment of the transcript of the model's speech."""

    text: str
    finished: bool = False


@variant(SessionEvent, "Thought")
@attrs.frozen
class _Thought(SessionEvent):
    """A thought summary (with ``includeThoughts``)."""

    text: str


@variant(SessionEvent, "ExecutableCode")
@attrs.frozen
class _ExecutableCodeEvent(SessionEvent):
    """Code the model wrote for the server-side code-execution tool."""

    code: _ExecutableCode


@variant(SessionEvent, "CodeExecutionResult")
@attrs.frozen
class _CodeExecutionResultEvent(SessionEvent):
    """The result of server-side code execution."""

    result: _CodeExecutionResult


@variant(SessionEvent, "Grounding")
@attrs.frozen
class _Grounding(SessionEvent):
    """Search grounding for the current model turn."""

    metadata: GroundingMetadata


@variant(SessionEvent, "ToolCall")
@attrs.frozen
class _ToolCall(SessionEvent):
    """The model asks the client to run these functions; answer each by id."""

    calls: tuple[FunctionCall, ...]


@variant(SessionEvent, "ToolCallCancelled")
@attrs.frozen
class _ToolCallCancelled(SessionEvent):
    """The server withdrew these calls (usually because the user interrupted)."""

    ids: tuple[str, ...]


@variant(SessionEvent, "TurnComplete")
@attrs.frozen
class _TurnComplete(SessionEvent):
    """The model's turn is over; ``reason`` is the server's ``turnCompleteReason``, if any."""

    reason: str | None = None


@variant(SessionEvent, "GenerationComplete")
@attrs.frozen
class _GenerationComplete(SessionEvent):
    """The model finished generating this turn (playback may still be going)."""


@variant(SessionEvent, "Interrupted")
@attrs.frozen
class _Interrupted(SessionEvent):
    """User activity interrupted the model: stop playback and drop queued model audio."""


@variant(SessionEvent, "PhaseChanged")
@attrs.frozen
class _PhaseChanged(SessionEvent):
    """The session phase changed."""

    old: SessionPhase
    new: SessionPhase


@variant(SessionEvent, "GoAway")
@attrs.frozen
class _GoAway(SessionEvent):
    """The server will close this connection after ``time_left`` seconds; resume before then."""

    time_left: float | None


@variant(SessionEvent, "Reconnecting")
@attrs.frozen
class _Reconnecting(SessionEvent):
    """The connection ended and the session is opening another (``auto_resume``).

    ``reason`` says why: ``"go_away"`` (switching before the server's deadline),
    ``"connection_lost"`` (1006), ``"server_error"`` (1011), ``"setup_failed"`` (an attempt that
    failed).  ``attempt`` counts the attempts since the last connection was lost, from 1.
    """

    reason: str
    attempt: int


@variant(SessionEvent, "Resumed")
@attrs.frozen
class _Resumed(SessionEvent):
    """The session continues on connection number ``connection``.

    Attributes:
        connection: the new connection's number (1 was the first connection).
        gap_ms: milliseconds from the old connection's end (or the switch) to now.
        replayed: client messages sent again on the new connection.
        lost_audio_ms: microphone audio the server may not have: dropped while buffered, or
            sent before the checkpoint arrived with no way to know whether it was consumed.
    """

    connection: int
    gap_ms: float
    replayed: int
    lost_audio_ms: float


@variant(SessionEvent, "SessionResumeUpdate")
@attrs.frozen
class _SessionResumeUpdate(SessionEvent):
    """A resumption checkpoint; ``handle`` is kept by the session when ``resumable``."""

    handle: str | None
    resumable: bool
    last_consumed_index: int | None = None


@variant(SessionEvent, "VoiceActivityStart")
@attrs.frozen
class _VoiceActivityStart(SessionEvent):
    """Server VAD signal: the user started speaking (Vertex ``explicitVadSignal``)."""


@variant(SessionEvent, "VoiceActivityEnd")
@attrs.frozen
class _VoiceActivityEnd(SessionEvent):
    """Server VAD signal: the user stopped speaking."""


@variant(SessionEvent, "Usage")
@attrs.frozen
class _Usage(SessionEvent):
    """Token usage the server reported."""

    usage: UsageMetadata


@variant(SessionEvent, "UserTextSent")
@attrs.frozen
class _UserTextSent(SessionEvent):
    """A typed user turn went out on the socket (published by the writer, in send order)."""

    text: str


@variant(SessionEvent, "Error")
@attrs.frozen
class _Error(SessionEvent):
    """Something went wrong; the session may continue (a bad frame) or be ending (a close)."""

    error: SessionError


@variant(SessionEvent, "Disconnected")
@attrs.frozen
class _Disconnected(SessionEvent):
    """The connection is gone; always the last event of a session."""

    end: SessionEnd
