"""Guards: what each holds on, its prose, its trace and its JSON form."""

from __future__ import annotations

from typing import Any

import pytest

from livehandle import (
    Guard,
    GuardTrace,
    State,
    all_of,
    always,
    any_of,
    called_ok,
    captured,
    custom,
    done,
    eq,
    is_set,
    is_true,
    not_,
    resolved,
)
from tests.flow.helpers import Ctx, state_with


def test_is_set_means_present_and_not_null() -> None:
    guard = is_set("city")
    assert not guard.holds(Ctx())
    assert not guard.holds(Ctx(state_with(city=None)))
    assert guard.holds(Ctx(state_with(city="")))
    assert guard.holds(Ctx(state_with(city=False)))
    assert guard.describe() == "'city' must be set"


def test_is_true_is_strict() -> None:
    guard = is_true("ok")
    assert guard.holds(Ctx(state_with(ok=True)))
    for value in (1, "true", "yes", [True], None):
        assert not guard.holds(Ctx(state_with(ok=value))), value
    assert not guard.holds(Ctx())
    assert guard.describe() == "'ok' must be true"


def test_eq_is_json_equality_where_a_bool_is_no_number() -> None:
    assert eq("n", 1).holds(Ctx(state_with(n=1.0)))
    assert not eq("n", 1).holds(Ctx(state_with(n=True)))
    assert not eq("n", True).holds(Ctx(state_with(n=1)))
    assert not eq("n", 0).holds(Ctx(state_with(n=False)))
    assert eq("o", {"a": [1, "x"]}).holds(Ctx(state_with(o={"a": [1.0, "x"]})))
    assert not eq("o", {"a": [1]}).holds(Ctx(state_with(o={"a": [1], "b": 2})))
    assert eq("plan", "gold").describe() == "'plan' must equal \"gold\""
    assert eq("o", {"a": [1, 2]}).describe() == "'o' must equal {\"a\":[1,2]}"


def test_eq_refuses_a_value_without_json_form() -> None:
    with pytest.raises(TypeError):
        eq("k", {1, 2})


def test_captured_needs_every_key_and_accepts_a_list() -> None:
    guard = captured("a", "b")
    assert guard == captured(["a", "b"])
    assert not guard.holds(Ctx(state_with(a=1)))
    assert guard.holds(Ctx(state_with(a=1, b=0)))
    assert guard.describe() == "'a' and 'b' must be set"
    assert captured("a", "b", "c").describe() == "'a', 'b' and 'c' must be set"
    assert captured("a").describe() == "'a' must be set"
    with pytest.raises(ValueError, match="at least one key"):
        captured()


def test_called_ok_done_and_resolved() -> None:
    ctx = Ctx(done={"collect"}, ok={"book": 1})
    assert called_ok("book").holds(ctx) and not called_ok("pay").holds(ctx)
    assert done("collect").holds(ctx) and not done("book").holds(ctx)
    assert called_ok("book").describe() == "'book' must have succeeded"
    assert done("collect").describe() == "step 'collect' must be done"
    assert resolved("lookup") == is_set("lookup:result")
    assert resolved("lookup").holds(Ctx(state_with(**{"lookup:result": 3})))


def test_always_and_the_empty_combinators() -> None:
    assert always().holds(Ctx()) and always().describe() == "always"
    assert all_of().holds(Ctx())
    assert not any_of().holds(Ctx())


def test_combinators_and_their_prose() -> None:
    a, b, c = is_set("a"), is_set("b"), is_set("c")
    assert all_of(a, b).describe() == "'a' must be set and 'b' must be set"
    assert any_of(a, b).describe() == "'a' must be set or 'b' must be set"
    nested = all_of(a, any_of(b, c))
    assert nested.describe() == "'a' must be set and ('b' must be set or 'c' must be set)"
    assert not_(a).describe() == "not ('a' must be set)"
    ctx = Ctx(state_with(a=1, c=1))
    assert nested.holds(ctx)
    assert not all_of(a, b).holds(ctx)
    assert not not_(a).holds(ctx) and not_(b).holds(ctx)


def test_operators_build_the_combinators() -> None:
    a, b, c = is_set("a"), is_set("b"), is_set("c")
    assert a & b & c == all_of(a, b, c)
    assert a | b | c == any_of(a, b, c)
    assert ~a == not_(a)
    assert (a & b) | c == any_of(all_of(a, b), c)


def test_trace_is_a_tree_of_what_holds() -> None:
    guard = all_of(is_set("a"), not_(is_set("b")))
    trace = guard.trace(Ctx(state_with(a=1, b=2)))
    assert trace == GuardTrace(
        guard.describe(),
        False,
        (
            GuardTrace("'a' must be set", True),
            GuardTrace("not ('b' must be set)", False, (GuardTrace("'b' must be set", True),)),
        ),
    )
    assert str(trace).splitlines() == [
        "[ ] 'a' must be set and not ('b' must be set)",
        "  [x] 'a' must be set",
        "  [ ] not ('b' must be set)",
        "    [x] 'b' must be set",
    ]


GUARDS = [
    always(),
    is_set("slot:city"),
    is_true("ok"),
    eq("plan", {"tier": "gold", "seats": [1, 2.5], "vip": False, "note": None}),
    captured("a", "b"),
    called_ok("book"),
    done("collect"),
    all_of(),
    any_of(),
    all_of(is_set("a"), any_of(done("x"), not_(called_ok("t")))),
]


@pytest.mark.parametrize("guard", GUARDS, ids=lambda g: g.describe())
def test_json_round_trip(guard: Guard) -> None:
    data = guard.to_json()
    assert Guard.from_json(data) == guard
    assert Guard.from_json(data).describe() == guard.describe()


def test_json_forms_are_plain() -> None:
    assert is_set("k").to_json() == {"kind": "is_set", "key": "k"}
    assert not_(done("s")).to_json() == {"kind": "not", "of": {"kind": "done", "step": "s"}}
    assert eq("k", 2).to_json() == {"kind": "eq", "key": "k", "value": 2}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be an object"),
        ({"kind": "maybe"}, "unknown kind 'maybe'"),
        ({"kind": "is_set"}, "key must be a str"),
        ({"kind": "is_set", "key": ""}, "must not be empty"),
        ({"kind": "eq", "key": "k"}, "'value' is missing"),
        ({"kind": "captured", "keys": "a"}, "'keys' must be an array"),
        ({"kind": "all", "of": {}}, "'of' must be an array"),
        ({"kind": "all", "of": [{"kind": "is_set", "key": 3}]}, r"\$\.of\[0\]"),
        ({"kind": "not", "of": 5}, r"guard at \$\.of must be an object"),
    ],
)
def test_from_json_names_what_is_wrong(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Guard.from_json(data)


def test_steps_and_tools_named_inside() -> None:
    guard = all_of(done("a"), any_of(called_ok("t"), not_(done("b"))), is_set("k"))
    assert guard.steps() == {"a", "b"}
    assert guard.tools() == {"t"}
    assert is_set("k").steps() == frozenset() and is_set("k").tools() == frozenset()


def test_a_custom_guard_calls_its_function_with_the_state() -> None:
    seen: list[State] = []

    def big_party(state: State) -> bool:
        seen.append(state)
        return bool((state.get("size") or 0) > 6)

    ctx = Ctx(state_with(size=8))
    guard = custom(big_party)
    assert guard.holds(ctx) and seen == [ctx.state]
    assert guard.describe() == "custom check 'big_party'"
    assert custom(big_party, "a big party").describe() == "a big party"
    assert guard.trace(ctx) == GuardTrace("custom check 'big_party'", True)


def test_a_custom_guard_that_raises_does_not_hold_and_reports() -> None:
    def broken(state: State) -> bool:
        raise KeyError("nope")

    ctx = Ctx()
    guard = custom(broken)
    assert not guard.holds(ctx)
    assert (guard | always()).holds(ctx)  # the other part still counts
    assert [g for g, _ in ctx.errors] == [guard, guard]
    assert all(isinstance(e, KeyError) for _, e in ctx.errors)
    assert not_(guard).holds(Ctx())  # not (does not hold) holds


def test_custom_guards_have_no_json_form_even_inside_a_combinator() -> None:
    guard = all_of(is_set("a"), lambda state: True)
    with pytest.raises(TypeError, match="custom check '<lambda>'"):
        guard.to_json()
    assert "custom check '<lambda>'" in guard.describe()  # never dropped


def test_plain_callables_are_accepted_where_a_guard_is() -> None:
    def flag(state: State) -> bool:
        return state.get("flag") is True

    guard = is_set("a") & flag
    assert guard.holds(Ctx(state_with(a=1, flag=True)))
    assert not guard.holds(Ctx(state_with(a=1)))
    assert (is_set("a") | flag).holds(Ctx(state_with(flag=True)))
    assert not_(flag).holds(Ctx())


def test_factories_check_their_arguments() -> None:
    with pytest.raises(TypeError):
        is_set(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not be empty"):
        done("")
    with pytest.raises(TypeError):
        all_of(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        custom("not callable")  # type: ignore[arg-type]
