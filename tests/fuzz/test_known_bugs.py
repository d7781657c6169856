"""The bugs the fuzz tests found, one concrete input each, as strict xfails (see known_bugs.py).

Each test states the right behaviour.  While the bug is open it fails the expected way and the
suite stays green; once fixed it XPASSes, which fails the suite (``xfail_strict``): delete the
test's mark and the entry in ``known_bugs.py``, so the fuzz tests stop tolerating it.
"""

from __future__ import annotations

import pytest

from livehandle import ProtocolError
from livehandle.lowlevel import decode_server, encode_server
from livehandle.testing import Scenario
from tests.fuzz.known_bugs import HUGE_DURATION, INFINITE_NUMBER, SCENARIO_DEEP_NESTING


@pytest.mark.xfail(
    strict=True, raises=OverflowError, reason=f"{HUGE_DURATION.name}: {HUGE_DURATION.where}"
)
def test_a_duration_no_float_holds_is_a_protocol_error() -> None:
    # Proto3 durations stop at about 10,000 years; 400 digits is malformed, not a crash.
    with pytest.raises(ProtocolError, match="timeLeft"):
        decode_server(HUGE_DURATION.example)


@pytest.mark.xfail(
    strict=True, raises=ProtocolError, reason=f"{INFINITE_NUMBER.name}: {INFINITE_NUMBER.where}"
)
def test_a_number_beyond_float_range_is_refused_or_round_trips() -> None:
    # json.loads reads 1e400 as inf, which no encoder can write back: reject it when decoding
    # (or keep a value that re-encodes).  Today the decode succeeds and the re-encode raises.
    try:
        message = decode_server(INFINITE_NUMBER.example)
    except ProtocolError:
        return
    assert decode_server(encode_server(message)) == message


@pytest.mark.xfail(
    strict=True,
    raises=RecursionError,
    reason=f"{SCENARIO_DEEP_NESTING.name}: {SCENARIO_DEEP_NESTING.where}",
)
def test_deeply_nested_scenario_json_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="scenario"):
        Scenario.from_json(SCENARIO_DEEP_NESTING.example)


@pytest.mark.xfail(
    strict=True,
    raises=RecursionError,
    reason=f"{SCENARIO_DEEP_NESTING.name}: {SCENARIO_DEEP_NESTING.where}",
)
def test_deeply_nested_scenario_file_is_a_value_error(tmp_path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(SCENARIO_DEEP_NESTING.example, encoding="utf-8")
    with pytest.raises(ValueError, match="scenario"):
        Scenario.load(path)
