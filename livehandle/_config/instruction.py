"""Changing the system instruction mid-session: which strategy a model and backend need.

The Live API offers ``contextUpdate`` only on newer models; older ones take a ``system``-role turn
(Vertex) or, on Google AI, which silently ignores ``system`` turns, a ``model``-role turn that
states the new instructions.  :func:`resolve_instruction_update` picks the strategy and
:func:`instruction_message` builds the client message for it.
"""

from __future__ import annotations

import re
from typing import Literal, TypeAlias

from livehandle._wire import messages as m

__all__ = [
    "INSTRUCTION_UPDATES",
    "InstructionUpdate",
    "ResolvedInstructionUpdate",
    "instruction_message",
    "resolve_instruction_update",
    "text_content",
]

#: How :meth:`LiveConfig.instruction_update_message` changes the instruction mid-session.
InstructionUpdate: TypeAlias = Literal["auto", "context_update", "system_turn", "model_turn"]

#: A concrete instruction-update strategy ("auto" resolved for an endpoint and model).
ResolvedInstructionUpdate: TypeAlias = Literal["context_update", "system_turn", "model_turn"]

#: Every value ``LiveConfig.instruction_update`` accepts.
INSTRUCTION_UPDATES: tuple[str, ...] = ("auto", "context_update", "system_turn", "model_turn")

# First version whose Live models accept contextUpdate (wire-protocol §2.5).
_CONTEXT_UPDATE_SINCE = (3, 8)
_GEMINI_VERSION = re.compile(r"gemini-(?:live-)?(\d+)(?:\.(\d+))?")


def resolve_instruction_update(
    wanted: InstructionUpdate, model: str, backend: str
) -> ResolvedInstructionUpdate:
    """The strategy for ``model`` on ``backend``: ``wanted`` itself unless it is ``"auto"``.

    See :meth:`~livehandle.LiveConfig.effective_instruction_update` for the rules.
    """
    if wanted != "auto":
        return wanted
    version = _gemini_version(model)
    if version is not None and version >= _CONTEXT_UPDATE_SINCE:
        return "context_update"
    if backend == "vertex":
        return "system_turn"
    return "model_turn"


def instruction_message(text: str, strategy: ResolvedInstructionUpdate) -> m.ClientMessage:
    """The client message that replaces the instruction with ``text`` by ``strategy``.

    Raises:
        ValueError: ``text`` is empty or blank.
    """
    if not text.strip():
        raise ValueError("text: the new instruction is empty")
    if strategy == "context_update":
        return m.ContextUpdate(system_instruction=text_content(text))
    if strategy == "system_turn":
        turn = text_content(text, role="system")
    else:
        turn = text_content(
            f"(New instructions for the rest of this conversation: {text})", role="model"
        )
    return m.ClientContent(turns=(turn,), turn_complete=False)


def text_content(text: str, role: str | None = None) -> m.Content:
    """One content holding ``text`` as its only part."""
    return m.Content(parts=(m.Part(text=text),), role=role)


def _gemini_version(model: str) -> tuple[int, int] | None:
    model_id = model.rsplit("/", 1)[-1]
    match = _GEMINI_VERSION.match(model_id)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2) or 0)
