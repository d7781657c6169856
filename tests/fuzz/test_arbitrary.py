"""Fuzz every parser with arbitrary input: bytes and text, then any JSON value.

Each input goes to both decoders (``decode_server``, ``decode_client``: only ProtocolError) and to
the scenario entries (``Scenario.from_json``/``load`` for text and bytes, ``from_dict`` for JSON
values: only ValueError); see ``tests/fuzz/checks.py``.  One input feeding all the parsers keeps
the 10,000-example run short.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, strategies as st

from livehandle.lowlevel import decode_client, decode_server, encode_client, encode_server
from livehandle.testing import Scenario
from tests.fuzz.checks import check_decode, check_scenario
from tests.fuzz.profiles import FUZZ
from tests.wire.strategies import json_values

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One file, rewritten by every example (a module fixture: Hypothesis reuses it safely)."""
    return tmp_path_factory.mktemp("fuzz") / "scenario.json"


def check_decoders(data: bytes | str) -> None:
    check_decode(data, decode_server, encode_server)
    check_decode(data, decode_client, encode_client)


@FUZZ
@given(data=st.binary(max_size=512) | st.text(max_size=256))
def test_arbitrary_bytes_and_text(data: bytes | str, scenario_file: Path) -> None:
    check_decoders(data)
    if isinstance(data, str):
        check_scenario(Scenario.from_json, data)
        data = data.encode("utf-8", "surrogatepass")
    scenario_file.write_bytes(data)
    check_scenario(Scenario.load, scenario_file)


@FUZZ
@given(json_values, st.booleans())
def test_arbitrary_json_values(value: object, binary: bool) -> None:
    text = json.dumps(value)
    check_decoders(text.encode() if binary else text)
    check_scenario(Scenario.from_dict, value)
