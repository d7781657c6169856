"""The semantic events a :class:`~livehandle.LiveHandle` publishes (:class:`LiveEvent`).

Each variant is a frozen attrs class reached through the namespace (``LiveEvent.Audio``), so it
reads well in ``match`` statements.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import attrs

from livehandle._errors import ExtractionFailed, SessionError
from livehandle._events.session import SessionEnd
from livehandle._events.variant import variant
from livehandle._wire.messages import FunctionCall

__all__ = ["LiveEvent"]


class LiveEvent:
    """Base class and namespace of the semantic events a :class:`~livehandle.LiveHandle` publishes.

    Fast lane (in arrival order): ``Audio``, ``Media``, ``TextDelta``, ``TextComplete``,
    ``InputTranscript``, ``OutputTranscript``, ``Thought``, ``VadStart``, ``VadEnd``.  Control lane
    (in arrival order, after the turn's processing): ``Connected``, ``ToolCall``,
    ``ToolExecution``, ``ToolCancelled``, ``GenerationComplete``, ``Interrupted``,
    ``TurnComplete``, ``GoAway``, ``Reconnecting``, ``Resumed``, ``Error``, ``Extraction``,
    ``ExtractionError``, ``StatePromotion``, ``StepEntered``, ``PhaseTransition``,
    ``FlowViolation``, ``Disconnected`` (always last).  Once, at the
    start of a restored session: ``Restored``.  Periodic: ``Telemetry``, ``TurnMetrics``.
    Events keep their order within a lane, not across lanes.
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
        Reconnecting: TypeAlias = "_LiveReconnecting"
        Resumed: TypeAlias = "_LiveResumed"
        Restored: TypeAlias = "_LiveRestored"
        Error: TypeAlias = "_LiveError"
        Extraction: TypeAlias = "_LiveExtraction"
        ExtractionError: TypeAlias = "_LiveExtractionError"
        PhaseTransition: TypeAlias = "_LivePhaseTransition"
        Disconnected: TypeAlias = "_LiveDisconnected"
        Telemetry: TypeAlias = "_LiveTelemetry"
        TurnMetrics: TypeAlias = "_LiveTurnMetrics"
        StatePromotion: TypeAlias = "_LiveStatePromotion"
        StepEntered: TypeAlias = "_LiveStepEntered"
        FlowViolation: TypeAlias = "_LiveFlowViolation"


# -- fast lane --------------------------------------------------------------------------------


@variant(LiveEvent, "Audio")
@attrs.frozen
class _LiveAudio(LiveEvent):
    """Model audio to play (PCM16 mono, normally 24 kHz); never delivered after a barge-in."""

    data: bytes


@variant(LiveEvent, "Media")
@attrs.frozen
class _LiveMedia(LiveEvent):
    """Non-audio inline model output (e.g. an image)."""

    mime_type: str
    data: bytes


@variant(LiveEvent, "TextDelta")
@attrs.frozen
class _LiveTextDelta(LiveEvent):
    """A piece of model text (TEXT modality)."""

    text: str


@variant(LiveEvent, "TextComplete")
@attrs.frozen
class _LiveTextComplete(LiveEvent):
    """The whole text of the model's turn."""

    text: str


@variant(LiveEvent, "InputTranscript")
@attrs.frozen
class _LiveInputTranscript(LiveEvent):
    """What the user said (or typed); ``is_final`` once per turn with every fragment joined."""

    text: str
    is_final: bool = False


@variant(LiveEvent, "OutputTranscript")
@attrs.frozen
class _LiveOutputTranscript(LiveEvent):
    """What the model said; ``is_final`` once per turn with every fragment joined."""

    text: str
    is_final: bool = False


@variant(LiveEvent, "Thought")
@attrs.frozen
class _LiveThought(LiveEvent):
    """A thought summary."""

    text: str


@variant(LiveEvent, "VadStart")
@attrs.frozen
class _LiveVadStart(LiveEvent):
    """The server detected the start of user speech."""


@variant(LiveEvent, "VadEnd")
@attrs.frozen
class _LiveVadEnd(LiveEvent):
    """The server detected the end of user speech."""


# -- control lane -----------------------------------------------------------------------------


@variant(LiveEvent, "Connected")
@attrs.frozen
class _LiveConnected(LiveEvent):
    """The session is live (``setupComplete``); ``resumed`` when it continued a session."""

    session_id: str | None = None
    resumed: bool = False


@variant(LiveEvent, "ToolCall")
@attrs.frozen
class _LiveToolCall(LiveEvent):
    """The model asks for these function calls (answer with ``send_tool_response``).

    When a flow governs the session, ``calls`` holds only the calls it admits: a refused call
    is answered with the reason by the session itself (its ``ToolExecution`` and
    ``FlowViolation`` report it), and a message whose calls are all refused publishes no
    ``ToolCall``.
    """

    calls: tuple[FunctionCall, ...]


@variant(LiveEvent, "ToolExecution")
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


@variant(LiveEvent, "ToolCancelled")
@attrs.frozen
class _LiveToolCancelled(LiveEvent):
    """These calls were stopped and will not be answered.

    ``reason`` says why: ``"server"`` (the server withdrew them), ``"barge_in"`` (the user
    interrupted the turn they belong to) or ``"connection_lost"`` (their connection ended; with
    ``auto_resume`` the server issues them again if it still wants them).
    """

    ids: tuple[str, ...]
    reason: str = "server"


@variant(LiveEvent, "GenerationComplete")
@attrs.frozen
class _LiveGenerationComplete(LiveEvent):
    """The model finished generating this turn; audio may still be playing."""


@variant(LiveEvent, "Interrupted")
@attrs.frozen
class _LiveInterrupted(LiveEvent):
    """The user barged in: stop playback and drop queued audio (the lane already stopped it)."""


@variant(LiveEvent, "TurnComplete")
@attrs.frozen
class _LiveTurnComplete(LiveEvent):
    """The model's turn is over; the finished transcripts were published just before."""

    reason: str | None = None


@variant(LiveEvent, "GoAway")
@attrs.frozen
class _LiveGoAway(LiveEvent):
    """The server will close the connection after ``time_left`` seconds."""

    time_left: float | None


@variant(LiveEvent, "Reconnecting")
@attrs.frozen
class _LiveReconnecting(LiveEvent):
    """The connection ended; the session is opening another (see ``SessionEvent.Reconnecting``).

    Sends do not fail meanwhile: they are buffered and go out on the new connection.
    """

    reason: str
    attempt: int


@variant(LiveEvent, "Resumed")
@attrs.frozen
class _LiveResumed(LiveEvent):
    """The session continues on a new connection (see ``SessionEvent.Resumed``)."""

    connection: int
    gap_ms: float
    replayed: int
    lost_audio_ms: float


@variant(LiveEvent, "Restored")
@attrs.frozen
class _LiveRestored(LiveEvent):
    """The session was restored from its snapshot (``open_live_session(..., store=...)``).

    ``fresh`` is False when the Gemini session was resumed from the saved handle, True when a
    fresh one was opened (no handle, or it was expired or refused) with the State restored and
    the transcript given as context.  ``turn_count`` is the turns finished before the restore.
    """

    session_id: str
    fresh: bool
    turn_count: int
    reason: str = ""


@variant(LiveEvent, "Error")
@attrs.frozen
class _LiveError(LiveEvent):
    """Something went wrong; the session may go on (a bad frame) or be ending (a close)."""

    error: SessionError


@variant(LiveEvent, "Extraction")
@attrs.frozen
class _LiveExtraction(LiveEvent):
    """A turn extractor produced a value, now stored in the state under ``name``.

    ``value`` is its JSON form (what :meth:`State.get <livehandle.State.get>` returns for
    ``name``); ``handle.extracted(name)`` gives it typed.
    """

    name: str
    value: object = attrs.field(hash=False)


@variant(LiveEvent, "ExtractionError")
@attrs.frozen
class _LiveExtractionError(LiveEvent):
    """A turn extractor failed this time; the state keeps its previous value.

    It raised, timed out, or returned a value of the wrong type: ``error`` says which, with the
    cause chained.
    """

    name: str
    error: ExtractionFailed


@variant(LiveEvent, "PhaseTransition")
@attrs.frozen
class _LivePhaseTransition(LiveEvent):
    """A digression started or ended: the flow governing the conversation changed.

    ``from_phase`` and ``to_phase`` are the flows' names; ``reason`` is ``"digression"`` (an
    overlay flow was pushed), ``"resume"``, ``"restart"`` or ``"terminate"`` (the overlay was
    complete and the flow below resumed, restarted or was terminated).  Steps becoming active
    within a flow are reported as ``StepEntered``.
    """

    from_phase: str
    to_phase: str
    reason: str = ""


@variant(LiveEvent, "Disconnected")
@attrs.frozen
class _LiveDisconnected(LiveEvent):
    """The session has ended; always the last event."""

    end: SessionEnd


# -- periodic ---------------------------------------------------------------------------------


@variant(LiveEvent, "Telemetry")
@attrs.frozen
class _LiveTelemetry(LiveEvent):
    """A telemetry snapshot (JSON-ready), every ``telemetry_interval`` seconds."""

    snapshot: dict[str, object] = attrs.field(hash=False)


@variant(LiveEvent, "TurnMetrics")
@attrs.frozen
class _LiveTurnMetrics(LiveEvent):
    """Per-turn numbers, emitted with the first telemetry tick after a turn completes."""

    turn: int
    latency_ms: float | None
    prompt_tokens: int | None
    response_tokens: int | None


# -- control lane, appended -------------------------------------------------------------------


@variant(LiveEvent, "StatePromotion")
@attrs.frozen
class _LiveStatePromotion(LiveEvent):
    """A promotion rule of extractor ``extractor`` copied (or refused to copy) a field.

    Published after the extractor's ``Extraction``, one per rule, in the rules' order.
    ``accepted`` says whether ``value`` (the field's JSON value, None when absent or null) was
    written to state key ``key``; ``reason`` is ``"accepted"`` or why not (``"absent"``,
    ``"null"``, ``"existing state value was kept"``, ``"not true"``, ``"empty"``,
    ``"predicate refused"``, ...).
    """

    extractor: str
    field: str
    key: str
    value: object = attrs.field(hash=False)
    accepted: bool
    reason: str


@variant(LiveEvent, "StepEntered")
@attrs.frozen
class _LiveStepEntered(LiveEvent):
    """Step ``step`` of flow ``flow`` became active, published once per run of the flow.

    Published at the turn boundary that activated it (after the turn's extraction events,
    before its ``TurnComplete``), or at the session's start for the flow's first steps.
    """

    step: str
    flow: str


@variant(LiveEvent, "FlowViolation")
@attrs.frozen
class _LiveFlowViolation(LiveEvent):
    """The model called a tool the governing flow does not admit now.

    ``reason`` is the flow's (``"'book' is not permitted yet"``) and ``id`` the call's id.
    ``enforced`` is True when the call was refused (answered ``{"error": reason}``, never run),
    False in observe mode, where the call ran and the violation was only recorded.
    """

    tool: str
    reason: str
    id: str | None
    enforced: bool
