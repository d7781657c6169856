"""A flow is validated when built: each problem is a FlowError of its kind, naming the step."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from livehandle import (
    Flow,
    FlowError,
    State,
    Step,
    StepAction,
    all_of,
    always,
    any_of,
    before,
    called_ok,
    custom,
    done,
    eq,
    is_set,
    is_true,
    never_until,
    not_,
    once,
    require,
)

if TYPE_CHECKING:
    from collections.abc import Callable


def _raises(
    kind: str, step: str | None, build: Callable[[], object], match: str | None = None
) -> None:
    with pytest.raises(FlowError, match=match) as caught:
        build()
    assert caught.value.kind == kind
    assert caught.value.step == step
    if step is not None:
        assert repr(step) in str(caught.value)


def test_invalid_flows() -> None:
    _raises("invalid", None, lambda: Flow(steps=[]), "at least one step")
    _raises("invalid", "a", lambda: Flow([Step("a"), Step("a")]), "declared twice")
    _raises("invalid", None, lambda: Step(""))
    _raises("invalid", "a", lambda: Step("a", allow=["t"], deny=["t", "u"]), "allows and denies")
    _raises("invalid", "a", lambda: Step("a", allow=[3]))  # type: ignore[list-item]
    _raises("invalid", "a", lambda: Step("a", after=5))  # type: ignore[arg-type]
    _raises("invalid", "a", lambda: Step("a", gate=5))  # type: ignore[arg-type]
    _raises("invalid", "a", lambda: Step("a", on_enter=5))  # type: ignore[arg-type]
    _raises("invalid", "a", lambda: Step("a", terminal="yes"))  # type: ignore[arg-type]
    _raises("invalid", None, lambda: Flow(["a"]))  # type: ignore[list-item]
    _raises("invalid", None, lambda: Flow([Step("a")], constraints=["x"]))  # type: ignore[list-item]
    _raises("invalid", None, lambda: Flow([Step("a")], name=""))


def test_unknown_steps() -> None:
    _raises("unknown_step", "b", lambda: Flow([Step("a"), Step("b", after="c")]), "'c'")
    _raises("unknown_step", "a", lambda: Flow([Step("a", done=done("zz"))]), "'zz'")
    _raises("unknown_step", "a", lambda: Flow([Step("a", gate=done("zz"))]), "'zz'")
    _raises("unknown_step", "b", lambda: Flow([Step("a")], constraints=[before("a", "b")]))
    _raises("unknown_step", "x", lambda: Flow([Step("a")], constraints=[require("a", "x")]))
    _raises(
        "unknown_step",
        "q",
        lambda: Flow([Step("a")], constraints=[never_until("t", done("q"))]),
    )


def test_cycles_list_the_cycle() -> None:
    with pytest.raises(FlowError) as caught:
        Flow(
            [
                Step("a", after="c", done=always()),
                Step("b", after="a", done=always()),
                Step("c", after="b", done=always()),
            ]
        )
    assert (caught.value.kind, caught.value.step) == ("cycle", "a")
    assert str(caught.value) == "step 'a' is in an ordering cycle: a -> b -> c -> a"
    _raises(
        "cycle",
        "a",
        lambda: Flow(
            [Step("a", done=always()), Step("b", after="a", done=always())],
            constraints=[before("b", "a")],
        ),
    )
    _raises("cycle", "a", lambda: Flow([Step("a", after="a")]), "a -> a")


@pytest.mark.parametrize(
    "guard",
    [
        is_set("k") & ~is_set("k"),
        eq("k", "a") & eq("k", "b"),
        is_true("k") & ~is_set("k"),
        eq("k", 1) & ~is_set("k"),
        is_true("k") & eq("k", 1),
        not_(always()),
        any_of(),
        any_of(done("a") & not_(done("a")), eq("k", 1) & eq("k", 2.5)),
        eq("k", None) & is_set("k"),
    ],
    ids=lambda g: g.describe(),
)
def test_unsatisfiable_guards(guard: object) -> None:
    _raises(
        "unsatisfiable",
        "a",
        lambda: Flow([Step("a", gate=guard)]),  # type: ignore[arg-type]
        "gate of step 'a' can never hold",
    )
    _raises("unsatisfiable", "a", lambda: Flow([Step("a", done=guard)]))  # type: ignore[arg-type]
    _raises(
        "unsatisfiable",
        None,
        lambda: Flow([Step("a")], constraints=[never_until("t", guard)]),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "guard",
    [
        eq("k", 1) & eq("k", 1.0),
        eq("k", None) & ~is_set("k"),
        is_set("a") | (is_set("k") & ~is_set("k")),
        custom(lambda state: False) & ~custom(lambda state: False),
        is_true("k") & eq("k", True),
        # past the bound the check assumes the guard satisfiable
        all_of(*(is_set(f"a{i}") | is_set(f"b{i}") for i in range(10))) & not_(always()),
    ],
    ids=lambda g: g.describe()[:40],
)
def test_satisfiable_guards_pass(guard: object) -> None:
    Flow([Step("a", gate=guard)])  # type: ignore[arg-type]


def test_unreachable_steps() -> None:
    _raises(
        "unreachable",
        "b",
        lambda: Flow([Step("a"), Step("b", after="a")]),
        "'a', which has no done guard",
    )
    _raises(
        "unreachable",
        "b",
        lambda: Flow([Step("a"), Step("b")], constraints=[before("a", "b")]),
    )
    _raises(
        "unreachable",
        "a",
        lambda: Flow([Step("a", gate=done("a") & is_set("k"))]),
        "needs the step itself",
    )
    # through a chain: c waits for b, which waits for a step that is never done
    _raises(
        "unreachable", "b", lambda: Flow([Step("a"), Step("b", after="a"), Step("c", after="b")])
    )
    # a terminal predecessor is fine, and so is one with a done guard
    Flow([Step("a", terminal=True), Step("b", after="a")])
    Flow([Step("a", done=is_set("x")), Step("b", after="a")])


def test_unguarded_commit_tools() -> None:
    _raises(
        "unguarded_commit",
        "book",
        lambda: Flow([Step("book", allow=["book"])], confirm_tools=["book"]),
        "without a gate",
    )
    _raises(
        "unguarded_commit",
        None,
        lambda: Flow([Step("a")], confirm_tools=["book"]),
        "no step allows it",
    )
    Flow([Step("book", allow=["book"], gate=is_true("confirmed"))], confirm_tools=["book"])
    Flow(
        [Step("book", allow=["book"])],
        confirm_tools=["book"],
        constraints=[never_until("book", is_true("confirmed"))],
    )


def test_check_tools_names_the_step() -> None:
    flow = Flow(
        [Step("a", allow=["x"], done=called_ok("y")), Step("b", after="a", deny=["z"])],
        constraints=[once("w"), never_until("v", called_ok("u"))],
        confirm_tools=[],
        ambient_tools=["clock"],
    )
    assert flow.tools == {"x", "y", "z", "w", "v", "u", "clock"}
    flow.check_tools(["x", "y", "z", "w", "v", "u", "clock", "extra"])
    _raises("unknown_tool", "a", lambda: flow.check_tools(["y", "z", "w", "v", "u", "clock"]))
    _raises("unknown_tool", "b", lambda: flow.check_tools(["x", "y", "w", "v", "u", "clock"]))
    _raises("unknown_tool", None, lambda: flow.check_tools(["x", "y", "z", "v", "u", "clock"]))
    _raises("unknown_tool", None, lambda: flow.check_tools(["x", "y", "z", "w", "v", "u"]))


def test_steps_convert_their_arguments() -> None:
    def enter(entry: object) -> None:
        return None

    step = Step("a", after="z", allow="t", deny=("u",), gate=lambda s: True, on_enter=enter)
    assert step.after == ("z",) and step.allow == ("t",) and step.deny == ("u",)
    assert step.on_enter == StepAction(enter)
    assert step.gate is not None and step.gate.describe() == "custom check '<lambda>'"
    with pytest.raises(TypeError):
        Step("a", "b")  # type: ignore[misc]  # everything but the id is keyword-only


def test_step_action_checks() -> None:
    with pytest.raises(ValueError, match="mode"):
        StepAction(print, mode="later")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        StepAction(print, timeout=0)
    with pytest.raises(TypeError):
        StepAction(print, timeout="1")  # type: ignore[arg-type]
    assert StepAction(print, mode="background", timeout=2).timeout == 2


def test_flow_step_lookup_and_positional_steps() -> None:
    flow = Flow([Step("a", terminal=True)], name="side")
    assert flow.step("a").terminal
    with pytest.raises(ValueError, match="flow 'side' has no step 'b'"):
        flow.step("b")
    assert Flow(Step("only", terminal=True)).steps[0].id == "only"


def test_flow_error_is_a_value_error_and_pickles() -> None:
    import pickle

    error = FlowError("step 'b' waits", "unreachable", "b")
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, ValueError)
    assert (copy.kind, copy.step, str(copy)) == ("unreachable", "b", "step 'b' waits")


def test_validation_reads_no_state() -> None:
    state = State()
    Flow([Step("a", gate=is_set("k") & any_of(is_true("x"), eq("y", 1)), done=always())])
    assert state.cursor == 0
