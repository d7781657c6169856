"""Deprecated: the wire messages and codec moved to :mod:`livehandle.lowlevel`.

``from livehandle.wire import Content`` keeps working for one release, with a
``DeprecationWarning``; import from ``livehandle.lowlevel`` (or, for ``FunctionCall`` and
``FunctionResponse``, from ``livehandle``) instead.
"""

from __future__ import annotations

import warnings
from typing import Any

__all__: list[str] = []


def __getattr__(name: str) -> Any:
    import livehandle
    from livehandle import lowlevel
    from livehandle._wire import messages

    if name == "messages":
        target: Any = messages
        where = "livehandle.lowlevel"
    elif name in lowlevel.__all__:
        target, where = getattr(lowlevel, name), f"livehandle.lowlevel.{name}"
    elif name in ("FunctionCall", "FunctionResponse"):
        target, where = getattr(livehandle, name), f"livehandle.{name}"
    else:
        raise AttributeError(f"module 'livehandle.wire' has no attribute {name!r}")
    warnings.warn(
        f"livehandle.wire.{name} moved to {where}; livehandle.wire goes away in the next release",
        DeprecationWarning,
        stacklevel=2,
    )
    return target
