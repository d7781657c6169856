"""What the fuzz tests found, one concrete input each, kept as regression tests.

A new finding goes into ``known_bugs.py`` (so the fuzz properties tolerate it while it is open)
with a strict xfail here; once fixed, the mark and the entry go and the test stays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from livehandle import ProtocolError
from livehandle.lowlevel import decode_server, encode_server
from livehandle.testing import Scenario

if TYPE_CHECKING:
    from pathlib import Path

DEEP = "[" * 100_000


def test_a_duration_no_float_holds_is_a_protocol_error() -> None:
    # Proto3 durations stop at about 10,000 years; 400 digits is malformed, not a crash.
    with pytest.raises(ProtocolError, match=r"goAway\.timeLeft.*out of range"):
        decode_server('{"goAway":{"timeLeft":"' + "9" * 400 + 's"}}')
    with pytest.raises(ProtocolError, match="out of range"):
        decode_server('{"goAway":{"timeLeft":"315576000001s"}}')
    assert decode_server('{"goAway":{"timeLeft":"315576000000s"}}').time_left == 315576000000.0  # type: ignore[union-attr]


def test_a_number_beyond_float_range_is_refused_when_decoding() -> None:
    # json.loads reads 1e400 as inf, which no encoder can write back: refused at the door.
    with pytest.raises(ProtocolError, match="number out of range"):
        decode_server('{"toolCall":{"functionCalls":[{"name":"f","args":{"x":1e400}}]}}')
    with pytest.raises(ProtocolError, match="number out of range"):
        decode_server('{"bogus":-1e400}')


def test_deeply_nested_scenario_json_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="scenario is not valid JSON: nesting too deep"):
        Scenario.from_json(DEEP)


def test_deeply_nested_scenario_file_is_a_value_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(DEEP, encoding="utf-8")
    with pytest.raises(ValueError, match="nesting too deep"):
        Scenario.load(path)


@pytest.mark.parametrize(
    ("spelled", "text"),
    [
        (r"a\ud800b", "a\ufffdb"),  # a high surrogate alone
        (r"a\udc00b", "a\ufffdb"),  # a low surrogate alone
        (r"a\ud83d\ude00b", "a\U0001f600b"),  # a pair is one character
        (r"a\\ud800b", "a\\ud800b"),  # an escaped backslash, then plain letters
        ("a\ud800b", "a\ufffdb"),  # not escaped at all (a str frame)
    ],
)
def test_a_lone_surrogate_from_the_server_decodes_as_a_replacement_character(
    spelled: str, text: str
) -> None:
    # Found by `nox -s fuzz`: "\ud800" decoded into a str no UTF-8 frame can carry, so the
    # message could not be encoded again (the emulator would fail to echo it).
    frame = '{"serverContent":{"outputTranscription":{"text":"' + spelled + '"}}}'
    message = decode_server(frame)
    assert message.output_transcription.text == text  # type: ignore[union-attr]
    assert decode_server(encode_server(message)) == message


def test_an_unknown_member_beside_a_kind_named_like_one_of_its_fields_is_not_kept() -> None:
    # Found by `nox -s fuzz` (seed 20261207): "type" beside voiceActivity went into the kind's
    # extra, where it named a modelled field, so the message could not be encoded again.
    message = decode_server('{"voiceActivity":{"futureField":1},"type":2,"other":3}')
    assert dict(message.extra) == {"futureField": 1, "other": 3}  # type: ignore[union-attr]
    assert decode_server(encode_server(message)) == message
