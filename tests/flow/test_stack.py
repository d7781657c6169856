"""FlowStack: digressions that resume, restart or terminate the flow below."""

from __future__ import annotations

import pytest

from livehandle import Flow, Resume, State, Step, called_ok, is_set, is_true
from livehandle.lowlevel import FlowStack, StackChange


def main_flow() -> Flow:
    return Flow(
        [
            Step("collect", posture="Ask for the city.", allow=["set_city"], done=is_set("city")),
            Step("book", after="collect", allow=["book"], done=called_ok("book")),
        ]
    )


def side_flow(name: str = "faq") -> Flow:
    return Flow(
        [
            Step(
                "answer", posture="Answer the question.", allow=["lookup"], done=is_true("answered")
            )
        ],
        name=name,
    )


def test_a_stack_of_one_is_the_main_flow() -> None:
    stack = FlowStack(main_flow(), State(), tools=["extra"])
    assert (stack.depth, stack.names, stack.terminated) == (1, ("main",), False)
    assert stack.top is stack.main
    assert stack.admits("book") == "'book' is not available in the current step"
    assert stack.guidance() == ("Ask for the city.",)
    assert stack.take_newly_active() == ((("main", main_flow().step("collect")),))
    assert stack.explain().stack == ("main",)


def test_a_digression_governs_then_resumes() -> None:
    state = State()
    stack = FlowStack(main_flow(), state)
    stack.take_newly_active()
    change = stack.push(side_flow())
    assert change == StackChange("main", "faq", "digression")
    assert stack.names == ("main", "faq") and stack.depth == 2
    assert stack.admits("lookup") is None
    assert stack.admits("set_city") == "'set_city' is not available in the current step"
    assert stack.guidance() == ("Answer the question.",)
    assert [(name, s.id) for name, s in stack.take_newly_active()] == [("faq", "answer")]
    assert stack.explain().flow == "faq" and stack.explain().stack == ("main", "faq")
    state.set("city", "Paris")  # the main flow is not relatched while it is covered
    assert stack.on_turn() == []
    state.set("answered", True)
    assert stack.on_turn() == [StackChange("faq", "main", "resume")]
    assert stack.names == ("main",)
    assert stack.top.marking.done == {"collect"}  # relatched on resuming
    assert stack.admits("book") is None
    assert stack.take_newly_active()[0][1].id == "book"


def test_a_digression_can_restart_the_flow_below() -> None:
    state = State()
    stack = FlowStack(main_flow(), state)
    state.set("city", "Paris")
    stack.on_tool_ok("set_city")
    stack.take_newly_active()
    stack.push(side_flow(), then="restart")
    state.remove("city")
    state.set("answered", True)
    assert stack.on_tool_ok("lookup") == [StackChange("faq", "main", "restart")]
    assert stack.top.marking.done == frozenset()
    assert stack.top.marking.tool_ok == {}
    assert [s.id for _, s in stack.take_newly_active()] == ["collect"]  # entered again


def test_a_terminated_stack_denies_every_tool_and_says_so() -> None:
    state = State()
    stack = FlowStack(main_flow(), state, tools=["extra"])
    stack.push(side_flow(), then=Resume.TERMINATE)
    state.set("answered", True)
    assert stack.on_turn() == [StackChange("faq", "main", "terminate")]
    assert stack.terminated
    reason = "'set_city' is not available: the conversation flow was terminated"
    assert stack.admits("set_city") == reason
    assert stack.reason("set_city") == reason
    assert stack.guidance() == ("The conversation flow has ended; no tool is available.",)
    assert stack.take_newly_active() == ()
    explanation = stack.explain()
    assert explanation.terminated and explanation.allowed_tools == ()
    assert set(explanation.blocked_tools) == {"extra", "set_city", "book"}
    assert explanation.blocked_tools["book"].endswith("the conversation flow was terminated")
    with pytest.raises(ValueError, match="terminated"):
        stack.push(side_flow("other"))


def test_nested_digressions_pop_in_order() -> None:
    state = State()
    stack = FlowStack(main_flow(), state)
    stack.push(side_flow("faq"))
    stack.push(
        Flow([Step("hold", done=is_true("held"))], name="hold"),
        then="resume",
    )
    assert stack.names == ("main", "faq", "hold")
    state.set("held", True)
    state.set("answered", True)
    assert stack.on_turn() == [
        StackChange("hold", "faq", "resume"),
        StackChange("faq", "main", "resume"),
    ]
    assert stack.depth == 1


def test_push_checks_its_arguments() -> None:
    stack = FlowStack(main_flow(), State())
    with pytest.raises(TypeError, match="must be a Flow"):
        stack.push("faq")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'later' is not a valid Resume"):
        stack.push(side_flow(), then="later")
    with pytest.raises(ValueError, match="on the stack already"):
        stack.push(side_flow("main"))
    assert stack.depth == 1


def test_the_main_flow_never_pops() -> None:
    state = State()
    stack = FlowStack(Flow([Step("bye", terminal=True)]), state)
    assert stack.on_turn() == []
    assert stack.top.complete() and stack.depth == 1


def test_to_json_and_restore() -> None:
    state = State()
    stack = FlowStack(main_flow(), state)
    state.set("city", "Paris")
    stack.on_tool_ok("set_city")
    stack.push(side_flow(), then="terminate")
    state.set("answered", True)
    stack.on_turn()
    data = stack.to_json()
    assert data["terminated"] is True
    assert data["main"]["done"] == ["collect"]
    other = FlowStack(main_flow(), state)
    other.push(side_flow("leftover"))
    other.restore(data)
    assert other.terminated and other.names == ("main",)  # overlays are not restored
    assert other.main.marking == stack.main.marking
    assert other.to_json() == data
    with pytest.raises(ValueError, match="bool 'terminated'"):
        other.restore({"main": {}, "terminated": "yes"})
