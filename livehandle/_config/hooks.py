"""The call signatures of the tool hooks a :class:`~livehandle.LiveConfig` carries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

from livehandle._wire import messages as m

if TYPE_CHECKING:
    from livehandle._state import State

__all__ = ["BeforeToolResponse", "OnToolCall"]

#: ``on_tool_call(calls, state)``: return the answers (sync or async) to take over the message,
#: or None to let the dispatcher run the tools.
OnToolCall: TypeAlias = Callable[
    [tuple[m.FunctionCall, ...], "State"],
    "Sequence[m.FunctionResponse] | Awaitable[Sequence[m.FunctionResponse] | None] | None",
]
#: ``before_tool_response(responses, state)``: return the answers to send instead (sync or async).
BeforeToolResponse: TypeAlias = Callable[
    [list[m.FunctionResponse], "State"],
    "Sequence[m.FunctionResponse] | Awaitable[Sequence[m.FunctionResponse]]",
]
