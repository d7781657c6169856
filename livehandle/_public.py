"""How the public surface is shaped: the namespaces' names, and classes only livehandle makes.

The implementation lives in private modules (``livehandle._session``, ``livehandle._runtime.vad``
...).  A public namespace (``livehandle``, ``livehandle.lowlevel``, ``livehandle.testing``) calls
:func:`publish` on its own globals once it has imported them, so that every class and function it
lists in ``__all__`` reports that namespace as its ``__module__``: reprs, tracebacks, pickles and
the API reference then show ``livehandle.Tool``, not the private layout.

A class whose instances only livehandle may make (a live session's handle, a broadcast's
subscription) uses the :class:`NoPublicConstructor` metaclass: calling the class raises
``TypeError`` naming the function to use instead, and the library builds instances with
``_create``.
"""

from __future__ import annotations

import abc
import contextlib
import inspect
import sys
import types
from typing import Any, NoReturn, TypeVar, cast

import attrs

__all__ = ["NoPublicConstructor", "publish"]

_T = TypeVar("_T")

_PRIVATE_PREFIX = "livehandle."


def publish(namespace: str, names: dict[str, Any]) -> None:
    """Make every class and function in ``names["__all__"]`` report ``namespace`` as its module.

    Only objects defined inside livehandle are touched (a re-exported third-party class keeps its
    own module), and nested classes follow their outer class (``LiveEvent.Audio`` becomes
    ``livehandle.LiveEvent.Audio``).

    A class's string annotations are resolved first, while its defining module is still the one
    named in ``__module__``: :func:`typing.get_type_hints`, ``attrs.resolve_types`` and cattrs look
    names up in ``sys.modules[cls.__module__]``, which after the rewrite is the namespace.  An
    annotation that names something imported only for type checkers stays a string.
    """
    for name in names["__all__"]:
        _claim(names[name], namespace, set())


def _claim(obj: object, namespace: str, seen: set[int]) -> None:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    module = getattr(obj, "__module__", None)
    if not isinstance(module, str) or not module.startswith(_PRIVATE_PREFIX):
        return
    if isinstance(obj, type):
        _resolve_annotations(obj, module)
        obj.__module__ = namespace
        qualname = obj.__qualname__
        for member in vars(obj).values():
            if isinstance(member, type) and member.__qualname__.startswith(qualname + "."):
                _claim(member, namespace, seen)
    elif isinstance(obj, types.FunctionType):
        obj.__module__ = namespace


def _resolve_annotations(cls: type, module: str) -> None:
    """Replace ``cls``'s own string annotations by the objects they name in ``module``."""
    own = inspect.get_annotations(cls)
    if not any(isinstance(v, str) for v in own.values()):
        return
    globalns = dict(vars(sys.modules[module]))
    localns = dict(vars(cls))
    resolved: dict[str, object] = {}
    for name, annotation in own.items():
        resolved[name] = annotation
        if isinstance(annotation, str):
            # For type checkers only (a TYPE_CHECKING import): left as the string it is.
            with contextlib.suppress(NameError, AttributeError, TypeError, SyntaxError):
                resolved[name] = eval(annotation, globalns, localns)
    cls.__annotations__ = resolved
    if attrs.has(cls):
        with contextlib.suppress(NameError):
            attrs.resolve_types(cls)


class NoPublicConstructor(abc.ABCMeta):
    """The metaclass of a class that has no public constructor.

    Calling the class raises ``TypeError``; the message names what to call instead, taken from
    the class's ``_get_one_from`` attribute (e.g. ``"livehandle.open_live_session()"``).  The
    library makes instances with ``TheClass._create(...)``, which runs the usual ``__new__`` and
    ``__init__``.  It derives from :class:`abc.ABCMeta` so that abstract bases (such as
    :class:`trio.abc.ReceiveChannel`) can be subclassed; mark such classes ``typing.final`` too.
    """

    def __call__(cls, *args: object, **kwargs: object) -> NoReturn:
        source = getattr(cls, "_get_one_from", None)
        hint = f"; use {source} to get one" if isinstance(source, str) else ""
        raise TypeError(f"{cls.__qualname__} has no public constructor{hint}")

    def _create(cls: type[_T], *args: Any, **kwargs: Any) -> _T:
        """Make an instance (for livehandle itself): ``__new__`` then ``__init__``, as usual."""
        return cast("_T", type.__call__(cls, *args, **kwargs))
