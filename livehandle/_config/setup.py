"""How a :class:`~livehandle.LiveConfig` becomes the wire ``setup`` message.

:class:`SetupBuilder` is the half of ``LiveConfig`` that speaks the wire: it reads the config's
plain-Python settings and builds the ``setup`` message's parts (generation config, realtime
input config, resumption, compression, tools).  Settings left at ``None`` / ``False`` are
omitted, so the server's own defaults apply.  It holds no state of its own: ``LiveConfig``
inherits it, and :meth:`~livehandle.LiveConfig.to_setup` calls :meth:`SetupBuilder._build_setup`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from livehandle._config.instruction import text_content
from livehandle._wire import messages as m

if TYPE_CHECKING:
    from livehandle._tools.declare import Tool, ToolSet
    from livehandle._transport.endpoints import Endpoint

__all__ = ["SetupBuilder"]


class SetupBuilder:
    """Builds the wire ``setup`` message from the settings of the config that inherits it."""

    __slots__ = ()

    if TYPE_CHECKING:  # the LiveConfig fields this half reads (LiveConfig defines them)
        model: str
        instruction: str | None
        response_modality: m.Modality
        voice: str | None
        voice_sample: bytes | None
        voice_sample_mime_type: str | None
        language_code: str | None
        input_transcription: bool
        output_transcription: bool
        transcription_mode: m.TranscriptionMode | None
        interim_transcript_timestamps: bool | None
        server_vad: bool
        start_sensitivity: m.StartSensitivity | None
        end_sensitivity: m.EndSensitivity | None
        prefix_padding_ms: int | None
        silence_duration_ms: int | None
        activity_handling: m.ActivityHandling | None
        turn_coverage: m.TurnCoverage | None
        temperature: float | None
        max_output_tokens: int | None
        thinking_budget: int | None
        thinking_level: m.ThinkingLevel | None
        media_resolution: m.MediaResolution | None
        proactive_audio: bool | None
        proactive_video: bool | None
        affective_dialog: bool | None
        session_resumption: bool
        resume_handle: str | None
        transparent_resumption: bool
        auto_resume: bool
        compression_trigger_tokens: int | None
        compression_target_tokens: int | None
        context_compression: bool
        tools: tuple[m.Tool | Tool, ...]

        @property
        def function_tools(self) -> ToolSet: ...

    def _build_setup(self, endpoint: Endpoint) -> m.Setup:
        """The ``setup`` message for ``endpoint`` (see :meth:`~livehandle.LiveConfig.to_setup`)."""
        vertex = endpoint.backend == "vertex"
        if self.transparent_resumption and not vertex:
            raise ValueError(
                "transparent_resumption is Vertex only (wire-protocol §2.1): the "
                f"{endpoint.backend} backend rejects sessionResumption.transparent; "
                "use Endpoint.vertex(...) or leave it False"
            )
        return m.Setup(
            model=endpoint.model_name(self.model),
            generation_config=self._generation_config(),
            system_instruction=(
                None if self.instruction is None else text_content(self.instruction)
            ),
            tools=self._wire_tools(),
            realtime_input_config=self._realtime_input_config(),
            session_resumption=self._session_resumption(),
            context_window_compression=self._context_window_compression(),
            input_audio_transcription=(
                m.AudioTranscriptionConfig(mode=self.transcription_mode)
                if self.input_transcription
                else None
            ),
            output_audio_transcription=(
                m.AudioTranscriptionConfig(mode=self.transcription_mode)
                if self.output_transcription
                else None
            ),
            proactivity=(
                None
                if self.proactive_audio is None and self.proactive_video is None
                else m.ProactivityConfig(
                    proactive_audio=self.proactive_audio, proactive_video=self.proactive_video
                )
            ),
        )

    def _generation_config(self) -> m.GenerationConfig:
        speech = None
        voice = None
        if self.voice is not None:
            voice = m.VoiceConfig(
                prebuilt_voice_config=m.PrebuiltVoiceConfig(voice_name=self.voice)
            )
        elif self.voice_sample is not None:
            voice = m.VoiceConfig(
                replicated_voice_config=m.ReplicatedVoiceConfig(
                    mime_type=self.voice_sample_mime_type, voice_sample_audio=self.voice_sample
                )
            )
        if voice is not None or self.language_code is not None:
            speech = m.SpeechConfig(voice_config=voice, language_code=self.language_code)
        thinking = None
        if self.thinking_budget is not None or self.thinking_level is not None:
            thinking = m.ThinkingConfig(
                thinking_budget=self.thinking_budget, thinking_level=self.thinking_level
            )
        return m.GenerationConfig(
            response_modalities=(self.response_modality,),
            speech_config=speech,
            thinking_config=thinking,
            temperature=self.temperature,
            max_output_tokens=self.max_output_tokens,
            media_resolution=self.media_resolution,
            enable_affective_dialog=self.affective_dialog,
        )

    def _wire_tools(self) -> tuple[m.Tool, ...] | None:
        wire = [t for t in self.tools if isinstance(t, m.Tool)]
        declared = self.function_tools.declarations()
        if declared is not None:
            wire.append(declared)
        return tuple(wire) or None

    def _realtime_input_config(self) -> m.RealtimeInputConfig | None:
        detection = None
        if not self.server_vad:
            detection = m.AutomaticActivityDetection(disabled=True)
        elif any(
            value is not None
            for value in (
                self.start_sensitivity,
                self.end_sensitivity,
                self.prefix_padding_ms,
                self.silence_duration_ms,
            )
        ):
            detection = m.AutomaticActivityDetection(
                start_of_speech_sensitivity=self.start_sensitivity,
                end_of_speech_sensitivity=self.end_sensitivity,
                prefix_padding_ms=self.prefix_padding_ms,
                silence_duration_ms=self.silence_duration_ms,
            )
        if (
            detection is None
            and self.activity_handling is None
            and self.turn_coverage is None
            and self.interim_transcript_timestamps is None
        ):
            return None
        return m.RealtimeInputConfig(
            automatic_activity_detection=detection,
            activity_handling=self.activity_handling,
            turn_coverage=self.turn_coverage,
            interim_transcript_timestamp_enabled=self.interim_transcript_timestamps,
        )

    def _session_resumption(self) -> m.SessionResumptionConfig | None:
        wanted = (
            self.session_resumption
            or self.auto_resume
            or self.resume_handle is not None
            or self.transparent_resumption
        )
        if not wanted:
            return None
        return m.SessionResumptionConfig(
            handle=self.resume_handle,
            transparent=True if self.transparent_resumption else None,
        )

    def _context_window_compression(self) -> m.ContextWindowCompression | None:
        trigger, target = self.compression_trigger_tokens, self.compression_target_tokens
        if not self.context_compression and trigger is None and target is None:
            return None
        return m.ContextWindowCompression(
            trigger_tokens=trigger, sliding_window=m.SlidingWindow(target_tokens=target)
        )
