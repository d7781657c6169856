from __future__ import annotations

import base64
import json

import attrs
import pytest

from livehandle._config.delivery import Delivery
from livehandle._config.live import (
    DEFAULT_MODEL,
    LiveConfig,
)
from livehandle._transport import Endpoint
from livehandle._wire import messages as m
from livehandle._wire.codec import encode_client

GOOGLE_AI = Endpoint.google_ai("test-key")
EMULATOR = Endpoint.from_url("ws://127.0.0.1:9")
VERTEX = Endpoint.vertex(project="proj", location="us-central1", token=lambda: "t")
VERTEX_PREFIX = "projects/proj/locations/us-central1/publishers/google/models/"


@pytest.fixture(autouse=True)
def _no_model_env(monkeypatch):
    monkeypatch.delenv("GEMINI_MODEL", raising=False)


def wire(msg: m.ClientMessage) -> dict:
    return json.loads(encode_client(msg))


def setup_json(config: LiveConfig, endpoint: Endpoint = GOOGLE_AI) -> dict:
    return wire(config.to_setup(endpoint))["setup"]


# -- defaults and model naming ------------------------------------------------------------------


def test_default_config_encodes_the_minimal_setup():
    assert wire(LiveConfig().to_setup(GOOGLE_AI)) == {
        "setup": {
            "model": "models/gemini-3.8-live",
            "generationConfig": {"responseModalities": ["AUDIO"]},
            "inputAudioTranscription": {},
            "outputAudioTranscription": {},
        }
    }


def test_default_model_is_read_from_gemini_model_env_at_construction(monkeypatch):
    monkeypatch.setenv("GEMINI_MODEL", "gemini-2.5-flash-native-audio")

    config = LiveConfig()

    assert config.model == "gemini-2.5-flash-native-audio"
    assert setup_json(config)["model"] == "models/gemini-2.5-flash-native-audio"


def test_empty_gemini_model_env_falls_back_to_default(monkeypatch):
    monkeypatch.setenv("GEMINI_MODEL", "")

    assert LiveConfig().model == DEFAULT_MODEL


def test_explicit_model_wins_over_env(monkeypatch):
    monkeypatch.setenv("GEMINI_MODEL", "gemini-from-env")

    assert LiveConfig(model="gemini-explicit").model == "gemini-explicit"


@pytest.mark.parametrize("model", ["gemini-3.8-live", "models/gemini-3.8-live"])
def test_google_ai_accepts_bare_and_prefixed_model_ids(model):
    assert setup_json(LiveConfig(model=model))["model"] == "models/gemini-3.8-live"


@pytest.mark.parametrize("model", ["gemini-3.8-live", "models/gemini-3.8-live"])
def test_vertex_writes_the_full_resource_name(model):
    assert setup_json(LiveConfig(model=model), VERTEX)["model"] == VERTEX_PREFIX + "gemini-3.8-live"


def test_vertex_setup_always_carries_response_modalities():
    assert setup_json(LiveConfig(), VERTEX)["generationConfig"] == {"responseModalities": ["AUDIO"]}


def test_emulator_url_endpoint_uses_google_ai_model_naming():
    assert setup_json(LiveConfig(), EMULATOR)["model"] == "models/gemini-3.8-live"


# -- field mapping ------------------------------------------------------------------------------


def test_full_config_maps_every_field_to_its_wire_key():
    tool = m.Tool(function_declarations=(m.FunctionDeclaration(name="lookup"),))
    config = LiveConfig(
        model="gemini-2.5-flash-native-audio",
        instruction="Be brief.",
        response_modality="text",
        voice="Kore",
        language_code="de-DE",
        input_transcription=False,
        output_transcription=False,
        start_sensitivity=m.StartSensitivity.START_SENSITIVITY_LOW,
        end_sensitivity=m.EndSensitivity.END_SENSITIVITY_HIGH,
        prefix_padding_ms=20,
        silence_duration_ms=600,
        activity_handling=m.ActivityHandling.NO_INTERRUPTION,
        turn_coverage=m.TurnCoverage.TURN_INCLUDES_ALL_INPUT,
        temperature=0.7,
        max_output_tokens=512,
        thinking_budget=0,
        media_resolution=m.MediaResolution.MEDIA_RESOLUTION_LOW,
        proactive_audio=True,
        affective_dialog=True,
        session_resumption=True,
        compression_trigger_tokens=25000,
        compression_target_tokens=8000,
        tools=[tool],
    )

    assert setup_json(config) == {
        "model": "models/gemini-2.5-flash-native-audio",
        "generationConfig": {
            "responseModalities": ["TEXT"],
            "speechConfig": {
                "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}},
                "languageCode": "de-DE",
            },
            "thinkingConfig": {"thinkingBudget": 0},
            "temperature": 0.7,
            "maxOutputTokens": 512,
            "mediaResolution": "MEDIA_RESOLUTION_LOW",
            "enableAffectiveDialog": True,
        },
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "tools": [{"functionDeclarations": [{"name": "lookup"}]}],
        "realtimeInputConfig": {
            "automaticActivityDetection": {
                "startOfSpeechSensitivity": "START_SENSITIVITY_LOW",
                "endOfSpeechSensitivity": "END_SENSITIVITY_HIGH",
                "prefixPaddingMs": 20,
                "silenceDurationMs": 600,
            },
            "activityHandling": "NO_INTERRUPTION",
            "turnCoverage": "TURN_INCLUDES_ALL_INPUT",
        },
        "sessionResumption": {},
        "contextWindowCompression": {
            "triggerTokens": "25000",
            "slidingWindow": {"targetTokens": "8000"},
        },
        "proactivity": {"proactiveAudio": True},
    }
    assert isinstance(config.tools, tuple)


def test_voice_alone_emits_only_the_voice_config():
    speech = setup_json(LiveConfig(voice="Puck"))["generationConfig"]["speechConfig"]

    assert speech == {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Puck"}}}


def test_language_code_alone_emits_only_the_language():
    speech = setup_json(LiveConfig(language_code="fr-FR"))["generationConfig"]["speechConfig"]

    assert speech == {"languageCode": "fr-FR"}


def test_server_vad_off_disables_automatic_activity_detection_only():
    assert setup_json(LiveConfig(server_vad=False))["realtimeInputConfig"] == {
        "automaticActivityDetection": {"disabled": True}
    }


def test_server_vad_off_keeps_activity_handling_and_turn_coverage():
    config = LiveConfig(
        server_vad=False,
        activity_handling="no_interruption",
        turn_coverage=m.TurnCoverage.TURN_INCLUDES_ONLY_ACTIVITY,
    )

    assert setup_json(config)["realtimeInputConfig"] == {
        "automaticActivityDetection": {"disabled": True},
        "activityHandling": "NO_INTERRUPTION",
        "turnCoverage": "TURN_INCLUDES_ONLY_ACTIVITY",
    }


def test_single_vad_setting_emits_only_that_key():
    assert setup_json(LiveConfig(silence_duration_ms=700))["realtimeInputConfig"] == {
        "automaticActivityDetection": {"silenceDurationMs": 700}
    }


def test_activity_handling_alone_omits_automatic_activity_detection():
    config = LiveConfig(activity_handling=m.ActivityHandling.START_OF_ACTIVITY_INTERRUPTS)

    assert setup_json(config)["realtimeInputConfig"] == {
        "activityHandling": "START_OF_ACTIVITY_INTERRUPTS"
    }


def test_proactive_audio_false_is_sent_because_it_was_set():
    assert setup_json(LiveConfig(proactive_audio=False))["proactivity"] == {"proactiveAudio": False}


def test_resume_handle_implies_resumption_with_the_handle():
    config = LiveConfig(resume_handle="handle-123")

    assert config.session_resumption is False
    assert setup_json(config)["sessionResumption"] == {"handle": "handle-123"}


def test_transparent_resumption_on_vertex_is_sent_with_the_handle():
    config = LiveConfig(resume_handle="h", transparent_resumption=True)

    assert setup_json(config, VERTEX)["sessionResumption"] == {"handle": "h", "transparent": True}


def test_context_compression_flag_alone_sends_server_defaults():
    assert setup_json(LiveConfig(context_compression=True))["contextWindowCompression"] == {
        "slidingWindow": {}
    }


def test_compression_target_alone_enables_compression():
    assert setup_json(LiveConfig(compression_target_tokens=9000))["contextWindowCompression"] == {
        "slidingWindow": {"targetTokens": "9000"}
    }


def test_compression_trigger_alone_enables_compression():
    assert setup_json(LiveConfig(compression_trigger_tokens=30000))["contextWindowCompression"] == {
        "triggerTokens": "30000",
        "slidingWindow": {},
    }


def test_tools_accept_any_iterable_and_are_stored_as_a_tuple():
    tools = (m.Tool(google_search=m.GoogleSearch()) for _ in range(2))

    config = LiveConfig(tools=tools)

    assert config.tools == (m.Tool(google_search=m.GoogleSearch()),) * 2
    assert setup_json(config)["tools"] == [{"googleSearch": {}}, {"googleSearch": {}}]


# -- response modality ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (m.Modality.TEXT, m.Modality.TEXT),
        ("AUDIO", m.Modality.AUDIO),
        ("audio", m.Modality.AUDIO),
        ("TEXT", m.Modality.TEXT),
        (["text"], m.Modality.TEXT),
        (("AUDIO", m.Modality.AUDIO, "audio"), m.Modality.AUDIO),
        ([m.Modality.TEXT, "text"], m.Modality.TEXT),
    ],
)
def test_response_modality_accepts_one_modality_in_several_spellings(given, expected):
    assert LiveConfig(response_modality=given).response_modality is expected


def test_both_response_modalities_are_rejected():
    with pytest.raises(
        ValueError, match=r"response_modality.*exactly one response modality; got AUDIO and TEXT"
    ):
        LiveConfig(response_modality=["AUDIO", "TEXT"])


@pytest.mark.parametrize("given", ["speech", [], 3])
def test_unknown_or_empty_response_modality_is_rejected(given):
    with pytest.raises(ValueError, match="response_modality"):
        LiveConfig(response_modality=given)


@pytest.mark.parametrize(
    "given", ["VIDEO", "video", m.Modality.VIDEO, "image", [m.Modality.IMAGE], ("Video",)]
)
def test_modalities_the_live_api_refuses_are_rejected_with_the_reason(given):
    with pytest.raises(ValueError, match=r"response_modality: (VIDEO|IMAGE) is not a Live"):
        LiveConfig(response_modality=given)


# -- newer setup options ---------------------------------------------------------------------------


def test_thinking_level_is_sent_upper_case_whatever_the_case_given():
    for given in ("low", "LOW", "Low", m.ThinkingLevel.LOW):
        config = LiveConfig(thinking_level=given)
        assert config.thinking_level is m.ThinkingLevel.LOW
        assert setup_json(config)["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "LOW"}


def test_unknown_thinking_level_and_budget_with_level_are_rejected():
    with pytest.raises(ValueError, match="thinking_level: unknown value 'lots'"):
        LiveConfig(thinking_level="lots")
    with pytest.raises(ValueError, match="thinking_budget, thinking_level"):
        LiveConfig(thinking_budget=0, thinking_level="low")


def test_voice_sample_becomes_a_replicated_voice_config_and_hides_its_bytes():
    sample = b"RIFF" + bytes(40)
    config = LiveConfig(voice_sample=sample, voice_sample_mime_type="audio/wav")
    voice = setup_json(config)["generationConfig"]["speechConfig"]["voiceConfig"]
    assert voice == {
        "replicatedVoiceConfig": {
            "mimeType": "audio/wav",
            "voiceSampleAudio": base64.b64encode(sample).decode(),
        }
    }
    assert "<44 bytes>" in repr(config)
    assert "RIFF" not in repr(config)
    assert "RIFF" not in repr(config.to_setup(GOOGLE_AI))


def test_voice_sample_conflicts_are_rejected():
    with pytest.raises(ValueError, match="voice, voice_sample"):
        LiveConfig(voice="Kore", voice_sample=b"x")
    with pytest.raises(ValueError, match="voice_sample_mime_type"):
        LiveConfig(voice_sample_mime_type="audio/wav")


def test_proactive_video_transcription_mode_and_interim_timestamps_reach_the_setup():
    config = LiveConfig(
        proactive_video=True, transcription_mode="verbatim", interim_transcript_timestamps=True
    )
    setup = setup_json(config)
    assert setup["proactivity"] == {"proactiveVideo": True}
    assert setup["inputAudioTranscription"] == {"mode": "VERBATIM"}
    assert setup["outputAudioTranscription"] == {"mode": "VERBATIM"}
    assert setup["realtimeInputConfig"] == {"interimTranscriptTimestampEnabled": True}


def test_transcription_mode_without_any_transcription_is_rejected():
    with pytest.raises(ValueError, match="transcription_mode: no transcription"):
        LiveConfig(
            transcription_mode="SMART", input_transcription=False, output_transcription=False
        )


# -- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["prefix_padding_ms", "silence_duration_ms"])
def test_negative_milliseconds_are_rejected(field):
    with pytest.raises(ValueError, match=rf"{field} must be >= 0 ms, got -1"):
        LiveConfig(**{field: -1})


def test_zero_milliseconds_are_allowed():
    assert LiveConfig(prefix_padding_ms=0, silence_duration_ms=0).silence_duration_ms == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("start_sensitivity", m.StartSensitivity.START_SENSITIVITY_LOW),
        ("end_sensitivity", m.EndSensitivity.END_SENSITIVITY_LOW),
        ("prefix_padding_ms", 100),
        ("silence_duration_ms", 500),
    ],
)
def test_vad_tuning_with_server_vad_off_is_rejected(field, value):
    with pytest.raises(ValueError, match=rf"{field}: server VAD tuning is ignored"):
        LiveConfig(server_vad=False, **{field: value})


@pytest.mark.parametrize("field", ["audio", "media", "text", "transcript", "thought", "vad"])
def test_unknown_delivery_policy_is_rejected(field):
    with pytest.raises(ValueError, match=rf"Delivery\.{field}: unknown delivery policy 'drop_all'"):
        Delivery(**{field: "drop_all"})


def test_delivery_defaults_to_lossless_and_accepts_drop_newest():
    delivery = Delivery(audio="drop_newest")

    assert delivery.audio == "drop_newest"
    assert {delivery.media, delivery.text, delivery.transcript, delivery.thought} == {"lossless"}
    assert LiveConfig(delivery=delivery).delivery.audio == "drop_newest"
    assert LiveConfig().delivery == Delivery()


def test_delivery_that_is_not_a_delivery_is_rejected():
    with pytest.raises(ValueError, match="delivery: expected"):
        LiveConfig(delivery={"audio": "lossless"})


@pytest.mark.parametrize("field", ["lane_capacity", "event_capacity", "outbound_capacity"])
def test_zero_capacity_is_rejected(field):
    with pytest.raises(ValueError, match=rf"{field} must be >= 1, got 0"):
        LiveConfig(**{field: 0})


@pytest.mark.parametrize("value", [0, -1.0, float("inf"), float("nan")])
@pytest.mark.parametrize("field", ["telemetry_interval", "connect_timeout", "setup_timeout"])
def test_non_positive_or_infinite_seconds_are_rejected(field, value):
    with pytest.raises(ValueError, match=rf"{field} must be a positive finite number of seconds"):
        LiveConfig(**{field: value})


@pytest.mark.parametrize("value", [-0.1, 2.5, float("nan")])
def test_temperature_outside_0_to_2_is_rejected(value):
    with pytest.raises(ValueError, match="temperature must be between 0 and 2"):
        LiveConfig(temperature=value)


def test_max_output_tokens_must_be_positive():
    with pytest.raises(ValueError, match="max_output_tokens must be >= 1"):
        LiveConfig(max_output_tokens=0)


def test_thinking_budget_must_not_be_negative():
    with pytest.raises(ValueError, match="thinking_budget must be >= 0"):
        LiveConfig(thinking_budget=-1)


@pytest.mark.parametrize("target", [8000, 9000])
def test_compression_target_at_or_above_trigger_is_rejected(target):
    expected = rf"compression_target_tokens \({target}\) must be smaller than compression_trigger"
    with pytest.raises(ValueError, match=expected):
        LiveConfig(compression_trigger_tokens=8000, compression_target_tokens=target)


@pytest.mark.parametrize("field", ["compression_trigger_tokens", "compression_target_tokens"])
def test_non_positive_compression_tokens_are_rejected(field):
    with pytest.raises(ValueError, match=rf"{field} must be >= 1"):
        LiveConfig(**{field: 0})


@pytest.mark.parametrize("endpoint", [GOOGLE_AI, EMULATOR])
def test_transparent_resumption_outside_vertex_fails_at_to_setup(endpoint):
    config = LiveConfig(transparent_resumption=True)  # construction is endpoint independent

    with pytest.raises(ValueError, match="transparent_resumption is Vertex only"):
        config.to_setup(endpoint)


def test_unknown_enum_string_names_the_field():
    with pytest.raises(ValueError, match="start_sensitivity: unknown value 'loud'"):
        LiveConfig(start_sensitivity="loud")


def test_enum_fields_accept_their_wire_value_as_a_string():
    config = LiveConfig(
        end_sensitivity="end_sensitivity_low", media_resolution="MEDIA_RESOLUTION_HIGH"
    )

    assert config.end_sensitivity is m.EndSensitivity.END_SENSITIVITY_LOW
    assert config.media_resolution is m.MediaResolution.MEDIA_RESOLUTION_HIGH


def test_tools_reject_non_tool_items():
    with pytest.raises(ValueError, match=r"tools\[1\]: expected .*Tool, got str"):
        LiveConfig(tools=[m.Tool(google_search=m.GoogleSearch()), "search"])


def test_unknown_instruction_update_strategy_is_rejected():
    with pytest.raises(ValueError, match="instruction_update: unknown strategy 'rewrite'"):
        LiveConfig(instruction_update="rewrite")


def test_empty_model_is_rejected():
    with pytest.raises(ValueError, match="model: the model name is empty"):
        LiveConfig(model="")


def test_config_is_frozen():
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        LiveConfig().voice = "Kore"  # type: ignore[misc]


# -- instruction updates --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "endpoint", "expected"),
    [
        ("gemini-3.8-live", GOOGLE_AI, "context_update"),
        ("models/gemini-3.8-live", VERTEX, "context_update"),
        ("gemini-3.10-live", GOOGLE_AI, "context_update"),
        ("gemini-4-flash-live", GOOGLE_AI, "context_update"),
        ("gemini-2.5-flash-native-audio", GOOGLE_AI, "model_turn"),
        ("gemini-live-2.5-flash-preview", GOOGLE_AI, "model_turn"),
        ("gemini-3.1-flash-live-preview", EMULATOR, "model_turn"),
        ("gemini-2.5-flash-native-audio", VERTEX, "system_turn"),
        ("my-tuned-model", VERTEX, "system_turn"),
    ],
)
def test_auto_instruction_update_resolves_per_model_and_backend(model, endpoint, expected):
    assert LiveConfig(model=model).effective_instruction_update(endpoint) == expected


@pytest.mark.parametrize("strategy", ["context_update", "system_turn", "model_turn"])
def test_explicit_instruction_update_is_used_as_given(strategy):
    config = LiveConfig(model="gemini-2.5-flash-native-audio", instruction_update=strategy)

    assert config.effective_instruction_update(GOOGLE_AI) == strategy
    assert config.effective_instruction_update(VERTEX) == strategy


def test_context_update_message_replaces_the_system_instruction():
    msg = LiveConfig(model="gemini-3.8-live").instruction_update_message("Speak French.", GOOGLE_AI)

    assert wire(msg) == {
        "contextUpdate": {"systemInstruction": {"parts": [{"text": "Speak French."}]}}
    }


def test_system_turn_message_sends_a_system_role_turn_without_completing_it():
    config = LiveConfig(model="gemini-2.5-flash-native-audio")

    assert wire(config.instruction_update_message("Speak French.", VERTEX)) == {
        "clientContent": {
            "turns": [{"parts": [{"text": "Speak French."}], "role": "system"}],
            "turnComplete": False,
        }
    }


def test_model_turn_message_injects_the_instruction_as_a_model_turn():
    config = LiveConfig(model="gemini-2.5-flash-native-audio")

    assert wire(config.instruction_update_message("Speak French.", GOOGLE_AI)) == {
        "clientContent": {
            "turns": [
                {
                    "parts": [
                        {
                            "text": "(New instructions for the rest of this conversation: "
                            "Speak French.)"
                        }
                    ],
                    "role": "model",
                }
            ],
            "turnComplete": False,
        }
    }


def test_empty_instruction_update_is_rejected():
    with pytest.raises(ValueError, match="text: the new instruction is empty"):
        LiveConfig().instruction_update_message("  ", GOOGLE_AI)


def test_voice_sample_takes_bytes_like_input_and_says_plainly_what_else_is_wrong() -> None:
    assert LiveConfig(voice_sample=bytearray(b"\x01\x02")).voice_sample == b"\x01\x02"
    assert LiveConfig(voice_sample=memoryview(b"\x03")).voice_sample == b"\x03"
    with pytest.raises(
        TypeError, match=r"^voice_sample: expected the audio sample as bytes, got str$"
    ):
        LiveConfig(voice_sample="not audio")  # type: ignore[arg-type]
