"""The API reference documents exactly the public namespaces, each name once, nothing private.

The pages in ``docs/reference`` are read as text (no Sphinx needed): every autodoc directive
names an object, relative to the page's current module (set by ``currentmodule``, ``automodule``
or ``py:module``).  For each public namespace the names documented under it must be its
``__all__``; an entry nested in a documented class (``LiveEvent.Audio``) is part of that class.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference"

#: The public namespaces, longest first so that a path finds its innermost namespace.
NAMESPACES = ("livehandle.testing.audio", "livehandle.testing", "livehandle.lowlevel", "livehandle")

#: The three namespaces that are not a name in another one (``livehandle.testing.audio`` is
#: ``audio`` in ``livehandle.testing``).
ROOTS = {"livehandle", "livehandle.lowlevel", "livehandle.testing"}

#: Exported but not documented on purpose.
NOT_DOCUMENTED = {"livehandle": {"__version__"}}

#: The directives that document an object, and those that only set the current module.
OBJECT_DIRECTIVES = {"autoclass", "autofunction", "autodata", "autoexception", "automodule"}
MODULE_DIRECTIVES = {"currentmodule", "py:currentmodule", "automodule", "py:module", "module"}

_DIRECTIVE = re.compile(r"^\s*\.\.\s+([\w:]+)::\s*(\S+)\s*$")
_OPTION = re.compile(r"^\s+:([\w-]+):(.*)$")


def parse_reference(text: str) -> list[tuple[str, str, dict[str, str]]]:
    """(directive, absolute dotted path, options) for each directive of one page.

    A name without a ``livehandle`` prefix is relative to the current module, as autodoc reads it.
    """
    found: list[tuple[str, str, dict[str, str]]] = []
    current = ""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = _DIRECTIVE.match(line)
        if match is None:
            continue
        directive, target = match.groups()
        if directive not in OBJECT_DIRECTIVES | MODULE_DIRECTIVES:
            continue
        options: dict[str, str] = {}
        for following in lines[index + 1 :]:
            option = _OPTION.match(following)
            if option is None:
                break
            options[option.group(1)] = option.group(2).strip()
        if directive in MODULE_DIRECTIVES:
            path = target
            current = target
        elif target.split(".")[0] == "livehandle" or not current:
            path = target
        else:
            path = f"{current}.{target}"
        found.append((directive, path, options))
    return found


def _is_module(path: str) -> bool:
    try:
        return importlib.util.find_spec(path) is not None
    except ImportError:  # the parent is a plain module, not a package
        return False


def _split(path: str) -> tuple[str, str] | None:
    """(namespace, the rest) for a path inside a public namespace; None for anything else.

    A path through another module (``livehandle._session.Session``, ``livehandle.wire.X``) is
    not inside the namespace it starts with.
    """
    for namespace in NAMESPACES:
        if path.startswith(namespace + "."):
            rest = path[len(namespace) + 1 :]
            first = f"{namespace}.{rest.split('.')[0]}"
            if first not in NAMESPACES and _is_module(first):
                return None
            return namespace, rest
    return None


def documented_names(
    entries: list[tuple[str, str, dict[str, str]]],
) -> tuple[dict[str, list[str]], list[str]]:
    """The names documented under each namespace (repeats kept), and every other object path.

    ``automodule`` of a namespace documents its ``__all__`` (or the names given to ``:members:``)
    unless told ``:no-members:``; of a public submodule (``livehandle.testing.audio``), it also
    documents that module as a name of its parent namespace.
    """
    names: dict[str, list[str]] = {namespace: [] for namespace in NAMESPACES}
    elsewhere: list[str] = []
    for directive, path, options in entries:
        if directive not in OBJECT_DIRECTIVES:
            continue
        if directive == "automodule" and path in NAMESPACES and "no-members" not in options:
            listed = [name.strip() for name in options.get("members", "").split(",")]
            if any(listed):
                names[path].extend(name for name in listed if name)
            else:
                names[path].extend(importlib.import_module(path).__all__)
        if directive == "automodule" and path in ROOTS:
            continue  # a namespace's introduction, not a name of another namespace
        where = _split(path)
        if where is None:
            elsewhere.append(path)
            continue
        namespace, rest = where
        names[namespace].append(rest)
    return names, elsewhere


def _private(path: str) -> bool:
    return any(part.startswith("_") and not part.endswith("__") for part in path.split("."))


def _entries() -> list[tuple[str, str, dict[str, str]]]:
    entries: list[tuple[str, str, dict[str, str]]] = []
    for page in sorted(REFERENCE.glob("*.rst")):
        entries.extend(parse_reference(page.read_text()))
    return entries


def _mismatch(namespace: str, documented: list[str]) -> str:
    exported = set(importlib.import_module(namespace).__all__)
    exported -= NOT_DOCUMENTED.get(namespace, set())
    top = [name for name in documented if "." not in name]
    nested_outer = {name.split(".")[0] for name in documented if "." in name}
    missing = sorted(exported - set(top))
    extra = sorted((set(top) | nested_outer) - exported)
    twice = sorted({name for name in top if top.count(name) > 1})
    problems = []
    if missing:
        problems.append(f"exported by {namespace} but missing from docs/reference: {missing}")
    if extra:
        problems.append(f"documented under {namespace} but not in its __all__: {extra}")
    if twice:
        problems.append(f"documented more than once under {namespace}: {twice}")
    return "; ".join(problems)


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_reference_documents_exactly_the_namespace(namespace: str) -> None:
    names, _ = documented_names(_entries())
    assert _mismatch(namespace, names[namespace]) == ""


def test_reference_documents_nothing_private_or_outside_the_namespaces() -> None:
    entries = _entries()
    private = sorted({path for _, path, _ in entries if _private(path)})
    assert private == [], f"private paths in docs/reference: {private}"
    _, elsewhere = documented_names(entries)
    assert elsewhere == [], f"documented outside the public namespaces: {elsewhere}"


def test_nested_entries_belong_to_a_documented_class() -> None:
    names, _ = documented_names(_entries())
    orphans = sorted(
        f"{namespace}.{name}"
        for namespace, documented in names.items()
        for name in documented
        if "." in name and name.split(".")[0] not in documented
    )
    assert orphans == []


# The checker itself, on small pages: it must see what it is meant to catch.


def test_relative_names_follow_the_current_module() -> None:
    page = """
.. currentmodule:: livehandle.lowlevel

.. autoclass:: Session
   :show-inheritance:

.. autoclass:: livehandle.LiveEvent.Audio

.. automodule:: livehandle.testing.audio
   :no-members:

.. autofunction:: silence
"""
    assert parse_reference(page) == [
        ("currentmodule", "livehandle.lowlevel", {}),
        ("autoclass", "livehandle.lowlevel.Session", {"show-inheritance": ""}),
        ("autoclass", "livehandle.LiveEvent.Audio", {}),
        ("automodule", "livehandle.testing.audio", {"no-members": ""}),
        ("autofunction", "livehandle.testing.audio.silence", {}),
    ]
    names, elsewhere = documented_names(parse_reference(page))
    assert names["livehandle.lowlevel"] == ["Session"]
    assert names["livehandle"] == ["LiveEvent.Audio"]
    assert names["livehandle.testing"] == ["audio"]
    assert names["livehandle.testing.audio"] == ["silence"]
    assert elsewhere == []


def test_an_automodule_documents_its_members_and_a_root_namespace_is_no_name() -> None:
    page = ".. automodule:: livehandle.testing.audio\n"
    names, elsewhere = documented_names(parse_reference(page))
    assert sorted(names["livehandle.testing.audio"]) == sorted(
        importlib.import_module("livehandle.testing.audio").__all__
    )
    assert names["livehandle.testing"] == ["audio"]
    assert elsewhere == []
    page = """
.. automodule:: livehandle.lowlevel
   :members: Session, open_session

.. automodule:: livehandle
   :no-members:
"""
    names, elsewhere = documented_names(parse_reference(page))
    assert names["livehandle.lowlevel"] == ["Session", "open_session"]
    assert names["livehandle"] == []
    assert elsewhere == []


def test_the_report_names_missing_extra_and_repeated_names() -> None:
    exported = list(importlib.import_module("livehandle.testing.audio").__all__)
    documented = [*exported[1:], "noise", "secret_helper", "Fake.Nested"]
    report = _mismatch("livehandle.testing.audio", documented)
    assert f"missing from docs/reference: {[exported[0]]}" in report
    assert "not in its __all__: ['Fake', 'secret_helper']" in report
    assert "more than once under livehandle.testing.audio: ['noise']" in report


def test_private_and_foreign_paths_are_caught() -> None:
    page = """
.. autoclass:: livehandle._session.Session

.. currentmodule:: livehandle._runtime.vad

.. autoclass:: VadState

.. autodata:: livehandle.wire.messages.JsonObject
"""
    entries = parse_reference(page)
    assert sorted(path for _, path, _ in entries if _private(path)) == [
        "livehandle._runtime.vad",
        "livehandle._runtime.vad.VadState",
        "livehandle._session.Session",
    ]
    assert not _private("livehandle.__version__")
    _, elsewhere = documented_names(entries)
    assert elsewhere == [
        "livehandle._session.Session",
        "livehandle._runtime.vad.VadState",
        "livehandle.wire.messages.JsonObject",
    ]
