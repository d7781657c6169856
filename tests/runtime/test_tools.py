"""Typed function tools: the decorator, declarations, argument structuring, running, payloads."""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import math
import threading
from typing import Any, Literal, NotRequired, TypedDict

import attrs
import pytest
import trio
import trio.lowlevel
import trio.testing

from livehandle._convert import to_json_value
from livehandle._errors import SessionError, ToolArgumentError, ToolTimeout
from livehandle._tools.declare import Tool, ToolSet, tool
from livehandle._tools.results import ResultFormatter, error_payload, to_response_payload
from livehandle._wire import codec, messages as m


class Size(enum.Enum):
    SMALL = "small"
    LARGE = "large"


@attrs.frozen
class Item:
    sku: str
    quantity: int = 1
    size: Size | None = None


class Contact(TypedDict):
    name: str
    phone: NotRequired[str]


@dataclasses.dataclass
class Receipt:
    total: float
    lines: tuple[str, ...] = ()


# -- the decorator and declarations --------------------------------------------------------------


@tool
def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict[str, Any]:
    """Current weather for a city.

    Args:
        city: the city name.
    """
    return {"city": city, "unit": unit}


@tool(name="weather-now", description="Weather, now.", timeout=2.5)
async def weather_now(city: str) -> str:
    """Not used: the description is given."""
    return f"sunny in {city}"


@tool(background=True)
def book_table(when: str = "tonight") -> str:
    """Book a restaurant table"""
    return f"booked for {when}"


def test_bare_decorator_derives_name_description_and_parameters():
    assert isinstance(get_weather, Tool)
    assert get_weather.name == "get_weather"
    assert get_weather.description == "Current weather for a city."
    assert get_weather.parameters == {
        "type": "OBJECT",
        "properties": {
            "city": {"type": "STRING", "description": "the city name."},
            "unit": {"type": "STRING", "enum": ["C", "F"]},
        },
        "required": ["city"],
    }
    assert (get_weather.background, get_weather.scheduling, get_weather.timeout) == (
        False,
        None,
        None,
    )
    assert get_weather.is_async is False


def test_decorator_with_options():
    assert weather_now.name == "weather-now"
    assert weather_now.description == "Weather, now."
    assert weather_now.timeout == 2.5
    assert weather_now.is_async is True


def test_empty_parentheses_work_like_the_bare_form():
    @tool()
    def ping() -> str:
        return "pong"

    assert ping.name == "ping"
    assert ping.parameters is None
    assert ping.description is None


def test_calling_a_tool_calls_the_function_directly():
    assert get_weather("Paris", unit="F") == {"city": "Paris", "unit": "F"}


async def test_calling_an_async_tool_returns_its_coroutine():
    assert await weather_now("Oslo") == "sunny in Oslo"


def test_background_tool_defaults_to_when_idle_and_declares_non_blocking():
    assert book_table.background is True
    assert book_table.scheduling is m.Scheduling.WHEN_IDLE
    assert book_table.declaration().behavior is m.Behavior.NON_BLOCKING


def test_inline_tool_leaves_behavior_to_the_server():
    assert get_weather.declaration() == m.FunctionDeclaration(
        name="get_weather",
        description="Current weather for a city.",
        parameters=get_weather.parameters,
        behavior=None,
    )


def test_scheduling_is_accepted_as_a_string():
    @tool(background=True, scheduling="silent")
    def note(text: str) -> None:
        pass

    assert note.scheduling is m.Scheduling.SILENT


def test_scheduling_on_an_inline_tool_is_refused():
    def note(text: str) -> None:
        pass

    with pytest.raises(ValueError, match="scheduling: INTERRUPT applies to background tools only"):
        tool(scheduling=m.Scheduling.INTERRUPT)(note)


def test_unknown_scheduling_is_refused():
    def note(text: str) -> None:
        pass

    with pytest.raises(ValueError, match="scheduling: unknown value 'later'"):
        tool(background=True, scheduling="later")(note)


@pytest.mark.parametrize("timeout", [0, -1.0, math.nan, True, "5"])
def test_timeout_must_be_positive_seconds(timeout):
    def slow() -> None:
        pass

    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        tool(timeout=timeout)(slow)


@pytest.mark.parametrize("name", ["a", "_private", "get-weather", "Tool_2", "x" * 64])
def test_valid_names(name):
    def fn() -> None:
        pass

    assert tool(name=name)(fn).name == name


@pytest.mark.parametrize("name", ["", "1st", "-dash", "get weather", "a.b", "ü", "x" * 65])
def test_invalid_names_are_refused(name):
    def fn() -> None:
        pass

    with pytest.raises(ValueError, match=r"name: .* is not a valid function name"):
        tool(name=name)(fn)


def test_a_lambda_needs_an_explicit_name():
    with pytest.raises(ValueError, match="'<lambda>' is not a valid function name"):
        tool(lambda: None)
    assert tool(name="noop")(lambda: None).name == "noop"


def test_unsupported_annotation_fails_at_decoration_naming_function_and_parameter():
    def lookup(ids: set[int]) -> None:
        pass

    with pytest.raises(TypeError, match=r"lookup\(\): parameter 'ids': set\[int\] is not"):
        tool(lookup)


def test_missing_annotation_fails_at_decoration():
    def lookup(key) -> None:  # type: ignore[no-untyped-def]
        pass

    with pytest.raises(TypeError, match="parameter 'key' has no type annotation"):
        tool(lookup)


def test_star_args_fail_at_decoration():
    def lookup(*keys: str) -> None:
        pass

    with pytest.raises(TypeError, match=r"parameter \*keys is not supported"):
        tool(lookup)


def test_a_tool_cannot_be_wrapped_twice():
    with pytest.raises(TypeError, match="get_weather is already a tool"):
        tool(get_weather)


def _setup_tools(*tools: Tool) -> Any:
    declarations = ToolSet(tools).declarations()
    assert declarations is not None
    sent = codec.encode_client(m.Setup(model="models/x", tools=(declarations,)))
    return json.loads(sent)["setup"]["tools"]


def test_declarations_match_the_wire_example():
    # wire-protocol.md §6, the setup line: get_weather(city) and a NON_BLOCKING book_table(when).
    @tool
    def get_weather(city: str) -> str:
        """Current weather for a city"""
        return city

    assert _setup_tools(get_weather, book_table) == json.loads(
        '[{"functionDeclarations":[{"name":"get_weather","description":"Current weather for a'
        ' city","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING"}},"required"'
        ':["city"]}},{"name":"book_table","description":"Book a restaurant table","behavior":'
        '"NON_BLOCKING","parameters":{"type":"OBJECT","properties":{"when":{"type":"STRING"}}}}]}]'
    )


def test_declaration_with_a_literal_parameter_on_the_wire():
    @tool
    def get_weather(city: str, unit: Literal["C", "F"] = "C") -> str:
        """Current weather for a city"""
        return city

    assert _setup_tools(get_weather) == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather for a city",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {
                            "city": {"type": "STRING"},
                            "unit": {"type": "STRING", "enum": ["C", "F"]},
                        },
                        "required": ["city"],
                    },
                }
            ]
        }
    ]


# -- argument structuring -------------------------------------------------------------------------


def place_order(
    items: list[Item],
    contact: Contact,
    size: Size = Size.SMALL,
    tags: tuple[str, ...] = (),
    extras: dict[str, int] | None = None,
    rush: bool = False,
    budget: float = 0.0,
    copies: int = 1,
) -> None:
    pass


order_tool = tool(place_order)


def test_arguments_are_structured_into_the_annotated_types():
    kwargs = order_tool.structure_args(
        {
            "items": [{"sku": "tea", "quantity": 2, "size": "large"}, {"sku": "cake"}],
            "contact": {"name": "Ada"},
            "size": "large",
            "tags": ["gift", "fragile"],
            "extras": {"spoons": 2},
            "rush": True,
            "budget": 20,
            "copies": 3.0,
        }
    )
    assert kwargs == {
        "items": [Item("tea", 2, Size.LARGE), Item("cake")],
        "contact": {"name": "Ada"},
        "size": Size.LARGE,
        "tags": ("gift", "fragile"),
        "extras": {"spoons": 2},
        "rush": True,
        "budget": 20.0,
        "copies": 3,
    }
    assert type(kwargs["copies"]) is int
    assert type(kwargs["budget"]) is float


def test_missing_optional_arguments_get_their_defaults():
    kwargs = order_tool.structure_args({"items": [], "contact": {"name": "Ada", "phone": "+1"}})
    assert kwargs == {
        "items": [],
        "contact": {"name": "Ada", "phone": "+1"},
        "size": Size.SMALL,
        "tags": (),
        "extras": None,
        "rush": False,
        "budget": 0.0,
        "copies": 1,
    }


def test_null_is_accepted_for_an_optional_parameter():
    assert (
        order_tool.structure_args({"items": [], "contact": {"name": "A"}, "extras": None})["extras"]
        is None
    )


def test_none_args_mean_no_arguments():
    assert book_table.structure_args(None) == {"when": "tonight"}


def _error(tool_: Tool, args: Any) -> ToolArgumentError:
    with pytest.raises(ToolArgumentError) as info:
        tool_.structure_args(args)
    assert info.value.tool == tool_.name
    return info.value


def test_missing_required_argument_is_named():
    error = _error(get_weather, {"unit": "C"})
    assert error.problems == ("argument 'city': missing required argument",)
    assert str(error) == (
        "invalid arguments for tool 'get_weather': argument 'city': missing required argument"
    )


def test_unknown_argument_is_named_with_the_expected_ones():
    error = _error(get_weather, {"city": "Paris", "country": "FR"})
    assert error.problems == ("argument 'country': unexpected argument (expected: city, unit)",)


def test_string_parameter_given_a_number_is_rejected():
    error = _error(get_weather, {"city": 5})
    assert error.problems == ("argument 'city': expected a string, got a number",)


def test_literal_outside_its_values_is_rejected():
    error = _error(get_weather, {"city": "Paris", "unit": "K"})
    assert error.problems == ("argument 'unit': expected one of 'C', 'F', got 'K'",)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({"copies": 2.5}, "argument 'copies': expected an integer, got the number 2.5"),
        ({"copies": True}, "argument 'copies': expected an integer, got a boolean"),
        ({"copies": "3"}, "argument 'copies': expected an integer, got a string"),
        ({"rush": 1}, "argument 'rush': expected a boolean, got a number"),
        ({"budget": "cheap"}, "argument 'budget': expected a number, got a string"),
        ({"size": "medium"}, "argument 'size': expected one of 'small', 'large', got 'medium'"),
        ({"tags": "gift"}, "argument 'tags': expected an array, got a string"),
        ({"tags": ["a", 1]}, "argument 'tags[1]': expected a string, got a number"),
        ({"extras": [1]}, "argument 'extras': expected an object, got an array"),
        (
            {"extras": {"spoons": "two"}},
            "argument 'extras.spoons': expected an integer, got a string",
        ),
    ],
)
def test_wrong_types_are_rejected_with_the_argument_path(args, problem):
    error = _error(order_tool, {"items": [], "contact": {"name": "Ada"}, **args})
    assert error.problems == (problem,)


def test_nested_problems_have_paths_inside_objects_and_lists():
    error = _error(
        order_tool,
        {
            "items": [{"sku": "tea"}, {"quantity": 2, "colour": "red"}, "cake"],
            "contact": {"phone": 5},
        },
    )
    assert set(error.problems) == {
        "argument 'items[1].sku': missing required field",
        "argument 'items[1]': unexpected field 'colour'",
        "argument 'items[2]': expected an object, got a string",
        "argument 'contact.name': missing required field",
        "argument 'contact.phone': expected a string, got a number",
    }


def test_argument_errors_are_session_errors_and_value_errors():
    error = _error(get_weather, {"city": 5})
    assert isinstance(error, SessionError)
    assert isinstance(error, ValueError)


def test_long_error_lists_are_shortened_in_the_message():
    error = _error(order_tool, {"items": [{"sku": n} for n in range(8)], "contact": {"name": "A"}})
    assert len(error.problems) == 8
    assert str(error).endswith("(and 3 more)")
    assert str(error).count("expected a string") == 5


def test_arguments_that_are_not_an_object_are_rejected():
    error = _error(get_weather, ["Paris"])
    assert error.problems == ("expected an object of named arguments, got an array",)


def test_a_hand_built_tool_passes_unannotated_arguments_through():
    def echo(value):  # type: ignore[no-untyped-def]
        return value

    handmade = Tool("echo", None, echo, {"type": "OBJECT"})
    assert handmade.structure_args({"value": {"any": ["json"]}}) == {"value": {"any": ["json"]}}


# -- running --------------------------------------------------------------------------------------


async def test_sync_tool_runs_in_a_worker_thread():
    @tool
    def where(label: str) -> tuple[str, int]:
        return label, threading.get_ident()

    label, ident = await where.run({"label": "x"})
    assert label == "x"
    assert ident != threading.get_ident()


async def test_async_tool_is_awaited_with_structured_arguments():
    received: list[Item] = []

    @tool
    async def add(item: Item) -> int:
        received.append(item)
        await trio.lowlevel.checkpoint()
        return item.quantity

    assert await add.run({"item": {"sku": "tea", "quantity": 4}}) == 4
    assert received == [Item("tea", 4)]


async def test_bad_arguments_do_not_call_the_function():
    calls: list[str] = []

    @tool
    def record(text: str) -> None:
        calls.append(text)

    with pytest.raises(ToolArgumentError, match="argument 'text'"):
        await record.run({"text": 1})
    assert calls == []


async def test_exceptions_from_the_function_propagate():
    @tool
    def broken() -> None:
        raise RuntimeError("boom")

    @tool
    async def broken_async() -> None:
        raise LookupError("no such thing")

    with pytest.raises(RuntimeError, match="boom"):
        await broken.run({})
    with pytest.raises(LookupError, match="no such thing"):
        await broken_async.run({})


async def test_async_tool_timeout(autojump_clock: trio.testing.MockClock):
    @tool(timeout=5)
    async def slow() -> str:
        await trio.sleep(60)
        return "late"

    start = trio.current_time()
    with pytest.raises(ToolTimeout) as info:
        await slow.run({})
    assert trio.current_time() - start == pytest.approx(5)
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, SessionError)
    assert (info.value.tool, info.value.seconds) == ("slow", 5)
    assert str(info.value) == "tool 'slow' did not finish within 5 s"


async def test_tool_that_finishes_in_time_returns_its_value(caplog: pytest.LogCaptureFixture):
    @tool(timeout=30)
    def quick(n: int) -> int:
        return n * 2

    with caplog.at_level(logging.WARNING, logger="livehandle.tools"):
        assert await quick.run({"n": 21}) == 42
    assert caplog.records == []


async def test_stuck_sync_tool_is_abandoned_on_timeout(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
):
    release = threading.Event()
    finished = threading.Event()

    @tool(timeout=3)
    def stuck() -> str:
        release.wait()
        finished.set()
        return "too late"

    try:
        with (
            caplog.at_level(logging.WARNING, logger="livehandle.tools"),
            pytest.raises(ToolTimeout),
        ):
            await stuck.run({})
        assert not finished.is_set()
        [record] = caplog.records
        assert record.name == "livehandle.tools"
        assert record.levelno == logging.WARNING
        assert "'stuck'" in record.getMessage()
        assert "abandoned" in record.getMessage()
    finally:
        release.set()
    assert await trio.to_thread.run_sync(finished.wait, 10)


async def test_stuck_sync_tool_is_abandoned_when_the_caller_is_cancelled(
    caplog: pytest.LogCaptureFixture,
):
    started = trio.Event()
    release = threading.Event()
    finished = threading.Event()

    @tool
    def stuck() -> None:
        trio.from_thread.run_sync(started.set)
        release.wait()
        finished.set()

    try:
        with caplog.at_level(logging.WARNING, logger="livehandle.tools"):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(stuck.run, {})
                await started.wait()
                nursery.cancel_scope.cancel()
        assert not finished.is_set()
        assert ["tool 'stuck' was cancelled" in r.getMessage() for r in caplog.records] == [True]
    finally:
        release.set()
    assert await trio.to_thread.run_sync(finished.wait, 10)


def test_is_async_looks_at_a_callable_instances_call_method():
    class Lookup:
        async def __call__(self, key: str) -> str:
            return key

    class Plain:
        def __call__(self, key: str) -> str:
            return key

    assert Tool("lookup", None, Lookup(), None).is_async is True
    assert Tool("plain", None, Plain(), None).is_async is False


# -- payloads and formatters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "payload"),
    [
        (3, {"output": 3}),
        ("done", {"output": "done"}),
        (None, {"output": None}),
        ([1, (2, 3)], {"output": [1, [2, 3]]}),
        (Size.LARGE, {"output": "large"}),
        ({"temp_c": 18, "sky": "cloudy"}, {"temp_c": 18, "sky": "cloudy"}),
        (Item("tea", 2), {"sku": "tea", "quantity": 2, "size": None}),
        (Receipt(9.5, ("tea",)), {"total": 9.5, "lines": ["tea"]}),
        (
            {"items": [Item("a", size=Size.SMALL)]},
            {"items": [{"sku": "a", "quantity": 1, "size": "small"}]},
        ),
    ],
)
def test_response_payload(value, payload):
    assert to_response_payload(value) == payload


def test_payload_is_a_new_json_value():
    result = {"nested": {"list": [1]}}
    payload = to_response_payload(result)
    assert json.loads(json.dumps(payload)) == result


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"bytes", r"a bytes at \$"),
        ({"blob": b"x"}, r"a bytes at \$\.blob"),
        ({"ids": {1, 2}}, r"a set at \$\.ids"),
        ({1: "one"}, r"the dict at \$ has the int key 1"),
        (object(), r"a object at \$"),
    ],
)
def test_non_json_results_raise_type_error(value, message):
    with pytest.raises(TypeError, match=message):
        to_response_payload(value)


@pytest.mark.parametrize("value", [[math.nan], {"x": math.inf}])
def test_non_finite_numbers_in_results_raise_value_error(value):
    # Unified rule: a non-finite float is a bad value of the right kind (it was a TypeError).
    with pytest.raises(ValueError, match=r"tool result is not JSON: (nan|inf) at \$"):
        to_response_payload(value)


class Mood(enum.StrEnum):
    CALM = "calm"


class Level(enum.IntEnum):
    LOW = 1


def test_str_and_int_enums_become_their_plain_values():
    value = to_json_value({"mood": Mood.CALM, "level": [Level.LOW]})
    assert value == {"mood": "calm", "level": [1]}
    assert isinstance(value, dict)
    assert type(value["mood"]) is str
    assert type(value["level"][0]) is int  # type: ignore[index]


def test_str_enum_parameter_is_structured_strictly():
    @tool
    def feel(mood: Mood) -> None:
        pass

    assert feel.structure_args({"mood": "calm"}) == {"mood": Mood.CALM}
    with pytest.raises(ToolArgumentError, match="argument 'mood': expected one of 'calm', got 'x'"):
        feel.structure_args({"mood": "x"})


def test_to_json_value_unstructures_without_wrapping():
    assert to_json_value(Item("a")) == {"sku": "a", "quantity": 1, "size": None}
    assert to_json_value((Size.SMALL,)) == ["small"]


def test_error_payload():
    assert error_payload("no such city") == {"error": "no such city"}


def test_default_formatter():
    formatter = ResultFormatter()
    assert formatter.running("book") == {"status": "running", "tool": "book"}
    assert formatter.result("book", {"ok": True}) == {
        "status": "completed",
        "tool": "book",
        "result": {"ok": True},
    }
    assert formatter.error("book", "full") == {"status": "error", "tool": "book", "error": "full"}


def test_custom_formatter_replaces_only_what_it_is_given():
    formatter = ResultFormatter(result=lambda name, value: {"done": name, "data": value})

    @tool(background=True, formatter=formatter)
    def book(when: str) -> str:
        return when

    assert book.formatter.result("book", 1) == {"done": "book", "data": 1}
    assert book.formatter.running("book") == {"status": "running", "tool": "book"}


def test_formatter_fields_must_be_callable():
    with pytest.raises(TypeError, match="must be callable"):
        ResultFormatter(running="running")  # type: ignore[arg-type]


def test_tools_get_their_own_default_formatter_equal_to_the_default():
    assert get_weather.formatter == ResultFormatter()


# -- ToolSet --------------------------------------------------------------------------------------


def test_toolset_looks_tools_up_by_name_and_keeps_order():
    tools = ToolSet([get_weather, book_table, weather_now])
    assert len(tools) == 3
    assert list(tools) == [get_weather, book_table, weather_now]
    assert tools.get("weather-now") is weather_now
    assert tools.get("weather_now") is None
    assert "book_table" in tools
    assert "nope" not in tools


def test_toolset_declares_every_tool_in_one_entry():
    declarations = ToolSet([get_weather, book_table]).declarations()
    assert declarations == m.Tool(
        function_declarations=(get_weather.declaration(), book_table.declaration())
    )


def test_empty_toolset_declares_nothing():
    assert ToolSet().declarations() is None
    assert len(ToolSet()) == 0


def test_toolset_refuses_duplicate_names():
    @tool(name="get_weather")
    def other(city: str) -> None:
        pass

    with pytest.raises(ValueError, match="two tools are named 'get_weather'"):
        ToolSet([get_weather, other])


def test_toolset_refuses_plain_functions():
    def plain() -> None:
        pass

    with pytest.raises(TypeError, match="expected Tool instances"):
        ToolSet([plain])  # type: ignore[list-item]
