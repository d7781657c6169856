"""Server messages (§3), and the union of every server message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

import attrs

from livehandle._wire.common import (
    WIRE_NAME,
    Content,
    JsonObject,
    duration_field,
    extra_field,
    int64_field,
)

__all__ = [
    "EmptyServerMessage",
    "FunctionCall",
    "GoAway",
    "GroundingChunk",
    "GroundingMetadata",
    "ModalityTokenCount",
    "SearchEntryPoint",
    "ServerContent",
    "ServerMessage",
    "SessionResumptionUpdate",
    "SetupComplete",
    "ToolCall",
    "ToolCallCancellation",
    "Transcription",
    "UnknownServerMessage",
    "UsageMetadata",
    "VoiceActivity",
    "VoiceActivityDetectionSignal",
    "VoiceConsentSignature",
    "WebChunk",
    "WordInfo",
]

# --------------------------------------------------------------------------------------------
# Server messages (§3)
# --------------------------------------------------------------------------------------------


@attrs.frozen
class ModalityTokenCount:
    """Token count for one modality; an omitted modality decodes as ``MODALITY_UNSPECIFIED``."""

    modality: str = "MODALITY_UNSPECIFIED"
    token_count: int | None = None
    extra: Mapping[str, Any] = extra_field()


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
    service_tier: str | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class VoiceConsentSignature:
    """The server's signature for a replicated (custom) voice: ``{"signature": "..."}``."""

    signature: str = ""
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class SetupComplete:
    """The server accepted the setup; Vertex adds a ``session_id``.

    ``voice_consent_signature`` comes with a replicated voice
    (``VoiceConfig.replicated_voice_config``).
    """

    session_id: str | None = None
    voice_consent_signature: VoiceConsentSignature | None = None
    usage_metadata: UsageMetadata | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class WordInfo:
    """One recognised word with its offsets (seconds from the start of the audio)."""

    word: str = ""
    start_offset: float | None = duration_field()
    end_offset: float | None = duration_field()
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class Transcription:
    """A transcription fragment; fragments of one turn are concatenated.

    ``words`` (word timing) and the fragment's ``start_offset`` / ``end_offset`` come with word
    timestamps or interim transcript timestamps when the setup asks for them.
    """

    text: str | None = None
    finished: bool | None = None
    language_code: str | None = None
    speaker_label: str | None = None
    words: tuple[WordInfo, ...] | None = None
    start_offset: float | None = duration_field()
    end_offset: float | None = duration_field()
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class WebChunk:
    """A web source used for grounding."""

    uri: str | None = None
    title: str | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class GroundingChunk:
    """One grounding source."""

    web: WebChunk | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class SearchEntryPoint:
    """The search suggestion chip to render."""

    rendered_content: str | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class GroundingMetadata:
    """Google Search grounding for a model turn; ``grounding_supports`` is kept as raw JSON."""

    web_search_queries: tuple[str, ...] | None = None
    grounding_chunks: tuple[GroundingChunk, ...] | None = None
    grounding_supports: tuple[JsonObject, ...] | None = None
    search_entry_point: SearchEntryPoint | None = None
    extra: Mapping[str, Any] = extra_field()


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
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class FunctionCall:
    """One call the model wants the client to run; echo ``id`` in the response."""

    name: str = ""
    id: str | None = None
    args: JsonObject | None = None
    partial_args: tuple[JsonObject, ...] | None = None
    will_continue: bool | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class ToolCall:
    """Function calls to run (§3.3); ``{}`` (proto3's empty list) decodes to no calls."""

    function_calls: tuple[FunctionCall, ...] = ()
    usage_metadata: UsageMetadata | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class ToolCallCancellation:
    """Previously issued calls that should not run (§3.4); ``{}`` decodes to no ids."""

    ids: tuple[str, ...] = ()
    usage_metadata: UsageMetadata | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class GoAway:
    """The server will end the connection after ``time_left`` seconds (§3.5)."""

    time_left: float | None = duration_field()
    usage_metadata: UsageMetadata | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class SessionResumptionUpdate:
    """A resumption checkpoint (§3.6); keep ``new_handle`` when ``resumable`` is true."""

    new_handle: str | None = None
    resumable: bool | None = None
    last_consumed_client_message_index: int | None = int64_field()
    usage_metadata: UsageMetadata | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class VoiceActivity:
    """Explicit server VAD signal (Vertex): ``ACTIVITY_START`` or ``ACTIVITY_END``."""

    activity_type: str | None = attrs.field(default=None, metadata={WIRE_NAME: "type"})
    audio_offset: float | None = duration_field()
    usage_metadata: UsageMetadata | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class VoiceActivityDetectionSignal:
    """Allow-listed VAD signal: ``VAD_SIGNAL_TYPE_SOS`` / ``VAD_SIGNAL_TYPE_EOS``."""

    vad_signal_type: str | None = None
    usage_metadata: UsageMetadata | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class EmptyServerMessage:
    """A message with no union member: ``{}`` or usage only; safe to ignore."""

    usage_metadata: UsageMetadata | None = None


@attrs.frozen
class UnknownServerMessage:
    """A message of a kind this version does not know; ``raw`` keeps the decoded JSON object."""

    raw: JsonObject


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
