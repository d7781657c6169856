"""Ground templates: text for the model with ``{key}`` and ``{key?yes:no}`` filled from State."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from livehandle._state.journal import REDACTED

if TYPE_CHECKING:
    from livehandle._flow.guards import StateReader

__all__ = ["check_template", "render_ground"]


def _parse(template: str) -> list[tuple[bool, str]]:
    """The template as (is_placeholder, text) pieces; ValueError for an unclosed ``{``."""
    pieces: list[tuple[bool, str]] = []
    literal: list[str] = []
    i = 0
    n = len(template)
    while i < n:
        char = template[i]
        if char == "{" and template.startswith("{{", i):
            literal.append("{")
            i += 2
        elif char == "}" and template.startswith("}}", i):
            literal.append("}")
            i += 2
        elif char == "{":
            end = template.find("}", i + 1)
            if end < 0:
                raise ValueError(f"unclosed '{{' at position {i} in ground template {template!r}")
            body = template[i + 1 : end]
            if not body.split("?", 1)[0]:
                raise ValueError(f"empty key at position {i} in ground template {template!r}")
            if literal:
                pieces.append((False, "".join(literal)))
                literal = []
            pieces.append((True, body))
            i = end + 1
        else:
            literal.append(char)
            i += 1
    if literal:
        pieces.append((False, "".join(literal)))
    return pieces


def check_template(template: str) -> None:
    """Raise ValueError when ``template`` is malformed (an unclosed ``{`` or an empty key)."""
    _parse(template)


def _truthy(value: object) -> bool:
    return value is not None and value is not False and value not in (0, "", [], {})


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def render_ground(template: str, state: StateReader) -> str:
    """Fill a ground template from ``state``.

    * ``{key}`` becomes the value: a string as it is, any other value as compact JSON, an
      absent or null value as nothing.
    * ``{key?yes:no}`` becomes ``yes`` when the value is truthy, else ``no`` (false, null, 0,
      0.0, "", [], {} and absent are falsy); ``{key?yes}`` has an empty ``no``.
    * The key is the text before the first ``?``, so keys may hold ``:`` (``{slot:city}``);
      ``yes`` and ``no`` split at the first ``:`` after the ``?``.
    * ``{{`` and ``}}`` are literal braces.
    * A key the state redacts (``StateConfig(redact_keys=...)``, a secret such as a PIN) is
      never written into the text: ``{key}`` becomes ``[redacted]``; ``{key?yes:no}`` still
      tests it (the branch texts are the author's own).

    Raises:
        ValueError: an unclosed ``{`` or an empty key.
    """
    out: list[str] = []
    for is_key, text in _parse(template):
        if not is_key:
            out.append(text)
            continue
        key, question, branches = text.partition("?")
        value = state.get(key)
        if not question:
            out.append(REDACTED if value is not None and _redacts(state, key) else _text(value))
            continue
        yes, _, no = branches.partition(":")
        out.append(yes if _truthy(value) else no)
    return "".join(out)


def _redacts(state: StateReader, key: str) -> bool:
    """Whether ``state`` keeps ``key``'s value secret (a State with ``redact_keys``)."""
    is_redacted = getattr(state, "is_redacted", None)
    return bool(is_redacted(key)) if callable(is_redacted) else False
