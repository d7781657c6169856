"""The one converter between JSON and typed values, and State and tools agreeing on its rules."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import sys
from typing import Annotated, Any, Literal, NotRequired, TypedDict

import attrs
import pytest

from livehandle._convert import (
    MAX_DEPTH,
    MAX_SHOWN_PROBLEMS,
    StructureError,
    record_fields,
    structure,
    to_json_value,
)
from livehandle._errors import ToolArgumentError
from livehandle._state import State
from livehandle._tools.declare import Tool


class Color(enum.StrEnum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Size(enum.Enum):
    SMALL = "small"
    LARGE = "large"


@attrs.define
class Item:
    sku: str
    quantity: int = 1


@dataclasses.dataclass
class Receipt:
    total: float
    lines: list[str] = dataclasses.field(default_factory=list)


class Contact(TypedDict):
    name: str
    phone: NotRequired[str]


@attrs.define
class Hidden:
    _secret: int
    shown: str = "x"


@attrs.define
class Positive:
    n: int = attrs.field(validator=attrs.validators.gt(0))


ACCEPT = "accept"


def _problems(value: object, tp: object) -> tuple[Any, ...]:
    with pytest.raises(StructureError) as info:
        structure(value, tp)
    return info.value.problems


def _outcome_of(call: Any) -> tuple[str, object]:
    try:
        return ACCEPT, call()
    except TypeError:
        return "TypeError", None
    except ValueError:
        return "ValueError", None


def _via_state(tp: object, value: object) -> tuple[str, object]:
    # State refuses some values already in set() (an int too long to write, nesting too deep),
    # tools only when structuring: either way counts as the state's outcome.
    state = State()
    return _outcome_of(lambda: (state.set("k", value), state.try_get("k", tp))[1])


def _nested(depth: int, leaf: object = 1) -> object:
    """``leaf`` inside ``depth`` arrays (``_nested(2)`` is ``[[1]]``)."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


HUGE = 10**5000  # more digits than sys.get_int_max_str_digits() allows by default


def _via_tool(tp: object, value: object) -> tuple[str, object]:
    # A hand-built tool: its parameter may have any type the converter takes (the schema
    # builder, which only @tool runs, accepts fewer).
    def probe(x):  # type: ignore[no-untyped-def]
        return x

    probe.__annotations__ = {"x": tp}
    handmade = Tool("probe", None, probe, {"type": "OBJECT"})
    try:
        return ACCEPT, handmade.structure_args({"x": value})["x"]
    except ToolArgumentError as exc:
        return ("TypeError" if exc.wrong_type else "ValueError"), None


# (type, JSON value, expected outcome, expected result when accepted)
TABLE: list[tuple[object, object, str, object]] = [
    # ints and floats: an integral number is an int, a boolean never a number
    (int, 3, ACCEPT, 3),
    (int, 3.0, ACCEPT, 3),
    (int, 3.5, "ValueError", None),
    (int, True, "TypeError", None),
    (int, "3", "TypeError", None),
    (float, 3, ACCEPT, 3.0),
    (float, 3.5, ACCEPT, 3.5),
    (float, True, "TypeError", None),
    (float, "3.5", "TypeError", None),
    (bool, True, ACCEPT, True),
    (bool, 1, "TypeError", None),
    (str, "a", ACCEPT, "a"),
    (str, 1, "TypeError", None),
    # enums by value, members back
    (Color, "red", ACCEPT, Color.RED),
    (Color, "blue", "ValueError", None),
    (Color, 1, "TypeError", None),
    (Level, 1, ACCEPT, Level.LOW),
    (Level, 2.0, ACCEPT, Level.HIGH),
    (Level, 3, "ValueError", None),
    (Level, 1.5, "ValueError", None),
    (Level, True, "TypeError", None),
    (Level, "1", "TypeError", None),
    (Size, "small", ACCEPT, Size.SMALL),
    (Size, "SMALL", "ValueError", None),
    (Size, None, "TypeError", None),
    # Literal
    (Literal["C", "F"], "C", ACCEPT, "C"),
    (Literal["C", "F"], "K", "ValueError", None),
    (Literal["C", "F"], 1, "TypeError", None),
    (Literal[1, 2], 2.0, ACCEPT, 2),
    # Optional
    (int | None, None, ACCEPT, None),
    (int | None, 4, ACCEPT, 4),
    (int | None, "4", "TypeError", None),
    (int, None, "TypeError", None),
    # arrays
    (list[int], [1, 2], ACCEPT, [1, 2]),
    (list[int], "12", "TypeError", None),
    (list[int], {"a": 1}, "TypeError", None),
    (list[int], [1, "2"], "TypeError", None),
    (list[int], [1, 2.5], "ValueError", None),
    (tuple[str, ...], ["a", "b"], ACCEPT, ("a", "b")),
    (tuple[int, str], [1, "a"], ACCEPT, (1, "a")),
    (tuple[int, str], [1], "ValueError", None),
    (set[Color], ["red", "red"], ACCEPT, {Color.RED}),
    # objects
    (dict[str, int], {"a": 1}, ACCEPT, {"a": 1}),
    (dict[str, int], [["a", 1]], "TypeError", None),
    (dict[str, int], {"a": 1.5}, "ValueError", None),
    (dict[Color, int], {"red": 1}, ACCEPT, {Color.RED: 1}),
    (dict[Color, int], {"blue": 1}, "ValueError", None),
    # records
    (Item, {"sku": "tea"}, ACCEPT, Item("tea")),
    (Item, {"sku": "tea", "quantity": 2.0}, ACCEPT, Item("tea", 2)),
    (Item, {"sku": 1}, "TypeError", None),
    (Item, {}, "ValueError", None),
    (Item, {"sku": "tea", "colour": "red"}, "ValueError", None),
    (Item, "tea", "TypeError", None),
    (Receipt, {"total": 9}, ACCEPT, Receipt(9.0)),
    (Receipt, {"total": 9, "lines": "x"}, "TypeError", None),
    (Contact, {"name": "Ada"}, ACCEPT, {"name": "Ada"}),
    (Contact, {"phone": "1"}, "ValueError", None),
    (Contact, {"name": "Ada", "phone": 1}, "TypeError", None),
    # nested: any wrong kind makes it a TypeError, else a ValueError
    (list[Item], [{"sku": "a"}, {"sku": "b", "quantity": 2}], ACCEPT, [Item("a"), Item("b", 2)]),
    (list[Item], [{"sku": "a"}, {"sku": 2}], "TypeError", None),
    (list[Item], [{"sku": "a", "quantity": 0.5}, {}], "ValueError", None),
    (list[Item], [{"sku": 1}, {}], "TypeError", None),
    # limits: what json.dumps could not write is refused where it is converted
    (int, HUGE, "ValueError", None),
    (Any, HUGE, "ValueError", None),
    (list[Any], [1, HUGE], "ValueError", None),
    (int, 10**4299, ACCEPT, 10**4299),
    (Any, _nested(MAX_DEPTH), ACCEPT, _nested(MAX_DEPTH)),
    (Any, _nested(MAX_DEPTH + 1), "ValueError", None),
    (Any, _nested(50_000), "ValueError", None),
    (list[Any], _nested(MAX_DEPTH + 1), "ValueError", None),
]


@pytest.mark.parametrize(
    ("tp", "value", "outcome", "result"),
    TABLE,
    # pytest would write big ints out in full in the ids (and str() of HUGE raises)
    ids=lambda value: (
        f"{value.bit_length()}-bit-int" if isinstance(value, int) and value > 2**64 else None
    ),
)
def test_state_and_tools_agree(tp: object, value: object, outcome: str, result: object) -> None:
    from_state = _via_state(tp, value)
    from_tool = _via_tool(tp, value)
    assert from_state == from_tool == (outcome, result)
    if outcome == ACCEPT:
        # and the same Python types, not just equal values (3 is an int, Level.LOW a member)
        assert type(from_state[1]) is type(from_tool[1]) is type(result)


def test_state_and_tools_name_the_same_path() -> None:
    value = [{"sku": "a"}, {"sku": 2}]
    state = State()
    state.set("items", value)
    with pytest.raises(TypeError, match=r"expected a string, got a number at \$\[1\]\.sku"):
        state.try_get("items", list[Item])
    assert _problems(value, list[Item])[0].path == "[1].sku"

    def probe(items: list[Item]) -> None:
        pass

    with pytest.raises(ToolArgumentError) as info:
        Tool("probe", None, probe, None).structure_args({"items": value})
    assert info.value.problems == ("argument 'items[1].sku': expected a string, got a number",)


# -- structure: the rules one by one -------------------------------------------------------------


def test_every_problem_is_listed_with_its_path() -> None:
    problems = _problems({"a": [1, "x"], "odd key": [True]}, dict[str, list[int]])
    assert [(p.path, p.message, p.wrong_type) for p in problems] == [
        (".a[1]", "expected an integer, got a string", True),
        ("['odd key'][0]", "expected an integer, got a boolean", True),
    ]


def test_record_problems_name_missing_and_unknown_fields() -> None:
    problems = _problems({"quantity": "2", "colour": "red", "size": 1}, Item)
    assert [(p.path, p.message, p.wrong_type) for p in problems] == [
        (".sku", "missing required field", False),
        (".quantity", "expected an integer, got a string", True),
        ("", "unexpected fields 'colour', 'size'", False),
    ]


def test_the_error_class_is_type_error_if_any_problem_is_a_wrong_kind() -> None:
    with pytest.raises(StructureError) as info:
        structure([0.5, "x"], list[int])
    error = info.value.error("reading")
    assert type(error) is TypeError
    assert str(error) == (
        "reading: expected an integer, got the number 0.5 at $[0];"
        " expected an integer, got a string at $[1]"
    )
    with pytest.raises(StructureError) as info:
        structure([0.5], list[int])
    assert type(info.value.error("reading")) is ValueError


def test_long_problem_lists_are_shortened() -> None:
    with pytest.raises(StructureError) as info:
        structure(["x"] * 8, list[int])
    assert len(info.value.problems) == 8
    text = str(info.value.error("reading", root="items"))
    assert text.count("at items[") == MAX_SHOWN_PROBLEMS
    assert text.endswith("(and 3 more)")


def test_non_finite_numbers_are_bad_values() -> None:
    for bad in (math.nan, math.inf, 10**400):
        (problem,) = _problems(bad, float)
        assert problem.wrong_type is False
        assert problem.message.startswith("expected a finite number")
    (problem,) = _problems(math.inf, int)
    assert problem.message == "expected an integer, got the number inf"
    assert problem.wrong_type is False


def test_unions_take_the_first_member_that_fits() -> None:
    assert structure(3, int | float) == 3
    assert type(structure(3, float | int)) is float
    assert structure(3.5, int | float) == 3.5
    assert structure("a", int | str) == "a"
    (problem,) = _problems([1], int | str)
    assert (problem.message, problem.wrong_type) == ("expected int | str, got an array", True)
    # a member whose shape the value has explains what is wrong
    (problem,) = _problems({"sku": 1}, int | Item)
    assert (problem.path, problem.message) == (".sku", "expected a string, got a number")


def test_annotated_any_and_unannotated_fields() -> None:
    assert structure(3.0, Annotated[int, "a count"]) == 3
    payload = {"free": ["form", {"x": 1}]}
    assert structure(payload, dict[str, Any]) == payload
    assert structure([1, "a", None], list) == [1, "a", None]


def test_attrs_private_fields_use_their_name_as_key_and_alias_as_argument() -> None:
    assert structure({"_secret": 4}, Hidden) == Hidden(4)
    assert to_json_value(Hidden(4)) == {"_secret": 4, "shown": "x"}
    assert [(f.key, f.arg) for f in record_fields(Hidden) or ()] == [
        ("_secret", "secret"),
        ("shown", "shown"),
    ]


def test_a_class_refusing_its_value_is_a_problem_at_the_record() -> None:
    (problem,) = _problems([{"n": 0}], list[Positive])
    assert problem.path == "[0]"
    assert problem.message.startswith("Positive refused the value (ValueError:")
    assert problem.wrong_type is False


def test_an_unsupported_target_type_is_a_type_error_not_a_problem() -> None:
    import datetime

    with pytest.raises(TypeError, match=r"cannot convert JSON to complex: not a supported type"):
        structure(1, complex)
    with pytest.raises(TypeError, match=r"cannot convert JSON to datetime: not a supported type"):
        structure(["2025-01-01"], list[datetime.datetime])


def test_a_string_is_never_an_array_and_an_object_never_a_list_of_keys() -> None:
    assert _problems("abc", list[str])[0].message == "expected an array, got a string"
    assert _problems({"a": 1}, set[str])[0].message == "expected an array, got an object"
    assert _problems(["a"], Contact)[0].message == "expected an object, got an array"


# -- to_json_value --------------------------------------------------------------------------------


def test_to_json_value_makes_plain_new_json() -> None:
    nested = {"items": [Item("a")], "when": (Color.RED, Level.HIGH, Size.SMALL)}
    value = to_json_value(nested)
    assert value == {
        "items": [{"sku": "a", "quantity": 1}],
        "when": ["red", 2, "small"],
    }
    assert isinstance(value, dict)
    assert [type(item) for item in value["when"]] == [str, int, str]  # type: ignore[union-attr]
    assert json.loads(json.dumps(value)) == value
    inner: list[int] = [1]
    copied = to_json_value({"a": inner})
    inner.append(2)
    assert copied == {"a": [1]}


def test_to_json_value_turns_subclasses_and_enum_keys_into_plain_values() -> None:
    class Name(str):
        def __str__(self) -> str:
            return "overridden"

    value = to_json_value({Color.RED: Name("ada"), "n": Level.LOW})
    assert value == {"red": "ada", "n": 1}
    assert isinstance(value, dict)
    assert [type(key) for key in value] == [str, str]
    assert type(value["red"]) is str


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (b"x", TypeError, r"value is not JSON: a bytes at \$ \("),
        ({"a": {1, 2}}, TypeError, r"a set at \$\.a"),
        ({"a": [{2: "b"}]}, TypeError, r"the dict at \$\.a\[0\] has the int key 2"),
        ([1.0, math.nan], ValueError, r"nan at \$\[1\] is not a finite number"),
        (Receipt(math.inf), ValueError, r"inf at \$\.total"),
    ],
)
def test_to_json_value_errors_say_what_and_where(
    value: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        to_json_value(value)


def test_to_json_value_refuses_a_value_that_contains_itself() -> None:
    loop: list[object] = [1]
    loop.append({"again": loop})
    with pytest.raises(ValueError, match=r"cart is not JSON: the value at \$\[1\]\.again contains"):
        to_json_value(loop, what="cart")
    shared = [1]
    assert to_json_value([shared, shared]) == [[1], [1]]  # shared is not a loop


def test_what_goes_in_comes_back_out() -> None:
    for tp, value in [
        (list[Item], [Item("a", 2)]),
        (Receipt, Receipt(1.5, ["x"])),
        (dict[str, Level], {"a": Level.HIGH}),
        (tuple[Color, ...], (Color.GREEN,)),
        (Contact, {"name": "Ada", "phone": "1"}),
    ]:
        assert structure(to_json_value(value), tp) == value


# -- limits: ints with no JSON text, nesting too deep ---------------------------------------------


@attrs.define
class Node:
    name: str
    children: list[Node] = attrs.field(factory=list)


def _node_json(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"name": "leaf", "children": []}
    for _ in range(depth - 1):
        node = {"name": "n", "children": [node]}
    return node


def test_an_int_too_long_to_write_is_refused_where_it_is_converted() -> None:
    limit = sys.get_int_max_str_digits()
    with pytest.raises(
        ValueError, match=rf"cart is not JSON: the int at \$\[1\] has more than {limit}"
    ):
        to_json_value([1, HUGE], what="cart")
    (problem,) = _problems({"n": HUGE}, dict[str, int])
    assert (problem.path, problem.wrong_type) == (".n", False)
    assert problem.message == f"expected an integer of at most {limit} digits"
    assert _problems([HUGE], list[Any])[0].path == "[0]"
    assert to_json_value(-(10**4299)) == -(10**4299)  # 4300 digits: still writable


def test_the_int_limit_is_the_one_json_dumps_obeys_now() -> None:
    value = 10**700  # 701 digits
    old = sys.get_int_max_str_digits()
    try:
        sys.set_int_max_str_digits(700)
        with pytest.raises(ValueError, match="more than 700 digits"):
            to_json_value(value)
        sys.set_int_max_str_digits(0)  # no limit: json.dumps writes anything
        assert to_json_value(value) == value
    finally:
        sys.set_int_max_str_digits(old)


def test_nesting_deeper_than_the_limit_is_a_value_error_with_its_path() -> None:
    too_deep = _nested(MAX_DEPTH + 1)
    path = "$" + "[0]" * MAX_DEPTH
    with pytest.raises(ValueError, match=rf"nest more than {MAX_DEPTH} deep") as info:
        to_json_value(too_deep)
    assert str(info.value).endswith(f" at {path}")
    assert to_json_value(_nested(MAX_DEPTH)) == _nested(MAX_DEPTH)
    (problem,) = _problems(too_deep, list[Any])
    assert (problem.path, problem.wrong_type) == (path[1:], False)


def test_records_and_dicts_count_as_levels_too() -> None:
    # a node is two levels: its object and its children array
    fits = structure(_node_json(MAX_DEPTH // 2), Node)
    assert to_json_value(fits) == _node_json(MAX_DEPTH // 2)
    problems = _problems(_node_json(MAX_DEPTH // 2 + 1), Node)
    assert [problem.message for problem in problems] == [
        f"arrays and objects nest more than {MAX_DEPTH} deep"
    ]
    with pytest.raises(ValueError, match="nest more than"):
        to_json_value(Node("top", [fits]))
    with pytest.raises(ValueError, match=r"nest more than .* at \$\.a\[0\]"):
        to_json_value({"a": _nested(MAX_DEPTH)})
    assert _problems({"a": _nested(MAX_DEPTH)}, dict[str, Any])[0].path.startswith(".a[0]")


def test_a_very_deep_value_never_escapes_as_recursion_error() -> None:
    deep = _nested(sys.getrecursionlimit() * 10)
    with pytest.raises(ValueError, match="nest more than"):
        to_json_value(deep)
    with pytest.raises(StructureError):
        structure(deep, Any)
    with pytest.raises(StructureError):
        structure(_node_json(sys.getrecursionlimit() * 10), Node)
