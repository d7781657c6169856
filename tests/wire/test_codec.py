"""The hand-written fast encoders give exactly what the generic codec gives."""

from __future__ import annotations

import hypothesis
import hypothesis.strategies

from livehandle._wire import encode_client, encode_realtime_audio, messages as m


@hypothesis.given(
    pcm=hypothesis.strategies.binary(max_size=2000),
    mime=hypothesis.strategies.sampled_from(
        ["audio/pcm;rate=16000", "audio/pcm;rate=24000", 'audio/x-"quoted"\\/\u00e9']
    ),
)
def test_realtime_audio_fast_encoder_matches_the_generic_one(pcm: bytes, mime: str) -> None:
    message = m.RealtimeInput(audio=m.Blob(mime, pcm))
    assert encode_realtime_audio(pcm, mime) == encode_client(message)
