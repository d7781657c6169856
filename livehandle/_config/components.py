"""Converters for the components a :class:`~livehandle.LiveConfig` carries: tools and extractors.

Each takes any iterable, stores a tuple, and refuses what the session could not run, with a
``ValueError`` (or ``TypeError`` for a wrong kind of object) that names the field and the item.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from livehandle._extract.protocol import TurnExtractor
from livehandle._tools.declare import Tool
from livehandle._wire import messages as m

if TYPE_CHECKING:
    from collections.abc import Iterable

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
    """``extractors=``: turn extractors with distinct, non-empty names."""
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise TypeError(
            f"extractors: expected an iterable of extractors, got {type(value).__name__}"
        )
    items: list[TurnExtractor] = []
    names: set[str] = set()
    for index, item in enumerate(cast("Iterable[object]", value)):
        if not isinstance(item, TurnExtractor):
            raise TypeError(
                f"extractors[{index}]: expected a function decorated with @livehandle.extractor, "
                f"a livehandle.LlmExtractor or another TurnExtractor, got {type(item).__name__}"
            )
        name: object = item.name
        if not isinstance(name, str) or not name:
            raise ValueError(f"extractors[{index}]: the name must be a non-empty string")
        if name in names:
            raise ValueError(f"extractors: two extractors are named {name!r}")
        names.add(name)
        items.append(item)
    return tuple(items)
