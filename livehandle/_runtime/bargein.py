"""Barge-in groups: the cancel scopes one barge-in cancels together.

The router cancels the current :class:`BargeIn` group the moment the server reports
``interrupted``; inline tool calls, hooks and blocking voice effects run inside it, so they stop
at once.  :class:`CurrentBargeIn` hands out the group new work joins and starts a fresh one per
interruption.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["BargeIn", "CurrentBargeIn"]


class BargeIn:
    """The cancel scopes a barge-in cancels together: inline tools, hooks, blocking effects.

    The router calls :meth:`cancel` the moment ``interrupted`` arrives; the control lane replaces
    the whole group with a fresh one once it has handled the interruption.  Work started in a
    cancelled group is cancelled at once.
    """

    __slots__ = ("_scopes", "cancelled")

    def __init__(self) -> None:
        self._scopes: set[trio.CancelScope] | None = None  # made when work first joins
        self.cancelled = False

    @contextmanager
    def scope(self) -> Iterator[trio.CancelScope]:
        """Run the ``with`` body as part of this group."""
        with trio.CancelScope() as scope:
            if self.cancelled:
                scope.cancel()
            if self._scopes is None:
                self._scopes = set()
            scopes = self._scopes
            scopes.add(scope)
            try:
                yield scope
            finally:
                scopes.discard(scope)

    def cancel(self) -> None:
        """Cancel everything running in the group now, and anything started in it later."""
        self.cancelled = True
        for scope in list(self._scopes or ()):
            scope.cancel()


class CurrentBargeIn:
    """The barge-in group new work joins; the control lane starts a new one per interruption.

    It is made before the parts that share it (the lanes, the voice runtime, the tool
    dispatcher), so each is given it when it is built; calling it returns the current group.
    """

    def __init__(self) -> None:
        self.group = BargeIn()

    def __call__(self) -> BargeIn:
        return self.group

    def renew(self) -> None:
        """Start a fresh group: work started from now on belongs to the next turn."""
        self.group = BargeIn()
