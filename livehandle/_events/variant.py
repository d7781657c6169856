"""How event variants attach to their namespace class (``SessionEvent.Audio``, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["variant"]

_C = TypeVar("_C", bound=type)


def variant(namespace: type, name: str) -> Callable[[_C], _C]:
    """Attach ``cls`` to ``namespace`` as ``namespace.name`` and make its repr say so."""

    def attach(cls: _C) -> _C:
        cls.__name__ = name
        cls.__qualname__ = f"{namespace.__name__}.{name}"
        setattr(namespace, name, cls)
        return cls

    return attach
