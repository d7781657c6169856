"""The ``setup`` message (§2.1) and the configuration it carries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from livehandle._wire.common import (
    ActivityHandling,
    Behavior,
    Content,
    EndSensitivity,
    JsonObject,
    MediaResolution,
    Modality,
    StartSensitivity,
    ThinkingLevel,
    TranscriptionMode,
    TurnCoverage,
    extra_field,
    int64_field,
)

__all__ = [
    "AudioTranscriptionConfig",
    "AutomaticActivityDetection",
    "CodeExecution",
    "ContextWindowCompression",
    "FunctionDeclaration",
    "GenerationConfig",
    "GoogleMaps",
    "GoogleSearch",
    "HistoryConfig",
    "PrebuiltVoiceConfig",
    "ProactivityConfig",
    "RealtimeInputConfig",
    "ReplicatedVoiceConfig",
    "SafetySetting",
    "SessionResumptionConfig",
    "Setup",
    "SlidingWindow",
    "SpeechConfig",
    "ThinkingConfig",
    "Tool",
    "TranslationConfig",
    "UrlContext",
    "VoiceConfig",
]


def _length_repr(value: bytes | None) -> str:
    return "None" if value is None else f"<{len(value)} bytes>"


def _thinking_level(value: ThinkingLevel | str | None) -> ThinkingLevel | None:
    if value is None or isinstance(value, ThinkingLevel):
        return value
    if isinstance(value, str):
        try:
            return ThinkingLevel(value.upper())
        except ValueError:
            pass
    choices = ", ".join(level.value for level in ThinkingLevel)
    raise ValueError(f"thinking_level: unknown level {value!r:.40}; expected one of {choices}")


# --------------------------------------------------------------------------------------------
# setup (§2.1)
# --------------------------------------------------------------------------------------------


@attrs.frozen
class PrebuiltVoiceConfig:
    """A named prebuilt voice (``Kore``, ``Puck``, ...)."""

    voice_name: str = ""
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class ReplicatedVoiceConfig:
    """A custom voice replicated from a sample (the server answers with a consent signature).

    ``mime_type`` is ``audio/wav`` (16-bit little-endian, 24 kHz) when left out.
    """

    mime_type: str | None = None
    voice_sample_audio: bytes | None = attrs.field(default=None, repr=_length_repr)
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class VoiceConfig:
    """Voice selection: a prebuilt voice or a replicated one."""

    prebuilt_voice_config: PrebuiltVoiceConfig | None = None
    replicated_voice_config: ReplicatedVoiceConfig | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class SpeechConfig:
    """Voice and language of audio output."""

    voice_config: VoiceConfig | None = None
    language_code: str | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class ThinkingConfig:
    """Thinking: a token budget (2.5) or a level (3.1: ``MINIMAL``/``LOW``/``MEDIUM``/``HIGH``).

    The level is sent upper case, as the API's enum spells it; a string in any case is accepted
    here (``"low"`` becomes :attr:`ThinkingLevel.LOW`).

    Raises:
        ValueError: ``thinking_level`` names no level.
    """

    thinking_budget: int | None = None
    include_thoughts: bool | None = None
    thinking_level: ThinkingLevel | None = attrs.field(default=None, converter=_thinking_level)
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class TranslationConfig:
    """Live translation settings."""

    target_language_code: str | None = None
    echo_target_language: bool | None = None
    extra: Mapping[str, Any] = extra_field()


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
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class FunctionDeclaration:
    """A function the model may call; ``parameters`` is an OpenAPI-subset schema object.

    ``response_json_schema`` describes the result as JSON Schema (beside or instead of the
    OpenAPI-subset ``response``).  An omitted ``name`` decodes as ``""``.
    """

    name: str = ""
    description: str | None = None
    parameters: JsonObject | None = None
    parameters_json_schema: JsonObject | None = None
    response: JsonObject | None = None
    response_json_schema: JsonObject | None = None
    behavior: Behavior | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class GoogleSearch:
    """Enables the server-side Google Search tool (``{}``)."""

    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class CodeExecution:
    """Enables the server-side code-execution tool (``{}``)."""

    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class UrlContext:
    """Enables the server-side URL-context tool (``{}``)."""

    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class GoogleMaps:
    """Enables the server-side Google Maps tool (``{}``)."""

    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class Tool:
    """One entry of ``setup.tools``; normally exactly one field is set."""

    function_declarations: tuple[FunctionDeclaration, ...] | None = None
    google_search: GoogleSearch | None = None
    code_execution: CodeExecution | None = None
    url_context: UrlContext | None = None
    google_maps: GoogleMaps | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class AutomaticActivityDetection:
    """Server VAD settings; ``disabled=True`` hands turn-taking to activityStart/activityEnd."""

    disabled: bool | None = None
    start_of_speech_sensitivity: StartSensitivity | None = None
    end_of_speech_sensitivity: EndSensitivity | None = None
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class RealtimeInputConfig:
    """Turn detection and barge-in handling for realtime input."""

    automatic_activity_detection: AutomaticActivityDetection | None = None
    activity_handling: ActivityHandling | None = None
    turn_coverage: TurnCoverage | None = None
    interim_transcript_timestamp_enabled: bool | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class SessionResumptionConfig:
    """``{}`` asks for resumption handles; ``handle`` resumes; ``transparent`` is Vertex only."""

    handle: str | None = None
    transparent: bool | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class SlidingWindow:
    """Sliding-window compression target (``{}`` = server defaults)."""

    target_tokens: int | None = int64_field()
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class ContextWindowCompression:
    """Context compression: when the context reaches ``trigger_tokens``, slide the window."""

    trigger_tokens: int | None = int64_field()
    sliding_window: SlidingWindow | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class AudioTranscriptionConfig:
    """``{}`` enables transcription; the optional fields are newer and model dependent."""

    language_codes: tuple[str, ...] | None = None
    custom_vocabulary: tuple[str, ...] | None = None
    word_timestamp: bool | None = None
    diarization: bool | None = None
    mode: TranscriptionMode | None = None
    source_text: str | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class ProactivityConfig:
    """Proactive audio and video (native-audio models): the model may stay silent, or speak up."""

    proactive_audio: bool | None = None
    proactive_video: bool | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class HistoryConfig:
    """Seed the history through clientContent before realtime input starts."""

    initial_history_in_client_content: bool | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class SafetySetting:
    """A safety threshold for one harm category (omitted enums decode as their UNSPECIFIED)."""

    category: str = "HARM_CATEGORY_UNSPECIFIED"
    threshold: str = "HARM_BLOCK_THRESHOLD_UNSPECIFIED"
    method: str | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen
class Setup:
    """The first and only setup message of a connection (§2.1).

    An omitted ``model`` decodes as ``""`` (proto3 JSON leaves empty strings out).
    """

    model: str = ""
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
    extra: Mapping[str, Any] = extra_field()
