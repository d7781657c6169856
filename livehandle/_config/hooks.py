"""The call signatures of the tool hooks a :class:`~livehandle.LiveConfig` carries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeAlias

from livehandle._state import State
from livehandle._wire import messages as m

__all__ = ["BeforeToolResponse", "OnToolCall"]

# Built from objects, not strings, so that they resolve wherever they are used: a class annotated
# with them can be inspected with typing.get_type_hints from its public namespace.

#: ``on_tool_call(calls, state)``: return the answers (sync or async) to take over the message,
#: or None to let the dispatcher run the tools.
OnToolCall: TypeAlias = Callable[
    [tuple[m.FunctionCall, ...], State],
    Sequence[m.FunctionResponse] | Awaitable[Sequence[m.FunctionResponse] | None] | None,
]
#: ``before_tool_response(responses, state)``: return the answers to send instead (sync or async).
BeforeToolResponse: TypeAlias = Callable[
    [list[m.FunctionResponse], State],
    Sequence[m.FunctionResponse] | Awaitable[Sequence[m.FunctionResponse]],
]
