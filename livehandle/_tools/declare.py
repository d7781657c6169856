"""Typed function tools: declare them with :func:`tool`, collect them in a :class:`ToolSet`.

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
  failing with a :exc:`~livehandle.ToolArgumentError` that says which argument is wrong and why;
* :meth:`Tool.run` structures the arguments and calls the function (sync functions in a worker
  thread), within the tool's timeout.

The session's dispatcher decides when to call them and what to send; the payloads it sends are
built by :func:`~livehandle.lowlevel.to_response_payload` and :class:`~livehandle.ResultFormatter`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, overload

import attrs
import trio

from livehandle._errors import ToolTimeout
from livehandle._logs import library_logger
from livehandle._tools.arguments import structure_arguments
from livehandle._tools.results import ResultFormatter
from livehandle._tools.schema import (
    Parameter,
    docstring_summary,
    function_parameters,
    parameters_schema,
)
from livehandle._wire import messages as m

__all__ = ["Tool", "ToolSet", "tool"]

log = library_logger("livehandle.tools")

# Letters, digits, underscores and dashes; starts with a letter or an underscore; 1-64 chars.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_callable: Callable[[Any, Any, Any], Any] = attrs.validators.is_callable()


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
        parameters: the declaration's ``parameters`` schema (what :func:`tool` derives from the
            function's signature, hints and docstring); None for no parameters.
        background: a NON_BLOCKING tool: the model keeps talking while it runs; it is answered
            at once with :attr:`~livehandle.ResultFormatter.running` and its outcome is sent later
            (on Vertex, which has no ``willContinue``, only the outcome is sent).
        scheduling: when the model acts on a background tool's late result (``SILENT``,
            ``WHEN_IDLE`` or ``INTERRUPT``; a string is accepted).  Only for background tools,
            where it defaults to ``WHEN_IDLE``; None for inline tools.
        timeout: seconds :meth:`run` lets the function take before raising
            :exc:`~livehandle.ToolTimeout`;
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
        dataclasses, TypedDicts, enums, Literals, lists, tuples, dicts, ``X | None``) by the
        rules :class:`~livehandle.State` reads by too: strict, except that a number with an
        integral value (``3.0``) is accepted for an ``int``.  Missing optional arguments get
        their defaults, so the result holds every parameter.  Unannotated parameters (possible
        only for a hand-built :class:`Tool`) take the JSON value as it is.

        Raises:
            ToolArgumentError: an argument is missing, unknown or does not fit its type; the
                message names each one (with its path) and the reason.
        """
        return structure_arguments(self.name, self._arguments, args)

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
