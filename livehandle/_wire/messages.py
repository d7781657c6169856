"""Every Gemini Live message, client and server, as frozen attrs classes.

These classes are pure data: no I/O, no defaults that differ from the wire.  Python attribute names
are the snake_case form of the lowerCamelCase JSON keys; :mod:`livehandle._wire.codec` does the
translation.  ``None`` means "absent on the wire" (never JSON ``null``).  Three kinds of fields need
special encoding and are marked with field metadata the codec reads:

* ``int64`` fields (token counts, message indexes) are JSON strings on output;
* durations (``goAway.timeLeft``, ``voiceActivity.audioOffset``) are float seconds in Python and
  ``"50s"`` strings on the wire;
* a few keys are not the camelCase of their attribute (``voiceActivity.type``).

``bytes`` fields are base64 on the wire.  Free-form JSON objects (function arguments, responses,
schemas) are plain ``dict``.  Field references are wire-protocol.md §2 (client) and §3 (server).
"""

from __future__ import annotations

import enum
from typing import Any, TypeAlias

import attrs

__all__ = [
    "ActivityEnd",
    "ActivityHandling",
    "ActivityStart",
    "AudioTranscriptionConfig",
    "AutomaticActivityDetection",
    "Behavior",
    "Blob",
    "ClientContent",
    "ClientMessage",
    "CodeExecution",
    "CodeExecutionResult",
    "Content",
    "ContextUpdate",
    "ContextWindowCompression",
    "EmptyServerMessage",
    "EndSensitivity",
    "ExecutableCode",
    "FileData",
    "FunctionCall",
    "FunctionDeclaration",
    "FunctionResponse",
    "GenerationConfig",
    "GoAway",
    "GoogleMaps",
    "GoogleSearch",
    "GroundingChunk",
    "GroundingMetadata",
    "HistoryConfig",
    "JsonObject",
    "MediaResolution",
    "Modality",
    "ModalityTokenCount",
    "Part",
    "PrebuiltVoiceConfig",
    "ProactivityConfig",
    "RealtimeInput",
    "RealtimeInputConfig",
    "SafetySetting",
    "Scheduling",
    "SearchEntryPoint",
    "ServerContent",
    "ServerMessage",
    "SessionResumptionConfig",
    "SessionResumptionUpdate",
    "Setup",
    "SetupComplete",
    "SlidingWindow",
    "SpeechConfig",
    "StartSensitivity",
    "ThinkingConfig",
    "Tool",
    "ToolCall",
    "ToolCallCancellation",
    "ToolResponse",
    "ToolsUpdate",
    "Transcription",
    "TranslationConfig",
    "TurnCoverage",
    "UnknownServerMessage",
    "UrlContext",
    "UsageMetadata",
    "VoiceActivity",
    "VoiceActivityDetectionSignal",
    "VoiceConfig",
    "WebChunk",
]

#: A free-form JSON object (function arguments and responses, schemas).
JsonObject: TypeAlias = dict[str, Any]

# Field metadata keys read by the codec.
INT64 = "livehandle.int64"
DURATION = "livehandle.duration"
WIRE_NAME = "livehandle.wire_name"


def _int64() -> Any:
    return attrs.field(default=None, metadata={INT64: True})


def _duration() -> Any:
    return attrs.field(default=None, metadata={DURATION: True})


# --------------------------------------------------------------------------------------------
# Enumerations (client side; the server side keeps open-ended enums as plain strings)
# --------------------------------------------------------------------------------------------


class Modality(enum.StrEnum):
    """Response modality; a Live session uses exactly one."""

    TEXT = "TEXT"
    AUDIO = "AUDIO"
    IMAGE = "IMAGE"
    VIDEO = "VIDEO"


class MediaResolution(enum.StrEnum):
    """Token budget per video frame."""

    MEDIA_RESOLUTION_UNSPECIFIED = "MEDIA_RESOLUTION_UNSPECIFIED"
    MEDIA_RESOLUTION_LOW = "MEDIA_RESOLUTION_LOW"
    MEDIA_RESOLUTION_MEDIUM = "MEDIA_RESOLUTION_MEDIUM"
    MEDIA_RESOLUTION_HIGH = "MEDIA_RESOLUTION_HIGH"


class StartSensitivity(enum.StrEnum):
    """How readily server VAD commits the start of speech."""

    START_SENSITIVITY_UNSPECIFIED = "START_SENSITIVITY_UNSPECIFIED"
    START_SENSITIVITY_HIGH = "START_SENSITIVITY_HIGH"
    START_SENSITIVITY_LOW = "START_SENSITIVITY_LOW"


class EndSensitivity(enum.StrEnum):
    """How readily server VAD commits the end of speech."""

    END_SENSITIVITY_UNSPECIFIED = "END_SENSITIVITY_UNSPECIFIED"
    END_SENSITIVITY_HIGH = "END_SENSITIVITY_HIGH"
    END_SENSITIVITY_LOW = "END_SENSITIVITY_LOW"


class ActivityHandling(enum.StrEnum):
    """Whether user activity interrupts the model (barge-in)."""

    ACTIVITY_HANDLING_UNSPECIFIED = "ACTIVITY_HANDLING_UNSPECIFIED"
    START_OF_ACTIVITY_INTERRUPTS = "START_OF_ACTIVITY_INTERRUPTS"
    NO_INTERRUPTION = "NO_INTERRUPTION"


class TurnCoverage(enum.StrEnum):
    """Which realtime input belongs to a user turn."""

    TURN_COVERAGE_UNSPECIFIED = "TURN_COVERAGE_UNSPECIFIED"
    TURN_INCLUDES_ONLY_ACTIVITY = "TURN_INCLUDES_ONLY_ACTIVITY"
    TURN_INCLUDES_ALL_INPUT = "TURN_INCLUDES_ALL_INPUT"
    TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO = "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO"


class Behavior(enum.StrEnum):
    """Function behaviour: BLOCKING pauses the model until the response; NON_BLOCKING does not."""

    UNSPECIFIED = "UNSPECIFIED"
    BLOCKING = "BLOCKING"
    NON_BLOCKING = "NON_BLOCKING"


class Scheduling(enum.StrEnum):
    """When the model acts on a NON_BLOCKING function response."""

    SCHEDULING_UNSPECIFIED = "SCHEDULING_UNSPECIFIED"
    SILENT = "SILENT"
    WHEN_IDLE = "WHEN_IDLE"
    INTERRUPT = "INTERRUPT"


# --------------------------------------------------------------------------------------------
# Content (shared by both directions)
# --------------------------------------------------------------------------------------------


@attrs.frozen
class Blob:
    """Inline media: ``{"mimeType": ..., "data": <base64>}``."""

    mime_type: str
    data: bytes
    display_name: str | None = None


@attrs.frozen
class FileData:
    """A reference to media by URI."""

    file_uri: str
    mime_type: str | None = None
    display_name: str | None = None


@attrs.frozen
class ExecutableCode:
    """Code the model generated for the code-execution tool."""

    code: str
    language: str | None = None


@attrs.frozen
class CodeExecutionResult:
    """The result of running :class:`ExecutableCode`."""

    outcome: str | None = None
    output: str | None = None


@attrs.frozen
class Part:
    """One part of a :class:`Content`; normally exactly one field is set."""

    text: str | None = None
    inline_data: Blob | None = None
    file_data: FileData | None = None
    thought: bool | None = None
    executable_code: ExecutableCode | None = None
    code_execution_result: CodeExecutionResult | None = None


@attrs.frozen
class Content:
    """A turn: a role (``user``, ``model``; Vertex also ``system``) and its parts."""

    parts: tuple[Part, ...] = ()
    role: str | None = None


# --------------------------------------------------------------------------------------------
# setup (§2.1)
# --------------------------------------------------------------------------------------------


@attrs.frozen
class PrebuiltVoiceConfig:
    """A named prebuilt voice (``Kore``, ``Puck``, ...)."""

    voice_name: str


@attrs.frozen
class VoiceConfig:
    """Voice selection."""

    prebuilt_voice_config: PrebuiltVoiceConfig | None = None


@attrs.frozen
class SpeechConfig:
    """Voice and language of audio output."""

    voice_config: VoiceConfig | None = None
    language_code: str | None = None


@attrs.frozen
class ThinkingConfig:
    """Thinking: a token budget (2.5) or a level (3.1: ``minimal``/``low``/``medium``/``high``)."""

    thinking_budget: int | None = None
    include_thoughts: bool | None = None
    thinking_level: str | None = None


@attrs.frozen
class TranslationConfig:
    """Live translation settings."""

    target_language_code: str | None = None
    echo_target_language: bool | None = None


@attrs.frozen
class GenerationConfig:
    """Generation settings; ``response_modalities`` holds exactly one modality in Live."""

    response_modalities: tuple[Modality, ...] | None = None
    speech_config: SpeechConfig | None = None
    thinking_config: ThinkingConfig | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_output_tokens: int | None = None
    seed: int | None = None
    candidate_count: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    media_resolution: MediaResolution | None = None
    enable_affective_dialog: bool | None = None
    translation_config: TranslationConfig | None = None


@attrs.frozen
class FunctionDeclaration:
    """A function the model may call; ``parameters`` is an OpenAPI-subset schema object."""

    name: str
    description: str | None = None
    parameters: JsonObject | None = None
    parameters_json_schema: JsonObject | None = None
    response: JsonObject | None = None
    behavior: Behavior | None = None


@attrs.frozen
class GoogleSearch:
    """Enables the server-side Google Search tool (``{}``)."""


@attrs.frozen
class CodeExecution:
    """Enables the server-side code-execution tool (``{}``)."""


@attrs.frozen
class UrlContext:
    """Enables the server-side URL-context tool (``{}``)."""


@attrs.frozen
class GoogleMaps:
    """Enables the server-side Google Maps tool (``{}``)."""


@attrs.frozen
class Tool:
    """One entry of ``setup.tools``; normally exactly one field is set."""

    function_declarations: tuple[FunctionDeclaration, ...] | None = None
    google_search: GoogleSearch | None = None
    code_execution: CodeExecution | None = None
    url_context: UrlContext | None = None
    google_maps: GoogleMaps | None = None


@attrs.frozen
class AutomaticActivityDetection:
    """Server VAD settings; ``disabled=True`` hands turn-taking to activityStart/activityEnd."""

    disabled: bool | None = None
    start_of_speech_sensitivity: StartSensitivity | None = None
    end_of_speech_sensitivity: EndSensitivity | None = None
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None


@attrs.frozen
class RealtimeInputConfig:
    """Turn detection and barge-in handling for realtime input."""

    automatic_activity_detection: AutomaticActivityDetection | None = None
    activity_handling: ActivityHandling | None = None
    turn_coverage: TurnCoverage | None = None


@attrs.frozen
class SessionResumptionConfig:
    """``{}`` asks for resumption handles; ``handle`` resumes; ``transparent`` is Vertex only."""

    handle: str | None = None
    transparent: bool | None = None


@attrs.frozen
class SlidingWindow:
    """Sliding-window compression target (``{}`` = server defaults)."""

    target_tokens: int | None = _int64()


@attrs.frozen
class ContextWindowCompression:
    """Context compression: when the context reaches ``trigger_tokens``, slide the window."""

    trigger_tokens: int | None = _int64()
    sliding_window: SlidingWindow | None = None


@attrs.frozen
class AudioTranscriptionConfig:
    """``{}`` enables transcription; the optional fields are newer and model dependent."""

    language_codes: tuple[str, ...] | None = None
    custom_vocabulary: tuple[str, ...] | None = None
    word_timestamp: bool | None = None
    diarization: bool | None = None


@attrs.frozen
class ProactivityConfig:
    """Proactive audio (native-audio models)."""

    proactive_audio: bool | None = None


@attrs.frozen
class HistoryConfig:
    """Seed the history through clientContent before realtime input starts."""

    initial_history_in_client_content: bool | None = None


@attrs.frozen
class SafetySetting:
    """A safety threshold for one harm category."""

    category: str
    threshold: str
    method: str | None = None


@attrs.frozen
class Setup:
    """The first and only setup message of a connection (§2.1)."""

    model: str
    generation_config: GenerationConfig | None = None
    system_instruction: Content | None = None
    tools: tuple[Tool, ...] | None = None
    realtime_input_config: RealtimeInputConfig | None = None
    session_resumption: SessionResumptionConfig | None = None
    context_window_compression: ContextWindowCompression | None = None
    input_audio_transcription: AudioTranscriptionConfig | None = None
    output_audio_transcription: AudioTranscriptionConfig | None = None
    proactivity: ProactivityConfig | None = None
    history_config: HistoryConfig | None = None
    explicit_vad_signal: bool | None = None
    avatar_config: JsonObject | None = None
    safety_settings: tuple[SafetySetting, ...] | None = None


# --------------------------------------------------------------------------------------------
# Other client messages (§2.2-§2.5)
# --------------------------------------------------------------------------------------------


@attrs.frozen
class ClientContent:
    """Turns appended to the history; ``turn_complete=True`` asks the model to answer now."""

    turns: tuple[Content, ...] | None = None
    turn_complete: bool | None = None


@attrs.frozen
class ActivityStart:
    """Marks the start of user activity (only with automatic activity detection disabled)."""


@attrs.frozen
class ActivityEnd:
    """Marks the end of user activity (only with automatic activity detection disabled)."""


REALTIME_INPUT_FIELDS = (
    "audio",
    "video",
    "text",
    "activity_start",
    "activity_end",
    "audio_stream_end",
    "media_chunks",
)


@attrs.frozen
class RealtimeInput:
    """Realtime input carrying exactly one of its fields (§2.3).

    ``media_chunks`` is the deprecated form; it is accepted on input only for compatibility.

    Raises:
        ValueError: when zero or several fields are set.
    """

    audio: Blob | None = None
    video: Blob | None = None
    text: str | None = None
    activity_start: ActivityStart | None = None
    activity_end: ActivityEnd | None = None
    audio_stream_end: bool | None = None
    media_chunks: tuple[Blob, ...] | None = None

    def __attrs_post_init__(self) -> None:
        present = [name for name in REALTIME_INPUT_FIELDS if getattr(self, name) is not None]
        if len(present) != 1:
            shown = ", ".join(present) if present else "none"
            raise ValueError(
                f"realtimeInput must carry exactly one of audio, video, text, activityStart, "
                f"activityEnd, audioStreamEnd; got {shown}"
            )


@attrs.frozen
class FunctionResponse:
    """The answer to one function call (§2.4).

    ``response`` is ``{"output": ...}`` for results and ``{"error": ...}`` for failures by
    convention.  ``scheduling`` and ``will_continue`` matter only for NON_BLOCKING functions.
    """

    name: str
    response: JsonObject
    id: str | None = None
    scheduling: Scheduling | None = None
    will_continue: bool | None = None


@attrs.frozen
class ToolResponse:
    """Answers to one or more function calls."""

    function_responses: tuple[FunctionResponse, ...]


@attrs.frozen
class ToolsUpdate:
    """The wrapped tool list of a context update; an empty tuple clears every tool."""

    tools: tuple[Tool, ...]


@attrs.frozen
class ContextUpdate:
    """Mid-session replacement of the system instruction and/or tools (newest models, §2.5)."""

    system_instruction: Content | None = None
    tools: ToolsUpdate | None = None


# --------------------------------------------------------------------------------------------
# Server messages (§3)
# --------------------------------------------------------------------------------------------


@attrs.frozen
class ModalityTokenCount:
    """Token count for one modality."""

    modality: str
    token_count: int | None = None


@attrs.frozen
class UsageMetadata:
    """Token usage, sent beside a server message (§3.7).

    Vertex's ``candidatesTokenCount`` / ``candidatesTokensDetails`` decode into the ``response_*``
    fields.
    """

    prompt_token_count: int | None = None
    cached_content_token_count: int | None = None
    response_token_count: int | None = None
    tool_use_prompt_token_count: int | None = None
    thoughts_token_count: int | None = None
    total_token_count: int | None = None
    prompt_tokens_details: tuple[ModalityTokenCount, ...] | None = None
    cache_tokens_details: tuple[ModalityTokenCount, ...] | None = None
    response_tokens_details: tuple[ModalityTokenCount, ...] | None = None
    tool_use_prompt_tokens_details: tuple[ModalityTokenCount, ...] | None = None
    traffic_type: str | None = None


@attrs.frozen
class SetupComplete:
    """The server accepted the setup; Vertex adds a ``session_id``."""

    session_id: str | None = None
    voice_consent_signature: str | None = None
    usage_metadata: UsageMetadata | None = None


@attrs.frozen
class Transcription:
    """A transcription fragment; fragments of one turn are concatenated."""

    text: str | None = None
    finished: bool | None = None
    language_code: str | None = None
    speaker_label: str | None = None


@attrs.frozen
class WebChunk:
    """A web source used for grounding."""

    uri: str | None = None
    title: str | None = None


@attrs.frozen
class GroundingChunk:
    """One grounding source."""

    web: WebChunk | None = None


@attrs.frozen
class SearchEntryPoint:
    """The search suggestion chip to render."""

    rendered_content: str | None = None


@attrs.frozen
class GroundingMetadata:
    """Google Search grounding for a model turn; ``grounding_supports`` is kept as raw JSON."""

    web_search_queries: tuple[str, ...] | None = None
    grounding_chunks: tuple[GroundingChunk, ...] | None = None
    grounding_supports: tuple[JsonObject, ...] | None = None
    search_entry_point: SearchEntryPoint | None = None


@attrs.frozen
class ServerContent:
    """Model output and turn signals (§3.2)."""

    model_turn: Content | None = None
    generation_complete: bool | None = None
    turn_complete: bool | None = None
    interrupted: bool | None = None
    input_transcription: Transcription | None = None
    output_transcription: Transcription | None = None
    interim_input_transcription: Transcription | None = None
    grounding_metadata: GroundingMetadata | None = None
    url_context_metadata: JsonObject | None = None
    turn_complete_reason: str | None = None
    waiting_for_input: bool | None = None
    interaction_status: str | None = None
    usage_metadata: UsageMetadata | None = None


@attrs.frozen
class FunctionCall:
    """One call the model wants the client to run; echo ``id`` in the response."""

    name: str
    id: str | None = None
    args: JsonObject | None = None
    partial_args: tuple[JsonObject, ...] | None = None
    will_continue: bool | None = None


@attrs.frozen
class ToolCall:
    """Function calls to run (§3.3)."""

    function_calls: tuple[FunctionCall, ...]
    usage_metadata: UsageMetadata | None = None


@attrs.frozen
class ToolCallCancellation:
    """Previously issued calls that should not run (§3.4)."""

    ids: tuple[str, ...]
    usage_metadata: UsageMetadata | None = None


@attrs.frozen
class GoAway:
    """The server will end the connection after ``time_left`` seconds (§3.5)."""

    time_left: float | None = _duration()
    usage_metadata: UsageMetadata | None = None


@attrs.frozen
class SessionResumptionUpdate:
    """A resumption checkpoint (§3.6); keep ``new_handle`` when ``resumable`` is true."""

    new_handle: str | None = None
    resumable: bool | None = None
    last_consumed_client_message_index: int | None = _int64()
    usage_metadata: UsageMetadata | None = None


@attrs.frozen
class VoiceActivity:
    """Explicit server VAD signal (Vertex): ``ACTIVITY_START`` or ``ACTIVITY_END``."""

    activity_type: str | None = attrs.field(default=None, metadata={WIRE_NAME: "type"})
    audio_offset: float | None = _duration()
    usage_metadata: UsageMetadata | None = None


@attrs.frozen
class VoiceActivityDetectionSignal:
    """Allow-listed VAD signal: ``VAD_SIGNAL_TYPE_SOS`` / ``VAD_SIGNAL_TYPE_EOS``."""

    vad_signal_type: str | None = None
    usage_metadata: UsageMetadata | None = None


@attrs.frozen
class EmptyServerMessage:
    """A message with no union member: ``{}`` or usage only; safe to ignore."""

    usage_metadata: UsageMetadata | None = None


@attrs.frozen
class UnknownServerMessage:
    """A message of a kind this version does not know; ``raw`` keeps the decoded JSON object."""

    raw: JsonObject


ClientMessage: TypeAlias = Setup | ClientContent | RealtimeInput | ToolResponse | ContextUpdate

ServerMessage: TypeAlias = (
    SetupComplete
    | ServerContent
    | ToolCall
    | ToolCallCancellation
    | GoAway
    | SessionResumptionUpdate
    | VoiceActivity
    | VoiceActivityDetectionSignal
    | EmptyServerMessage
    | UnknownServerMessage
)
