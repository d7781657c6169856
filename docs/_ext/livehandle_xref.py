"""Resolve the cross-references Sphinx cannot resolve on its own, by importing what they name.

livehandle defines its public names in private modules, re-exports them from three public
namespaces, and writes its annotations as strings (``from __future__ import annotations``), often
with names imported only under ``TYPE_CHECKING`` (``m.FunctionResponse``, ``Endpoint``).  Sphinx
sees those strings as plain text and, in nitpicky mode, warns that it cannot find them.  This
extension looks each missing reference up the way Python would:

* every reference inside an object's documentation remembers the module that *defines* the
  object (found by :func:`livehandle_public.defining_module`, since ``__module__`` names the
  public namespace), set when the page is read;
* the target is evaluated in that module's namespace, including the imports of its
  ``if TYPE_CHECKING:`` blocks, then in the current module's, then as an absolute dotted path;
* a livehandle object found that way links to wherever it is documented, under any of its names;
* an object from outside livehandle (Trio, the standard library, builtins, type variables) or
  one that no public namespace exports becomes plain text, since the build links to nothing
  outside this site and documents no private module;
* a reference to a deprecated alias module (``livehandle.wire``) links to the namespace that
  replaced it;
* a name that resolves to nothing, or to a public livehandle object documented nowhere, still
  warns.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import inspect
import sys
import types
import typing
from typing import TYPE_CHECKING, Any

from livehandle_public import NAMESPACES, defining_module
from sphinx import addnodes

if TYPE_CHECKING:
    from docutils import nodes
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

SOURCE = "livehandle-source-module"
_MISSING = object()


def import_path(path: str) -> Any:
    """The object a dotted path names (a module, then attributes), or ``_MISSING``."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        module_name = ".".join(parts[:split])
        try:
            obj: Any = importlib.import_module(module_name)
        except (ImportError, ValueError):  # ValueError: an empty name, from a target like "[x]"
            continue
        for attr in parts[split:]:
            obj = getattr(obj, attr, _MISSING)
            if obj is _MISSING:
                return _MISSING
        return obj
    return _MISSING


_namespaces: dict[str, dict[str, Any]] = {}


def _namespace(module_name: str) -> dict[str, Any]:
    """The module's globals plus what its ``if TYPE_CHECKING:`` blocks import."""
    if module_name in _namespaces:
        return _namespaces[module_name]
    namespace = dict(vars(builtins))
    try:
        module = sys.modules.get(module_name) or importlib.import_module(module_name)
    except ImportError:  # e.g. the pytest plugin, without pytest installed
        _namespaces[module_name] = namespace
        return namespace
    namespace.update(vars(module))
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        tree = ast.Module(body=[], type_ignores=[])
    for block in ast.walk(tree):
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test):
            for statement in block.body:
                if isinstance(statement, ast.Import | ast.ImportFrom):
                    code = compile(ast.Module(body=[statement], type_ignores=[]), "<tc>", "exec")
                    # A typing-only dependency may not be installed: skip it.
                    with contextlib.suppress(ImportError):
                        exec(code, namespace)  # an import statement, nothing else
    _namespaces[module_name] = namespace
    return namespace


def _lookup(namespace: dict[str, Any], target: str) -> Any:
    first, *rest = target.split(".")
    obj = namespace.get(first, _MISSING)
    for attr in rest:
        if obj is _MISSING:
            break
        obj = getattr(obj, attr, _MISSING)
    return obj


def _unwrap(obj: Any) -> Any:
    """The object that stands for ``obj`` whichever way it was reached."""
    if isinstance(obj, classmethod | staticmethod):
        return obj.__func__
    if inspect.ismethod(obj):
        return obj.__func__
    return obj


#: Deprecated modules that only forward to a public namespace, and that namespace.
DEPRECATED_ALIASES = {"livehandle.wire": "livehandle.lowlevel"}


def _reported_module(obj: Any) -> str | None:
    """The module ``obj`` says it belongs to: for a public name, its namespace."""
    module = getattr(obj, "__module__", None)
    return module if isinstance(module, str) else None


def _source_module(obj: Any) -> str | None:
    """The module whose names ``obj``'s annotations and docstring use."""
    return defining_module(obj) or _reported_module(obj)


_documented_cache: dict[int, str] = {}


def _forget_documented(app: Sphinx, env: BuildEnvironment) -> None:
    """Every page has been read: the next lookup rebuilds the map from the complete inventory."""
    _documented_cache.clear()


def _documented(env: BuildEnvironment) -> dict[int, str]:
    """id(object) -> the name it is documented under (the shortest, when there are several)."""
    cache = _documented_cache
    if cache:
        return cache
    domain = env.domains["py"]
    for name, entry in sorted(domain.objects.items(), key=lambda item: len(item[0])):
        if entry.objtype == "module":
            continue
        obj = _unwrap(import_path(name))
        if obj is _MISSING or isinstance(obj, str | int | float | bool | bytes | type(None)):
            continue
        cache.setdefault(id(obj), name)
    return cache


def _mark_sources(app: Sphinx, doctree: nodes.document) -> None:
    """Record, on every reference inside an object's entry, the module the object lives in."""
    for desc in doctree.findall(addnodes.desc):
        if desc.get("domain") != "py":
            continue
        signature = next(iter(desc.findall(addnodes.desc_signature)), None)
        if signature is None or not signature.get("fullname"):
            continue
        path = f"{signature.get('module')}.{signature['fullname']}"
        obj = import_path(path)
        source = _source_module(obj)
        while source is None and "." in path:  # an attribute: use its class's module
            path = path.rsplit(".", 1)[0]
            source = _source_module(import_path(path))
        if source is None:
            continue
        for xref in desc.findall(addnodes.pending_xref):
            xref[SOURCE] = source  # nested entries come later and overwrite


def _resolve(
    app: Sphinx, env: BuildEnvironment, node: addnodes.pending_xref, contnode: nodes.Element
) -> nodes.Element | None:
    if node.get("refdomain") != "py":
        return None
    # "Callable[[]" and the like: what is left of a subscripted annotation Sphinx could not
    # parse; the name before the bracket says what it is.
    target = node["reftarget"].lstrip(".~").split("[", 1)[0]
    target = DEPRECATED_ALIASES.get(target, target)
    context = [node.get(SOURCE), node.get("py:module")]
    cls = node.get("py:class")
    candidates = [_lookup(_namespace(name), target) for name in context if name]
    if cls and node.get("py:module"):
        candidates.append(import_path(f"{node['py:module']}.{cls}.{target}"))
    candidates.append(import_path(target))
    # A bare public name a docstring uses without importing it (a config module may not import
    # the runtime it describes): the public namespaces, in order.
    candidates.extend(_lookup(vars(import_path(name)), target) for name in NAMESPACES)
    obj = next((c for c in candidates if c is not _MISSING), _MISSING)
    if obj is _MISSING:
        return None
    obj = _unwrap(obj)
    domain = env.domains["py"]
    if isinstance(obj, types.ModuleType) and obj.__name__ in domain.modules:
        return domain.resolve_xref(
            env, node["refdoc"], app.builder, "mod", obj.__name__, node.deepcopy(), contnode
        )
    name = _documented(env).get(id(obj))
    if name is None:
        module = obj.__name__ if isinstance(obj, types.ModuleType) else _reported_module(obj) or ""
        parts = module.split(".")
        public = parts[0] == "livehandle" and not any(part.startswith("_") for part in parts)
        if public and not isinstance(obj, typing.TypeVar):
            return None  # a public livehandle object documented nowhere: keep the warning
        return contnode  # outside this site, private, or a type variable: plain text
    plain = node.deepcopy()
    plain["refspecific"] = False
    return domain.resolve_xref(env, node["refdoc"], app.builder, "obj", name, plain, contnode)


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the event handlers."""
    app.connect("doctree-read", _mark_sources)
    app.connect("env-updated", _forget_documented)
    app.connect("missing-reference", _resolve)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
