"""The emulator refuses what the real server refuses: unknown setup names, schema keywords outside
the API's subset, response modalities Live does not have; and it reports usage per modality."""

from __future__ import annotations

import enum
import json
from typing import Annotated, Any, Literal

import attrs
import pytest
import trio
import trio.testing

from livehandle._errors import InvalidArgument
from livehandle._events import SessionEvent
from livehandle._session import open_session
from livehandle._tools.schema import parameters_schema
from livehandle._transport import Endpoint
from livehandle._wire import messages as m
from livehandle._wire.codec import encode_client, to_camel
from livehandle.testing import LiveEmulator, audio
from livehandle.testing._conversation import Conversation, prompt_tokens, text_tokens
from livehandle.testing._engine import MAX_REASON_BYTES, clip_reason
from livehandle.testing._strict import SCHEMA_FIELDS, _fields_of, unknown_names
from tests.testing.helpers import MODEL, SETUP_AUDIO, connect, mic, until, user_text

LINE = "Invalid JSON payload received. Unknown name \"{}\" at '{}': Cannot find field."


async def first_reply(setup: dict[str, Any], **options: Any) -> tuple[LiveEmulator, str | None]:
    """Send ``{"setup": setup}`` in memory; the emulator and the key of its first answer."""
    async with LiveEmulator(**options).in_memory() as emu, trio.open_nursery() as nursery:
        conn = await emu.memory_transport().connect(Endpoint.from_url(emu.url), nursery)
        await conn.send(json.dumps({"setup": setup}))
        try:
            first = await conn.receive()
        except InvalidArgument:
            first = None
        await conn.aclose()
    kind = None if first is None else next(iter(json.loads(first)))
    return emu, kind


# -- unknown names in setup -------------------------------------------------------------------


async def test_an_unknown_top_level_name_closes_1007_in_the_parsers_words() -> None:
    emu, kind = await first_reply({"model": MODEL, "bogusField": True})
    assert kind is None
    conn = emu.connections[0]
    assert (conn.close_code, conn.close_reason) == (1007, LINE.format("bogusField", "setup"))


async def test_a_nested_unknown_name_is_reported_at_its_snake_case_proto_path() -> None:
    setup = {"model": MODEL, "generationConfig": {"responseModalities": ["TEXT"], "voice": "Kore"}}
    emu, _ = await first_reply(setup)
    assert emu.connections[0].close_reason == LINE.format("voice", "setup.generation_config")


async def test_camel_and_snake_spellings_of_known_fields_are_both_accepted() -> None:
    setup = {
        "model": MODEL,
        "generation_config": {"response_modalities": ["TEXT"], "topK": 3},
        "realtimeInputConfig": {"automatic_activity_detection": {"silenceDurationMs": 500}},
        "session_resumption": {},
    }
    emu, kind = await first_reply(setup)
    assert kind == "setupComplete"
    assert emu.connections[0].close_code == 1000


def test_paths_index_list_elements_and_every_unknown_name_is_found_in_order() -> None:
    setup = {
        "model": MODEL,
        "systemInstruction": {"parts": [{"text": "hi"}, {"text": "x", "mood": "calm"}]},
        "tools": [{"googleSearch": {}}, {"functionDeclarations": [{"name": "f", "strict": 1}]}],
        "bogus": 1,
    }
    assert unknown_names(setup) == [
        ("mood", "setup.system_instruction.parts[1]"),
        ("strict", "setup.tools[1].function_declarations[0]"),
        ("bogus", "setup"),
    ]


def test_every_field_of_the_wire_classes_is_known_in_both_spellings() -> None:
    # Derived from the attrs classes: a field added to them is known without touching the check.
    for cls in (m.Setup, m.GenerationConfig, m.RealtimeInputConfig, m.FunctionDeclaration):
        names = [
            f.name for f in attrs.fields(cls) if f.name != "extra"
        ]  # unknown members, not a field
        assert unknown_names_in(cls, {to_camel(n): None for n in names}) == []
        assert unknown_names_in(cls, dict.fromkeys(names)) == []
        assert unknown_names_in(cls, {"extra": {}}) == ["extra"]  # not a wire name


def unknown_names_in(cls: type, obj: dict[str, Any]) -> list[str]:
    return [key for key in obj if key not in _fields_of(cls)]


def test_an_attribute_named_extra_is_not_a_wire_field() -> None:
    @attrs.frozen
    class WithExtra:
        known: int | None = None
        extra: dict[str, Any] | None = None

    assert set(_fields_of(WithExtra)) == {"known"}


def test_free_form_json_is_not_walked() -> None:
    setup = {
        "model": MODEL,
        "avatarConfig": {"anything": {"goes": True}},
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "f",
                        "parametersJsonSchema": {"$ref": "#/$defs/x", "additionalProperties": 0},
                    }
                ]
            }
        ],
    }
    assert unknown_names(setup) == []


async def test_a_setup_our_codec_encodes_is_accepted_whole() -> None:
    setup = m.Setup(
        model=MODEL,
        generation_config=m.GenerationConfig(
            response_modalities=(m.Modality.AUDIO,),
            speech_config=m.SpeechConfig(m.VoiceConfig(m.PrebuiltVoiceConfig("Kore")), "de-DE"),
            thinking_config=m.ThinkingConfig(thinking_budget=0),
        ),
        system_instruction=m.Content(parts=(m.Part(text="Be brief."),)),
        realtime_input_config=m.RealtimeInputConfig(m.AutomaticActivityDetection(disabled=True)),
        session_resumption=m.SessionResumptionConfig(),
        context_window_compression=m.ContextWindowCompression(25000, m.SlidingWindow(8000)),
        input_audio_transcription=m.AudioTranscriptionConfig(),
        proactivity=m.ProactivityConfig(proactive_audio=True),
    )
    body = json.loads(encode_client(setup))["setup"]
    assert unknown_names(body) == []
    _, kind = await first_reply(body)
    assert kind == "setupComplete"


# -- the API's Schema subset ------------------------------------------------------------------


def declaration(parameters: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "tools": [{"functionDeclarations": [{"name": "f", "parameters": parameters, **more}]}],
    }


async def test_a_json_schema_keyword_in_parameters_closes_1007_cut_to_123_bytes() -> None:
    parameters = {"type": "OBJECT", "properties": {}, "additionalProperties": False}
    emu, kind = await first_reply(declaration(parameters))
    assert kind is None
    full = LINE.format("additionalProperties", "setup.tools[0].function_declarations[0].parameters")
    conn = emu.connections[0]
    assert conn.close_code == 1007
    assert len(full.encode()) > MAX_REASON_BYTES
    assert conn.close_reason == full.encode()[:MAX_REASON_BYTES].decode()
    assert f"setup refused: {full}" in conn.errors  # the whole reason stays available


@pytest.mark.parametrize(
    "keyword",
    [
        "$ref",
        "$defs",
        "$schema",
        "additionalProperties",
        "oneOf",
        "allOf",
        "not",
        "const",
        "patternProperties",
        "exclusiveMinimum",
        "multipleOf",
        "definitions",
    ],
)
def test_keywords_outside_the_subset_are_unknown_at_any_depth(keyword: str) -> None:
    nested = {"type": "ARRAY", "items": {"type": "OBJECT", keyword: 1}}
    parameters = {"type": "OBJECT", "properties": {"a": {"type": "STRING"}, "b": nested}}
    where = "setup.tools[0].function_declarations[0].parameters.properties[1].value.items"
    assert unknown_names(declaration(parameters)) == [(keyword, where)]
    response = {"anyOf": [{"type": "STRING"}, {"type": "OBJECT", keyword: 1}]}
    found = unknown_names(declaration({"type": "OBJECT"}, response=response))
    assert found == [(keyword, "setup.tools[0].function_declarations[0].response.any_of[1]")]


def test_every_keyword_of_the_subset_is_accepted_in_both_spellings() -> None:
    for spell in (str, to_camel):
        schema = {spell(name): None for name in SCHEMA_FIELDS}
        assert unknown_names(declaration(schema)) == []


async def test_parameters_json_schema_is_full_json_schema_and_not_restricted() -> None:
    body = {"type": "object", "additionalProperties": False, "$defs": {}, "oneOf": [{}]}
    setup = {"model": MODEL, "tools": [{"functionDeclarations": [{"name": "f"}]}]}
    setup["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"] = body
    _, kind = await first_reply(setup)
    assert kind == "setupComplete"


class Size(enum.Enum):
    SMALL = "small"
    LARGE = "large"


@attrs.frozen
class Item:
    """A line of an order.

    Attributes:
        name: what.
        count: how many.
    """

    name: str
    count: int = 1


def order(
    items: list[Item],
    size: Size,
    note: Annotated[str | None, "a note"] = None,
    mode: Literal["fast", "slow"] = "fast",
    extras: dict[str, Any] | None = None,
    weights: tuple[float, ...] = (),
    gift: bool = False,
) -> str:
    """Place an order.

    Args:
        items: the lines.
        size: the box.
    """
    return "ok"


def test_the_tool_schema_generator_stays_inside_the_subset() -> None:
    parameters = parameters_schema(order)
    assert parameters is not None
    assert unknown_names(declaration(parameters)) == []


# -- response modalities ----------------------------------------------------------------------


@pytest.mark.parametrize("modality", [m.Modality.VIDEO, m.Modality.IMAGE])
async def test_a_modality_live_does_not_answer_with_closes_1007(modality: m.Modality) -> None:
    config = m.GenerationConfig(response_modalities=(modality,))
    async with LiveEmulator().in_memory() as emu:
        with pytest.raises(InvalidArgument) as info:
            async with open_session(
                m.Setup(model=MODEL, generation_config=config),
                endpoint=Endpoint.from_url(emu.url),
                transport=emu.memory_transport(),
            ):
                pytest.fail("must not connect")
    assert info.value.reason == (
        f"Unsupported response modality {modality}: "
        "a Live session responds with TEXT or AUDIO only."
    )


def test_close_reasons_are_cut_between_characters() -> None:
    assert clip_reason("short") == "short"
    cut = clip_reason("é" * 100)  # 200 bytes; 123 would split a character
    assert cut == "é" * 61 and len(cut.encode()) <= MAX_REASON_BYTES


# -- usage per modality -----------------------------------------------------------------------


def prompt_details(emu: LiveEmulator) -> list[dict[str, int]]:
    out = []
    for sent in emu.connections[0].sent:
        usage = getattr(sent.message, "usage_metadata", None)
        if usage is not None and usage.prompt_tokens_details:
            details = {d.modality: d.token_count for d in usage.prompt_tokens_details}
            assert usage.prompt_token_count == sum(details.values())
            out.append(details)
    return out


async def test_typed_text_is_counted_as_text_tokens_only() -> None:
    async with LiveEmulator().in_memory() as emu, connect(emu) as (session, events):
        await session.send(user_text("hello there"))
        await until(events, SessionEvent.TurnComplete)
    (details,) = prompt_details(emu)
    assert set(details) == {"TEXT"}


async def test_speech_is_counted_as_audio_tokens_and_frames_as_video(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with LiveEmulator().in_memory() as emu, connect(emu, SETUP_AUDIO) as (session, events):
        await session.send(m.RealtimeInput(video=m.Blob("image/jpeg", b"\xff\xd8frame")))
        pcm = audio.synth_voice(1200, sample_rate=16000) + audio.silence(1000)
        for chunk in audio.chunked(pcm, 100, sample_rate=16000):
            await session.send(mic(chunk))
        await until(events, SessionEvent.TurnComplete)
    (details,) = prompt_details(emu)
    # 2.2 s of microphone audio at 25 tokens a second; one frame at 258 tokens.
    assert details["AUDIO"] == len(pcm) * 25 // 32000 == 55
    assert details["VIDEO"] == 258
    # The transcript of the speech is not text input: only the base and the reply are TEXT.
    spoken = emu.connections[0].conversation
    assert spoken is not None and spoken.heard_tokens > 0
    assert details["TEXT"] < 8 + sum(len(t) // 4 + 1 for _, t in spoken.history)


# -- audio before activityStart ---------------------------------------------------------------

MANUAL = attrs.evolve(
    SETUP_AUDIO, realtime_input_config=m.RealtimeInputConfig(m.AutomaticActivityDetection(True))
)


async def test_audio_before_activity_start_closes_1007_by_default() -> None:
    async with LiveEmulator().in_memory() as emu, connect(emu, MANUAL) as (session, _):
        await session.send(mic(audio.silence(100)))
        end = await session.wait_closed()
    assert isinstance(end.error, InvalidArgument)
    assert end.error.reason == "Request contains an invalid argument."


async def test_strict_activity_audio_off_takes_early_audio_in_without_a_turn(
    autojump_clock: trio.testing.MockClock,
) -> None:
    emulator = LiveEmulator(strict_activity_audio=False)
    async with emulator.in_memory() as emu, connect(emu, MANUAL) as (session, events):
        early = audio.silence(300)
        await session.send(mic(early))
        await session.send(m.RealtimeInput(activity_start=m.ActivityStart()))
        await session.send(mic(audio.silence(500)))
        await session.send(m.RealtimeInput(activity_end=m.ActivityEnd()))
        seen = await until(events, SessionEvent.TurnComplete)
    assert emu.connections[0].audio_bytes == len(early) + len(audio.silence(500))
    assert any(isinstance(e, SessionEvent.TurnComplete) for e in seen)
    conversation = emu.connections[0].conversation
    assert conversation is not None
    assert ("user", "[speech 0.5 s]") in conversation.history  # the early audio is no turn


def test_the_counts_behind_the_usage_survive_a_resume() -> None:
    conversation = Conversation(1, history=[("user", "hi there"), ("user", "[speech 1.0 s]")])
    conversation.audio_bytes, conversation.video_frames = 32000, 2
    conversation.heard_tokens = text_tokens("[speech 1.0 s]")
    before = prompt_tokens(conversation)
    assert before == {"TEXT": 8 + text_tokens("hi there"), "AUDIO": 25, "VIDEO": 516}
    checkpoint = conversation.snapshot("h", 0, 0.0, 0)
    conversation.history.append(("user", "later"))
    conversation.audio_bytes = conversation.video_frames = conversation.heard_tokens = 0
    conversation.restore(checkpoint)
    assert prompt_tokens(conversation) == before
