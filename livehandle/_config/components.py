"""Converters for the components a :class:`~livehandle.LiveConfig` carries: tools and extractors.

Each takes any iterable, stores a tuple, and refuses what the session could not run, with a
``ValueError`` (or ``TypeError`` for a wrong kind of object) that names the field and the item.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from livehandle._extract.runner import ExtractionRunner
from livehandle._tools.declare import Tool
from livehandle._wire import messages as m

if TYPE_CHECKING:
    from collections.abc import Iterable

    from livehandle._extract.protocol import TurnExtractor

__all__ = ["extractors", "tools"]


def tools(value: Iterable[m.Tool | Tool]) -> tuple[m.Tool | Tool, ...]:
    tools = tuple(value)
    for index, tool in enumerate(tools):
        if not isinstance(tool, m.Tool | Tool):
            raise ValueError(
                f"tools[{index}]: expected a function decorated with @livehandle.tool or a "
                f"livehandle.Tool, got {type(tool).__name__}"
            )
    names: set[str] = set()
    for tool in tools:
        if isinstance(tool, Tool):
            declared: tuple[str, ...] = (tool.name,)
        else:
            declared = tuple(d.name for d in tool.function_declarations or ())
        for name in declared:
            if name in names:
                raise ValueError(f"tools: the function name {name!r} is declared twice")
            names.add(name)
    return tools


def extractors(value: object) -> tuple[TurnExtractor, ...]:
    """``extractors=``: turn extractors the session can run, checked as the session will run them.

    The checks are the extraction runner's own (a turn extractor each, distinct non-empty names,
    a window of at least 1, a positive timeout, valid promotions), so a config that builds is a
    config whose extractors run.
    """
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise TypeError(
            f"extractors: expected an iterable of extractors, got {type(value).__name__}"
        )
    items = tuple(cast("Iterable[TurnExtractor]", value))
    ExtractionRunner(items)  # raises TypeError/ValueError naming the extractor
    return items
