"""Ground templates: every rule of ``{key}`` and ``{key?yes:no}``."""

from __future__ import annotations

import pytest

from livehandle import FlowError, State, StateConfig, Step, render_ground
from tests.flow.helpers import state_with


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("City: {city}.", "City: Paris."),
        ("{n} / {f} / {b} / {l} / {o}", '3 / 2.5 / true / [1,"a"] / {"x":null}'),
        ("[{missing}] [{nul}]", "[] []"),
        ("{city?known:unknown}", "known"),
        ("{missing?known:unknown}", "unknown"),
        ("{city?only yes}", "only yes"),
        ("{missing?only yes}", ""),
        ("{slot:city}", "Lyon"),
        ("{slot:city?has a slot:none}", "has a slot"),
        ("{city?a:b:c}", "a"),
        ("{zero?a:b:c}", "b:c"),
        ("{{literal}} {city}", "{literal} Paris"),
        ("}} and {{", "} and {"),
        ("no placeholders", "no placeholders"),
        ("", ""),
    ],
)
def test_templates(template: str, expected: str) -> None:
    state = state_with(
        city="Paris", n=3, f=2.5, b=True, l=[1, "a"], o={"x": None}, nul=None, zero=0
    )
    state.set("slot:city", "Lyon")
    assert render_ground(template, state) == expected


@pytest.mark.parametrize("value", [False, None, 0, 0.0, "", [], {}])
def test_falsy_values(value: object) -> None:
    state = State()
    state.set("k", value)
    assert render_ground("{k?yes:no}", state) == "no"


@pytest.mark.parametrize("value", [True, 1, -0.5, "x", [0], {"a": 0}])
def test_truthy_values(value: object) -> None:
    state = State()
    state.set("k", value)
    assert render_ground("{k?yes:no}", state) == "yes"


@pytest.mark.parametrize("template", ["Hello {name", "{", "{}", "{?yes:no}"])
def test_malformed_templates_are_value_errors(template: str) -> None:
    with pytest.raises(ValueError, match=r"unclosed|empty key"):
        render_ground(template, State())


def test_a_step_checks_its_ground_when_built() -> None:
    with pytest.raises(FlowError, match="step 'greet'") as caught:
        Step("greet", ground="Hello {name")
    assert caught.value.kind == "invalid" and caught.value.step == "greet"
    assert isinstance(caught.value, ValueError)


def test_a_ground_may_be_a_callable() -> None:
    step = Step("s", ground=lambda state: f"n={state.get('n')}")
    assert callable(step.ground)


def test_a_redacted_key_is_never_written_into_the_guidance() -> None:
    """``StateConfig.redact_keys`` promises the value never leaves the process: a ground that
    names it says ``[redacted]``, though ``{key?yes:no}`` may still test it."""
    state = State(StateConfig(redact_keys=["user:pin"]))
    state.set("user:pin", "4321")
    state.set("city", "Oslo")
    template = "{city}: {user:pin} ({user:pin?a PIN is on file:no PIN})"
    assert render_ground(template, state) == "Oslo: [redacted] (a PIN is on file)"
    state.remove("user:pin")
    assert render_ground(template, state) == "Oslo:  (no PIN)"
