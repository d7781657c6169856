"""Findings of the hostile review of issue 17 (flows and the tool gate), kept as regression tests.

Each test named ``test_finding_*`` failed before its fix; the others pin behaviours the review
checked and found right (so a later change cannot quietly break them).
"""

from __future__ import annotations

import functools
import warnings

import pytest
import trio

import livehandle._open
from livehandle import (
    Flow,
    FlowError,
    Guard,
    State,
    Step,
    all_of,
    always,
    any_of,
    called_ok,
    custom,
    done,
    eq,
    is_set,
    is_true,
    never_until,
    not_,
    once,
)
from livehandle._assemble import assemble_live_handle
from livehandle._config.live import LiveConfig
from livehandle._events import LiveEvent
from livehandle._open import open_live_session
from livehandle._tools.declare import tool
from livehandle._wire import messages as m
from livehandle.lowlevel import FlowMachine, FlowStack
from livehandle.testing import CallTools, LiveEmulator, Rule, Say, Scenario, ToolCallSpec, When
from tests.flow.helpers import Ctx, state_with
from tests.testing.helpers import until

# -- guards ---------------------------------------------------------------------------------------


def test_finding_an_async_custom_guard_does_not_hold_and_is_reported() -> None:
    """An ``async def`` check returned a coroutine, which is truthy: the guard always held."""

    async def verified(state: object) -> bool:
        return False

    ctx = Ctx()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the coroutine is closed, never left un-awaited
        assert not custom(verified).holds(ctx)
    ((_, error),) = ctx.errors
    assert isinstance(error, TypeError) and "awaitable" in str(error)
    flow = Flow(steps=[Step("a", gate=verified, allow=["x"]), Step("b", allow=["y"])])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert FlowMachine(flow, State()).active() == ("b",)


def test_finding_a_plain_callable_combines_with_a_guard_on_either_side() -> None:
    """``fn | guard`` and ``fn & guard`` raised TypeError (no reflected operators)."""

    def vip(state: State) -> bool:
        return state.get("tier") == "vip"

    either = vip | is_set("card")
    both = vip & is_set("card")
    ctx = Ctx(state_with(tier="vip"))
    assert either.holds(ctx) and not both.holds(ctx)
    assert either.describe() == "custom check 'vip' or 'card' must be set"
    assert both.describe() == "custom check 'vip' and 'card' must be set"
    with pytest.raises(TypeError):
        _ = 3 | is_set("card")  # type: ignore[operator]


def test_custom_guards_let_cancellation_and_keyboard_interrupt_through() -> None:
    for exc in (KeyboardInterrupt(), trio.Cancelled._create(), SystemExit(0)):  # type: ignore[attr-defined]

        def raising(state: object, exc: BaseException = exc) -> bool:
            raise exc

        ctx = Ctx()
        with pytest.raises(type(exc)):
            custom(raising).holds(ctx)
        assert ctx.errors == []


def test_guard_semantics_bool_int_float_nested_none() -> None:
    ctx = Ctx(state_with(flag=1, yes=True, price=2.0, nested={"a": [1, {"b": True}]}, none=None))
    assert not is_true("flag").holds(ctx) and is_true("yes").holds(ctx)
    assert not eq("flag", True).holds(ctx) and not eq("yes", 1).holds(ctx)
    assert eq("price", 2).holds(ctx) and eq("flag", 1.0).holds(ctx)
    assert eq("nested", {"a": [1.0, {"b": True}]}).holds(ctx)
    assert not eq("nested", {"a": [1, {"b": 1}]}).holds(ctx)
    assert not is_set("none").holds(ctx) and eq("none", None).holds(ctx)
    assert eq("absent", None).holds(ctx)
    assert all_of().holds(ctx) and not any_of().holds(ctx)


def test_finding_from_json_of_a_deeply_nested_guard_is_a_value_error() -> None:
    """Hostile JSON nested thousands deep raised RecursionError, not ValueError."""
    data: dict[str, object] = {"kind": "always"}
    for _ in range(5000):
        data = {"kind": "not", "of": data}
    with pytest.raises(ValueError, match="nested"):
        Guard.from_json(data)
    ok: dict[str, object] = {"kind": "is_set", "key": "k"}
    for _ in range(20):
        ok = {"kind": "not", "of": ok}
    assert Guard.from_json(ok).to_json() == ok


@pytest.mark.parametrize(
    "data",
    [
        {"kind": ["unhashable"]},
        {"kind": "eq", "key": "k"},
        {"kind": "captured", "keys": []},
        {"kind": "captured", "keys": [1]},
        {"kind": "all", "of": {"kind": "always"}},
        {"kind": "not"},
        {"kind": "is_set", "key": ""},
        {"kind": "eq", "key": "k", "value": float("nan")},
        [],
        "always",
    ],
)
def test_malformed_guard_json_is_a_value_error(data: object) -> None:
    with pytest.raises(ValueError, match="guard at"):
        Guard.from_json(data)  # type: ignore[arg-type]


# -- validation -----------------------------------------------------------------------------------


def test_finding_a_done_guard_needing_its_own_step_is_unsatisfiable() -> None:
    """``Step("a", done=done("a"))`` was accepted: the step could never be done."""
    with pytest.raises(FlowError) as caught:
        Flow(steps=[Step("a", done=done("a")), Step("b", after="a")])
    assert caught.value.kind == "unsatisfiable" and caught.value.step == "a"
    assert "'a'" in str(caught.value)


def test_finding_a_gate_waiting_for_a_later_step_is_unreachable() -> None:
    """A gate needing a step that waits for the gated one was accepted: neither could start."""
    with pytest.raises(FlowError) as caught:
        Flow(
            steps=[
                Step("a", gate=done("b"), done=is_set("k")),
                Step("b", after="a", done=is_set("j")),
            ]
        )
    assert caught.value.kind == "unreachable" and caught.value.step == "a"
    with pytest.raises(FlowError) as caught:  # every alternative of the gate is impossible
        Flow(
            steps=[
                Step("a", done=is_set("k")),
                Step("b", gate=any_of(done("c"), done("d")), done=is_set("j")),
                Step("c", after="b", done=is_set("x")),
                Step("d", after="b", done=is_set("y")),
            ]
        )
    assert caught.value.kind == "unreachable" and caught.value.step == "b"


def test_no_false_positives_on_valid_flows() -> None:
    Flow(
        steps=[
            Step("a", done=is_set("a")),
            Step("b", done=is_set("b")),
            Step("c", gate=any_of(done("a"), done("b")), done=is_set("c")),
            Step("d", gate=not_(done("c")) | done("a")),  # no done guard: stays active
            Step("e", after="c", terminal=True),
            Step("f", after="c", gate=done("e") | is_true("skip")),  # a terminal step, later
        ]
    )


def test_finding_a_commit_tool_admitted_by_a_step_without_an_allow_list_is_unguarded() -> None:
    """A step with no allow list admits every tool: ``book`` could be called while greeting."""
    with pytest.raises(FlowError) as caught:
        Flow(
            steps=[
                Step("greet", done=is_set("hi")),
                Step("book", after="greet", gate=is_set("ok"), allow=["book"]),
            ],
            confirm_tools=["book"],
        )
    assert caught.value.kind == "unguarded_commit" and caught.value.step == "greet"
    # denying it there, or a never_until constraint, guards it
    Flow(
        steps=[
            Step("greet", done=is_set("hi"), deny=["book"]),
            Step("book", after="greet", gate=is_set("ok"), allow=["book"]),
        ],
        confirm_tools=["book"],
    )
    Flow(
        steps=[Step("greet", done=is_set("hi")), Step("book", after="greet", allow=["book"])],
        constraints=[never_until("book", is_true("ok"))],
        confirm_tools=["book"],
    )


def test_finding_a_commit_tool_with_a_gate_that_always_holds_is_unguarded() -> None:
    for gate in (always(), all_of(), any_of(always(), is_set("x"))):
        with pytest.raises(FlowError) as caught:
            Flow(steps=[Step("book", gate=gate, allow=["book"])], confirm_tools=["book"])
        assert caught.value.kind == "unguarded_commit" and caught.value.step == "book"


def test_finding_an_ambient_commit_tool_is_unguarded_without_never_until() -> None:
    with pytest.raises(FlowError) as caught:
        Flow(
            steps=[Step("book", gate=is_set("ok"), allow=["book"])],
            confirm_tools=["book"],
            ambient_tools=["book"],
        )
    assert caught.value.kind == "unguarded_commit"


# -- the stack ------------------------------------------------------------------------------------


def _booking() -> Flow:
    return Flow(
        steps=[
            Step("collect", allow=["set_city"], done=is_set("city")),
            Step("book", after="collect", allow=["book"]),
        ]
    )


def test_finding_a_completed_digression_stops_governing_at_once() -> None:
    """A digression completed by a State change governed (with no active step: every tool
    admitted) until the next turn: the main flow's allow-lists were bypassed meanwhile."""
    state = State()
    stack = FlowStack(_booking(), state, tools=["set_city", "book", "faq"])
    stack.push(Flow(steps=[Step("faq", done=is_set("faq"))], name="faq"))
    state.set("faq", True)  # e.g. the application answered the side question
    explained = stack.explain()
    assert explained.flow == "main" and "book" in explained.blocked_tools
    assert stack.admits("book") == "'book' is not available in the current step"
    assert stack.names == ("main",)
    assert stack.reason("book") == "'book' is not available in the current step"
    changes = stack.on_turn()  # the pop is still reported, with the next change
    assert [(c.from_flow, c.to_flow, c.reason) for c in changes] == [("faq", "main", "resume")]
    assert stack.on_turn() == []


def test_a_digression_complete_when_pushed_never_governs() -> None:
    state = State()
    state.set("faq", True)
    stack = FlowStack(_booking(), state, tools=["set_city", "book"])
    stack.push(Flow(steps=[Step("faq", done=is_set("faq"))], name="faq"))
    assert stack.reason("book") == "'book' is not available in the current step"  # pure
    assert stack.names == ("main", "faq")  # reason() and explain() changed nothing
    assert stack.explain().stack == ("main",)
    assert stack.admits("book") is not None and stack.names == ("main",)
    assert [c.reason for c in stack.take_changes()] == ["resume"]
    assert stack.take_changes() == []


def test_finding_a_completed_terminating_digression_terminates_before_the_next_turn() -> None:
    state = State()
    stack = FlowStack(_booking(), state, tools=["set_city", "book"])
    stack.push(Flow(steps=[Step("bye", done=is_set("bye"))], name="bye"), then="terminate")
    state.set("bye", True)
    assert stack.explain().terminated
    assert stack.admits("set_city") == (
        "'set_city' is not available: the conversation flow was terminated"
    )
    assert stack.terminated


# -- the dispatcher -------------------------------------------------------------------------------


class _Gate:
    def __init__(self, refuse: dict[str, str]) -> None:
        self.refuse = refuse
        self.successes: list[str] = []
        self.ended: list[str] = []

    def check(self, name: str, call_id: str | None) -> str | None:
        return self.refuse.get(name)

    def succeeded(self, name: str) -> None:
        self.successes.append(name)

    def finished(self, name: str) -> None:
        self.ended.append(name)


@tool
async def add(a: int, b: int) -> int:
    """Adds."""
    return a + b


@tool
async def book() -> str:
    """Books."""
    return "booked"


async def test_finding_a_rewritten_refusal_never_counts_as_a_success(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: object
) -> None:
    """A before_tool_response hook wrapping every answer turned a refusal into a success:
    the flow counted ``book`` as succeeded (``once``, ``called_ok``) though it never ran."""
    gate = _Gate({"book": "'book' is not permitted yet"})
    seen_by_hook: list[str] = []

    def wrap(answers: list[m.FunctionResponse], state: State) -> list[m.FunctionResponse]:
        seen_by_hook.extend(a.name for a in answers)
        return [
            m.FunctionResponse(name=a.name, id=a.id, response={"wrapped": a.response})
            for a in answers
        ]

    monkeypatch.setattr(
        livehandle._open, "assemble_live_handle", functools.partial(assemble_live_handle, gate=gate)
    )
    script = CallTools(
        [ToolCallSpec("book", {}, id="c0"), ToolCallSpec("add", {"a": 1, "b": 2}, id="c1")]
    )
    rules = Scenario(rules=[Rule(When(text="go"), [script, Say("ok")])])
    config = LiveConfig(response_modality="TEXT", tools=[book, add], before_tool_response=wrap)
    ((refused, added),) = await _tool_responses_of_one_turn(config, rules)
    assert refused.response == {"error": "'book' is not permitted yet"}  # the reason, as given
    assert added.response == {"wrapped": {"output": 3}}
    assert seen_by_hook == ["add"]  # nothing else sees a refused call
    assert gate.successes == ["add"]


# -- secrets --------------------------------------------------------------------------------------


def test_state_values_never_reach_reasons_traces_or_explanations() -> None:
    """Decision: guards describe the author's constants, never State values; reasons name
    tools only.  So a secret held in State (redacted or not) cannot leak through a flow."""
    secret = "4111-1111-1111-1111"
    state = State()
    state.set("card", secret)
    flow = Flow(
        steps=[
            Step("pay", done=eq("card", "x") & called_ok("charge"), allow=["charge"]),
            Step("done", after="pay", terminal=True),
        ],
        constraints=[once("charge"), never_until("refund", is_true("card"))],
    )
    machine = FlowMachine(flow, state, tools=["charge", "refund", "other"])
    text = str(machine.explain())
    assert secret not in text
    assert all(secret not in (machine.reason(t) or "") for t in ("charge", "refund", "other"))


booked: list[str] = []
booking_started: list[trio.Event] = []  # set when book_once starts running


@tool
async def book_once() -> str:
    """Books, once (records each run)."""
    booked.append("run")
    for event in booking_started:
        event.set()
    await trio.sleep(1)
    return "booked"


async def test_finding_two_calls_of_a_once_tool_in_one_message_run_once(
    autojump_clock: object,
) -> None:
    """once() counted successes only: two calls admitted before either succeeded both ran (the
    model could double-book).  A once-tool with a call in flight is now refused, with the once
    reason, and explain() says so while the call runs."""
    booked.clear()
    running = trio.Event()
    booking_started[:] = [running]
    flow = Flow(steps=[Step("book", allow=["book_once"])], constraints=[once("book_once")])
    script = CallTools(
        [ToolCallSpec("book_once", {}, id="c0"), ToolCallSpec("book_once", {}, id="c1")]
    )
    rules = Scenario(rules=[Rule(When(text="go"), [script, Say("ok")])])
    config = LiveConfig(response_modality="TEXT", tools=[book_once], flow=flow)
    async with (
        LiveEmulator(rules).in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        await handle.send_text("go")
        with trio.fail_after(10):
            await running.wait()
            during = handle.explain()
            await until(events, LiveEvent.TurnComplete)
        after = handle.explain()
        answers = [
            r for msg in emu.connections[0].messages(m.ToolResponse) for r in msg.function_responses
        ]
    assert booked == ["run"]
    assert [a.response for a in answers] == [
        {"output": "booked"},
        {"error": "'book_once' may run at most once"},
    ]
    assert (
        during is not None
        and during.blocked_tools["book_once"] == "'book_once' may run at most once"
    )
    assert (
        after is not None and after.blocked_tools["book_once"] == "'book_once' may run at most once"
    )


failures: list[str] = []


@tool
async def flaky_once() -> str:
    """Fails the first time, books the second (records each run)."""
    failures.append("run")
    if len(failures) == 1:
        raise RuntimeError("the booking service is down")
    return "booked"


async def test_a_once_tool_whose_call_failed_may_be_called_again(autojump_clock: object) -> None:
    """The in-flight reservation ends with the call: a failure does not use up the once."""
    failures.clear()
    flow = Flow(steps=[Step("book", allow=["flaky_once"])], constraints=[once("flaky_once")])
    one = CallTools([ToolCallSpec("flaky_once", {}, id="c0")])
    rules = Scenario(rules=[Rule(When(text="go"), [one, Say("ok")])])
    config = LiveConfig(response_modality="TEXT", tools=[flaky_once], flow=flow)
    async with (
        LiveEmulator(rules).in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        for _ in range(3):
            await handle.send_text("go")
            with trio.fail_after(10):
                await until(events, LiveEvent.TurnComplete)
        answers = [
            r for msg in emu.connections[0].messages(m.ToolResponse) for r in msg.function_responses
        ]
    assert failures == ["run", "run"]
    assert [a.response for a in answers] == [
        {"error": "RuntimeError: the booking service is down"},
        {"output": "booked"},
        {"error": "'flaky_once' may run at most once"},
    ]


def test_finding_the_term_bound_stops_before_a_big_product_is_built() -> None:
    """all_of(A, B) of two 256-term guards built all 65,536 terms before giving up (seconds
    and megabytes per guard at Flow construction); the bound now applies before the product."""
    import tracemalloc

    wide_a = any_of(*[is_set(f"a{i}") for i in range(256)])
    wide_b = any_of(*[is_set(f"b{i}") for i in range(256)])
    tracemalloc.start()
    try:
        Flow(steps=[Step("s", gate=all_of(wide_a, wide_b), done=all_of(wide_a, wide_b))])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000, peak


async def test_finding_a_refused_call_cut_by_a_barge_in_is_counted_once(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: object
) -> None:
    """A refused call in a message a barge-in cut was counted as refused AND as cancelled by
    the barge-in (ToolStats counts each call once, under what ended it: here, the refusal)."""
    entered = trio.Event()

    async def on_tool_call(calls: object, state: object) -> None:
        entered.set()
        await trio.sleep_forever()  # the barge-in cancels it

    gate = _Gate({"book": "'book' is not permitted yet"})
    monkeypatch.setattr(
        livehandle._open, "assemble_live_handle", functools.partial(assemble_live_handle, gate=gate)
    )
    config = LiveConfig(response_modality="TEXT", tools=[book, add], on_tool_call=on_tool_call)
    async with (
        LiveEmulator().in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        conn = emu.connections[0]
        calls = (
            m.FunctionCall("book", id="r"),
            m.FunctionCall("add", id="a", args={"a": 1, "b": 2}),
        )
        await conn.send(m.ToolCall(calls))
        await entered.wait()
        await conn.send(m.ServerContent(interrupted=True))
        seen = await until(events, LiveEvent.ToolCancelled)
    cancelled = sorted(i for e in seen if isinstance(e, LiveEvent.ToolCancelled) for i in e.ids)
    assert cancelled == ["a", "r"]  # neither answered: both reported
    stats = handle.tool_stats
    assert (stats.refused, stats.cancelled_by_barge_in) == (1, 1)


def test_finding_a_flow_with_an_eq_guard_on_a_list_or_object_is_hashable() -> None:
    """Flows, steps and guards are frozen (hashable) values, but eq() over a list or an object
    made them unhashable: hash() raised TypeError."""
    guard = eq("k", {"a": [1, 2]})
    assert hash(guard) == hash(eq("k", {"a": [1, 2]})) and guard == eq("k", {"a": [1, 2]})
    flow = Flow(steps=[Step("a", gate=guard | eq("k", [1]))])
    assert {flow: 1}[flow] == 1


async def test_refusals_keep_their_place_under_a_rewrite_with_repeated_ids(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: object
) -> None:
    gate = _Gate({"book": "'book' is not permitted yet"})

    def tag(answers: list[m.FunctionResponse], state: State) -> list[m.FunctionResponse]:
        return [
            m.FunctionResponse(name=a.name, id=a.id, response={"tagged": a.response})
            for a in answers
        ]

    monkeypatch.setattr(
        livehandle._open, "assemble_live_handle", functools.partial(assemble_live_handle, gate=gate)
    )
    script = CallTools(
        [
            ToolCallSpec("add", {"a": 1, "b": 1}, id="same"),
            ToolCallSpec("book", {}, id="same"),
            ToolCallSpec("add", {"a": 2, "b": 2}, id="same"),
        ]
    )
    rules = Scenario(rules=[Rule(When(text="go"), [script, Say("ok")])])
    config = LiveConfig(response_modality="TEXT", tools=[book, add], before_tool_response=tag)
    ((*sent,),) = await _tool_responses_of_one_turn(config, rules)
    assert [a.response for a in sent] == [
        {"tagged": {"output": 2}},
        {"error": "'book' is not permitted yet"},
        {"tagged": {"output": 4}},
    ]


async def _tool_responses_of_one_turn(
    config: LiveConfig, rules: Scenario
) -> list[list[m.FunctionResponse]]:
    """Send "go" on a session with ``config`` against ``rules``; each toolResponse's answers."""
    async with (
        LiveEmulator(rules).in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        await handle.send_text("go")
        with trio.fail_after(10):
            await until(events, LiveEvent.TurnComplete)
        conn = emu.connections[0]
    return [list(r.function_responses) for r in conn.messages(m.ToolResponse)]
