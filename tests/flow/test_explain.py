"""FlowExplanation: its fields and its readable str()."""

from __future__ import annotations

import attrs

from livehandle import Flow, FlowExplanation, State, Step, Violation, is_set, require
from livehandle.lowlevel import FlowMachine, FlowStack


def machine(state: State) -> FlowMachine:
    flow = Flow(
        [
            Step("greet", terminal=True),
            Step("collect", after="greet", allow=["set_city"], done=is_set("city")),
            Step("confirm", after="collect", done=is_set("ok")),
            Step("book", after="confirm", allow=["book"]),
        ],
        constraints=[require("confirm", "book")],
    )
    return FlowMachine(flow, state, tools=["book", "set_city"])


def test_str_answers_the_question_in_a_log() -> None:
    explanation = machine(State()).explain()
    assert str(explanation) == "\n".join(
        [
            "flow 'main' (enforce): active collect; done greet",
            "  allowed: set_city",
            "  blocked:",
            "    book: 'book' is not available in the current step",
            "  missing: confirm, book",
            "  progress of collect:",
            "    [ ] 'city' must be set",
        ]
    )


def test_str_shows_the_stack_mode_violations_and_termination() -> None:
    explanation = attrs.evolve(
        machine(State()).explain(),
        mode="observe",
        stack=("main", "faq"),
        violations=(Violation("book", "'book' is not available", "c1", enforced=False),),
    )
    text = str(explanation)
    assert text.startswith("flow 'main' (observe): active collect")
    assert "  stack: main > faq" in text.splitlines()
    assert "    book (observed): 'book' is not available" in text.splitlines()
    empty = FlowExplanation("main", (), (), {}, (), {}, terminated=True)
    assert str(empty) == "flow 'main' (enforce): terminated\n  allowed: (none)"


def test_a_stack_explanation_is_that_of_its_top() -> None:
    state = State()
    stack = FlowStack(machine(state).flow, state, tools=["book", "set_city"])
    explanation = stack.explain()
    assert explanation == attrs.evolve(machine(state).explain(), stack=("main",))
    state.set("city", "Lyon")
    later = stack.explain()
    assert later.active == ("confirm",)
    assert later.allowed_tools == ("book", "set_city")  # confirm allows everything
    assert later.progress["confirm"].description == "'ok' must be set"
    assert stack.top.marking.done == frozenset()  # explain changed nothing
