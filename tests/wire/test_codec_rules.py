"""The codec's encoding rules, one behaviour per test."""

from __future__ import annotations

import json

import pytest

from livehandle._errors import ProtocolError, SessionError
from livehandle._wire import messages as m
from livehandle._wire.codec import decode_client, decode_server, encode_client, encode_server

PCM = bytes(range(256)) * 3


def test_keys_are_lower_camel_case_and_none_is_omitted() -> None:
    msg = m.Setup(
        model="models/x",
        generation_config=m.GenerationConfig(response_modalities=(m.Modality.TEXT,)),
        realtime_input_config=m.RealtimeInputConfig(
            automatic_activity_detection=m.AutomaticActivityDetection(silence_duration_ms=500)
        ),
    )
    assert json.loads(encode_client(msg)) == {
        "setup": {
            "model": "models/x",
            "generationConfig": {"responseModalities": ["TEXT"]},
            "realtimeInputConfig": {"automaticActivityDetection": {"silenceDurationMs": 500}},
        }
    }


def test_empty_objects_that_are_signals_are_kept() -> None:
    msg = m.Setup(
        model="m",
        session_resumption=m.SessionResumptionConfig(),
        input_audio_transcription=m.AudioTranscriptionConfig(),
    )
    body = json.loads(encode_client(msg))["setup"]
    assert body["sessionResumption"] == {}
    assert body["inputAudioTranscription"] == {}
    assert json.loads(encode_client(m.RealtimeInput(activity_start=m.ActivityStart()))) == {
        "realtimeInput": {"activityStart": {}}
    }


def test_bytes_are_standard_base64_with_padding() -> None:
    text = encode_client(m.RealtimeInput(audio=m.Blob("audio/pcm;rate=16000", b"\xfb\xff\xfe")))
    assert json.loads(text)["realtimeInput"]["audio"]["data"] == "+//+"
    text = encode_client(m.RealtimeInput(audio=m.Blob("audio/pcm;rate=16000", b"\xff")))
    assert json.loads(text)["realtimeInput"]["audio"]["data"] == "/w=="


@pytest.mark.parametrize("data", ["-__-", "+//+", "_w", "_w=="])
def test_url_safe_and_unpadded_base64_are_accepted(data: str) -> None:
    msg = decode_client(json.dumps({"realtimeInput": {"audio": {"mimeType": "a", "data": data}}}))
    assert isinstance(msg, m.RealtimeInput) and msg.audio is not None
    assert msg.audio.data in (b"\xfb\xff\xfe", b"\xff")


def test_durations_are_seconds_strings_both_ways() -> None:
    assert decode_server('{"goAway":{"timeLeft":"2.5s"}}') == m.GoAway(time_left=2.5)
    assert encode_server(m.GoAway(time_left=2.5)) == '{"goAway":{"timeLeft":"2.500s"}}'
    assert encode_server(m.GoAway(time_left=50)) == '{"goAway":{"timeLeft":"50s"}}'
    assert encode_server(m.GoAway(time_left=0.000001)) == '{"goAway":{"timeLeft":"0.000001s"}}'


def test_int64_fields_are_strings_on_output_and_numbers_or_strings_on_input() -> None:
    as_string = decode_server('{"sessionResumptionUpdate":{"lastConsumedClientMessageIndex":"41"}}')
    as_number = decode_server('{"sessionResumptionUpdate":{"lastConsumedClientMessageIndex":41}}')
    assert (
        as_string == as_number == m.SessionResumptionUpdate(last_consumed_client_message_index=41)
    )
    assert '"lastConsumedClientMessageIndex":"41"' in encode_server(as_number)
    setup = m.Setup(
        model="m", context_window_compression=m.ContextWindowCompression(trigger_tokens=9)
    )
    assert '"triggerTokens":"9"' in encode_client(setup)


def test_snake_case_keys_are_accepted_at_every_level() -> None:
    text = json.dumps(
        {
            "client_content": {
                "turns": [{"role": "user", "parts": [{"text": "hi"}]}],
                "turn_complete": True,
            }
        }
    )
    assert decode_client(text) == m.ClientContent(
        turns=(m.Content(parts=(m.Part(text="hi"),), role="user"),), turn_complete=True
    )
    server = decode_server(
        '{"server_content":{"turn_complete":true},"usage_metadata":{"total_token_count":3}}'
    )
    assert server == m.ServerContent(
        turn_complete=True, usage_metadata=m.UsageMetadata(total_token_count=3)
    )


def test_free_form_objects_keep_their_keys_verbatim() -> None:
    args = '{"city_name":"Paris","nested":{"a_b":null}}'
    text = '{"toolCall":{"functionCalls":[{"id":"1","name":"f","args":' + args + "}]}}"
    msg = decode_server(text)
    assert isinstance(msg, m.ToolCall)
    assert msg.function_calls[0].args == {"city_name": "Paris", "nested": {"a_b": None}}
    assert json.loads(encode_server(msg)) == json.loads(text)


def test_unknown_fields_are_kept_in_extra_and_encoded_back() -> None:
    text = '{"serverContent":{"turnComplete":true,"brandNewField":{"x":1}}}'
    msg = decode_server(text)
    assert msg == m.ServerContent(turn_complete=True, extra={"brandNewField": {"x": 1}})
    assert msg.turn_complete is True
    assert json.loads(encode_server(msg)) == json.loads(text)


def test_unknown_server_kind_keeps_the_raw_object() -> None:
    msg = decode_server(b'{"futureMessage":{"a":1},"usageMetadata":{"totalTokenCount":1}}')
    assert msg == m.UnknownServerMessage(
        {"futureMessage": {"a": 1}, "usageMetadata": {"totalTokenCount": 1}}
    )
    assert json.loads(encode_server(msg)) == msg.raw


@pytest.mark.parametrize(
    ("text", "usage"),
    [
        ("{}", None),
        ('{"usageMetadata":{"totalTokenCount":5}}', m.UsageMetadata(total_token_count=5)),
    ],
)
def test_empty_and_usage_only_messages_decode_to_empty_message(
    text: str, usage: m.UsageMetadata | None
) -> None:
    assert decode_server(text) == m.EmptyServerMessage(usage)


def test_empty_server_content_is_a_server_content_with_nothing_set() -> None:
    assert decode_server('{"serverContent":{}}') == m.ServerContent()


def test_vertex_setup_complete_carries_the_session_id() -> None:
    assert decode_server('{"setupComplete":{"sessionId":"abc"}}') == m.SetupComplete("abc")


def test_audio_part_with_empty_mime_type_decodes() -> None:
    text = (
        '{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"","data":"AAA="}}]}}}'
    )
    msg = decode_server(text)
    assert isinstance(msg, m.ServerContent) and msg.model_turn is not None
    assert msg.model_turn.parts[0].inline_data == m.Blob("", b"\x00\x00")


def test_realtime_input_requires_exactly_one_field() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        m.RealtimeInput()
    with pytest.raises(ValueError, match="audio, text"):
        m.RealtimeInput(audio=m.Blob("a", b""), text="x")
    with pytest.raises(ProtocolError, match="exactly one"):
        decode_client('{"realtimeInput":{"text":"a","audioStreamEnd":true}}')


def test_context_update_with_no_tools_says_clear_all_tools() -> None:
    text = encode_client(m.ContextUpdate(tools=m.ToolsUpdate(tools=())))
    assert json.loads(text) == {"contextUpdate": {"tools": {"tools": []}}}


def test_function_response_scheduling_is_a_sibling_of_response() -> None:
    msg = m.ToolResponse(
        (
            m.FunctionResponse(
                id="1", name="f", response={"output": 1}, scheduling=m.Scheduling.SILENT
            ),
        )
    )
    body = json.loads(encode_client(msg))["toolResponse"]["functionResponses"][0]
    assert body == {"id": "1", "name": "f", "response": {"output": 1}, "scheduling": "SILENT"}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            '{"serverContent":{"modelTurn":{"parts":[{"text":5}]}}}',
            "serverContent.modelTurn.parts[0].text",
        ),
        ('{"toolCall":{"functionCalls":[{"id":1}]}}', "toolCall.functionCalls[0].id"),
        ('{"toolCall":{"functionCalls":{}}}', "toolCall.functionCalls"),
        ('{"goAway":{"timeLeft":50}}', "goAway.timeLeft"),
        ('{"goAway":{"timeLeft":"soon"}}', "goAway.timeLeft"),
        ('{"serverContent":{"turnComplete":"yes"}}', "serverContent.turnComplete"),
        (
            '{"sessionResumptionUpdate":{"lastConsumedClientMessageIndex":"4x"}}',
            "lastConsumedClientMessageIndex",
        ),
        ('{"serverContent":[]}', "serverContent"),
        (
            '{"serverContent":{},"usageMetadata":{"totalTokenCount":"many"}}',
            "usageMetadata.totalTokenCount",
        ),
    ],
)
def test_malformed_server_field_names_its_wire_path(text: str, where: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_server(text)
    assert where in str(info.value)
    assert "excerpt" in str(info.value)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xfe", "not valid JSON"),
        ("not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"goAway":{"timeLeft":NaN}}', "not valid JSON"),
        ('{"goAway":{},"toolCall":{"functionCalls":[]}}', "several members"),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_undecodable_server_frames_raise_protocol_error(data: bytes | str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        decode_server(data)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{}", "exactly one top-level key"),
        ('{"setup":{"model":"m"},"clientContent":{}}', "exactly one top-level key"),
        ('{"bogus":{}}', "unknown client message kind 'bogus'"),
        ('{"setup":{"model":7}}', "setup.model: expected a string"),
        (
            '{"setup":{"model":"m","generationConfig":{"responseModalities":["BOTH"]}}}',
            "is not one of",
        ),
    ],
)
def test_malformed_client_messages_raise_protocol_error(text: str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        decode_client(text)


def test_long_input_is_excerpted_not_echoed_whole() -> None:
    with pytest.raises(ProtocolError) as info:
        decode_server('{"serverContent":{"turnComplete":"' + "x" * 10_000 + '"}}')
    assert len(str(info.value)) < 400


def test_unencodable_values_raise_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="cannot encode"):
        encode_client(m.ToolResponse((m.FunctionResponse(name="f", response={"when": object()}),)))
    with pytest.raises(ProtocolError, match="cannot encode"):
        encode_client(
            m.Setup(model="m", generation_config=m.GenerationConfig(temperature=float("nan")))
        )


def test_encoding_a_message_of_the_wrong_side_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="not a client message"):
        encode_client(m.GoAway(time_left=1.0))  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="not a server message"):
        encode_server(m.Setup(model="m"))  # type: ignore[arg-type]


def test_protocol_error_is_a_session_error() -> None:
    assert issubclass(ProtocolError, SessionError)


def test_large_audio_chunk_round_trips() -> None:
    msg = m.ServerContent(
        model_turn=m.Content(parts=(m.Part(inline_data=m.Blob("audio/pcm;rate=24000", PCM * 100)),))
    )
    assert decode_server(encode_server(msg).encode()) == msg
