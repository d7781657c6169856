"""``@extractor``: a turn extractor made of an async function with a return type annotation.

::

    @extractor(name="booking", window=3)
    async def booking(turns: Sequence[TranscriptTurn]) -> Booking | None:
        ...

The annotation is the contract: whatever the function returns is converted strictly to it by the
package's one converter (a dict is structured into ``Booking``, a ``Booking`` is checked by a
round trip through its JSON form), so a wrong result is an :exc:`~livehandle.ExtractionFailed`
the session reports, never a value of the wrong shape in the state.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, overload

import attrs

from livehandle._convert import StructureError, record_fields, structure, to_json_value, type_name
from livehandle._errors import ExtractionFailed
from livehandle._extract.promotion import Promotion, check_promotions
from livehandle._extract.protocol import ExtractionTrigger
from livehandle._extract.turns import TranscriptTurn

__all__ = ["DEFAULT_TIMEOUT", "FunctionExtractor", "extractor", "result_fields"]

#: Seconds an extractor may take by default before it is cancelled.
DEFAULT_TIMEOUT = 10.0

Window = Sequence[TranscriptTurn]
ExtractFn = Callable[[Window], Awaitable[Any]]


def _name(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{attribute.name} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{attribute.name} must be a non-empty string")


def _window(_: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{attribute.name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value}")


def _timeout(_: object, attribute: attrs.Attribute[float], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{attribute.name} must be a number of seconds, got {value!r}")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{attribute.name} must be a positive, finite number of seconds")


def _predicate(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not callable(value):
        raise TypeError(f"should_extract must be callable, got {value!r}")
    if inspect.iscoroutinefunction(value):
        raise TypeError("should_extract must be a plain (sync) function, not async")


def result_fields(tp: object) -> tuple[str, ...] | None:
    """The field names of a record result type (``X`` or ``X | None``); None for other types."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        members = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        if len(members) != 1:
            return None
        tp = members[0]
    fields = record_fields(tp)
    return None if fields is None else tuple(field.key for field in fields)


@attrs.frozen(eq=False, repr=False)
class FunctionExtractor:
    """A :class:`~livehandle.TurnExtractor` made by :func:`~livehandle.extractor` of a function.

    Calling it (``await booking(turns)``) runs :meth:`extract`, so a decorated function stays
    easy to test.  Compares by identity.

    Attributes:
        name: the state key its result is stored under.
        fn: the async function, called with the window.
        result_type: the function's return annotation; results are converted strictly to it.
        window: how many of the last finished turns it reads (at least 1).
        trigger: when it runs.
        promotions: the rules copying fields of the result into their own keys.
        timeout: seconds it may take before it is cancelled (an ``ExtractionError``).
        predicate: an optional sync ``predicate(window) -> bool`` deciding whether to run.
    """

    name: str = attrs.field(validator=_name)
    fn: ExtractFn = attrs.field()
    result_type: Any = attrs.field()
    window: int = attrs.field(default=1, validator=_window)
    trigger: ExtractionTrigger = attrs.field(
        default=ExtractionTrigger.EVERY_TURN,
        validator=attrs.validators.instance_of(ExtractionTrigger),
    )
    promotions: tuple[Promotion, ...] = attrs.field(default=())
    timeout: float = attrs.field(default=DEFAULT_TIMEOUT, validator=_timeout)
    predicate: Callable[[Window], bool] | None = attrs.field(default=None, validator=_predicate)

    def __attrs_post_init__(self) -> None:
        if not inspect.iscoroutinefunction(self.fn):
            raise TypeError(f"{_fn_name(self.fn)} must be an async function (async def)")
        rules = check_promotions(self.name, self.promotions, result_fields(self.result_type))
        object.__setattr__(self, "promotions", rules)

    def should_extract(self, window: Window) -> bool:
        """Whether to run on ``window``: the predicate's answer, or True without one."""
        return True if self.predicate is None else bool(self.predicate(window))

    async def extract(self, window: Window) -> Any:
        """Call the function with ``window`` and convert its result to :attr:`result_type`.

        Raises:
            ExtractionFailed: the result does not fit :attr:`result_type` (or has no JSON
                form); the message names the extractor, the type and every problem.
            Exception: whatever the function raises, unchanged.
        """
        result = await self.fn(window)
        return self.convert(result)

    def convert(self, result: object) -> Any:
        """``result`` converted strictly to :attr:`result_type` (see :meth:`extract`)."""
        expected = type_name(self.result_type)
        try:
            return structure(to_json_value(result, what="extractor result"), self.result_type)
        except StructureError as exc:
            error = exc.error(f"the result does not fit {expected}")
        except (TypeError, ValueError) as exc:
            error = exc
        raise ExtractionFailed(self.name, str(error), error)

    async def __call__(self, window: Window) -> Any:
        return await self.extract(window)

    def __repr__(self) -> str:
        parts = [
            f"{self.name!r}",
            f"fn={_fn_name(self.fn)}",
            f"result={type_name(self.result_type)}",
            f"window={self.window}",
            f"trigger={_trigger_text(self.trigger)}",
        ]
        if self.promotions:
            parts.append(f"promotions={len(self.promotions)}")
        if self.timeout != DEFAULT_TIMEOUT:
            parts.append(f"timeout={self.timeout:g}")
        return f"FunctionExtractor({', '.join(parts)})"


def _trigger_text(trigger: ExtractionTrigger) -> str:
    if trigger.interval != 1:
        return f"every {trigger.interval} turns"
    return trigger.kind.value


def _fn_name(fn: object) -> str:
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return f"{name}()" if isinstance(name, str) else repr(fn)


def _return_type(fn: Callable[..., Any]) -> Any:
    where = _fn_name(fn)
    annotations = getattr(fn, "__annotations__", None) or {}
    # Only the return annotation is resolved: the window parameter's annotation is often
    # imported under TYPE_CHECKING only, and an extractor never needs it at run time.
    only_return = {"return": annotations["return"]} if "return" in annotations else {}

    def shim() -> None: ...

    shim.__annotations__ = only_return
    try:
        hints = typing.get_type_hints(shim, globalns=getattr(fn, "__globals__", None))
    except Exception as exc:
        raise TypeError(f"{where}: cannot resolve the return annotation ({exc})") from exc
    if "return" not in hints:
        raise TypeError(
            f"{where} has no return annotation; an extractor declares the type of its result"
            " (-> Booking | None, -> dict[str, str], ...)"
        )
    result = hints["return"]
    if result is type(None):
        raise TypeError(f"{where} is annotated -> None; an extractor returns a value")
    return result


@overload
def extractor(fn: ExtractFn, /) -> FunctionExtractor: ...
@overload
def extractor(
    *,
    name: str | None = None,
    window: int = 1,
    trigger: ExtractionTrigger = ExtractionTrigger.EVERY_TURN,
    promotions: Sequence[Promotion] = (),
    timeout: float = DEFAULT_TIMEOUT,
    should_extract: Callable[[Window], bool] | None = None,
) -> Callable[[ExtractFn], FunctionExtractor]: ...


def extractor(
    fn: ExtractFn | None = None,
    /,
    *,
    name: str | None = None,
    window: int = 1,
    trigger: ExtractionTrigger = ExtractionTrigger.EVERY_TURN,
    promotions: Sequence[Promotion] = (),
    timeout: float = DEFAULT_TIMEOUT,
    should_extract: Callable[[Window], bool] | None = None,
) -> FunctionExtractor | Callable[[ExtractFn], FunctionExtractor]:
    r"""Make a turn extractor of an async function: ``@extractor`` or ``@extractor(...)``.

    The function takes the window (the last finished :class:`~livehandle.TranscriptTurn`\ s,
    oldest first) and returns the value drawn from it.  Its return annotation is required: the
    result is converted strictly to it (a dict into an attrs class, a dataclass instance checked
    by a round trip...), and one that does not fit is reported as an
    ``LiveEvent.ExtractionError`` instead of being stored.  Returning None (with ``-> X | None``)
    means "nothing found this time": the previous value stays.

    Args:
        fn: the function (when used bare).
        name: the state key of the result; defaults to the function's ``__name__``.
        window: how many of the last finished turns the function is given (at least 1).
        trigger: when it runs (default: after every turn).
        promotions: :class:`~livehandle.Promotion` rules copying fields of the result into
            their own state keys.  Without any, only ``state[name]`` is written.
        timeout: seconds the function may take; past it, it is cancelled and reported.
        should_extract: a sync ``predicate(window) -> bool``; the extractor runs only when it
            says yes.

    Raises:
        TypeError: the function is not async, has no return annotation (the message names the
            function), or an option has the wrong type.
        ValueError: an empty name, a window under 1, a timeout that is not positive, or a
            promotion of a field the result type does not have.
    """

    def make(function: ExtractFn) -> FunctionExtractor:
        if isinstance(function, FunctionExtractor):
            raise TypeError(f"{function.name} is already an extractor")
        if not callable(function):
            raise TypeError(f"@extractor needs an async function, got {function!r}")
        if not inspect.iscoroutinefunction(function):
            raise TypeError(f"{_fn_name(function)} must be an async function (async def)")
        result_type = _return_type(function)
        if isinstance(promotions, Promotion):
            raise TypeError("promotions takes a sequence of Promotion rules, not one rule")
        extractor_name: object = name
        if name is None:
            extractor_name = getattr(function, "__name__", None)
            if not isinstance(extractor_name, str):
                raise TypeError(f"{function!r} has no __name__; give the extractor a name=")
        return FunctionExtractor(
            name=typing.cast("str", extractor_name),  # checked by FunctionExtractor
            fn=function,
            result_type=result_type,
            window=window,
            trigger=trigger,
            promotions=tuple(promotions),
            timeout=timeout,
            predicate=should_extract,
        )

    if fn is None:
        return make
    return make(fn)
