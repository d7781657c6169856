"""Fuzz scenario parsing with valid scenarios, mutated: only ValueError comes out.

Each mutated scenario goes through all three public entries: ``Scenario.from_json`` (its text),
``Scenario.load`` (the same text in a file, as ``livehandle emulator --scenario`` reads it) and
``Scenario.from_dict`` (its decoded JSON, when it is JSON).  The property is in
``tests/fuzz/checks.py``; arbitrary text and JSON values are in ``test_arbitrary.py``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, strategies as st

from livehandle.testing import Scenario
from tests.fuzz import seeded
from tests.fuzz.checks import check_scenario
from tests.fuzz.mutations import dumps, mutated_tree
from tests.fuzz.profiles import FUZZ
from tests.wire.strategies import json_values

if TYPE_CHECKING:
    from pathlib import Path

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
built_scenarios = st.fixed_dictionaries(
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

# Mostly seeded (fast), one in four built by Hypothesis (shrinks better, costs ~5 ms).
_seeded = st.builds(seeded.scenario, st.integers(0, 2**32))
valid_scenarios = st.one_of(_seeded, _seeded, _seeded, built_scenarios)


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One file, rewritten by every example (a module fixture: Hypothesis reuses it safely)."""
    return tmp_path_factory.mktemp("fuzz") / "scenario.json"


@FUZZ
@given(tree=mutated_tree(valid_scenarios))
def test_mutated_scenarios(tree: Any, scenario_file: Path) -> None:
    text = dumps(tree)
    check_scenario(Scenario.from_json, text)
    scenario_file.write_bytes(text.encode("utf-8", "surrogatepass"))  # a lone surrogate: not UTF-8
    check_scenario(Scenario.load, scenario_file)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return  # not JSON: only from_json and load see it
    check_scenario(Scenario.from_dict, data)
