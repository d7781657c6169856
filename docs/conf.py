"""Sphinx configuration of the livehandle documentation (built by ``nox -s docs``)."""

from __future__ import annotations

import enum
import inspect
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sphinx.ext.napoleon.docstring import GoogleDocstring

import livehandle

if TYPE_CHECKING:
    from sphinx.application import Sphinx

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "livehandle"
author = "the livehandle authors"
copyright = "the livehandle authors"
release = livehandle.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "livehandle_public",  # docs/_ext: public names defined in private modules; all documented
    "livehandle_xref",  # docs/_ext: resolves string annotations and re-exported names
]

# No intersphinx: the build must work offline, so nothing outside this site is linked.

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autodoc_default_options = {"members": True}

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

nitpicky = True

html_theme = "furo"
html_title = f"livehandle {release}"
exclude_patterns = ["_build"]


# napoleon reads the first line of an attribute's or a property's docstring as "type: text", so
# "Samples per frame: ..." would render as a type named "Samples per frame".  livehandle never
# writes types in docstrings (they come from the annotations), so such docstrings are parsed as
# ordinary ones instead: the original text is kept before napoleon runs, and parsed again after.
_originals: dict[tuple[str, str], list[str]] = {}
_INLINE_TYPE_KINDS = ("property", "attribute", "data")


def _keep_original(
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    if what in _INLINE_TYPE_KINDS:
        _originals[what, name] = list(lines)


def _reparse_without_inline_type(
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    original = _originals.pop((what, name), None)
    if original is not None:
        lines[:] = GoogleDocstring(original, app.config, app).lines()


def _drop_type_docstring(
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    """Drop the docstring a constant inherits from its type ("frozenset() -> new empty ...").

    A constant without a ``#:`` comment gets its type's docstring; the page says what the
    constant is for in its own words instead, in the directive's body.
    """
    own = inspect.getdoc(type(obj))
    if what in _INLINE_TYPE_KINDS and own and "\n".join(lines).strip() == own.strip():
        lines.clear()


def _plain_defaults(
    app: Sphinx,
    what: str,
    name: str,
    obj: object,
    options: object,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str | None, str | None] | None:
    """Show ``...`` for a default built by a factory, which attrs shows as ``NOTHING``."""
    if signature is None or "NOTHING" not in signature:
        return None
    return signature.replace("= NOTHING", "= ..."), return_annotation


def _keep_enum_members(
    app: Sphinx, what: str, name: str, obj: object, skip: bool, options: object
) -> bool | None:
    """List every member of an enum, documented or not (``Scheduling.WHEN_IDLE``...).

    Enums that describe their members in an ``Attributes:`` section already list them.
    """
    if isinstance(obj, enum.Enum) and "Attributes:" not in (type(obj).__doc__ or ""):
        return False
    return None


def setup(app: Sphinx) -> None:
    """Adjust autodoc's output; napoleon listens at the default priority, 500."""
    app.connect("autodoc-process-docstring", _drop_type_docstring, priority=300)
    app.connect("autodoc-process-docstring", _keep_original, priority=400)
    app.connect("autodoc-process-docstring", _reparse_without_inline_type, priority=600)
    app.connect("autodoc-process-signature", _plain_defaults)
    app.connect("autodoc-skip-member", _keep_enum_members)
