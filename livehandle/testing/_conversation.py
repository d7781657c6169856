"""What the emulated model remembers, shared by the engine and the responder."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from livehandle._wire import messages as m

__all__ = ["Conversation", "Stop", "stopping", "text_of"]


@attrs.define(eq=False)
class Conversation:
    """What the model remembers; shared by every connection that resumes it."""

    id: int
    instruction: str = ""
    history: list[tuple[str, str]] = attrs.field(factory=list)
    instructions: list[str] = attrs.field(factory=list)
    rule_uses: dict[int, int] = attrs.field(factory=dict)
    turns: int = 0
    handles: int = 0
    attached: bool = False

    def set_instruction(self, text: str) -> None:
        self.instruction = text
        self.instructions.append(text)


class Stop(Exception):
    """The connection is gone (closed, dropped); stop the current reply."""


def stopping() -> contextlib.suppress:
    """Where a closed connection simply ends the work at hand."""
    return contextlib.suppress(Stop)


def text_of(content: m.Content | None) -> str:
    if content is None:
        return ""
    return "".join(part.text for part in content.parts if part.text)
