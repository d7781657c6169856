"""Scenario building, matching and JSON loading."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import pytest

from livehandle.testing import (
    Audio,
    CallTools,
    Fault,
    Pause,
    Rule,
    Say,
    Scenario,
    ToolCallSpec,
    Transcript,
    UserTurn,
    When,
)

if TYPE_CHECKING:
    from pathlib import Path

FULL = {
    "rules": [
        {
            "when": {"text": "weather", "kind": "text"},
            "reply": [
                {"call": [{"name": "get_weather", "args": {"city": "Paris"}, "id": "fc-1"}]},
                {"say": "It is {result} in Paris."},
            ],
            "times": 2,
        },
        {
            "when": {"kind": "speech"},
            "reply": [
                {"audio_ms": 1200, "transcript": "Go on."},
                {"transcript": "(hmm)", "of_user": True},
                {"pause": 0.5},
                {"fault": "close", "code": 1008, "reason": "nope", "time_left": 3},
            ],
        },
    ],
    "default": [{"say": "Echo: {user_text}"}],
    "on_tool_result": [{"say": "Done: {result}"}],
    "setup_delay": 0.25,
    "setup_complete": True,
    "go_away_after": 540,
    "go_away_after_turns": 3,
    "go_away_time_left": 50,
}


def test_from_dict_builds_every_step_kind() -> None:
    scenario = Scenario.from_dict(FULL)
    weather, speech = scenario.rules
    assert weather == Rule(
        When("weather", "text"),
        (
            CallTools((ToolCallSpec("get_weather", {"city": "Paris"}, "fc-1"),)),
            Say("It is {result} in Paris."),
        ),
        times=2,
    )
    assert speech.reply == (
        Audio(1200, "Go on."),
        Transcript("(hmm)", of_user=True),
        Pause(0.5),
        Fault("close", code=1008, reason="nope", time_left=3),
    )
    assert scenario.default == (Say("Echo: {user_text}"),)
    assert scenario.on_tool_result == (Say("Done: {result}"),)
    assert (scenario.setup_delay, scenario.go_away_after, scenario.go_away_after_turns) == (
        0.25,
        540,
        3,
    )


def test_load_reads_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(FULL))
    assert Scenario.load(path) == Scenario.from_dict(FULL)
    assert Scenario.from_json(json.dumps(FULL)) == Scenario.from_dict(FULL)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "scenario: expected an object"),
        ({"rulez": []}, "unknown key(s) rulez"),
        (
            {"rules": [{"when": {"text": "("}, "reply": []}]},
            "rules[0].when: invalid regular expression",
        ),
        ({"rules": [{"when": {"kind": "video"}, "reply": []}]}, "rules[0].when.kind"),
        ({"rules": [{"when": {}}]}, "rules[0]: a rule needs a reply"),
        ({"default": [{"sing": "la"}]}, "default[0]: a step is one of"),
        ({"default": [{"say": 5}]}, "default[0].say: expected a string"),
        ({"default": [{"audio_ms": -1}]}, "default[0]"),
        ({"default": [{"call": []}]}, "default[0]: CallTools needs at least one call"),
        ({"default": [{"call": [{"args": {}}]}]}, "default[0].call[0].name"),
        ({"default": [{"fault": "explode"}]}, "unknown fault kind 'explode'"),
        ({"go_away_after": "soon"}, "go_away_after: expected a number"),
        ({"setup_complete": "yes"}, "setup_complete: expected true or false"),
    ],
)
def test_bad_scenarios_say_what_and_where(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Scenario.from_dict(data)


def test_load_reports_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(
        ValueError, match=re.escape(f"cannot read scenario file {missing}: No such")
    ):
        Scenario.load(missing)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b'{"rules": "\xff"}')
    with pytest.raises(
        ValueError, match=re.escape(f"cannot read scenario file {binary}: not UTF-8")
    ):
        Scenario.load(binary)


def test_load_tells_invalid_json_from_an_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"rules": [],\n  not json}')
    with pytest.raises(ValueError, match="invalid JSON") as caught:
        Scenario.load(bad)
    assert str(caught.value) == (
        f"scenario file {bad}: invalid JSON at line 2 column 3: "
        "Expecting property name enclosed in double quotes"
    )
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    with pytest.raises(ValueError, match=re.escape(f"scenario file {deep}: invalid JSON")):
        Scenario.load(deep)


def test_load_tells_a_wrong_scenario_from_invalid_json(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"default": [{"sing": "la"}]}')
    with pytest.raises(ValueError, match="not a valid scenario") as caught:
        Scenario.load(wrong)
    message = str(caught.value)
    assert message.startswith(f"scenario file {wrong}: not a valid scenario: default[0]: ")
    assert "cannot read" not in message
    assert "invalid JSON" not in message


def test_rules_are_tried_in_order_and_respect_times() -> None:
    scenario = Scenario(
        rules=[Rule(When("hi"), [Say("first")], times=1), Rule(When("hi"), [Say("second")])]
    )
    uses: dict[int, int] = {}
    turn = UserTurn("text", "hi there")
    replies = [scenario.reply_for(turn, uses) for _ in range(3)]
    assert replies == [(Say("first"),), (Say("second"),), (Say("second"),)]
    assert uses == {0: 1, 1: 2}


def test_kinds_select_turns_and_tool_results_only_match_tool_result_rules() -> None:
    speech_only = When(kind="speech")
    anything = When()
    results = When("booked", kind="tool_result")
    assert speech_only.matches(UserTurn("speech", "x"))
    assert not speech_only.matches(UserTurn("text", "x"))
    assert anything.matches(UserTurn("text", "x"))
    assert not anything.matches(UserTurn("tool_result", "x"))
    assert results.matches(UserTurn("tool_result", "BOOKED table 4"))


def test_unmatched_turns_get_the_default_and_tool_results_the_result_reply() -> None:
    scenario = Scenario.echo()
    assert scenario.reply_for(UserTurn("text", "x"), {}) == (Say("You said: {user_text}"),)
    assert scenario.reply_for(UserTurn("tool_result", "x"), {}) == scenario.on_tool_result


def test_steps_validate_their_arguments() -> None:
    with pytest.raises(ValueError, match="seconds"):
        Pause(-1)
    with pytest.raises(ValueError, match="ms"):
        Audio(0)
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("boom")  # type: ignore[arg-type]


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2000, 5000, 10**20, True, "1011"])
def test_a_fault_close_code_no_close_frame_can_carry_is_refused(code: object) -> None:
    with pytest.raises(ValueError, match="cannot be sent in a close frame"):
        Fault("close", code=code)  # type: ignore[arg-type]
    assert Fault("close", code=4999).code == 4999
