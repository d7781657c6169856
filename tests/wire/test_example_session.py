"""Every message of the annotated example session (wire-protocol.md §6) decodes and re-encodes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from livehandle._wire import messages as m
from livehandle._wire.codec import decode_client, decode_server, encode_client, encode_server

LINES = [
    json.loads(line)
    for line in (Path(__file__).parent / "example_session.jsonl").read_text().splitlines()
    if line.strip()
]


def _id(record: dict[str, object]) -> str:
    msg = record["msg"]
    assert isinstance(msg, dict)
    return f"{record['dir']}-{next(iter(msg))}"


@pytest.mark.parametrize("record", LINES, ids=[_id(r) for r in LINES])
def test_example_message_round_trips_to_identical_json(record: dict[str, object]) -> None:
    text = json.dumps(record["msg"])
    if record["dir"] == "c2s":
        reencoded = encode_client(decode_client(text))
    else:
        reencoded = encode_server(decode_server(text.encode()))
    assert json.loads(reencoded) == record["msg"]


def test_example_session_covers_every_kind_it_shows() -> None:
    client = {type(decode_client(json.dumps(r["msg"]))) for r in LINES if r["dir"] == "c2s"}
    server = {type(decode_server(json.dumps(r["msg"]))) for r in LINES if r["dir"] == "s2c"}
    assert client == {m.Setup, m.RealtimeInput, m.ToolResponse, m.ClientContent}
    assert server >= {
        m.SetupComplete,
        m.SessionResumptionUpdate,
        m.ServerContent,
        m.ToolCall,
        m.ToolCallCancellation,
        m.GoAway,
    }


def test_example_values_decode_to_python_types() -> None:
    by_kind: dict[str, object] = {}
    for record in LINES:
        msg = record["msg"]
        assert isinstance(msg, dict)
        by_kind.setdefault(next(iter(msg)), msg)  # the first of each kind
    go_away = decode_server(json.dumps(by_kind["goAway"]))
    assert go_away == m.GoAway(time_left=50.0)
    setup = decode_client(json.dumps(by_kind["setup"]))
    assert isinstance(setup, m.Setup)
    assert setup.context_window_compression == m.ContextWindowCompression(
        trigger_tokens=25000, sliding_window=m.SlidingWindow(target_tokens=8000)
    )
    assert setup.generation_config is not None
    assert setup.generation_config.response_modalities == (m.Modality.AUDIO,)
    tools = setup.tools
    assert tools is not None and tools[0].function_declarations is not None
    assert tools[0].function_declarations[1].behavior is m.Behavior.NON_BLOCKING
