"""Reads: lenient get, strict try_get, contains, keys, and the derived: fallback."""

from __future__ import annotations

import datetime

import attrs
import pytest

from livehandle import State, StateConfig


@attrs.define
class Booking:
    name: str
    party: int


def test_get_is_lenient_a_value_that_does_not_fit_reads_as_the_default() -> None:
    state = State()
    state.set("count", "seven")
    state.set("booking", {"name": "Ada"})  # missing a field

    assert state.get("count", int) is None
    assert state.get("count", int, default=0) == 0
    assert state.get("booking", Booking, default="none") == "none"
    # without a type there is nothing to misfit
    assert state.get("count") == "seven"


def test_try_get_is_strict_and_names_key_and_type() -> None:
    state = State()
    state.set("count", "seven")
    state.set("booking", {"name": "Ada"})

    with pytest.raises(TypeError, match=r"'count' cannot be read as int: expected an integer"):
        state.try_get("count", int)
    with pytest.raises(ValueError, match=r"'booking'.*Booking.*missing required field at \$\.p"):
        state.try_get("booking", Booking)


def test_try_get_returns_none_when_absent_and_the_value_when_it_fits() -> None:
    state = State()
    state.set("booking", Booking("Ada", 4))

    assert state.try_get("missing", int) is None
    assert state.try_get("booking", Booking) == Booking("Ada", 4)


def test_an_unsupported_type_is_a_programming_error_even_for_lenient_get() -> None:
    state = State()
    state.set("when", "2025-01-01")

    with pytest.raises(TypeError):
        state.get("when", datetime.datetime)


def test_unprefixed_reads_fall_back_to_derived() -> None:
    state = State()
    state.set("derived:total", 42)

    assert state.get("total") == 42
    assert state.get("total", int) == 42
    assert state.try_get("total", int) == 42
    assert state.contains("total")
    assert "total" in state
    # the key itself wins over the derived value
    state.set("total", 7)
    assert state.get("total") == 7


def test_prefixed_reads_never_fall_back() -> None:
    state = State()
    state.set("derived:user:name", "Ada")

    assert state.get("user:name") is None
    assert not state.contains("user:name")
    assert state.try_get("user:name", str) is None


def test_remove_does_not_touch_the_derived_value() -> None:
    state = State()
    state.set("derived:total", 42)

    assert state.remove("total") is False
    assert state.get("derived:total") == 42


def test_contains_checks_the_key_and_in_is_lenient_about_non_strings() -> None:
    state = State()
    state.set("a", None)  # a key holding null is present

    assert state.contains("a")
    assert "a" in state
    assert 3 not in state  # type: ignore[operator]
    assert "" not in state
    with pytest.raises(TypeError, match="non-empty string"):
        state.contains(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty string"):
        state.contains("")


def test_keys_filters_by_prefix_and_rejects_a_non_string_prefix() -> None:
    state = State()
    state.update({"user:b": 1, "user:a": 2, "app:x": 3})

    assert state.keys("user:") == ["user:a", "user:b"]
    with pytest.raises(TypeError, match="prefix must be a string"):
        state.keys(3)  # type: ignore[arg-type]


def test_a_redacted_keys_value_never_appears_in_a_read_error() -> None:
    state = State(StateConfig(redact_keys=("user:card*",)))
    state.set("user:card_number", "4111-secret")

    with pytest.raises(TypeError) as info:
        state.try_get("user:card_number", int)
    text = str(info.value)
    assert "user:card_number" in text
    assert "int" in text
    assert "4111" not in text
    assert "redacted" in text


def test_a_redacted_keys_value_never_appears_in_a_write_error() -> None:
    state = State(StateConfig(redact_keys=("user:pin",)))

    with pytest.raises(ValueError, match="redacted") as info:
        state.set("user:pin", float("nan"))
    assert "user:pin" in str(info.value)
    assert "nan" not in str(info.value)
    with pytest.raises(TypeError, match="'user:pin'"):
        state.set("user:pin", b"1234")


def test_repr_never_shows_values() -> None:
    state = State(StateConfig(redact_keys=("user:pin",)))
    state.set("user:pin", "9876")
    state.set("user:name", "Lovelace")

    for view in (state, state.user, state.delta()):
        text = repr(view)
        assert "9876" not in text
        assert "Lovelace" not in text
    assert "pin" in repr(state.user)
