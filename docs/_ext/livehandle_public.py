"""Document livehandle's public namespaces, whose names are defined in private modules.

Every public name is defined in a private module (``livehandle._config.live``...) and re-exported
by one public namespace (``livehandle``, ``livehandle.lowlevel``, ``livehandle.testing``), which
also sets its ``__module__`` to the namespace.  The reference documents each name under its
namespace only, which leaves Sphinx two things it cannot find on its own:

* where a name is *defined*: its string annotations and docstring references name what that
  module imports (``m.Setup``, ``Conversation``), not what the namespace holds.
  :func:`defining_module` answers from the source of every livehandle module;
* the ``#:`` comment that documents a constant or a type alias, which sits next to its
  definition, not next to the re-export.  It is copied into the entry of the public name.

The build also fails when a public name, or an event variant, is documented nowhere.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from typing import TYPE_CHECKING, Any

from sphinx.errors import PycodeError
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

logger = logging.getLogger(__name__)

#: The public namespaces, each with its own ``__all__``.
NAMESPACES = ("livehandle", "livehandle.lowlevel", "livehandle.testing", "livehandle.testing.audio")

#: Public names not documented on purpose.
UNDOCUMENTED = frozenset({"livehandle.__version__"})

_definitions: dict[int, str] = {}


def _modules() -> list[str]:
    import livehandle

    found = pkgutil.walk_packages(livehandle.__path__, "livehandle.")
    # livehandle.__main__ is left out: importing it would run the command line.
    return ["livehandle", *(info.name for info in found if not info.name.endswith("__main__"))]


def _source_tree(module: Any) -> ast.Module:
    try:
        return ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return ast.Module(body=[], type_ignores=[])


def _claim_class(cls: type, module_name: str) -> None:
    _definitions[id(cls)] = module_name
    for member in vars(cls).values():
        if isinstance(member, type) and member.__qualname__.startswith(cls.__qualname__ + "."):
            _claim_class(member, module_name)


def _build_definitions() -> None:
    for module_name in _modules():
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # e.g. the pytest plugin, without pytest installed
            continue
        for node in _source_tree(module).body:
            if not isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            obj = vars(module).get(node.name)
            if isinstance(obj, type):
                _claim_class(obj, module_name)
            elif obj is not None:
                _definitions[id(obj)] = module_name


def defining_module(obj: Any) -> str | None:
    """The module whose source defines ``obj`` (a livehandle class or function), else None."""
    if not _definitions:
        _build_definitions()
    return _definitions.get(id(obj))


def _import_origin(module_name: str, name: str) -> tuple[str, str] | None:
    """Where ``from module_name import name`` comes from, if that module imports it."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    for node in _source_tree(module).body:
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return node.module, alias.name
    return None


def _comment_docs(module_name: str) -> dict[tuple[str, str], list[str]]:
    try:
        return ModuleAnalyzer.for_module(module_name).find_attr_docs()
    except PycodeError:  # a module without source: no comments to copy
        return {}


def _copy_definition_comment(
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    """Give a re-exported constant or alias the ``#:`` comment written at its definition."""
    if what != "data" or "." not in name:
        return
    module_name, attr = name.rsplit(".", 1)
    if ("", attr) in _comment_docs(module_name):
        return  # documented where it is re-exported: autodoc found that already
    origin = _import_origin(module_name, attr)
    seen = set()
    while origin is not None and origin not in seen:
        seen.add(origin)
        comment = _comment_docs(origin[0]).get(("", origin[1]))
        if comment:
            lines[:] = [*comment, ""] if comment[-1] else list(comment)
            return
        origin = _import_origin(*origin)


def _check_public_names(app: Sphinx, env: BuildEnvironment) -> None:
    """Fail the build when a public name, or an event variant, is documented nowhere.

    Every name in the ``__all__`` of each public namespace must have an entry under that
    namespace, and so must every ``LiveEvent`` and ``SessionEvent`` variant, whose reference
    entries are listed by hand.
    """
    import livehandle

    objects = env.domains["py"].objects
    wanted: list[str] = []
    for namespace in NAMESPACES:
        module = importlib.import_module(namespace)
        wanted.extend(f"{namespace}.{name}" for name in module.__all__)
    for events in (livehandle.LiveEvent, livehandle.SessionEvent):
        for attr, value in vars(events).items():
            if isinstance(value, type) and issubclass(value, events):
                wanted.append(f"livehandle.{events.__name__}.{attr}")
    for name in sorted(set(wanted) - UNDOCUMENTED):
        if name not in objects:
            logger.warning("%s is public but documented nowhere; add it to docs/reference", name)


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the event handlers (before conf.py's docstring handlers, which run at 300)."""
    app.connect("autodoc-process-docstring", _copy_definition_comment, priority=250)
    app.connect("env-check-consistency", _check_public_names)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
