"""proto3 JSON leaves empty values out; unknown members are kept, logged once, and encoded back.

One minimal message per field that proto3 may omit (an empty string, bytes or list, an
unspecified enum): each decodes to the field's default.  A wrong JSON type still fails.
"""

from __future__ import annotations

import json
import logging
import pickle
from typing import Any

import attrs
import pytest

from livehandle import ProtocolError
from livehandle._wire import messages as m, unknown
from livehandle._wire.codec import decode_client, decode_server, encode_client, encode_server

# (frame, path to the decoded object, the expected object)
SERVER_OMISSIONS: list[tuple[dict[str, Any], str, Any]] = [
    (
        {"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": "AAE="}}]}}},
        "model_turn.parts.0.inline_data",
        m.Blob(mime_type="", data=b"\x00\x01"),
    ),
    (
        {"serverContent": {"modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm"}}]}}},
        "model_turn.parts.0.inline_data",
        m.Blob(mime_type="audio/pcm", data=b""),
    ),
    (
        {"serverContent": {"modelTurn": {"parts": [{"fileData": {}}]}}},
        "model_turn.parts.0.file_data",
        m.FileData(file_uri=""),
    ),
    (
        {"serverContent": {"modelTurn": {"parts": [{"executableCode": {"language": "PYTHON"}}]}}},
        "model_turn.parts.0.executable_code",
        m.ExecutableCode(code="", language="PYTHON"),
    ),
    ({"serverContent": {"modelTurn": {}}}, "model_turn", m.Content()),
    ({"toolCall": {}}, "", m.ToolCall()),
    ({"toolCall": {"functionCalls": [{"id": "1"}]}}, "function_calls.0", m.FunctionCall(id="1")),
    ({"toolCallCancellation": {}}, "", m.ToolCallCancellation()),
    (
        {"setupComplete": {"voiceConsentSignature": {}}},
        "voice_consent_signature",
        m.VoiceConsentSignature(signature=""),
    ),
    (
        {"serverContent": {"inputTranscription": {"words": [{"startOffset": "1s"}]}}},
        "input_transcription.words.0",
        m.WordInfo(word="", start_offset=1.0),
    ),
    (
        {"usageMetadata": {"promptTokensDetails": [{"tokenCount": 3}]}},
        "usage_metadata.prompt_tokens_details.0",
        m.ModalityTokenCount(modality="MODALITY_UNSPECIFIED", token_count=3),
    ),
]

CLIENT_OMISSIONS: list[tuple[dict[str, Any], str, Any]] = [
    ({"setup": {}}, "", m.Setup(model="")),
    (
        {
            "setup": {
                "model": "m",
                "generationConfig": {"speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {}}}},
            }
        },
        "generation_config.speech_config.voice_config.prebuilt_voice_config",
        m.PrebuiltVoiceConfig(voice_name=""),
    ),
    (
        {"setup": {"model": "m", "tools": [{"functionDeclarations": [{"description": "d"}]}]}},
        "tools.0.function_declarations.0",
        m.FunctionDeclaration(name="", description="d"),
    ),
    (
        {"setup": {"model": "m", "safetySettings": [{}]}},
        "safety_settings.0",
        m.SafetySetting(
            category="HARM_CATEGORY_UNSPECIFIED", threshold="HARM_BLOCK_THRESHOLD_UNSPECIFIED"
        ),
    ),
    ({"toolResponse": {}}, "", m.ToolResponse()),
    (
        {"toolResponse": {"functionResponses": [{"id": "1"}]}},
        "function_responses.0",
        m.FunctionResponse(name="", response={}, id="1"),
    ),
    ({"contextUpdate": {"tools": {}}}, "tools", m.ToolsUpdate(tools=())),
    (
        {"realtimeInput": {"audio": {}}},
        "audio",
        m.Blob(mime_type="", data=b""),
    ),
]


def _at(obj: Any, path: str) -> Any:
    for step in filter(None, path.split(".")):
        obj = obj[int(step)] if step.isdigit() else getattr(obj, step)
    return obj


@pytest.mark.parametrize(("frame", "path", "expected"), SERVER_OMISSIONS)
def test_server_fields_proto3_omits_decode_to_their_default(frame, path, expected) -> None:
    assert _at(decode_server(json.dumps(frame)), path) == expected


@pytest.mark.parametrize(("frame", "path", "expected"), CLIENT_OMISSIONS)
def test_client_fields_proto3_omits_decode_to_their_default(frame, path, expected) -> None:
    assert _at(decode_client(json.dumps(frame)), path) == expected


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"data":5}}]}}}', "data"),
        ('{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":1}}]}}}', "mimeType"),
        ('{"toolCall":{"functionCalls":{}}}', "toolCall.functionCalls"),
        ('{"toolCallCancellation":{"ids":"a"}}', "toolCallCancellation.ids"),
        ('{"setupComplete":{"voiceConsentSignature":"sig"}}', "voiceConsentSignature"),
        ('{"usageMetadata":{"promptTokensDetails":[{"modality":3}]}}', "modality"),
        ('{"serverContent":{"modelTurn":{"parts":[{"thoughtSignature":"%%"}]}}}', "thought"),
    ],
)
def test_absent_means_default_but_a_wrong_type_is_still_an_error(text: str, where: str) -> None:
    with pytest.raises(ProtocolError, match=where):
        decode_server(text)


def test_voice_consent_signature_is_an_object() -> None:
    msg = decode_server('{"setupComplete":{"voiceConsentSignature":{"signature":"c2ln"}}}')
    assert msg == m.SetupComplete(voice_consent_signature=m.VoiceConsentSignature("c2ln"))
    assert json.loads(encode_server(msg)) == {
        "setupComplete": {"voiceConsentSignature": {"signature": "c2ln"}}
    }


def test_thinking_level_decodes_in_any_case_and_encodes_upper_case() -> None:
    text = '{"setup":{"model":"m","generationConfig":{"thinkingConfig":{"thinkingLevel":"high"}}}}'
    msg = decode_client(text)
    assert isinstance(msg, m.Setup)
    assert msg.generation_config is not None
    assert msg.generation_config.thinking_config == m.ThinkingConfig(thinking_level="high")
    body = json.loads(encode_client(msg))["setup"]["generationConfig"]["thinkingConfig"]
    assert body == {"thinkingLevel": "HIGH"}
    with pytest.raises(ValueError, match="thinking_level: unknown level"):
        m.ThinkingConfig(thinking_level="extreme")


# -- unknown members ------------------------------------------------------------------------------


def test_a_part_with_only_unmodelled_fields_keeps_them_and_encodes_them_back() -> None:
    frame = {
        "serverContent": {
            "modelTurn": {
                "parts": [
                    {"functionCall": {"name": "f", "args": {"a": 1}}},
                    {"functionResponse": {"name": "f", "response": {"ok": True}}},
                    {"text": "x", "thoughtSignature": "AAE="},
                ]
            }
        }
    }
    msg = decode_server(json.dumps(frame))
    assert isinstance(msg, m.ServerContent)
    assert msg.model_turn is not None
    first, second, third = msg.model_turn.parts
    assert first.extra == {"functionCall": {"name": "f", "args": {"a": 1}}}
    assert first.text is None
    assert second.extra == {"functionResponse": {"name": "f", "response": {"ok": True}}}
    assert third == m.Part(text="x", thought_signature=b"\x00\x01")
    assert third.extra == {}
    assert json.loads(encode_server(msg)) == frame


def test_unknown_members_are_kept_at_every_level_of_client_messages() -> None:
    frame = {
        "setup": {
            "model": "m",
            "bogusField": 1,
            "generationConfig": {"responseModalities": ["AUDIO"], "futureKnob": "x"},
        }
    }
    msg = decode_client(json.dumps(frame))
    assert isinstance(msg, m.Setup)
    assert msg.extra == {"bogusField": 1}
    assert msg.generation_config is not None
    assert msg.generation_config.extra == {"futureKnob": "x"}
    assert json.loads(encode_client(msg)) == frame


def test_extra_is_read_only_equal_by_items_picklable_and_out_of_hash_and_repr() -> None:
    part = m.Part(text="a", extra={"newThing": [1, 2]})
    assert part == m.Part(text="a", extra={"newThing": [1, 2]})
    assert part != m.Part(text="a")
    assert hash(part) == hash(m.Part(text="a"))
    assert "newThing" not in repr(part)
    assert pickle.loads(pickle.dumps(part)) == part
    with pytest.raises(TypeError):
        part.extra["x"] = 1  # type: ignore[index]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        part.extra = {}  # type: ignore[misc]
    with pytest.raises(TypeError, match="extra: wire names are strings"):
        m.Part(extra={1: 2})  # type: ignore[dict-item]


def test_extra_repeating_a_modelled_member_cannot_be_encoded() -> None:
    with pytest.raises(ProtocolError, match="repeats the modelled member 'text'"):
        encode_client(m.ClientContent(turns=(m.Content(parts=(m.Part(extra={"text": "x"}),)),)))


@pytest.mark.usefixtures("fresh_unknown_names")
def test_each_unknown_name_is_logged_once_at_debug_with_its_wire_path(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="livehandle.wire")
    text = '{"serverContent":{"modelTurn":{"parts":[{"text":"a"},{"functionCall":{}}]}}}'
    decode_server(text)
    decode_server(text)
    lines = [r.getMessage() for r in caplog.records if r.name == "livehandle.wire"]
    assert len(lines) == 1
    assert "'functionCall'" in lines[0]
    assert "serverContent.modelTurn.parts[1].functionCall" in lines[0]
    assert all(r.levelno == logging.DEBUG for r in caplog.records)


@pytest.mark.usefixtures("fresh_unknown_names")
def test_the_remembered_names_are_bounded_and_nothing_is_lost_past_the_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="livehandle.wire")
    names = [f"new{i}" for i in range(unknown.MAX_REMEMBERED + 10)]
    msg = decode_server(json.dumps({"goAway": dict.fromkeys(names, 1)}))
    assert isinstance(msg, m.GoAway)
    assert list(msg.extra) == names
    assert len(unknown._seen) == unknown.MAX_REMEMBERED
    lines = [r.getMessage() for r in caplog.records if r.name == "livehandle.wire"]
    assert len(lines) == unknown.MAX_REMEMBERED + 1
    assert "further new names are kept in .extra unlogged" in lines[-1]


def test_unknown_server_kinds_still_decode_to_unknown_server_message() -> None:
    msg = decode_server('{"brandNewKind":{"x":1}}')
    assert msg == m.UnknownServerMessage({"brandNewKind": {"x": 1}})


# -- new fields round trip ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "msg",
    [
        m.Setup(
            model="m",
            generation_config=m.GenerationConfig(
                speech_config=m.SpeechConfig(
                    voice_config=m.VoiceConfig(
                        replicated_voice_config=m.ReplicatedVoiceConfig(
                            mime_type="audio/wav", voice_sample_audio=b"RIFF"
                        )
                    )
                ),
                thinking_config=m.ThinkingConfig(thinking_level=m.ThinkingLevel.MINIMAL),
            ),
            tools=(
                m.Tool(
                    function_declarations=(
                        m.FunctionDeclaration(name="f", response_json_schema={"type": "string"}),
                    )
                ),
            ),
            realtime_input_config=m.RealtimeInputConfig(interim_transcript_timestamp_enabled=True),
            input_audio_transcription=m.AudioTranscriptionConfig(
                mode=m.TranscriptionMode.SMART, source_text="ref"
            ),
            proactivity=m.ProactivityConfig(proactive_video=True),
        ),
        m.ToolResponse(
            function_responses=(
                m.FunctionResponse(
                    name="f",
                    response={"output": "chart"},
                    parts=(
                        m.FunctionResponsePart(inline_data=m.Blob("image/png", b"\x89PNG")),
                        m.FunctionResponsePart(file_data=m.FileData("gs://b/c.png")),
                    ),
                ),
            )
        ),
    ],
)
def test_new_client_fields_round_trip(msg: m.ClientMessage) -> None:
    assert decode_client(encode_client(msg)) == msg


def test_new_server_fields_round_trip() -> None:
    msg = m.ServerContent(
        model_turn=m.Content(parts=(m.Part(text="t", thought_signature=b"\x01\x02"),)),
        input_transcription=m.Transcription(
            text="hi there",
            words=(m.WordInfo("hi", 0.1, 0.3), m.WordInfo("there", 0.3, 0.7)),
            start_offset=0.1,
            end_offset=0.7,
        ),
        usage_metadata=m.UsageMetadata(total_token_count=3, service_tier="STANDARD"),
    )
    text = encode_server(msg)
    assert '"thoughtSignature":"AQI="' in text
    assert '"startOffset":"0.100s"' in text
    assert '"serviceTier":"STANDARD"' in text
    assert decode_server(text) == msg


def test_the_logged_path_is_found_through_lists_and_bounded_in_depth() -> None:
    body = {"a": [{"b": 1}, {"c": {"newName": 2}}]}
    assert unknown._find(body, "newName", "root") == "root.a[1].c.newName"
    assert unknown._find(body, "absent", "root") is None
    deep: Any = {"newName": 1}
    for _ in range(100):
        deep = {"x": deep}
    assert unknown._find(deep, "newName", "root") is None


@pytest.mark.usefixtures("fresh_unknown_names")
def test_a_name_met_twice_in_one_frame_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="livehandle.wire")
    decode_server('{"serverContent":{"modelTurn":{"parts":[{"zz":1},{"zz":2}]}}}')
    lines = [r.getMessage() for r in caplog.records if r.name == "livehandle.wire"]
    assert len(lines) == 1
    assert "parts[0].zz" in lines[0]
