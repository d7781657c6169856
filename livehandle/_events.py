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
from typing import TYPE_CHECKING, Literal, TypeAlias, TypeVar

import attrs

from livehandle._errors import SessionError
from livehandle._wire.messages import (
    CodeExecutionResult as _CodeExecutionResult,
    ExecutableCode as _ExecutableCode,
    FunctionCall,
    GroundingMetadata,
    UsageMetadata,
)

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["LiveEvent", "SessionEnd", "SessionEvent", "SessionPhase"]

_C = TypeVar("_C", bound=type)


def _variant(namespace: type, name: str) -> Callable[[_C], _C]:
    """Attach ``cls`` to ``namespace`` as ``namespace.name`` and make its repr say so."""

    def attach(cls: _C) -> _C:
        cls.__name__ = name
        cls.__qualname__ = f"{namespace.__name__}.{name}"
        setattr(namespace, name, cls)
        return cls

    return attach


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
        SessionResumeUpdate: TypeAlias = "_SessionResumeUpdate"
        VoiceActivityStart: TypeAlias = "_VoiceActivityStart"
        VoiceActivityEnd: TypeAlias = "_VoiceActivityEnd"
        Usage: TypeAlias = "_Usage"
        UserTextSent: TypeAlias = "_UserTextSent"
        Error: TypeAlias = "_Error"
        Disconnected: TypeAlias = "_Disconnected"


@_variant(SessionEvent, "Connected")
@attrs.frozen
class _Connected(SessionEvent):
    """``setupComplete`` arrived; the session is live. ``session_id`` is Vertex's."""

    session_id: str | None = None
    resumed: bool = False


@_variant(SessionEvent, "TextDelta")
@attrs.frozen
class _TextDelta(SessionEvent):
    """A text part of model output (TEXT modality)."""

    text: str


@_variant(SessionEvent, "TextComplete")
@attrs.frozen
class _TextComplete(SessionEvent):
    """All text parts of the turn, joined; published just before TurnComplete."""

    text: str


@_variant(SessionEvent, "AudioData")
@attrs.frozen
class _AudioData(SessionEvent):
    """A chunk of model audio (normally PCM16 mono, 24 kHz)."""

    data: bytes
    mime_type: str = "audio/pcm;rate=24000"


@_variant(SessionEvent, "Media")
@attrs.frozen
class _Media(SessionEvent):
    """Inline model output that is not audio (e.g. an image)."""

    mime_type: str
    data: bytes


@_variant(SessionEvent, "InputTranscription")
@attrs.frozen
class _InputTranscription(SessionEvent):
    """A fragment of the transcript of the user's speech; ``interim`` ones are provisional."""

    text: str
    finished: bool = False
    interim: bool = False


@_variant(SessionEvent, "OutputTranscription")
@attrs.frozen
class _OutputTranscription(SessionEvent):
    """A fragment of the transcript of the model's speech."""

    text: str
    finished: bool = False


@_variant(SessionEvent, "Thought")
@attrs.frozen
class _Thought(SessionEvent):
    """A thought summary (with ``includeThoughts``)."""

    text: str


@_variant(SessionEvent, "ExecutableCode")
@attrs.frozen
class _ExecutableCodeEvent(SessionEvent):
    """Code the model wrote for the server-side code-execution tool."""

    code: _ExecutableCode


@_variant(SessionEvent, "CodeExecutionResult")
@attrs.frozen
class _CodeExecutionResultEvent(SessionEvent):
    """The result of server-side code execution."""

    result: _CodeExecutionResult


@_variant(SessionEvent, "Grounding")
@attrs.frozen
class _Grounding(SessionEvent):
    """Search grounding for the current model turn."""

    metadata: GroundingMetadata


@_variant(SessionEvent, "ToolCall")
@attrs.frozen
class _ToolCall(SessionEvent):
    """The model asks the client to run these functions; answer each by id."""

    calls: tuple[FunctionCall, ...]


@_variant(SessionEvent, "ToolCallCancelled")
@attrs.frozen
class _ToolCallCancelled(SessionEvent):
    """The server withdrew these calls (usually because the user interrupted)."""

    ids: tuple[str, ...]


@_variant(SessionEvent, "TurnComplete")
@attrs.frozen
class _TurnComplete(SessionEvent):
    """The model's turn is over; ``reason`` is the server's ``turnCompleteReason``, if any."""

    reason: str | None = None


@_variant(SessionEvent, "GenerationComplete")
@attrs.frozen
class _GenerationComplete(SessionEvent):
    """The model finished generating this turn (playback may still be going)."""


@_variant(SessionEvent, "Interrupted")
@attrs.frozen
class _Interrupted(SessionEvent):
    """User activity interrupted the model: stop playback and drop queued model audio."""


@_variant(SessionEvent, "PhaseChanged")
@attrs.frozen
class _PhaseChanged(SessionEvent):
    """The session phase changed."""

    old: SessionPhase
    new: SessionPhase


@_variant(SessionEvent, "GoAway")
@attrs.frozen
class _GoAway(SessionEvent):
    """The server will close this connection after ``time_left`` seconds; resume before then."""

    time_left: float | None


@_variant(SessionEvent, "SessionResumeUpdate")
@attrs.frozen
class _SessionResumeUpdate(SessionEvent):
    """A resumption checkpoint; ``handle`` is kept by the session when ``resumable``."""

    handle: str | None
    resumable: bool
    last_consumed_index: int | None = None


@_variant(SessionEvent, "VoiceActivityStart")
@attrs.frozen
class _VoiceActivityStart(SessionEvent):
    """Server VAD signal: the user started speaking (Vertex ``explicitVadSignal``)."""


@_variant(SessionEvent, "VoiceActivityEnd")
@attrs.frozen
class _VoiceActivityEnd(SessionEvent):
    """Server VAD signal: the user stopped speaking."""


@_variant(SessionEvent, "Usage")
@attrs.frozen
class _Usage(SessionEvent):
    """Token usage the server reported."""

    usage: UsageMetadata


@_variant(SessionEvent, "UserTextSent")
@attrs.frozen
class _UserTextSent(SessionEvent):
    """A typed user turn went out on the socket (published by the writer, in send order)."""

    text: str


@_variant(SessionEvent, "Error")
@attrs.frozen
class _Error(SessionEvent):
    """Something went wrong; the session may continue (a bad frame) or be ending (a close)."""

    error: SessionError


@_variant(SessionEvent, "Disconnected")
@attrs.frozen
class _Disconnected(SessionEvent):
    """The connection is gone; always the last event of a session."""

    end: SessionEnd


class LiveEvent:
    """Base class and namespace of the semantic events a :class:`~livehandle.LiveHandle` publishes.

    Fast lane (in arrival order): ``Audio``, ``Media``, ``TextDelta``, ``TextComplete``,
    ``InputTranscript``, ``OutputTranscript``, ``Thought``, ``VadStart``, ``VadEnd``.  Control lane
    (in arrival order, after the turn's processing): ``Connected``, ``ToolCall``,
    ``ToolExecution``, ``ToolCancelled``, ``GenerationComplete``, ``Interrupted``,
    ``TurnComplete``, ``GoAway``, ``Error``, ``Extraction``, ``ExtractionError``,
    ``PhaseTransition``, ``Disconnected`` (always last).  Periodic: ``Telemetry``,
    ``TurnMetrics``.  Events keep their order within a lane, not across lanes.
    """

    __slots__ = ()

    if TYPE_CHECKING:
        Audio: TypeAlias = "_LiveAudio"
        Media: TypeAlias = "_LiveMedia"
        TextDelta: TypeAlias = "_LiveTextDelta"
        TextComplete: TypeAlias = "_LiveTextComplete"
        InputTranscript: TypeAlias = "_LiveInputTranscript"
        OutputTranscript: TypeAlias = "_LiveOutputTranscript"
        Thought: TypeAlias = "_LiveThought"
        VadStart: TypeAlias = "_LiveVadStart"
        VadEnd: TypeAlias = "_LiveVadEnd"
        Connected: TypeAlias = "_LiveConnected"
        ToolCall: TypeAlias = "_LiveToolCall"
        ToolExecution: TypeAlias = "_LiveToolExecution"
        ToolCancelled: TypeAlias = "_LiveToolCancelled"
        GenerationComplete: TypeAlias = "_LiveGenerationComplete"
        Interrupted: TypeAlias = "_LiveInterrupted"
        TurnComplete: TypeAlias = "_LiveTurnComplete"
        GoAway: TypeAlias = "_LiveGoAway"
        Error: TypeAlias = "_LiveError"
        Extraction: TypeAlias = "_LiveExtraction"
        ExtractionError: TypeAlias = "_LiveExtractionError"
        PhaseTransition: TypeAlias = "_LivePhaseTransition"
        Disconnected: TypeAlias = "_LiveDisconnected"
        Telemetry: TypeAlias = "_LiveTelemetry"
        TurnMetrics: TypeAlias = "_LiveTurnMetrics"


# -- fast lane --------------------------------------------------------------------------------


@_variant(LiveEvent, "Audio")
@attrs.frozen
class _LiveAudio(LiveEvent):
    """Model audio to play (PCM16 mono, normally 24 kHz); never delivered after a barge-in."""

    data: bytes


@_variant(LiveEvent, "Media")
@attrs.frozen
class _LiveMedia(LiveEvent):
    """Non-audio inline model output (e.g. an image)."""

    mime_type: str
    data: bytes


@_variant(LiveEvent, "TextDelta")
@attrs.frozen
class _LiveTextDelta(LiveEvent):
    """A piece of model text (TEXT modality)."""

    text: str


@_variant(LiveEvent, "TextComplete")
@attrs.frozen
class _LiveTextComplete(LiveEvent):
    """The whole text of the model's turn."""

    text: str


@_variant(LiveEvent, "InputTranscript")
@attrs.frozen
class _LiveInputTranscript(LiveEvent):
    """What the user said (or typed); ``is_final`` once per turn with every fragment joined."""

    text: str
    is_final: bool = False


@_variant(LiveEvent, "OutputTranscript")
@attrs.frozen
class _LiveOutputTranscript(LiveEvent):
    """What the model said; ``is_final`` once per turn with every fragment joined."""

    text: str
    is_final: bool = False


@_variant(LiveEvent, "Thought")
@attrs.frozen
class _LiveThought(LiveEvent):
    """A thought summary."""

    text: str


@_variant(LiveEvent, "VadStart")
@attrs.frozen
class _LiveVadStart(LiveEvent):
    """The server detected the start of user speech."""


@_variant(LiveEvent, "VadEnd")
@attrs.frozen
class _LiveVadEnd(LiveEvent):
    """The server detected the end of user speech."""


# -- control lane -----------------------------------------------------------------------------


@_variant(LiveEvent, "Connected")
@attrs.frozen
class _LiveConnected(LiveEvent):
    """The session is live (``setupComplete``); ``resumed`` when it continued a session."""

    session_id: str | None = None
    resumed: bool = False


@_variant(LiveEvent, "ToolCall")
@attrs.frozen
class _LiveToolCall(LiveEvent):
    """The model asks for these function calls (answer with ``send_tool_response``)."""

    calls: tuple[FunctionCall, ...]


@_variant(LiveEvent, "ToolExecution")
@attrs.frozen
class _LiveToolExecution(LiveEvent):
    """A tool ran (or a hook answered its call) and this is what the model was sent.

    ``id`` is the call's id; ``background`` is true for a NON_BLOCKING tool's final result
    (its immediate "running" acknowledgement is not reported).
    """

    name: str
    args: dict[str, object]
    result: dict[str, object]
    id: str | None = None
    background: bool = False


@_variant(LiveEvent, "ToolCancelled")
@attrs.frozen
class _LiveToolCancelled(LiveEvent):
    """These calls were withdrawn (by the server or by a barge-in)."""

    ids: tuple[str, ...]


@_variant(LiveEvent, "GenerationComplete")
@attrs.frozen
class _LiveGenerationComplete(LiveEvent):
    """The model finished generating this turn; audio may still be playing."""


@_variant(LiveEvent, "Interrupted")
@attrs.frozen
class _LiveInterrupted(LiveEvent):
    """The user barged in: stop playback and drop queued audio (the lane already stopped it)."""


@_variant(LiveEvent, "TurnComplete")
@attrs.frozen
class _LiveTurnComplete(LiveEvent):
    """The model's turn is over; the finished transcripts were published just before."""

    reason: str | None = None


@_variant(LiveEvent, "GoAway")
@attrs.frozen
class _LiveGoAway(LiveEvent):
    """The server will close the connection after ``time_left`` seconds."""

    time_left: float | None


@_variant(LiveEvent, "Error")
@attrs.frozen
class _LiveError(LiveEvent):
    """Something went wrong; the session may go on (a bad frame) or be ending (a close)."""

    error: SessionError


@_variant(LiveEvent, "Extraction")
@attrs.frozen
class _LiveExtraction(LiveEvent):
    """A turn extractor produced a value."""

    name: str
    value: object


@_variant(LiveEvent, "ExtractionError")
@attrs.frozen
class _LiveExtractionError(LiveEvent):
    """A turn extractor failed."""

    name: str
    error: str


@_variant(LiveEvent, "PhaseTransition")
@attrs.frozen
class _LivePhaseTransition(LiveEvent):
    """A conversation flow moved from one step to another."""

    from_phase: str
    to_phase: str
    reason: str = ""


@_variant(LiveEvent, "Disconnected")
@attrs.frozen
class _LiveDisconnected(LiveEvent):
    """The session has ended; always the last event."""

    end: SessionEnd


# -- periodic ---------------------------------------------------------------------------------


@_variant(LiveEvent, "Telemetry")
@attrs.frozen
class _LiveTelemetry(LiveEvent):
    """A telemetry snapshot (JSON-ready), every ``telemetry_interval`` seconds."""

    snapshot: dict[str, object] = attrs.field(hash=False)


@_variant(LiveEvent, "TurnMetrics")
@attrs.frozen
class _LiveTurnMetrics(LiveEvent):
    """Per-turn numbers, emitted with the first telemetry tick after a turn completes."""

    turn: int
    latency_ms: float | None
    prompt_tokens: int | None
    response_tokens: int | None
