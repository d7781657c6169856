"""Fuzz scenario parsing: only ValueError comes out, and what parses can answer a turn.

The public entries that read a scenario from data are :meth:`~livehandle.testing.Scenario.from_dict`
(decoded JSON), :meth:`~livehandle.testing.Scenario.from_json` (text) and
:meth:`~livehandle.testing.Scenario.load` (a file; what ``livehandle emulator --scenario`` uses, and
it turns a ValueError into exit status 2).  All three document ValueError as their one error (an
unreadable file included), so ValueError is the only exception allowed here; ``UnicodeDecodeError``
is a ValueError too.  A scenario that parses must pick a reply for every kind of user turn.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, note, strategies as st

from livehandle.testing import Scenario, UserTurn
from tests.fuzz.known_bugs import SCENARIO_BUGS, describe, known
from tests.fuzz.mutations import dumps, mutated_tree
from tests.fuzz.profiles import FUZZ
from tests.wire.strategies import json_values

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

texts = st.text(max_size=12)
numbers = st.integers(0, 10_000) | st.floats(0, 1e4, allow_nan=False)
FAULTS = ["drop", "close", "malformed", "unknown_kind", "usage_only", "empty_content", "stall"]
steps = st.one_of(
    st.fixed_dictionaries({"say": texts}),
    st.fixed_dictionaries({"audio_ms": st.integers(1, 5000)}, optional={"transcript": texts}),
    st.fixed_dictionaries({"transcript": texts}, optional={"of_user": st.booleans()}),
    st.fixed_dictionaries(
        {
            "call": st.lists(
                st.fixed_dictionaries(
                    {"name": texts},
                    optional={"args": st.dictionaries(texts, json_values, max_size=2), "id": texts},
                ),
                min_size=1,
                max_size=2,
            )
        }
    ),
    st.fixed_dictionaries({"pause": numbers}),
    st.fixed_dictionaries(
        {"fault": st.sampled_from([*FAULTS, "go_away"])},
        optional={"code": st.integers(1000, 4999), "reason": texts, "time_left": numbers},
    ),
)
step_lists = st.lists(steps, max_size=3)
rules = st.fixed_dictionaries(
    {"reply": step_lists},
    optional={
        "when": st.fixed_dictionaries(
            {},
            optional={
                "text": st.sampled_from(["weather", "^hi$", "a|b", "[0-9]+", "(?i)x"]),
                "kind": st.sampled_from(["any", "text", "speech", "tool_result"]),
            },
        ),
        "times": st.integers(1, 5),
    },
)
valid_scenarios = st.fixed_dictionaries(
    {},
    optional={
        "rules": st.lists(rules, max_size=3),
        "default": step_lists,
        "on_tool_result": step_lists,
        "setup_delay": numbers,
        "setup_complete": st.booleans(),
        "go_away_after": numbers,
        "go_away_after_turns": st.integers(1, 100),
        "go_away_time_left": st.floats(0, 50),
        "connection_lifetime": st.floats(50, 600),
        "silent_after_go_away": st.booleans(),
        "handle_ttl": st.floats(1, 7200),
        "checkpoint_every_messages": st.integers(1, 100),
    },
)
TURNS = [
    UserTurn("text", "what is the weather"),
    UserTurn("speech", "hi", duration_ms=800.0),
    UserTurn("tool_result", "done", tool_name="book", tool_result="ok"),
]


def check_parsed(parse: Any, source: Any) -> None:
    note(f"{parse.__name__} input: {describe(source)}")
    error: ValueError | None = None
    try:
        scenario = parse(source)
    except ValueError as exc:
        error = exc
    except Exception as exc:
        if (bug := known(exc, SCENARIO_BUGS)) is None:
            raise
        event(f"known bug {bug.name}")
        return
    if error is not None:
        event(f"ValueError from {parse.__name__}")
        assert str(error), "a ValueError must say what is wrong"
        return
    event(f"parsed by {parse.__name__}")
    uses: dict[int, int] = {}
    for turn in TURNS:
        assert isinstance(scenario.reply_for(turn, uses), tuple)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate makes invalid UTF-8: good


@FUZZ
@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_arbitrary_text(text: str) -> None:
    check_parsed(Scenario.from_json, text)


@FUZZ
@given(json_values)
def test_arbitrary_json_values(value: object) -> None:
    check_parsed(Scenario.from_dict, value)


@FUZZ
@given(mutated_tree(valid_scenarios))
def test_mutated_scenarios(tree: Any) -> None:
    text = dumps(tree)
    check_parsed(Scenario.from_json, text)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return  # not JSON: only from_json and load see it
    check_parsed(Scenario.from_dict, data)


@FUZZ
@given(st.one_of(mutated_tree(valid_scenarios).map(dumps).map(_utf8), st.binary(max_size=64)))
def test_scenario_files(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "scenario.json"
        path.write_bytes(content)
        check_parsed(Scenario.load, path)
