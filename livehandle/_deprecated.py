"""The module paths of the previous release, kept importable for one more release.

Before the public namespaces, user code imported from the implementation modules
(``livehandle.wire.messages``, ``livehandle.transport``, ``livehandle.config``...).  Those paths
are now served by :class:`OldPathFinder`, an import hook that makes each old module on demand: an
attribute read on it finds the name where it lives now and warns with ``DeprecationWarning``,
naming the public path to use instead (or saying the name is private now).  Nothing here is
imported by the rest of the package; the hook only looks names up when user code asks.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["OLD_MODULES", "OldPathFinder", "install"]

#: Each old module path, and the private modules its names now live in.
OLD_MODULES: dict[str, tuple[str, ...]] = {
    "livehandle.wire": ("livehandle._wire.messages", "livehandle._wire.codec"),
    "livehandle.wire.messages": ("livehandle._wire.messages",),
    "livehandle.wire.codec": ("livehandle._wire.codec",),
    "livehandle.transport": ("livehandle._transport",),
    "livehandle.transport.base": ("livehandle._transport.base",),
    "livehandle.transport.endpoints": ("livehandle._transport.endpoints",),
    "livehandle.transport.memory": ("livehandle._transport.memory",),
    "livehandle.transport.websocket": ("livehandle._transport.websocket",),
    "livehandle.session": ("livehandle._session",),
    "livehandle.broadcast": ("livehandle._broadcast",),
    "livehandle.errors": ("livehandle._errors",),
    "livehandle.events": ("livehandle._events",),
    "livehandle.config": (
        "livehandle._config.live",
        "livehandle._config.delivery",
        "livehandle._config.instruction",
    ),
    "livehandle.handle": ("livehandle._handle",),
    "livehandle.open": ("livehandle._open",),
    "livehandle.runtime": (),
    "livehandle.runtime.context": ("livehandle._runtime.context", "livehandle._config.delivery"),
    "livehandle.runtime.dispatch": ("livehandle._runtime.dispatch", "livehandle._config.hooks"),
    "livehandle.runtime.lanes": ("livehandle._runtime.lanes",),
    "livehandle.runtime.reactor": ("livehandle._runtime.reactor",),
    "livehandle.runtime.schema": ("livehandle._tools.schema",),
    "livehandle.runtime.state": ("livehandle._state",),
    "livehandle.runtime.telemetry": ("livehandle._runtime.telemetry",),
    "livehandle.runtime.tools": (
        "livehandle._tools.declare",
        "livehandle._tools.results",
        "livehandle._errors",
    ),
    "livehandle.runtime.transcript": ("livehandle._runtime.transcript",),
    "livehandle.runtime.vad": (
        "livehandle._runtime.vad",
        "livehandle._runtime.turn_commit",
        "livehandle._config.voice",
    ),
    "livehandle.runtime.voice": ("livehandle._runtime.voice",),
    "livehandle.runtime.writer": ("livehandle._runtime.writer",),
    "livehandle.testing.emulator": ("livehandle.testing._emulator",),
    "livehandle.testing.scenario": ("livehandle.testing._scenario",),
    "livehandle.testing.vad": ("livehandle.testing._vad",),
}

#: The public namespaces, searched in this order for a name's new home.
_NAMESPACES = (
    "livehandle",
    "livehandle.lowlevel",
    "livehandle.testing",
    "livehandle.testing.audio",
)


_MISSING = object()


def _new_home(name: str, old: str) -> str | None:
    """The namespace exporting ``name``; the one exporting the old module's own object first.

    Two namespaces may export different objects under one name (``livehandle.Step``, a flow's
    step, and ``livehandle.testing.Step``, a scenario's): the old path names the latter.
    """
    original = _MISSING
    for source in OLD_MODULES[old]:
        original = getattr(importlib.import_module(source), name, _MISSING)
        if original is not _MISSING:
            break
    homes = [
        namespace
        for namespace in _NAMESPACES
        if name in getattr(importlib.import_module(namespace), "__all__", ())
    ]
    for namespace in homes:
        if getattr(importlib.import_module(namespace), name) is original:
            return namespace
    return homes[0] if homes else None


class _OldModule(types.ModuleType):
    """An old module path: every attribute read finds the name's new home, with a warning."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        old = self.__name__
        if f"{old}.{name}" in OLD_MODULES:  # a submodule, itself an old path
            return importlib.import_module(f"{old}.{name}")
        home = _new_home(name, old)
        if home is not None:
            _warn(f"{old}.{name} moved to {home}.{name}")
            return getattr(importlib.import_module(home), name)
        for source in OLD_MODULES[old]:
            module = importlib.import_module(source)
            if hasattr(module, name):
                _warn(f"{old}.{name} is private now")
                return getattr(module, name)
        raise AttributeError(f"module {old!r} has no attribute {name!r}")


def _warn(what: str) -> None:
    warnings.warn(
        f"{what}; the old module path goes away in the next release",
        DeprecationWarning,
        stacklevel=3,
    )


class OldPathFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds and makes the modules named in :data:`OLD_MODULES` (and nothing else)."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """A spec for an old module path; None for every other name."""
        if fullname not in OLD_MODULES:
            return None
        is_package = any(other.startswith(fullname + ".") for other in OLD_MODULES)
        return importlib.machinery.ModuleSpec(fullname, self, is_package=is_package)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        """An empty old module whose attributes are looked up on demand."""
        module = _OldModule(spec.name, f"Deprecated: the names of {spec.name} moved.")
        module.__all__ = []  # type: ignore[attr-defined]
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the module answers attribute reads as they come."""


def install() -> None:
    """Put the finder on ``sys.meta_path`` once, after the regular finders."""
    if not any(isinstance(finder, OldPathFinder) for finder in sys.meta_path):
        sys.meta_path.append(OldPathFinder())
