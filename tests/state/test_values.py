"""Values in and out of State: the strict converter's rules (strict reads are ``try_get``)."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json

import attrs
import pytest

from livehandle._state import State


@attrs.define
class Item:
    sku: str
    quantity: int


@attrs.define
class Order:
    order_id: int
    items: list[Item]
    note: str | None = None


@dataclasses.dataclass
class Address:
    street: str
    tags: tuple[str, ...] = ()


class Size(enum.Enum):
    SMALL = "small"
    LARGE = "large"


# -- typed round trips -----------------------------------------------------------------------


def test_attrs_class_round_trips_through_json_form():
    state = State()
    order = Order(7, [Item("tea", 2), Item("cake", 1)], note="no sugar")

    state.set("order", order)

    assert state.get("order") == {
        "order_id": 7,
        "items": [{"sku": "tea", "quantity": 2}, {"sku": "cake", "quantity": 1}],
        "note": "no sugar",
    }
    restored = state.get("order", Order)
    assert restored == order
    assert restored is not order


def test_list_of_int_round_trips():
    state = State()
    state.set("scores", [3, 1, 2])

    assert state.get("scores", list[int]) == [3, 1, 2]


def test_dataclass_tuple_and_enum_are_stored_as_json():
    state = State()
    state.set("address", Address("Main St", ("home",)))
    state.set("size", Size.LARGE)

    assert state.get("address") == {"street": "Main St", "tags": ["home"]}
    assert state.get("address", Address) == Address("Main St", ("home",))
    assert state.get("size") == "large"
    assert state.get("size", Size) is Size.LARGE
    json.dumps(state.to_dict())


def test_absent_key_returns_default():
    state = State()

    assert state.get("missing") is None
    assert state.get("missing", Order) is None
    assert state.get("missing", int, default=5) == 5


# -- wrong types -----------------------------------------------------------------------------


def test_value_of_the_wrong_kind_raises_type_error_naming_key_type_and_path():
    # Unified rule: a string where an int belongs is a TypeError (it was a ValueError).
    state = State()
    state.set("order", {"order_id": "seven", "items": []})

    with pytest.raises(TypeError, match=r"'order'.*Order") as info:
        state.try_get("order", Order)

    assert "expected an integer, got a string at $.order_id" in str(info.value)


def test_missing_field_is_reported_with_its_path():
    state = State()
    state.set("order", {"order_id": 1, "items": [{"sku": "tea"}]})

    with pytest.raises(ValueError, match=r"missing required field at \$\.items\[0\]\.quantity"):
        state.try_get("order", Order)


def test_primitives_are_not_coerced():
    state = State()
    state.set("count", "7")
    state.set("flag", 1)

    with pytest.raises(TypeError, match=r"'count'.*int.*expected an integer, got a string"):
        state.try_get("count", int)
    with pytest.raises(TypeError, match=r"'flag'.*bool.*expected a boolean, got a number"):
        state.try_get("flag", bool)


def test_an_integral_number_reads_as_an_int_and_a_fraction_does_not():
    # Unified rule (tools already had it): JSON has one number type, so 3.0 is the int 3.
    state = State()
    state.set("whole", 3.0)
    state.set("part", 3.5)

    assert state.get("whole", int) == 3
    assert type(state.get("whole", int)) is int
    with pytest.raises(ValueError, match=r"expected an integer, got the number 3\.5 at \$"):
        state.try_get("part", int)


def test_list_with_a_wrong_element_type_is_rejected():
    state = State()
    state.set("scores", [1, "two"])

    with pytest.raises(TypeError, match=r"'scores'.*list\[int\].*\$\[1\]"):
        state.try_get("scores", list[int])


def test_a_string_is_not_read_as_a_list_of_characters():
    state = State()
    state.set("name", "abc")

    with pytest.raises(TypeError, match=r"'name'.*list\[str\].*expected an array, got a string"):
        state.try_get("name", list[str])


def test_a_non_object_is_not_read_as_a_class():
    state = State()
    state.set("order", [1, 2])

    with pytest.raises(TypeError, match=r"'order'.*Order: expected an object, got an array at \$"):
        state.try_get("order", Order)


def test_fixed_length_tuple_checks_length_and_item_types():
    state = State()
    state.set("point", (1.5, "north"))

    assert state.get("point", tuple[float, str]) == (1.5, "north")
    with pytest.raises(ValueError, match=r"expected an array of 3 items, got 2"):
        state.try_get("point", tuple[float, str, int])
    with pytest.raises(TypeError, match=r"expected a number, got a string at \$\[1\]"):
        state.try_get("point", tuple[float, float])


# -- what can be stored ----------------------------------------------------------------------


def test_unserializable_value_raises_type_error_naming_key_and_type():
    # Unified rule: a value with no JSON form is a TypeError (it was a ValueError).
    state = State()

    with pytest.raises(TypeError, match=r"'when'.*datetime"):
        state.set("when", datetime.datetime(2025, 1, 1))
    assert "when" not in state
    assert state.version == 0


def test_unserializable_value_nested_inside_a_dict_is_reported_with_its_path():
    state = State()

    with pytest.raises(TypeError, match=r"'meta'.*object at \$\.inner\[0\]"):
        state.set("meta", {"inner": [object()]})


def test_non_string_dict_keys_and_non_finite_floats_are_rejected():
    state = State()

    # A non-str key has no JSON form (TypeError); NaN is a number but not a finite one.
    with pytest.raises(TypeError, match=r"'by_id'.*int key 1; JSON keys are strings"):
        state.set("by_id", {1: "a"})
    with pytest.raises(ValueError, match=r"'ratio' is not JSON: nan at \$ is not a finite number"):
        state.set("ratio", float("nan"))
    assert len(state) == 0


@pytest.mark.parametrize(("key", "error"), [("", ValueError), (3, TypeError), (None, TypeError)])
def test_keys_must_be_non_empty_strings(key, error):
    # Unified rule: a key that is not a string is a TypeError; an empty one a ValueError.
    state = State()

    with pytest.raises(error, match="non-empty string"):
        state.set(key, 1)
    with pytest.raises(error, match="non-empty string"):
        state.get(key)
    with pytest.raises(error, match="non-empty string"):
        state.remove(key)


# -- snapshots, not references ---------------------------------------------------------------


def test_stored_value_is_a_snapshot_of_the_original():
    state = State()
    order = Order(1, [Item("tea", 1)])
    basket = {"items": ["tea"]}

    state.set("order", order)
    state.set("basket", basket)
    order.items.append(Item("cake", 1))
    basket["items"].append("cake")

    assert state.get("order", Order) == Order(1, [Item("tea", 1)])
    assert state.get("basket") == {"items": ["tea"]}


def test_reads_and_to_dict_return_copies():
    state = State()
    state.set("basket", {"items": ["tea"]})

    state.get("basket")["items"].append("cake")
    state.to_dict()["basket"]["items"].append("scone")

    assert state.get("basket") == {"items": ["tea"]}


# -- keys, removal, bookkeeping --------------------------------------------------------------


def test_keys_are_sorted_and_filtered_by_prefix():
    state = State()
    state.update({"user:name": "Ada", "app:theme": "dark", "user:age": 36})

    assert state.keys() == ["app:theme", "user:age", "user:name"]
    assert state.keys("user:") == ["user:age", "user:name"]
    assert state.keys("temp:") == []
    assert len(state) == 3
    assert "user:name" in state
    assert "user:" not in state


def test_remove_reports_whether_the_key_was_present():
    state = State()
    state.set("a", 1)

    assert state.remove("a") is True
    assert state.remove("a") is False
    assert "a" not in state
    assert state.get("a") is None


def test_version_increases_on_every_change_only():
    state = State()
    assert state.version == 0

    state.set("a", 1)
    state.set("a", 2)
    assert state.version == 2

    state.update({"b": 1, "c": 2})
    assert state.version == 4

    state.remove("a")
    assert state.version == 5
    state.remove("a")
    state.get("b")
    state.keys()
    assert state.version == 5


def test_update_is_all_or_nothing():
    state = State()

    with pytest.raises(TypeError, match="'bad'"):
        state.update({"good": 1, "bad": object()})
    with pytest.raises(ValueError, match="'nan'"):
        state.update({"good": 1, "nan": float("nan")})

    assert len(state) == 0
    assert state.version == 0


def test_to_dict_is_json_ready():
    state = State()
    state.set("order", Order(1, [Item("tea", 2)]))
    state.set("flag", True)

    assert json.loads(json.dumps(state.to_dict())) == {
        "order": {"order_id": 1, "items": [{"sku": "tea", "quantity": 2}], "note": None},
        "flag": True,
    }


def test_repr_shows_keys_but_not_values():
    state = State()
    state.set("user:api_token", "sk-very-secret")
    state.set("user:name", "Ada Lovelace")

    text = repr(state)
    assert "user:api_token" in text
    assert "user:name" in text
    assert "sk-very-secret" not in text
    assert "Lovelace" not in text


def test_enum_reads_are_strict_for_str_and_int_enums() -> None:
    import enum

    class Color(enum.StrEnum):
        RED = "red"

    class Level(enum.IntEnum):
        LOW = 1

    class Plain(enum.Enum):
        ON = "on"

    state = State()
    state.set("color", "red")
    state.set("bad", "blue")
    state.set("level", 1)
    state.set("plain", "on")
    state.set("colors", ["red", "red"])
    assert state.get("color", Color) is Color.RED
    assert state.get("level", Level) is Level.LOW
    assert state.get("plain", Plain) is Plain.ON
    assert state.get("colors", list[Color]) == [Color.RED, Color.RED]
    # Unified messages: the allowed values, then what came (its kind when that is wrong).
    with pytest.raises(ValueError, match="expected one of 'red', got 'blue'"):
        state.try_get("bad", Color)
    with pytest.raises(TypeError, match="expected one of 1, got an array"):
        state.try_get("colors", Level)
