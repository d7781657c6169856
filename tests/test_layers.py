"""The package's layering: no import cycles, each layer imports only the layers below it.

Every ``import`` in every module counts, wherever it sits: at the top, under ``TYPE_CHECKING``, or
inside a function.  A package ``__init__`` (and a public namespace) that only re-exports does not
count as a module of its own: importing a name from it is an import of the module that defines
the name.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "livehandle"

#: The layers, bottom-up.  A module may import its own layer and the layers below it.
LAYERS: dict[str, int] = {
    "_version": 0,
    "_public": 0,
    "_json": 0,
    "_errors": 0,
    "_fields": 0,
    "_logs": 0,
    "_wire": 1,
    "_events": 2,
    "_broadcast": 2,
    "_nursery": 2,
    "_transport": 3,
    "_session": 4,
    "_continuity": 5,
    "_convert": 6,
    "_state": 7,
    "_tools": 8,
    "_extract": 9,
    "_flow": 10,
    "_config": 11,
    "_runtime": 12,
    "_persist": 13,
    "_handle": 14,
    "_assemble": 15,
    "_open": 16,
    # the public namespaces re-export from everything below them
    "__init__": 17,
    "lowlevel": 17,
    "_deprecated": 17,
    "_cli": 18,
    "__main__": 18,
    "testing": 19,
}

#: Namespaces that only re-export: ``from livehandle import X`` is an import of X's module.
REEXPORTERS = {"livehandle", "livehandle.lowlevel", "livehandle.testing"}

MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve_relative(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not _is_package(module):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _raw_imports(module: str) -> list[tuple[str, str | None]]:
    """(module imported from, name imported or None) for every import statement."""
    tree = ast.parse(MODULES[module].read_text(), str(MODULES[module]))
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve_relative(module, node)
            found.extend((source, alias.name) for alias in node.names)
    return [(source, name) for source, name in found if source.split(".")[0] == "livehandle"]


def _defining_module(source: str, name: str | None, seen: frozenset[str] = frozenset()) -> str:
    """The module an import really depends on (following re-exporting packages)."""
    if name is not None and f"{source}.{name}" in MODULES:
        return f"{source}.{name}"
    if name is None or source not in MODULES or source in seen:
        return source
    if not (_is_package(source) or source in REEXPORTERS):
        return source
    for origin, imported in _raw_imports(source):
        if imported == name:
            return _defining_module(origin, imported, seen | {source})
    return source


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        edges = {_defining_module(source, name) for source, name in _raw_imports(module)}
        graph[module] = {edge for edge in edges if edge in MODULES and edge != module}
    return graph


def _reexports_only(module: str) -> bool:
    return _is_package(module) or module in REEXPORTERS


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _layer(module: str) -> int:
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else "__init__"
    return LAYERS[key]


def test_every_module_has_a_layer() -> None:
    unknown = sorted(m for m in MODULES if ([*m.split("."), "__init__"])[1] not in LAYERS)
    assert unknown == []


def test_no_import_cycles() -> None:
    graph = _graph()
    # Edges into re-exporting packages were already followed to the defining module, so a
    # package __init__ appears in a cycle only if it does more than re-export.
    assert _cycles(graph) == []


def test_each_module_imports_only_its_layer_and_below() -> None:
    upward = sorted(
        f"{module} -> {edge}"
        for module, edges in _graph().items()
        for edge in edges
        if _layer(edge) > _layer(module) and not _allowed_upward(module, edge)
    )
    assert upward == []


def _allowed_upward(module: str, edge: str) -> bool:
    # The CLI's emulator, demo and talk commands run the shipped emulator.
    return module.startswith("livehandle._cli") and edge.startswith("livehandle.testing")


def test_config_describes_and_imports_no_runtime() -> None:
    graph = _graph()
    offending = sorted(
        f"{module} -> {edge}"
        for module, edges in graph.items()
        if module.startswith("livehandle._config")
        for edge in edges
        if edge.startswith(("livehandle._runtime", "livehandle._session", "livehandle._handle"))
    )
    assert offending == []


def test_nothing_outside_testing_imports_it_except_the_cli() -> None:
    offending = sorted(
        f"{module} -> {edge}"
        for module, edges in _graph().items()
        if not module.startswith(("livehandle.testing", "livehandle._cli"))
        for edge in edges
        if edge.startswith("livehandle.testing")
    )
    assert offending == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_longer_than_the_limit(module: str) -> None:
    lines = MODULES[module].read_text().count("\n")
    assert lines <= MAX_LINES, f"{module}: {lines} lines"


def test_the_checker_sees_a_cycle_and_a_type_checking_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    # the live graph includes TYPE_CHECKING-only imports: _handle names Session only there
    assert "livehandle._session.port" in _graph()["livehandle._handle"]
    assert importlib.util.find_spec("livehandle._handle") is not None
    assert not _reexports_only("livehandle._handle")
