"""Promotion rules: each one accepted and refused, with its reason and its provenance."""

from __future__ import annotations

from typing import Any

import pytest

from livehandle import LiveEvent, Promotion, State
from livehandle._extract.promotion import apply_promotions

META = {"source": "extraction", "extractor": "booking", "field": "name"}


def promote(rule: Promotion, result: object, state: State) -> LiveEvent.StatePromotion:
    (event,) = apply_promotions("booking", [rule], result, state)
    assert isinstance(event, LiveEvent.StatePromotion)
    assert (event.extractor, event.field, event.key) == ("booking", rule.field, rule.key)
    return event


def test_overwrite_writes_the_value_and_its_provenance_over_an_existing_one() -> None:
    state = State()
    state.set("name", "Bob")
    event = promote(Promotion.overwrite("name"), {"name": "Ann"}, state)
    assert (event.accepted, event.reason, event.value) == (True, "accepted", "Ann")
    assert state.get("name") == "Ann"
    assert state.get("state_meta:name") == META


def test_keep_known_accepts_a_first_value() -> None:
    state = State()
    event = promote(Promotion.keep_known("name"), {"name": "Ann"}, state)
    assert event.accepted and event.reason == "accepted"
    assert state.get("name") == "Ann"


def test_keep_known_keeps_an_existing_value() -> None:
    state = State()
    state.set("name", "Bob")
    event = promote(Promotion.keep_known("name"), {"name": "Ann"}, state)
    assert (event.accepted, event.reason, event.value) == (
        False,
        "existing state value was kept",
        "Ann",
    )
    assert state.get("name") == "Bob"
    assert "state_meta:name" not in state


def test_keep_known_treats_a_stored_null_as_no_value() -> None:
    state = State()
    state.set("name", None)
    assert promote(Promotion.keep_known("name"), {"name": "Ann"}, state).accepted
    assert state.get("name") == "Ann"


def test_true_only() -> None:
    state = State()
    refused = promote(Promotion.true_only("confirmed"), {"confirmed": False}, state)
    assert (refused.accepted, refused.reason) == (False, "not true")
    assert "confirmed" not in state
    refused = promote(Promotion.true_only("confirmed"), {"confirmed": 1}, state)
    assert refused.reason == "not true"
    accepted = promote(Promotion.true_only("confirmed"), {"confirmed": True}, state)
    assert accepted.accepted and state.get("confirmed") is True


@pytest.mark.parametrize("empty", ["", "   ", [], {}])
def test_non_empty_refuses_empty_values(empty: Any) -> None:
    state = State()
    event = promote(Promotion.non_empty("notes"), {"notes": empty}, state)
    assert (event.accepted, event.reason) == (False, "empty")
    assert "notes" not in state


@pytest.mark.parametrize("value", ["window seat", [1], {"a": 1}, 0, False])
def test_non_empty_accepts_anything_else(value: Any) -> None:
    state = State()
    assert promote(Promotion.non_empty("notes"), {"notes": value}, state).accepted
    assert state.get("notes") == value


def test_to_writes_another_key_with_the_field_in_its_provenance() -> None:
    state = State()
    event = promote(Promotion.overwrite("name").to("guest:name"), {"name": "Ann"}, state)
    assert event.accepted and event.key == "guest:name"
    assert state.get("guest:name") == "Ann"
    assert "name" not in state
    assert state.get("state_meta:guest:name") == META


def test_accept_when_sees_the_value_and_the_state() -> None:
    calls: list[tuple[Any, State]] = []

    def allowed(value: Any, state: State) -> bool:
        calls.append((value, state))
        return state.get("max") is not None and value <= state.get("max")

    state = State()
    state.set("max", 8)
    rule = Promotion.overwrite("party_size").accept_when(allowed)
    assert promote(rule, {"party_size": 4}, state).accepted
    refused = promote(rule, {"party_size": 12}, state)
    assert (refused.accepted, refused.reason, refused.value) == (False, "predicate refused", 12)
    assert state.get("party_size") == 4
    assert calls == [(4, state), (12, state)]


def test_accept_when_chains_every_predicate_must_agree() -> None:
    rule = (
        Promotion.overwrite("n")
        .accept_when(lambda value, state: value > 0)
        .accept_when(lambda value, state: value < 10)
    )
    state = State()
    assert promote(rule, {"n": 5}, state).accepted
    assert promote(rule, {"n": 50}, state).reason == "predicate refused"
    assert promote(rule, {"n": -5}, state).reason == "predicate refused"
    assert state.get("n") == 5


def test_a_predicate_that_raises_refuses_and_says_so() -> None:
    def broken(value: Any, state: State) -> bool:
        raise RuntimeError("no idea")

    state = State()
    event = promote(Promotion.overwrite("n").accept_when(broken), {"n": 1}, state)
    assert not event.accepted
    assert event.reason == "predicate refused: it raised RuntimeError: no idea"
    assert "n" not in state


def test_absent_field_and_non_object_results() -> None:
    state = State()
    assert promote(Promotion.overwrite("name"), {"other": 1}, state).reason == "absent"
    event = promote(Promotion.overwrite("name"), ["name"], state)
    assert (event.accepted, event.reason, event.value) == (False, "absent", None)
    assert state.keys() == []


def test_null_never_erases() -> None:
    state = State()
    state.set("name", "Ann")
    for rule in (Promotion.overwrite("name"), Promotion.keep_known("name")):
        event = promote(rule, {"name": None}, state)
        assert (event.accepted, event.reason) == (False, "null")
    assert state.get("name") == "Ann"


def test_rules_apply_in_order_one_event_each() -> None:
    state = State()
    events = apply_promotions(
        "booking",
        [Promotion.overwrite("a"), Promotion.true_only("b"), Promotion.overwrite("c")],
        {"a": 1, "b": False, "c": "x"},
        state,
    )
    assert [(e.field, e.accepted) for e in events] == [("a", True), ("b", False), ("c", True)]  # type: ignore[attr-defined]


def test_a_key_the_state_refuses_is_a_rejection_not_a_crash() -> None:
    class Picky(State):
        def set(self, key: str, value: object) -> None:
            if key.startswith("derived:"):
                raise ValueError("derived: is read-only")
            super().set(key, value)

    state = Picky()
    event = promote(Promotion.overwrite("x").to("derived:x"), {"x": 1}, state)
    assert not event.accepted
    assert event.reason == "the state refused it: ValueError: derived: is read-only"


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: Promotion.overwrite(""), ValueError, "field must be a non-empty"),
        (lambda: Promotion.overwrite(3), TypeError, "field must be a string"),  # type: ignore[arg-type]
        (lambda: Promotion.overwrite("a").to(""), ValueError, "key must be a non-empty"),
        (lambda: Promotion.overwrite("a").to("state_meta:a"), ValueError, "provenance"),
        (lambda: Promotion.overwrite("a").accept_when(3), TypeError, "must be callable"),  # type: ignore[arg-type]
    ],
)
def test_bad_rules(build: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        build()


def test_repr() -> None:
    assert repr(Promotion.overwrite("a")) == "Promotion('a', overwrite)"
    assert repr(Promotion.keep_known("a").to("b")) == "Promotion('a', to='b', keep_known)"
    rule = Promotion.non_empty("a").accept_when(lambda value, state: True)
    assert repr(rule) == "Promotion('a', non_empty, accept_when=1)"
    assert Promotion("a", keep_existing=True, only_true=True).keep_existing
