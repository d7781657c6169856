"""The emulator's strict rules beyond the setup's names: unknown names in every later client
message, thinking level per model, and the consent signature of a replicated voice."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import trio

from livehandle._errors import InvalidArgument
from livehandle._transport import Connection, Endpoint
from livehandle._wire import messages as m
from livehandle._wire.codec import decode_client, encode_client
from livehandle.testing import LiveEmulator, _strict as strict
from livehandle.testing._checks import THINKING_LEVEL_UNSUPPORTED
from livehandle.testing._engine import clip_reason
from tests.testing.helpers import MODEL, mic
from tests.testing.test_emulator_strict import LINE, first_reply

SETUP = {"model": MODEL, "generationConfig": {"responseModalities": ["TEXT"]}}
AUDIO = base64.b64encode(bytes(640)).decode()


async def after_setup(frame: dict[str, Any], setup: dict[str, Any] = SETUP) -> LiveEmulator:
    """Send ``setup``, wait for setupComplete, send ``frame`` and wait for the emulator to close.

    The emulator is stopped after the close, so its record of the connection is final.
    """
    async with LiveEmulator().in_memory() as emu, trio.open_nursery() as nursery:
        conn = await emu.memory_transport().connect(Endpoint.from_url(emu.url), nursery)
        await conn.send(json.dumps({"setup": setup}))
        assert next(iter(json.loads(await conn.receive()))) == "setupComplete"
        await conn.send(json.dumps(frame))
        with trio.fail_after(5), pytest.raises(InvalidArgument):
            await receive_until_closed(conn)
        await conn.aclose()
    return emu


async def receive_until_closed(conn: Connection) -> None:
    while True:
        await conn.receive()  # replies, if any, then the close raises


# -- unknown names in later client messages ---------------------------------------------------

REFUSED = [
    pytest.param(
        {"realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=16000", "data": AUDIO, "db": 3}}},
        "db",
        "realtime_input.audio",
        id="audio-blob",
    ),
    pytest.param(
        {"realtimeInput": {"mediaChunks": [{"mimeType": "audio/pcm", "data": AUDIO, "x": 1}]}},
        "x",
        "realtime_input.media_chunks[0]",
        id="media-chunk",
    ),
    pytest.param(
        {"realtimeInput": {"text": "hi", "urgent": True}},
        "urgent",
        "realtime_input",
        id="realtime-top",
    ),
    pytest.param(
        {"clientContent": {"turns": [{"parts": [{"text": "hi"}, {"text": "x", "mood": 1}]}]}},
        "mood",
        "client_content.turns[0].parts[1]",
        id="client-content-part",
    ),
    pytest.param(
        {"toolResponse": {"functionResponses": [{"id": "a", "name": "f", "late": True}]}},
        "late",
        "tool_response.function_responses[0]",
        id="function-response",
    ),
    pytest.param(
        {"contextUpdate": {"systemInstruction": {"parts": [{"text": "be brief"}]}, "why": "x"}},
        "why",
        "context_update",
        id="context-update",
    ),
    pytest.param(
        {
            "contextUpdate": {
                "tools": {
                    "tools": [
                        {
                            "functionDeclarations": [
                                {"name": "f", "parameters": {"type": "OBJECT", "$ref": "#/a"}}
                            ]
                        }
                    ]
                }
            }
        },
        "$ref",
        "context_update.tools.tools[0].function_declarations[0].parameters",
        id="schema-keyword",
    ),
]


@pytest.mark.parametrize(("frame", "name", "path"), REFUSED)
async def test_an_unknown_name_in_a_later_message_closes_1007_at_its_proto_path(
    frame: dict[str, Any], name: str, path: str
) -> None:
    emu = await after_setup(frame)
    conn = emu.connections[0]
    whole = LINE.format(name, path)
    assert (conn.close_code, conn.close_reason) == (1007, clip_reason(whole))
    if clip_reason(whole) != whole:  # the close frame cuts it; the record keeps it whole
        assert conn.errors == [f"message refused: {whole}"]


async def test_free_form_json_in_a_later_message_is_not_walked() -> None:
    # Function responses are arbitrary JSON: any name goes, at any depth.
    response = {"output": {"anyName": {"deeper": [1, {"$ref": "x"}]}}}
    answer = {"id": "a", "name": "f", "response": response}
    frame = {"toolResponse": {"functionResponses": [answer]}}
    # A Schema-valued field has the raw JSON walked; full JSON Schema beside it is free-form.
    declaration = {
        "name": "f",
        "parameters": {"type": "OBJECT"},
        "parametersJsonSchema": {"$ref": "#/a", "additionalProperties": False},
    }
    tools = {"tools": {"tools": [{"functionDeclarations": [declaration]}]}}
    update = json.dumps({"contextUpdate": tools})
    assert strict.message_unknown_names_reason(decode_client(update), update) is None
    async with LiveEmulator().in_memory() as emu, trio.open_nursery() as nursery:
        conn = await emu.memory_transport().connect(Endpoint.from_url(emu.url), nursery)
        await conn.send(json.dumps({"setup": SETUP}))
        await conn.receive()
        await conn.send(json.dumps(frame))
        await conn.send(json.dumps({"clientContent": {"turns": [{"parts": [{"text": "hi"}]}]}}))
        await conn.send(json.dumps({"client_content": {"turn_complete": True}}))  # snake_case
        reply = json.loads(await conn.receive())  # the model answers: nothing was refused
        await conn.aclose()
    assert "serverContent" in reply
    assert len(emu.connections[0].received) == 4


def test_plain_audio_is_checked_without_parsing_the_frame_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_parse(_: object) -> None:
        raise AssertionError("the frame was parsed a second time")

    monkeypatch.setattr(strict.json, "loads", no_parse)
    message = mic(bytes(640))
    assert not strict.needs_raw_check(message)
    assert strict.message_unknown_names_reason(message, encode_client(message)) is None


def test_an_unknown_member_anywhere_in_the_decoded_message_asks_for_the_raw_check() -> None:
    deep = m.RealtimeInput(media_chunks=(m.Blob("audio/pcm"), m.Blob("audio/pcm", extra={"x": 1})))
    assert strict.needs_raw_check(deep)
    part = m.Part(text="hi", extra={"functionCall": {}})
    assert strict.needs_raw_check(m.ClientContent(turns=(m.Content(parts=(part,)),)))
    assert not strict.needs_raw_check(m.ClientContent(turns=(m.Content(parts=(m.Part("hi"),)),)))
    # A Schema-valued field is checked in the raw JSON, where its keywords are.
    declaration = m.FunctionDeclaration(name="f", parameters={"type": "OBJECT"})
    tools = m.ToolsUpdate(tools=(m.Tool(function_declarations=(declaration,)),))
    assert strict.needs_raw_check(m.ContextUpdate(tools=tools))


# -- fields one backend does not have (wire-protocol.md section 8) ------------------------------

VERTEX_SETUP = {
    "model": "projects/p/locations/l/publishers/google/models/gemini-3.8-live",
    "generationConfig": {"responseModalities": ["TEXT"]},
}


def _file_turn(display_name: str) -> m.ClientContent:
    data = m.FileData(file_uri="gs://b/a.png", mime_type="image/png", display_name=display_name)
    return m.ClientContent(turns=(m.Content(parts=(m.Part(file_data=data),), role="user"),))


def test_each_backend_refuses_the_names_its_proto_lacks() -> None:
    turn = _file_turn("a.png")
    frame = encode_client(turn)
    reason = strict.message_unknown_names_reason(turn, frame, "google_ai")
    assert reason == LINE.format("displayName", "client_content.turns[0].parts[0].file_data")
    assert strict.message_unknown_names_reason(turn, frame, "vertex") is None
    assert strict.message_unknown_names_reason(turn, frame) is None  # no backend: every field
    interim = m.ToolResponse(
        function_responses=(m.FunctionResponse(name="f", id="c1", will_continue=True),)
    )
    assert strict.needs_raw_check(interim, "vertex")
    assert not strict.needs_raw_check(interim, "google_ai")
    setup = {**SETUP, "explicitVadSignal": True}
    assert strict.unknown_names(setup, "google_ai") == [("explicitVadSignal", "setup")]
    assert strict.unknown_names(setup, "vertex") == []
    # An unset field is no reason to parse the frame again.
    assert not strict.needs_raw_check(mic(bytes(640)), "google_ai")


async def test_the_vertex_emulator_takes_what_only_vertex_has() -> None:
    async with LiveEmulator().in_memory() as emu, trio.open_nursery() as nursery:
        endpoint = Endpoint.vertex(project="p", location="l", token=lambda: "t", base_url=emu.url)
        conn = await emu.memory_transport().connect(endpoint, nursery)
        await conn.send(json.dumps({"setup": {**VERTEX_SETUP, "explicitVadSignal": True}}))
        assert next(iter(json.loads(await conn.receive()))) == "setupComplete"
        await conn.send(encode_client(_file_turn("a.png")))
        await conn.send(json.dumps({"clientContent": {"turnComplete": True}}))
        with trio.fail_after(5):
            reply = json.loads(await conn.receive())  # answered: nothing was refused
        await conn.aclose()
    assert "serverContent" in reply
    assert emu.connections[0].errors == []


async def test_the_google_ai_emulator_names_a_display_name_at_its_path() -> None:
    emu = await after_setup(json.loads(encode_client(_file_turn("a.png"))))
    (record,) = emu.connections
    where = "client_content.turns[0].parts[0].file_data"
    assert (record.close_code, record.close_reason) == (
        1007,
        clip_reason(LINE.format("displayName", where)),
    )


# -- thinking level ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["gemini-3.8-live", "gemini-3.8-live-extended-thinking"])
async def test_thinking_level_on_3_8_closes_1007(model: str) -> None:
    config = {"responseModalities": ["TEXT"], "thinkingConfig": {"thinkingLevel": "LOW"}}
    emu, kind = await first_reply({"model": f"models/{model}", "generationConfig": config})
    assert kind is None
    conn = emu.connections[0]
    assert (conn.close_code, conn.close_reason) == (1007, THINKING_LEVEL_UNSUPPORTED)


async def test_thinking_level_on_3_1_and_other_thinking_settings_on_3_8_are_taken() -> None:
    level = {"responseModalities": ["TEXT"], "thinkingConfig": {"thinkingLevel": "LOW"}}
    _, kind = await first_reply({"model": "models/gemini-3.1-flash-live-preview", **_g(level)})
    assert kind == "setupComplete"
    thoughts = {"responseModalities": ["TEXT"], "thinkingConfig": {"includeThoughts": True}}
    _, kind = await first_reply({"model": MODEL, **_g(thoughts)})
    assert kind == "setupComplete"


def _g(config: dict[str, Any]) -> dict[str, Any]:
    return {"generationConfig": config}


# -- consent signature ------------------------------------------------------------------------


async def setup_complete(setup: dict[str, Any]) -> dict[str, Any]:
    async with LiveEmulator().in_memory() as emu, trio.open_nursery() as nursery:
        conn = await emu.memory_transport().connect(Endpoint.from_url(emu.url), nursery)
        await conn.send(json.dumps({"setup": setup}))
        first: dict[str, Any] = json.loads(await conn.receive())
        await conn.aclose()
    return dict(first["setupComplete"])


def voiced(sample: bytes) -> dict[str, Any]:
    replicated = {"mimeType": "audio/wav", "voiceSampleAudio": base64.b64encode(sample).decode()}
    speech = {"voiceConfig": {"replicatedVoiceConfig": replicated}}
    return {"model": MODEL, "generationConfig": {"speechConfig": speech}}


async def test_the_consent_signature_is_an_object_stable_per_voice_and_absent_without_one() -> None:
    one = await setup_complete(voiced(b"RIFF" + bytes(64)))
    again = await setup_complete(voiced(b"RIFF" + bytes(64)))
    other = await setup_complete(voiced(b"RIFF" + bytes(63) + b"\x01"))
    assert one == again
    signature = one["voiceConsentSignature"]
    assert isinstance(signature, dict) and isinstance(signature["signature"], str)
    assert signature["signature"] != other["voiceConsentSignature"]["signature"]
    assert "voiceConsentSignature" not in await setup_complete(SETUP)
    prebuilt = {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}}
    plain = await setup_complete({"model": MODEL, "generationConfig": {"speechConfig": prebuilt}})
    assert "voiceConsentSignature" not in plain
