"""The decoder's fast path for model audio chunks decodes exactly what the generic path does."""

from __future__ import annotations

import base64
import json

import pytest

from livehandle._errors import ProtocolError
from livehandle._wire import codec, messages as m

PCM = bytes(range(256)) * 4
B64 = base64.b64encode(PCM).decode()


def chunk(**blob: object) -> dict[str, object]:
    return {"serverContent": {"modelTurn": {"parts": [{"inlineData": blob}]}}}


FRAMES: list[object] = [
    chunk(mimeType="audio/pcm;rate=24000", data=B64),
    {
        "serverContent": {
            "modelTurn": {
                "role": "model",
                "parts": [{"inlineData": {"mimeType": "audio/pcm", "data": B64}}],
            }
        }
    },
    chunk(mimeType="audio/pcm", data=B64.rstrip("=")),  # no padding
    chunk(mimeType="audio/pcm", data=base64.urlsafe_b64encode(PCM).decode()),
    chunk(mimeType="audio/pcm", data=""),
    chunk(mimeType="audio/pcm", data="not base64!"),  # malformed: the generic path reports it
    chunk(mimeType="audio/pcm", data=3),
    chunk(mimeType=None, data=B64),
    chunk(mimeType="audio/pcm", data=B64, displayName="x"),  # a third member
    chunk(data=B64),
    {**chunk(mimeType="audio/pcm", data=B64), "usageMetadata": {"totalTokenCount": 3}},
    {
        "serverContent": {
            "modelTurn": {"parts": [{"inlineData": {"mimeType": "a", "data": B64}}, {"text": "x"}]}
        }
    },
    {
        "serverContent": {
            "modelTurn": {"role": 7, "parts": [{"inlineData": {"mimeType": "a", "data": B64}}]}
        }
    },
    {"serverContent": {"modelTurn": {"parts": [{"text": "hello"}]}}},
    {"serverContent": {"modelTurn": {"parts": []}}},
    {
        "serverContent": {
            "modelTurn": {"parts": [{"inlineData": {"mimeType": "a", "data": B64}}]},
            "turnComplete": True,
        }
    },
    {
        "serverContent": {
            "modelTurn": {
                "parts": [{"inlineData": {"mimeType": "a", "data": B64}, "thought": True}]
            }
        }
    },
]


def generic(data: str, monkeypatch: pytest.MonkeyPatch) -> object:
    with monkeypatch.context() as patch:
        patch.setattr(codec, "_model_audio_chunk", lambda obj: None)
        return outcome(data)


def outcome(data: str) -> object:
    try:
        return codec.decode_server(data)
    except ProtocolError as exc:
        return ("ProtocolError", str(exc))


@pytest.mark.parametrize("frame", FRAMES)
def test_the_fast_path_agrees_with_the_generic_decoder(
    frame: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = json.dumps(frame)
    assert outcome(data) == generic(data, monkeypatch)


def test_the_common_chunk_takes_the_fast_path() -> None:
    obj = chunk(mimeType="audio/pcm;rate=24000", data=B64)
    decoded = codec._model_audio_chunk(obj)
    assert decoded == m.ServerContent(
        model_turn=m.Content(parts=(m.Part(inline_data=m.Blob("audio/pcm;rate=24000", PCM)),))
    )
    assert codec._model_audio_chunk({**obj, "usageMetadata": {}}) is None
