"""FlowMachine: relatching, eligibility, admission, guidance, verdicts, explain and persistence."""

from __future__ import annotations

import pytest

from livehandle import (
    Flow,
    State,
    Step,
    Verdict,
    before,
    called_ok,
    custom,
    done,
    is_set,
    is_true,
    never_until,
    once,
    require,
)
from livehandle.lowlevel import FlowMachine, Marking


def booking(**extra: object) -> Flow:
    return Flow(
        steps=[
            Step("greet", posture="Greet the caller.", done=is_true("greeted")),
            Step(
                "collect",
                after="greet",
                posture="Ask for the city.",
                ground="City so far: {city?{city}:unknown}",
                allow=["set_city"],
                done=is_set("city"),
            ),
            Step("confirm", after="collect", allow=["confirm"], done=called_ok("confirm")),
            Step("book", after="confirm", allow=["book"], done=called_ok("book")),
        ],
        constraints=[require("confirm", "book")],
        **extra,  # type: ignore[arg-type]
    )


def test_relatch_runs_to_a_fixpoint() -> None:
    state = State()
    machine = FlowMachine(booking(), state)
    assert machine.relatch() == ()
    assert machine.active() == ("greet",)
    state.set("greeted", True)
    state.set("city", "Paris")
    assert machine.relatch() == ("greet", "collect")  # a chain, in one call
    assert machine.active() == ("confirm",)
    assert machine.relatch() == ()


def test_on_turn_and_on_tool_ok_count_and_relatch() -> None:
    state = State()
    machine = FlowMachine(booking(), state)
    state.set("greeted", True)
    machine.on_turn()
    assert machine.marking == Marking(frozenset({"greet"}), {}, 1)
    state.set("city", "Paris")
    machine.on_tool_ok("confirm")
    assert machine.marking.done == {"greet", "collect", "confirm"}
    assert machine.marking.tool_ok == {"confirm": 1}
    assert machine.active() == ("book",)


def test_terminal_steps_are_done_as_soon_as_eligible_and_complete_the_flow() -> None:
    state = State()
    flow = Flow([Step("a", done=is_set("x")), Step("bye", after="a", terminal=True), Step("c")])
    machine = FlowMachine(flow, state)
    machine.relatch()
    assert not machine.complete()
    state.set("x", 1)
    assert machine.relatch() == ("a", "bye")
    assert machine.complete()  # "c" is still active, but a terminal step is done
    assert machine.active() == ("c",)


def test_complete_when_every_step_is_done() -> None:
    state = State()
    machine = FlowMachine(Flow([Step("a", done=is_set("x")), Step("b", done=is_set("y"))]), state)
    state.set("x", 1)
    machine.relatch()
    assert not machine.complete()
    state.set("y", 1)
    machine.relatch()
    assert machine.complete()


def test_eligibility_needs_after_before_and_the_gate() -> None:
    state = State()
    flow = Flow(
        [
            Step("a", done=is_set("a")),
            Step("b", done=is_set("b")),
            Step("c", after="a", gate=is_true("open"), done=is_set("c")),
        ],
        constraints=[before("b", "c")],
    )
    machine = FlowMachine(flow, state)
    assert machine.active() == ("a", "b")
    state.set("a", 1)
    machine.relatch()
    state.set("open", True)
    assert machine.active() == ("b",)  # before(b, c): b is not done
    state.set("b", 1)
    machine.relatch()
    assert machine.active() == ("c",)
    state.set("open", False)
    assert machine.active() == ()  # the gate is read each time


def test_a_step_done_guard_is_only_read_once_eligible() -> None:
    state = State()
    state.set("city", "Paris")
    machine = FlowMachine(booking(), state)
    assert machine.relatch() == ()  # collect waits for greet, though its guard holds
    assert machine.verdict("collect") is Verdict.PENDING


def test_admission_reasons_in_order() -> None:
    state = State()
    flow = Flow(
        [
            Step("s", allow=["a", "b", "c"], deny=["d"], done=is_set("never")),
        ],
        constraints=[once("a"), never_until("a", is_true("ok")), never_until("d", is_true("ok"))],
    )
    machine = FlowMachine(flow, state, tools=["e"])
    assert machine.admits("a") == "'a' is not permitted yet"
    assert machine.admits("b") is None
    assert machine.admits("d") == "'d' is not permitted yet"  # rule 2 before rule 3
    assert machine.admits("e") == "'e' is not available in the current step"
    state.set("ok", True)
    assert machine.admits("a") is None
    assert machine.admits("d") == "'d' is not available in the current step"
    machine.on_tool_ok("a")
    assert machine.admits("a") == "'a' may run at most once"
    state.set("ok", False)
    assert machine.admits("a") == "'a' may run at most once"  # rule 1 before rule 2


def test_allow_lists_of_several_active_steps_combine() -> None:
    flow = Flow([Step("x", allow=["a"], done=is_set("x")), Step("y", done=is_set("y"))])
    machine = FlowMachine(flow, State())
    assert machine.admits("a") is None
    assert machine.admits("b") == "'b' is not available in the current step"
    flow = Flow([Step("x", allow=["a"], done=is_set("x")), Step("y", allow=["b"], deny=["a"])])
    machine = FlowMachine(flow, State())
    assert machine.admits("a") == "'a' is not available in the current step"  # a deny wins
    assert machine.admits("b") is None


def test_no_active_allow_list_admits_everything_but_constraints() -> None:
    flow = Flow([Step("x", deny=["d"], done=is_set("x"))], constraints=[once("o")])
    machine = FlowMachine(flow, State())
    assert machine.admits("anything") is None
    assert machine.admits("d") is not None


def test_ambient_tools_skip_allow_lists_but_not_deny_or_constraints() -> None:
    flow = Flow(
        [Step("x", allow=["a"], deny=["help"], done=is_set("x")), Step("y", after="x")],
        ambient_tools=["clock", "help"],
        constraints=[once("clock")],
    )
    state = State()
    machine = FlowMachine(flow, state)
    assert machine.admits("clock") is None
    assert machine.admits("help") == "'help' is not available in the current step"
    machine.on_tool_ok("clock")
    assert machine.admits("clock") == "'clock' may run at most once"
    state.set("x", 1)
    assert machine.admits("help") is None  # y denies nothing and allows all


def test_reason_does_not_relatch_but_admits_does() -> None:
    state = State()
    machine = FlowMachine(booking(), state)
    state.set("greeted", True)
    assert machine.reason("set_city") is None  # greet is still the active step: no allow list
    assert machine.admits("set_city") is None
    assert machine.marking.done == {"greet"}
    assert machine.reason("book") == "'book' is not available in the current step"


def test_take_newly_active_reports_each_step_once_per_run() -> None:
    state = State()
    machine = FlowMachine(booking(), state)
    assert [s.id for s in machine.take_newly_active()] == ["greet"]
    assert machine.take_newly_active() == ()
    state.set("greeted", True)
    machine.on_turn()
    assert [s.id for s in machine.take_newly_active()] == ["collect"]
    assert machine.take_newly_active() == ()
    machine.reset()
    state.set("greeted", False)
    assert [s.id for s in machine.take_newly_active()] == ["greet"]  # a new run


def test_reset_clears_the_marking() -> None:
    state = State()
    state.set("greeted", True)
    machine = FlowMachine(booking(), state)
    machine.on_turn()
    machine.on_tool_ok("confirm")
    machine.reset()
    assert machine.marking == Marking(frozenset(), {}, 0)


def test_verdicts() -> None:
    state = State()
    flow = Flow(
        [
            Step("a", done=is_set("a")),
            Step("optional", after="a", done=is_set("o")),
            Step("b", after="a", gate=is_set("skip"), done=is_set("b")),
            Step("c", after=["b"], done=is_set("c")),
        ],
        constraints=[before("optional", "c")],
    )
    machine = FlowMachine(flow, state)
    assert [machine.verdict(s) for s in ("a", "optional", "b", "c")] == [
        Verdict.ACTIVE,
        Verdict.PENDING,
        Verdict.PENDING,
        Verdict.PENDING,
    ]
    state.set("a", 1)
    machine.relatch()
    assert machine.verdict("a") is Verdict.DONE
    assert machine.verdict("optional") is Verdict.ACTIVE
    with pytest.raises(ValueError, match="no step 'zz'"):
        machine.verdict("zz")


def test_skipped_when_a_successor_is_done() -> None:
    state = State()
    flow = Flow([Step("a", done=is_set("a")), Step("b", after="a", done=is_set("b"))])
    machine = FlowMachine(flow, state)
    machine.restore({"done": ["b"], "tool_ok": {}, "turns": 0})
    assert machine.verdict("a") is Verdict.ACTIVE  # eligible wins over skipped
    flow = Flow(
        [Step("a", gate=is_set("g"), done=is_set("a")), Step("b", after="a", done=is_set("b"))]
    )
    machine = FlowMachine(flow, state)
    machine.restore({"done": ["b"]})
    assert machine.verdict("a") is Verdict.SKIPPED


def test_guidance_postures_grounds_and_the_unmet_line() -> None:
    state = State()
    machine = FlowMachine(booking(), state)
    assert machine.guidance() == ("Greet the caller.", "Still required: confirm, book.")
    state.set("greeted", True)
    machine.on_turn()
    assert machine.guidance() == (
        "Ask for the city.",
        "City so far: :unknown}",  # a placeholder does not nest
        "Still required: confirm, book.",
    )
    assert machine.unmet_requirements() == ("confirm", "book")
    state.set("city", "Paris")
    machine.on_tool_ok("confirm")
    machine.on_tool_ok("book")
    assert machine.unmet_requirements() == ()
    assert machine.guidance() == ()


def test_grounds_render_from_state_and_empty_ones_are_dropped() -> None:
    state = State()
    flow = Flow(
        [
            Step("a", ground="{name?Hello:} {{{name}}}", done=is_set("never")),
            Step("b", ground=lambda s: f"n={s.get('n')}", done=is_set("never")),
        ]
    )
    machine = FlowMachine(flow, state)
    assert machine.guidance() == (" {}", "n=None")
    state.set("name", "Ann")
    state.set("n", 2)
    assert machine.guidance() == ("Hello {Ann}", "n=2")
    flow = Flow([Step("a", ground="{name?}", done=is_set("never"))])
    assert FlowMachine(flow, State()).guidance() == ()  # an empty rendering is dropped


def test_failing_custom_guards_and_grounds_are_reported() -> None:
    errors: list[tuple[str, BaseException]] = []

    def broken(state: object) -> bool:
        raise RuntimeError("boom")

    def bad_ground(state: object) -> str:
        raise LookupError("no")

    flow = Flow([Step("a", gate=custom(broken, "the broken check")), Step("b", ground=bad_ground)])
    machine = FlowMachine(flow, State(), on_guard_error=lambda what, e: errors.append((what, e)))
    assert machine.active() == ("b",)
    assert machine.guidance() == ()
    assert [what for what, _ in errors] == [
        "the broken check",
        "the broken check",
        "ground of step 'b'",
    ]
    assert isinstance(errors[0][1], RuntimeError) and isinstance(errors[2][1], LookupError)


def test_explain_never_mutates_and_agrees_with_admits() -> None:
    state = State()
    machine = FlowMachine(booking(ambient_tools=["clock"]), state, tools=["clock", "extra"])
    state.set("greeted", True)
    state.set("city", "Paris")
    before_marking = machine.marking
    entered = machine.take_newly_active()
    explanation = machine.explain()
    assert machine.marking == before_marking  # the relatch happened on a copy
    assert explanation.active == ("confirm",)
    assert explanation.done == ("greet", "collect")
    assert [s.id for s in entered] == ["greet"]
    assert machine.take_newly_active() == ()  # explain did not relatch: greet is still active
    universe = {"clock", "extra", "set_city", "confirm", "book"}
    for tool in sorted(universe):
        assert explanation.blocked_tools.get(tool) == machine.admits(tool), tool
    assert set(explanation.allowed_tools) == universe - set(explanation.blocked_tools)
    assert explanation.allowed_tools == ("clock", "confirm")
    assert explanation.missing_requirements == ("confirm", "book")
    assert list(explanation.progress) == ["confirm"]
    assert str(explanation.progress["confirm"]) == "[ ] 'confirm' must have succeeded"


def test_to_json_and_restore_round_trip() -> None:
    state = State()
    state.set("greeted", True)
    machine = FlowMachine(booking(), state)
    machine.take_newly_active()
    machine.on_turn()
    machine.take_newly_active()
    machine.on_tool_ok("set_city")
    data = machine.to_json()
    assert data == {
        "done": ["greet"],
        "tool_ok": {"set_city": 1},
        "turns": 1,
        "entered": ["greet", "collect"],
    }
    other = FlowMachine(booking(), state)
    other.restore(data)
    assert other.marking == machine.marking
    assert other.take_newly_active() == ()  # entered steps are not entered again
    assert other.to_json() == data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be an object"),
        ({"done": "greet"}, "'done' must be a list"),
        ({"done": ["nope"]}, "unknown steps: nope"),
        ({"tool_ok": {"t": -1}}, "'tool_ok'"),
        ({"tool_ok": {"t": True}}, "'tool_ok'"),
        ({"turns": 1.5}, "'turns'"),
    ],
)
def test_restore_refuses_bad_data_and_changes_nothing(data: object, message: str) -> None:
    state = State()
    state.set("greeted", True)
    machine = FlowMachine(booking(), state)
    machine.on_turn()
    marking = machine.marking
    with pytest.raises(ValueError, match=message):
        machine.restore(data)  # type: ignore[arg-type]
    assert machine.marking == marking


def test_machine_needs_a_flow() -> None:
    with pytest.raises(TypeError, match="must be a Flow"):
        FlowMachine("flow", State())  # type: ignore[arg-type]


def test_called_ok_and_done_guards_read_the_marking() -> None:
    state = State()
    flow = Flow(
        [
            Step("a", done=called_ok("t")),
            Step("b", gate=done("a"), done=is_set("never")),
        ]
    )
    machine = FlowMachine(flow, state)
    assert machine.active() == ("a",)
    machine.on_tool_ok("t")
    assert machine.active() == ("b",)
