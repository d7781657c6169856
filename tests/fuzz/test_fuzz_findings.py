"""What the fuzz tests found, one concrete input each, kept as regression tests.

A new finding goes into ``known_bugs.py`` (so the fuzz properties tolerate it while it is open)
with a strict xfail here; once fixed, the mark and the entry go and the test stays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from livehandle import ProtocolError
from livehandle.lowlevel import decode_server
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
