r"""Scrubbing credentials out of what a server sends before anyone can see it.

A server (or a proxy, or a fake one) may echo a credential back: in a close reason, an HTTP
error body, a JSON error frame, a transcription.  :class:`Scrubber` replaces every form of a
credential it can recognise with ``***``:

* as written, URL-encoded (upper- or lower-case ``%XX``), and inside a JSON string with any
  character written as a ``\uXXXX`` escape (any hex case) or ``\/`` (``\"``, ``\\``);
* in texts (close reasons, HTTP bodies, error messages), also as standard or URL-safe base64
  (with or without padding), and shortened: a run of 8 or more leading characters of a
  credential that stops where a token stops (followed by ``...``, ``…``, or a character that
  is not a letter, a digit or a character of the credential), or 4 or more at the very end of a
  text (a close reason holds at most 123 bytes, so an echo may be cut off);
* in frames and in model text joined from fragments, only the credentials that look like one
  (see :func:`looks_like_credential`): a user name such as ``customer`` is hidden in errors but
  not replaced in every model reply, where it would corrupt ordinary text.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["REDACTED", "Scrubber", "looks_like_credential", "shared_scrubber"]

REDACTED = "***"

#: Credentials shorter than this are not scrubbed from frames, and have no base64 or shortened
#: forms: an echo of a short string cannot be told apart from ordinary content.
MIN_CONTENT_SECRET = 8
#: A credential made of letters only is scrubbed from frames from this length on (below it, it
#: may be an ordinary word, e.g. a user name).
MIN_WORDLIKE_SECRET = 20
#: A shortened echo in mid-text keeps at least this many leading characters of the credential.
MIN_SHORTENED = 8
#: A text that ends in this many or more leading characters of a credential had it cut off.
MIN_CUT = 4

_ELLIPSES = ("...", "\u2026")
_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def looks_like_credential(secret: str) -> bool:
    """True for a secret worth scrubbing from frames and model text.

    At least 8 characters, and either not made of letters only (keys, tokens, most passwords)
    or at least 20 characters long.  Shorter or word-like secrets (``customer``, a user name)
    are scrubbed from errors, close reasons and logs only.
    """
    if len(secret) < MIN_CONTENT_SECRET:
        return False
    return not secret.isalpha() or len(secret) >= MIN_WORDLIKE_SECRET


def _percent_forms(secret: str) -> set[str]:
    quoted = urllib.parse.quote(secret, safe="")
    lower = re.sub(r"%[0-9A-F]{2}", lambda match: match.group().lower(), quoted)
    return {secret, quoted, lower}


def _base64_forms(secret: str) -> set[str]:
    raw = secret.encode()
    padded = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    return padded | {form.rstrip("=") for form in padded}


def _hex_digit(digit: str) -> str:
    return f"[{digit}{digit.upper()}]" if digit.isalpha() else digit


def _u_escape(ch: str) -> str:
    r"""A regex for ``ch`` as JSON ``\uXXXX`` escapes (a surrogate pair beyond the BMP)."""
    code = ord(ch)
    units = (
        [code] if code < 0x10000 else [0xD800 + ((code - 0x10000) >> 10), 0xDC00 + (code & 0x3FF)]
    )
    return "".join("\\\\u" + "".join(_hex_digit(d) for d in f"{unit:04x}") for unit in units)


def _escaped_pattern(secret: str) -> str:
    """A regex for ``secret`` inside a JSON string, each character plain or escaped."""
    pieces = []
    for ch in secret:
        choices = [re.escape(ch)]
        choices.append(_u_escape(ch))
        if ch in _SHORT_ESCAPES:
            choices.append(re.escape(_SHORT_ESCAPES[ch]))
        pieces.append(f"(?:{'|'.join(choices)})")
    return "".join(pieces)


def _frame_pattern(secret: str) -> str:
    r"""A regex for ``secret`` inside a JSON text, as a JSON encoder may have written it.

    Unlike :func:`_escaped_pattern`, ``"`` and ``\`` match only escaped: in valid JSON they
    never stand alone inside a string, and a bare backslash is the start of an escape.
    """
    pieces = []
    for ch in secret:
        choices = [] if ch in '"\\' or ch < " " else [re.escape(ch)]  # these are always escaped
        choices.append(_u_escape(ch))
        if ch in _SHORT_ESCAPES:
            choices.append(re.escape(_SHORT_ESCAPES[ch]))
        pieces.append(f"(?:{'|'.join(choices)})")
    return "".join(pieces)


#: One JSON escape sequence, consumed whole so that a match never starts inside one.
_JSON_ESCAPE = r"\\(?:u[0-9a-fA-F]{4}|.)"


def _keep_escapes(match: re.Match[str]) -> str:
    return REDACTED if match.group("hit") is not None else match.group()


def _keep_raw_escapes(match: re.Match[bytes]) -> bytes:
    return b"***" if match.group("hit") is not None else match.group()


def _by_length(forms: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({form for form in forms if form}, key=len, reverse=True))


class Scrubber:
    """Replaces the given credentials with ``***`` in texts, frames and assembled content.

    Args:
        secrets: the credential strings (empty ones are ignored).
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = tuple(dict.fromkeys(secret for secret in secrets if secret))
        content = [secret for secret in self.secrets if looks_like_credential(secret)]
        # texts: every secret of any length as written and URL-encoded; base64 for long ones
        written = _by_length(form for secret in self.secrets for form in _percent_forms(secret))
        encoded = (
            form
            for secret in self.secrets
            if len(secret) >= MIN_CONTENT_SECRET
            for form in _base64_forms(secret)
        )
        self._text_forms = _by_length([*written, *encoded])
        self._shortened = tuple(form for form in written if len(form) > MIN_SHORTENED)
        self._cut = tuple(form for form in written if len(form) > MIN_CUT)
        # frames and content: credential-like secrets, as written and URL-encoded
        self._content_forms = _by_length(
            form for secret in content for form in _percent_forms(secret)
        )
        # In a frame with no backslash there is no escape to break: plain replacement is safe for
        # the forms without a '"' or '\\' (those cannot stand bare inside a JSON string).
        self._plain_forms = tuple(f for f in self._content_forms if '"' not in f and "\\" not in f)
        self._plain_raw = tuple(form.encode() for form in self._plain_forms)
        self._escaped_text: re.Pattern[str] | None = None
        self._frame_hit: re.Pattern[str] | None = None
        self._frame_tokens: re.Pattern[str] | None = None
        self._raw_hit: re.Pattern[bytes] | None = None
        self._raw_tokens: re.Pattern[bytes] | None = None
        if self.secrets:
            by_length = sorted(self.secrets, key=len, reverse=True)
            self._escaped_text = re.compile("|".join(map(_escaped_pattern, by_length)))
        if content:
            hit = "|".join(
                [_frame_pattern(s) for s in sorted(content, key=len, reverse=True)]
                + [re.escape(form) for form in self._plain_forms]
            )
            tokens = f"(?P<hit>{hit})|{_JSON_ESCAPE}"
            self._frame_hit, self._frame_tokens = re.compile(hit), re.compile(tokens, re.DOTALL)
            self._raw_hit = re.compile(hit.encode())
            self._raw_tokens = re.compile(tokens.encode(), re.DOTALL)

    def __repr__(self) -> str:
        return f"<Scrubber of {len(self.secrets)} secret(s)>"

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def text(self, text: str) -> str:
        """``text`` (a close reason, an HTTP body, an error message) with every form hidden."""
        for form in self._text_forms:
            text = text.replace(form, REDACTED)
        if self._escaped_text is not None and "\\" in text:
            text = self._escaped_text.sub(REDACTED, text)
        for form in self._shortened:
            text = _scrub_shortened(text, form)
        for form in self._cut:
            cut = _cut_tail(text, form)
            if cut:
                text = text[:-cut] + REDACTED
        return text

    def content(self, text: str) -> str:
        """Decoded model text (e.g. joined from fragments) with credential-like secrets hidden."""
        for form in self._content_forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text

    def frame(self, data: str | bytes) -> str | bytes:
        r"""A received frame with credential-like secrets hidden, JSON-escaped ones too.

        A frame holding none is returned unchanged (the same object), at the cost of one
        substring search per form of each credential plus one for a backslash.  A frame with
        escapes is scanned escape by escape, so a replacement never cuts one in two: the result
        is valid JSON whenever the frame was.
        """
        if isinstance(data, str):
            if "\\" not in data:
                for form in self._plain_forms:
                    if form in data:
                        data = data.replace(form, REDACTED)
                return data
            if self._frame_hit is None or self._frame_tokens is None:
                return data
            if self._frame_hit.search(data) is None:
                return data
            return self._frame_tokens.sub(_keep_escapes, data)
        if b"\\" not in data:
            for raw in self._plain_raw:
                if raw in data:
                    data = bytes(data).replace(raw, b"***")
            return data
        if self._raw_hit is None or self._raw_tokens is None:
            return data
        if self._raw_hit.search(data) is None:
            return data
        return self._raw_tokens.sub(_keep_raw_escapes, bytes(data))


def _is_token_char(ch: str, form: str) -> bool:
    return ch.isalnum() or ch in form


def _scrub_shortened(text: str, form: str) -> str:
    """``text`` with every shortened echo of ``form`` (see the module docs) replaced."""
    head = form[:MIN_SHORTENED]
    at = text.find(head)
    if at < 0:
        return text
    pieces = []
    start = 0
    while at >= 0:
        size = MIN_SHORTENED
        while at + size < len(text) and size < len(form) and text[at + size] == form[size]:
            size += 1
        end = at + size
        if (
            end == len(text)
            or text.startswith(_ELLIPSES, end)
            or not _is_token_char(text[end], form)
        ):
            pieces += [text[start:at], REDACTED]
            start = end
            at = text.find(head, end)
        else:
            at = text.find(head, at + 1)
    pieces.append(text[start:])
    return "".join(pieces)


def _cut_tail(text: str, form: str) -> int:
    """How many characters at the end of ``text`` are the start of ``form`` (0 if too few)."""
    for n in range(min(len(text), len(form) - 1), MIN_CUT - 1, -1):
        if text.endswith(form[:n]):
            return n
    return 0


#: The scrubbers in use, by their secrets: endpoints (and each connection's resolved endpoint)
#: with the same credentials share one, and it goes away with the last endpoint that uses it.
_SHARED: weakref.WeakValueDictionary[tuple[str, ...], Scrubber] = weakref.WeakValueDictionary()


def shared_scrubber(secrets: Iterable[str]) -> Scrubber:
    """The :class:`Scrubber` for ``secrets``, shared by everything that scrubs the same ones.

    A scrubber never changes once built, so the sessions of one API key need only one (about
    0.5 KiB each otherwise).  An entry lives only as long as its scrubber is in use, and is
    keyed by the same secrets the scrubber holds anyway; nothing prints or logs the cache.
    """
    key = tuple(secrets)
    scrubber = _SHARED.get(key)
    if scrubber is None:
        scrubber = _SHARED[key] = Scrubber(key)
    return scrubber
