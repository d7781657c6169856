"""The public names the flow runtime publishes: FlowMode, the flow events and errors."""

from __future__ import annotations

import pytest

import livehandle
from livehandle import FlowActionFailed, FlowGuardFailed, FlowMode, LiveEvent, SessionError
from livehandle._config.flow_mode import flow_mode


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("enforce", FlowMode.ENFORCE),
        ("OBSERVE", FlowMode.OBSERVE),
        (FlowMode.OBSERVE, FlowMode.OBSERVE),
    ],
)
def test_flow_mode_accepts_its_members_and_their_strings(given: object, expected: FlowMode) -> None:
    assert flow_mode(given) is expected  # type: ignore[arg-type]
    assert expected == expected.value  # a str enum: compares as its string


@pytest.mark.parametrize("given", ["strict", "", 1, None])
def test_flow_mode_refuses_anything_else_naming_the_choices(given: object) -> None:
    with pytest.raises(ValueError, match=r"flow_mode: unknown value .*'enforce', 'observe'"):
        flow_mode(given)  # type: ignore[arg-type]


def test_flow_mode_is_public() -> None:
    assert FlowMode.__module__ == "livehandle" and "FlowMode" in livehandle.__all__


def test_the_flow_events_carry_what_they_document() -> None:
    entered = LiveEvent.StepEntered("collect", "main")
    assert (entered.step, entered.flow) == ("collect", "main")
    violation = LiveEvent.FlowViolation("book", "'book' is not permitted yet", "c1", False)
    assert (violation.tool, violation.id, violation.enforced) == ("book", "c1", False)
    assert isinstance(entered, LiveEvent) and isinstance(violation, LiveEvent)


def test_the_flow_errors_name_the_step_or_guard_and_chain_the_cause() -> None:
    cause = TimeoutError("did not finish within 2 s")
    action = FlowActionFailed("greet", cause)
    assert str(action) == (
        "the on_enter action of step 'greet' failed: TimeoutError: did not finish within 2 s"
    )
    assert action.step == "greet" and action.__cause__ is cause
    guard = FlowGuardFailed("vip_only", KeyError("tier"))
    assert str(guard) == "the custom guard 'vip_only' raised KeyError: 'tier'"
    assert guard.guard == "vip_only" and isinstance(guard, SessionError)
