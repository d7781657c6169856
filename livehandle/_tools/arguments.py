"""The model's JSON arguments for a tool, structured into the function's keyword arguments.

Each argument goes through the shared converter (``livehandle._convert``), so its rules are
those of :class:`~livehandle.State` reads.  What is specific to tools is the frame: the arguments
come as one JSON object, every problem with every argument is collected, and they are reported
together as one :exc:`~livehandle.ToolArgumentError` whose message is sent back to the model.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from livehandle._convert import StructureError, structure
from livehandle._errors import ToolArgumentError
from livehandle._json import json_kind

if TYPE_CHECKING:
    from livehandle._tools.schema import Parameter

__all__ = ["structure_arguments"]

_EMPTY: Any = inspect.Parameter.empty


def structure_arguments(
    tool: str, parameters: tuple[Parameter, ...], args: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The keyword arguments for calling tool ``tool``, whose parameters are ``parameters``.

    Every parameter is in the result: those the model sent, structured into their annotated
    types, and the missing optional ones with their defaults.  A parameter without an annotation
    (possible only in a hand-built tool) takes the JSON value as it is.  ``None`` means no
    arguments.

    Raises:
        ToolArgumentError: ``args`` is not an object, or arguments are missing, unknown or do
            not fit their types; one ``"argument '<path>': <reason>"`` line per problem.
    """
    if args is None:
        args = {}
    if not isinstance(args, Mapping):
        raise ToolArgumentError(
            tool, [f"expected an object of named arguments, got {json_kind(args)}"], wrong_type=True
        )
    kwargs: dict[str, Any] = {}
    problems: list[str] = []
    wrong_type = False
    for param in parameters:
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
            kwargs[param.name] = structure(value, param.annotation)
        except StructureError as exc:
            wrong_type = wrong_type or exc.wrong_type
            problems.extend(
                f"argument '{param.name}{problem.path}': {problem.message}"
                for problem in exc.problems
            )
    known = [param.name for param in parameters]
    expected = ", ".join(known) or "no arguments"
    problems.extend(
        f"argument {name!r}: unexpected argument (expected: {expected})"
        for name in args
        if name not in known
    )
    if problems:
        raise ToolArgumentError(tool, problems, wrong_type=wrong_type)
    return kwargs
