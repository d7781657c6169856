"""Typed function tools: declare them with :func:`tool`, run them with :meth:`Tool.run`.

A tool is a Python function (sync or async) whose type hints and docstring become the Live API
function declaration::

    @tool
    async def get_weather(city: str, unit: Literal["C", "F"] = "C") -> Weather:
        # The docstring's summary becomes the description, its Args: entries the
        # parameters' descriptions.
        ...

Everything about the declaration is checked when the decorator runs, so a bad annotation fails
when the module is imported, not in the middle of a session.  This module is the session-free part
of tool calling:

* :meth:`Tool.declaration` and :meth:`ToolSet.declarations` give what goes into ``setup.tools``;
* :meth:`Tool.structure_args` turns the model's JSON arguments into the annotated Python types,
  failing with a :exc:`ToolArgumentError` that says which argument is wrong and why;
* :meth:`Tool.run` structures the arguments and calls the function (sync functions in a worker
  thread), within the tool's timeout;
* :func:`to_response_payload`, :func:`error_payload` and :class:`ResultFormatter` build the
  ``response`` objects of ``toolResponse.functionResponses``.

The session's dispatcher decides when to call them and what to send.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import inspect
import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal, get_args, get_origin, overload

import attrs
import cattrs
import trio
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn

from livehandle._json import json_kind
from livehandle._state import JsonValue
from livehandle._tools.schema import (
    Parameter,
    docstring_summary,
    function_parameters,
    parameters_schema,
    record_fields,
)
from livehandle._wire import messages as m

__all__ = [
    "ResultFormatter",
    "Tool",
    "ToolArgumentError",
    "ToolSet",
    "ToolTimeout",
    "error_payload",
    "to_json_value",
    "to_response_payload",
    "tool",
]

log = logging.getLogger("livehandle.tools")


# Letters, digits, underscores and dashes; starts with a letter or an underscore; 1-64 chars.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_EMPTY: Any = inspect.Parameter.empty
_MAX_PROBLEMS = 5
_SHOWN_CHARS = 40


# -- errors ---------------------------------------------------------------------------------------


class ToolArgumentError(ValueError):
    """The model's arguments for a tool do not fit its parameters.

    The message names each wrong argument (with its path inside nested objects and lists) and
    the reason; it is short enough to send back to the model as the call's error.

    Attributes:
        tool: the tool's name.
        problems: one ``"argument '<path>': <reason>"`` string per problem found.
    """

    def __init__(self, tool: str, problems: Iterable[str]) -> None:
        self.tool = tool
        self.problems = tuple(problems)
        shown = "; ".join(self.problems[:_MAX_PROBLEMS])
        hidden = len(self.problems) - _MAX_PROBLEMS
        more = f" (and {hidden} more)" if hidden > 0 else ""
        super().__init__(f"invalid arguments for tool {tool!r}: {shown}{more}")


class ToolTimeout(TimeoutError):
    """A tool did not finish within its timeout.

    Attributes:
        tool: the tool's name.
        seconds: the timeout that expired.
    """

    def __init__(self, tool: str, seconds: float) -> None:
        self.tool = tool
        self.seconds = seconds
        super().__init__(f"tool {tool!r} did not finish within {seconds:g} s")


# -- argument structuring -------------------------------------------------------------------------


class _WrongValue(ValueError):
    """A JSON argument is not a value of the annotated type (the message says why)."""


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _structure_enum(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    for member in cls:
        if member.value == value and type(member.value) is type(value):
            return member
    choices = ", ".join(repr(member.value) for member in cls)
    raise _WrongValue(f"expected one of {choices}, got {_show(value)}")


# The primitive hooks are registered for the classes themselves, which cattrs dispatches before
# any predicate, so they also receive str- and int-valued enums; those are passed on.
def _is_enum_class(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, enum.Enum)


def _structure_str(value: Any, cls: Any = str) -> Any:
    if _is_enum_class(cls):
        return _structure_enum(value, cls)
    if isinstance(value, str):
        return value
    raise _WrongValue(f"expected a string, got {json_kind(value)}")


def _structure_bool(value: Any, _: Any = None) -> bool:
    if isinstance(value, bool):
        return value
    raise _WrongValue(f"expected a boolean, got {json_kind(value)}")


def _structure_int(value: Any, cls: Any = int) -> Any:
    if _is_enum_class(cls):
        return _structure_enum(value, cls)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    # JSON has one number type: the model may send 3.0 for an integer.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    got = f"the number {_show(value)}" if isinstance(value, float) else json_kind(value)
    raise _WrongValue(f"expected an integer, got {got}")


def _structure_float(value: Any, _: Any = None) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise _WrongValue(f"expected a number, got {json_kind(value)}")


def _is_literal(tp: Any) -> bool:
    return get_origin(tp) is Literal


def _make_literal_hook(tp: Any, _: cattrs.Converter) -> Callable[[Any, Any], Any]:
    allowed = get_args(tp)
    choices = ", ".join(repr(value) for value in allowed)

    def structure(value: Any, _: Any = None) -> Any:
        for candidate in allowed:
            if candidate == value and type(candidate) is type(value):
                return candidate
        raise _WrongValue(f"expected one of {choices}, got {_show(value)}")

    return structure


def _is_array(tp: Any) -> bool:
    origin = get_origin(tp)
    if origin is tuple:
        args = get_args(tp)
        return len(args) == 2 and args[1] is Ellipsis
    return origin in (list, collections.abc.Sequence) or tp in (list, tuple)


def _make_array_hook(tp: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    # cattrs' own hooks take any iterable (a string would become its characters); arguments
    # take only JSON arrays.
    args = get_args(tp)
    item_type = args[0] if args else Any
    build: Callable[[list[Any]], Any] = tuple if (get_origin(tp) or tp) is tuple else list
    item_hook = converter.get_structure_hook(item_type)

    def structure(value: Any, _: Any = None) -> Any:
        if not isinstance(value, list):
            raise _WrongValue(f"expected an array, got {json_kind(value)}")
        items: list[Any] = []
        errors: list[Exception] = []
        for index, item in enumerate(value):
            try:
                items.append(item_hook(item, item_type))
            except Exception as exc:
                exc.add_note(IterableValidationNote(f"item {index}", index, item_type))
                errors.append(exc)
        if errors:
            raise IterableValidationError(f"While structuring {tp!r}", errors, tp)
        return build(items)

    return structure


def _is_mapping(tp: Any) -> bool:
    return get_origin(tp) in (dict, collections.abc.Mapping) or tp is dict


def _make_mapping_hook(tp: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    args = get_args(tp)
    value_type = args[1] if len(args) == 2 else Any
    value_hook = converter.get_structure_hook(value_type)

    def structure(value: Any, _: Any = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _WrongValue(f"expected an object, got {json_kind(value)}")
        result: dict[str, Any] = {}
        errors: list[Exception] = []
        for key, item in value.items():
            try:
                result[key] = value_hook(item, value_type)
            except Exception as exc:
                exc.add_note(IterableValidationNote(f"key {key!r}", key, value_type))
                errors.append(exc)
        if errors:
            raise IterableValidationError(f"While structuring {tp!r}", errors, tp)
        return result

    return structure


def _is_class_record(tp: Any) -> bool:
    return isinstance(tp, type) and (attrs.has(tp) or dataclasses.is_dataclass(tp))


def _make_class_hook(tp: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    fields = make_dict_structure_fn(tp, converter)

    def structure(value: Any, _: Any = None) -> Any:
        # Without this, a string given for an object fails on its first field, not where it is.
        if not isinstance(value, dict):
            raise _WrongValue(f"expected an object, got {json_kind(value)}")
        return fields(value, tp)

    return structure


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def _make_typeddict_hook(tp: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    # Our own rather than cattrs': required keys follow the schema (record_fields reads
    # Required/NotRequired, which Python 3.11 misses under postponed annotations).
    fields = record_fields(tp) or ()
    known = {field.name for field in fields}

    def structure(value: Any, _: Any = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _WrongValue(f"expected an object, got {json_kind(value)}")
        result: dict[str, Any] = {}
        errors: list[Exception] = []
        for field in fields:
            if field.name not in value:
                if field.required:
                    missing = KeyError(field.name)
                    missing.add_note(AttributeValidationNote("missing", field.name, tp))
                    errors.append(missing)
                continue
            try:
                result[field.name] = converter.structure(value[field.name], field.annotation)
            except Exception as exc:
                exc.add_note(AttributeValidationNote(f"field {field.name}", field.name, tp))
                errors.append(exc)
        extra = set(value) - known
        if extra:
            errors.append(ForbiddenExtraKeysError(None, tp, extra))
        if errors:
            raise ClassValidationError(f"While structuring {tp.__qualname__}", errors, tp)
        return result

    return structure


def _build_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(enum.Enum, _structure_enum)
    converter.register_structure_hook_factory(_is_literal, _make_literal_hook)
    converter.register_structure_hook_factory(_is_array, _make_array_hook)
    converter.register_structure_hook_factory(_is_mapping, _make_mapping_hook)
    converter.register_structure_hook_factory(_is_class_record, _make_class_hook)
    converter.register_structure_hook_factory(_is_typeddict, _make_typeddict_hook)
    return converter


_converter = _build_converter()


def _problems(exc: BaseException, path: str) -> list[str]:
    """Walk a cattrs error tree into ``"argument '<path>': <reason>"`` lines."""
    if isinstance(exc, ClassValidationError):
        named, other = exc.group_exceptions()
        found = [line for sub, note in named for line in _problems(sub, f"{path}.{note.name}")]
        return found + [line for sub in other for line in _problems(sub, path)]
    if isinstance(exc, IterableValidationError):
        indexed, other = exc.group_exceptions()
        found = [
            line
            for sub, note in indexed
            for line in _problems(sub, path + _index_segment(note.index))
        ]
        return found + [line for sub in other for line in _problems(sub, path)]
    if isinstance(exc, BaseExceptionGroup):
        return [line for sub in exc.exceptions for line in _problems(sub, path)]
    if isinstance(exc, ForbiddenExtraKeysError):
        names = ", ".join(repr(name) for name in sorted(exc.extra_fields))
        plural = "s" if len(exc.extra_fields) > 1 else ""
        return [f"argument '{path}': unexpected field{plural} {names}"]
    if isinstance(exc, KeyError):
        return [f"argument '{path}': missing required field"]
    if isinstance(exc, _WrongValue):
        return [f"argument '{path}': {exc}"]
    return [f"argument '{path}': invalid value ({str(exc) or type(exc).__name__})"]


def _index_segment(index: int | str) -> str:
    """``[3]`` for a list index, ``.key`` (or ``['odd key']``) for a dict key."""
    if isinstance(index, str):
        return f".{index}" if index.isidentifier() else f"[{index!r}]"
    return f"[{index}]"


# -- results --------------------------------------------------------------------------------------


def to_json_value(value: object) -> JsonValue:
    """``value`` unstructured by the tools' converter and checked to be plain JSON.

    attrs classes and dataclasses become dicts, enums their values, tuples lists.

    Raises:
        TypeError: something in ``value`` cannot be JSON (bytes, a set, NaN, a non-str dict
            key...); the message says what and where (``$.items[2]``).
    """
    try:
        unstructured = _converter.unstructure(value)
    except Exception as exc:
        raise TypeError(
            f"tool result of type {type(value).__qualname__} cannot be unstructured ({exc})"
        ) from exc
    return _check_json(unstructured, "$")


def _check_json(value: object, path: str) -> JsonValue:
    if isinstance(value, enum.Enum):
        # cattrs passes str- and int-valued enums through as they are (they are a str or int).
        return _check_json(value.value, path)
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"tool result is not JSON: {value!r} at {path}")
        return value
    if isinstance(value, list | tuple):
        return [_check_json(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, dict):
        result: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"tool result is not JSON: the dict at {path} has the"
                    f" {type(key).__qualname__} key {_show(key)}; JSON keys are strings"
                )
            result[key] = _check_json(item, f"{path}.{key}")
        return result
    raise TypeError(
        f"tool result is not JSON: a {type(value).__qualname__} at {path} (return dicts, lists,"
        " str, int, float, bool, None, enums, attrs classes or dataclasses)"
    )


def to_response_payload(value: object) -> dict[str, Any]:
    """The ``response`` object of a function response carrying a tool's result.

    A dict (and an attrs instance, dataclass or TypedDict, which unstructure to one) is sent as
    it is; anything else is wrapped as ``{"output": value}``, the Live API's convention for
    results.

    Raises:
        TypeError: the value cannot be made JSON; the message says what and where.
    """
    data = to_json_value(value)
    if isinstance(data, dict):
        return data
    return {"output": data}


def error_payload(message: str) -> dict[str, Any]:
    """The ``response`` object of a function response reporting a failure: ``{"error": ...}``."""
    return {"error": message}


def _format_running(tool_name: str) -> dict[str, Any]:
    return {"status": "running", "tool": tool_name}


def _format_result(tool_name: str, value: JsonValue) -> dict[str, Any]:
    return {"status": "completed", "tool": tool_name, "result": value}


def _format_error(tool_name: str, message: str) -> dict[str, Any]:
    return {"status": "error", "tool": tool_name, "error": message}


_callable: Callable[[Any, Any, Any], Any] = attrs.validators.is_callable()


@attrs.frozen
class ResultFormatter:
    """Builds the responses of a background tool: the immediate one, then the outcome.

    A background (NON_BLOCKING) tool is answered at once with :attr:`running`'s response, and
    again when it finishes with :attr:`result`'s or :attr:`error`'s.  Customise any of them by
    passing a callable::

        ResultFormatter(result=lambda tool, value: {"status": "done", "data": value})

    Attributes:
        running: ``(tool_name) -> response``; default ``{"status": "running", "tool": name}``.
        result: ``(tool_name, value) -> response``, where ``value`` is the tool's result as
            :func:`to_json_value` made it; default
            ``{"status": "completed", "tool": name, "result": value}``.
        error: ``(tool_name, message) -> response``; default
            ``{"status": "error", "tool": name, "error": message}``.
    """

    running: Callable[[str], dict[str, Any]] = attrs.field(
        default=_format_running, validator=_callable
    )
    result: Callable[[str, JsonValue], dict[str, Any]] = attrs.field(
        default=_format_result, validator=_callable
    )
    error: Callable[[str, str], dict[str, Any]] = attrs.field(
        default=_format_error, validator=_callable
    )


# -- tools ----------------------------------------------------------------------------------------


def _check_name(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValueError(
            f"{attribute.name}: {value!r} is not a valid function name for the Live API (letters,"
            " digits, underscores and dashes, starting with a letter or an underscore, at most 64"
            " characters)"
        )


def _check_timeout(_: object, attribute: attrs.Attribute[float | None], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{attribute.name} must be a positive number of seconds, got {value!r}")


def _to_scheduling(value: m.Scheduling | str | None) -> m.Scheduling | None:
    if value is None or isinstance(value, m.Scheduling):
        return value
    if isinstance(value, str):
        try:
            return m.Scheduling(value.upper())
        except ValueError:
            pass
    choices = ", ".join(member.value for member in m.Scheduling)
    raise ValueError(f"scheduling: unknown value {value!r}; expected one of {choices}")


@attrs.frozen(eq=False)
class Tool:
    """A function the model may call, with its declaration and how to run it.

    Build one with the :func:`tool` decorator, which derives ``name``, ``description`` and
    ``parameters`` from the function.  Calling the tool calls the function directly, so a
    decorated function stays unit-testable; :meth:`run` is what the session uses.

    Tools compare by identity (the parameters schema is a dict, the function has no useful
    equality).

    Attributes:
        name: the function name the model calls (letters, digits, ``_`` and ``-``, starting with a
            letter or ``_``, at most 64 characters).
        description: what the function does, for the model; None for none.
        fn: the function, sync or async.  Its parameters are passed by keyword.
        parameters: the declaration's ``parameters`` schema (see
            :func:`~livehandle._tools.schema.parameters_schema`); None for no parameters.
        background: a NON_BLOCKING tool: the model keeps talking while it runs; it is answered
            at once with :attr:`ResultFormatter.running` and its outcome is sent later.
        scheduling: when the model acts on a background tool's late result (``SILENT``,
            ``WHEN_IDLE`` or ``INTERRUPT``; a string is accepted).  Only for background tools,
            where it defaults to ``WHEN_IDLE``; None for inline tools.
        timeout: seconds :meth:`run` lets the function take before raising :exc:`ToolTimeout`;
            None for no limit.
        formatter: the responses of a background tool.

    Raises:
        ValueError: an invalid name or timeout, or ``scheduling`` on an inline tool.
    """

    name: str = attrs.field(validator=_check_name)
    description: str | None = attrs.field(
        validator=attrs.validators.optional(attrs.validators.instance_of(str))
    )
    fn: Callable[..., Any] = attrs.field(validator=_callable)
    parameters: dict[str, Any] | None = attrs.field(
        validator=attrs.validators.optional(attrs.validators.instance_of(dict))
    )
    background: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    scheduling: m.Scheduling | None = attrs.field(default=None, converter=_to_scheduling)
    timeout: float | None = attrs.field(default=None, validator=_check_timeout)
    formatter: ResultFormatter = attrs.field(
        factory=ResultFormatter, validator=attrs.validators.instance_of(ResultFormatter)
    )
    _arguments: tuple[Parameter, ...] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.scheduling is not None and not self.background:
            raise ValueError(
                f"scheduling: {self.scheduling.value} applies to background tools only (the"
                " Live API ignores it for BLOCKING functions); set background=True or drop it"
            )
        if self.background and self.scheduling is None:
            object.__setattr__(self, "scheduling", m.Scheduling.WHEN_IDLE)
        object.__setattr__(self, "_arguments", function_parameters(self.fn))

    @property
    def is_async(self) -> bool:
        """Whether the function is a coroutine function (awaited by :meth:`run`)."""
        return _is_async(self.fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the wrapped function directly (no argument structuring, no timeout)."""
        return self.fn(*args, **kwargs)

    def declaration(self) -> m.FunctionDeclaration:
        """The function declaration for ``setup.tools``.

        ``behavior`` is ``NON_BLOCKING`` for a background tool and omitted otherwise, leaving
        the server's default: BLOCKING on 2.x and 3.1 models, NON_BLOCKING on 3.8 (where an
        inline tool is still answered as soon as it returns, so the difference is only that the
        model may keep talking meanwhile).  3.1 models support synchronous calls only.
        """
        return m.FunctionDeclaration(
            name=self.name,
            description=self.description,
            parameters=self.parameters,
            behavior=m.Behavior.NON_BLOCKING if self.background else None,
        )

    def structure_args(self, args: Mapping[str, Any] | None) -> dict[str, Any]:
        """Convert the model's JSON arguments into the keyword arguments of the function.

        Each argument is structured into its parameter's annotated type (attrs classes,
        dataclasses, TypedDicts, enums, Literals, lists, tuples, dicts, ``X | None``).  Types
        are strict, except that an integral number (``3.0``) is accepted for an ``int``.
        Missing optional arguments get their defaults, so the result holds every parameter.
        Unannotated parameters (possible only for a hand-built :class:`Tool`) take the JSON
        value as it is.

        Raises:
            ToolArgumentError: an argument is missing, unknown or of the wrong type; the message
                names each one and the reason.
        """
        if args is None:
            args = {}
        if not isinstance(args, Mapping):
            raise ToolArgumentError(
                self.name, [f"expected an object of named arguments, got {json_kind(args)}"]
            )
        kwargs: dict[str, Any] = {}
        problems: list[str] = []
        for param in self._arguments:
            if param.name not in args:
                if param.required:
                    problems.append(f"argument {param.name!r}: missing required argument")
                else:
                    kwargs[param.name] = param.default
                continue
            value = args[param.name]
            if param.annotation is _EMPTY:
                kwargs[param.name] = value
                continue
            try:
                kwargs[param.name] = _converter.structure(value, param.annotation)
            except Exception as exc:
                problems.extend(_problems(exc, param.name))
        known = [param.name for param in self._arguments]
        for name in args:
            if name not in known:
                expected = ", ".join(known) or "no arguments"
                problems.append(f"argument {name!r}: unexpected argument (expected: {expected})")
        if problems:
            raise ToolArgumentError(self.name, problems)
        return kwargs

    async def run(self, args: Mapping[str, Any] | None) -> Any:
        """Structure ``args`` and call the function; return what it returns.

        An async function is awaited; a sync function runs in a Trio worker thread.  With a
        :attr:`timeout`, the call is cancelled when it expires.  A sync function cannot be
        interrupted: on cancellation (timeout or an enclosing cancel scope) its thread is
        abandoned and keeps running until the function returns, and a warning is logged on the
        ``livehandle.tools`` logger.  Exceptions raised by the function propagate.

        Raises:
            ToolArgumentError: the arguments do not fit (the function is not called).
            ToolTimeout: the function did not finish within :attr:`timeout`.
        """
        kwargs = self.structure_args(args)
        if self.timeout is None:
            return await self._invoke(kwargs)
        with trio.move_on_after(self.timeout):
            return await self._invoke(kwargs)
        # Only the timeout's cancellation gets here: the body returns or raises otherwise.
        raise ToolTimeout(self.name, self.timeout)

    async def _invoke(self, kwargs: dict[str, Any]) -> Any:
        fn = self.fn
        if self.is_async:
            return await fn(**kwargs)
        finished = False

        def call() -> Any:
            nonlocal finished
            try:
                return fn(**kwargs)
            finally:
                finished = True

        try:
            return await trio.to_thread.run_sync(
                call, thread_name=f"livehandle tool {self.name}", abandon_on_cancel=True
            )
        except trio.Cancelled:
            if not finished:
                log.warning(
                    "tool %r was cancelled while its function was running in a worker thread;"
                    " the thread is abandoned and keeps running until the function returns",
                    self.name,
                )
            raise


def _is_async(fn: object) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    if inspect.isroutine(fn) or isinstance(fn, type):
        return False
    # A callable instance: its class's __call__ decides.
    return inspect.iscoroutinefunction(type(fn).__call__)


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    background: bool = False,
    scheduling: m.Scheduling | str | None = None,
    timeout: float | None = None,
    formatter: ResultFormatter | None = None,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    background: bool = False,
    scheduling: m.Scheduling | str | None = None,
    timeout: float | None = None,
    formatter: ResultFormatter | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a :class:`Tool` of a function: ``@tool`` or ``@tool(name=..., ...)``.

    Args:
        fn: the function (when used bare).
        name: the name the model calls; defaults to the function's ``__name__``.
        description: defaults to the docstring's text before its first section (``Args:``...).
        background: declare it NON_BLOCKING (see :attr:`Tool.background`).
        scheduling: for a background tool, when the model acts on its result (default
            ``WHEN_IDLE``).
        timeout: seconds the function may take in :meth:`Tool.run`.
        formatter: a background tool's responses; default :class:`ResultFormatter`.

    Raises:
        TypeError: a parameter's annotation is missing or unsupported, or the function takes
            ``*args``/``**kwargs``; the message names the function and the parameter.
        ValueError: an invalid name, timeout or scheduling (see :class:`Tool`).
    """

    def make(function: Callable[..., Any]) -> Tool:
        if isinstance(function, Tool):
            raise TypeError(f"{function.name} is already a tool")
        if not callable(function):
            raise TypeError(f"@tool needs a function, got {function!r}")
        tool_name = name if name is not None else getattr(function, "__name__", None)
        if not isinstance(tool_name, str):
            raise TypeError(f"{function!r} has no __name__; give the tool a name=")
        return Tool(
            name=tool_name,
            description=description if description is not None else docstring_summary(function),
            fn=function,
            parameters=parameters_schema(function),
            background=background,
            scheduling=scheduling,
            timeout=timeout,
            formatter=formatter if formatter is not None else ResultFormatter(),
        )

    if fn is None:
        return make
    return make(fn)


def _to_tools(tools: Iterable[Tool]) -> tuple[Tool, ...]:
    result = tuple(tools)
    for item in result:
        if not isinstance(item, Tool):
            raise TypeError(f"tools: expected Tool instances (use @tool), got {item!r}")
    return result


@attrs.frozen
class ToolSet:
    """An immutable registry of tools, by name.

    Iterating gives the tools in the order given; ``name in toolset`` tests for a name.

    Attributes:
        tools: the tools.

    Raises:
        ValueError: two tools have the same name.
    """

    tools: tuple[Tool, ...] = attrs.field(default=(), converter=_to_tools)
    _by_name: dict[str, Tool] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        by_name: dict[str, Tool] = {}
        for item in self.tools:
            if item.name in by_name:
                raise ValueError(f"tools: two tools are named {item.name!r}")
            by_name[item.name] = item
        object.__setattr__(self, "_by_name", by_name)

    def get(self, name: str) -> Tool | None:
        """The tool called ``name``, or None."""
        return self._by_name.get(name)

    def declarations(self) -> m.Tool | None:
        """One ``setup.tools`` entry declaring every tool, or None when there are none."""
        if not self.tools:
            return None
        return m.Tool(function_declarations=tuple(item.declaration() for item in self.tools))

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Tool]:
        return iter(self.tools)

    def __len__(self) -> int:
        return len(self.tools)
