"""Endpoints: where a session connects and how it authenticates.

Four kinds, all pointing at the same ``BidiGenerateContent`` WebSocket protocol:

* :meth:`Endpoint.google_ai`: the Gemini Developer API, API key in the ``x-goog-api-key`` header
  (default) or the ``?key=`` query parameter;
* :meth:`Endpoint.ephemeral_token`: the ``BidiGenerateContentConstrained`` method with a short-lived
  token (``?access_token=`` or ``Authorization: Token``);
* :meth:`Endpoint.vertex`: Vertex AI, with a bearer token read fresh from a callable on every
  connect (tokens expire), or an express-mode API key;
* :meth:`Endpoint.from_url`: a plain URL, e.g. the emulator's ``ws://127.0.0.1:PORT``.

Every constructor takes ``base_url`` so the same code can be pointed at the emulator.  Credentials
never appear in ``repr()``, in :attr:`Endpoint.redacted_url`, or in errors built from either.
"""

from __future__ import annotations

import base64
import os
import ssl
import urllib.parse
from collections import deque
from collections.abc import Callable
from typing import Literal

import attrs

from livehandle._transport.scrub import REDACTED, Scrubber, shared_scrubber

__all__ = ["GOOGLE_AI_BASE_URL", "Endpoint", "ResolvedEndpoint", "is_secret_name", "redact_query"]

GOOGLE_AI_BASE_URL = "wss://generativelanguage.googleapis.com"

Backend = Literal["google_ai", "vertex", "url"]

#: Names (query parameters, HTTP headers) that carry credentials, normalised by
#: :func:`_normalise_name`: matched exactly, or as the end of a longer name (``SUFFIXES``).
_SECRET_NAMES = frozenset(
    {
        "key",
        "apikey",
        "auth",
        "authorization",
        "bearer",
        "code",
        "cookie",
        "credential",
        "credentials",
        "jwt",
        "pass",
        "passwd",
        "password",
        "pwd",
        "secret",
        "sig",
        "signature",
        "token",
    }
)
#: A name ending in one of these carries a credential too: ``access_token``, ``x-goog-api-key``,
#: ``client_secret``, ``X-Amz-Signature``, ``Proxy-Authorization``, ``sessionToken``...
_SECRET_SUFFIXES = (
    "apikey",
    "authorization",
    "credential",
    "credentials",
    "password",
    "secret",
    "signature",
    "token",
)

#: ``<word>key`` written as one word (any case) is a credential name for these words; other
#: names ending in ``key`` count only when ``key`` is a separate word (see ``is_secret_name``).
_KEY_QUALIFIERS = frozenset(
    {
        "access",
        "api",
        "app",
        "auth",
        "client",
        "encryption",
        "license",
        "master",
        "private",
        "secret",
        "session",
        "signing",
        "subscription",
    }
)

_REDACTED = REDACTED

#: An ephemeral token is a resource name: its id alone is a secret too.
_TOKEN_COLLECTION = "auth_tokens/"
#: Bearer tokens handed out by :meth:`Endpoint.resolve` that :meth:`Endpoint.scrub_content` still
#: hides (the newest ones; older connections are long closed).
_KEPT_BEARERS = 4


def _normalise_name(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch not in "-_. ")


def _ends_in_key_word(name: str) -> bool:
    """``name`` ends in ``key`` as a word of its own: ``access_key``, ``sessionKey``, ``X-KEY``."""
    if len(name) < 4 or name[-3:].lower() != "key":
        return False
    before = name[-4]
    return before in "-_. " or (name[-3] == "K" and (before.islower() or before.isdigit()))


def is_secret_name(name: str) -> bool:
    """True for a query parameter or header name that carries a credential (any case).

    ``key``, ``apiKey``, ``api_key``, ``token``, ``access_token``, ``Authorization``,
    ``x-goog-api-key``, ``password``, ``signature`` and the like: separators (``-``, ``_``,
    ``.``) and case are ignored, and a name ending in a credential word counts too.  A name
    ending in ``key`` counts when ``key`` is a word of its own there (``access_key``,
    ``subscription-key``, ``sessionKey``) or the name is a known compound (``accesskey``,
    ``secretkey``, ``privatekey``...); ordinary words such as ``monkey`` or ``turkey`` do not.
    """
    normal = _normalise_name(name)
    return (
        normal in _SECRET_NAMES
        or normal.endswith(_SECRET_SUFFIXES)
        or _ends_in_key_word(name)
        or (normal.endswith("key") and normal[:-3] in _KEY_QUALIFIERS)
    )


def _redact_userinfo(head: str) -> str:
    """``head`` (the part of a URL before its query) with any ``user:password@`` as ``***@``."""
    scheme, sep, rest = head.partition("://")
    if not sep:
        return head
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return head
    return f"{scheme}://{_REDACTED}@{authority.rpartition('@')[2]}{slash}{path}"


def redact_query(target: str) -> str:
    """``target`` (a URL, or a request path with its query) with credentials shown as ``***``.

    The values of the query parameters that carry credentials (see ``is_secret_name``:
    ``key``, ``apiKey``, ``access_token``, ``token``, ``api_key``... any case) are replaced, and
    so is a URL's ``user:password@`` part; everything else is kept exactly as written, so the
    result is safe to show in reprs, logs and errors.  A fragment is dropped too (a pasted URL
    may carry a token there).
    """
    head, sep, query = target.partition("?")
    head = _redact_userinfo(head.partition("#")[0])
    if not sep:
        return head
    query = query.partition("#")[0]
    pieces = []
    for piece in query.split("&"):
        name, equals, _ = piece.partition("=")
        secret = equals and is_secret_name(urllib.parse.unquote_plus(name))
        pieces.append(f"{name}={_REDACTED}" if secret else piece)
    return f"{head}?{'&'.join(pieces)}"


@attrs.frozen(repr=False)
class ResolvedEndpoint:
    """An endpoint with its credentials filled in for one connection attempt.

    Attributes:
        url: the full URL to open, including any credential query parameters.
        headers: extra HTTP headers for the upgrade request (may hold secrets).
        redacted_url: ``url`` with credential values replaced by ``***``; safe to log.
        secrets: the credential strings, so callers can scrub them from third-party messages.
    """

    url: str
    headers: tuple[tuple[str, str], ...]
    redacted_url: str
    secrets: tuple[str, ...]
    ssl_context: ssl.SSLContext | None = None
    _scrubber: Scrubber = attrs.field(
        init=False,
        eq=False,
        default=attrs.Factory(lambda self: shared_scrubber(self.secrets), True),
    )

    def __repr__(self) -> str:
        return f"ResolvedEndpoint(url={self.redacted_url!r})"

    def scrub(self, text: str) -> str:
        """Return ``text`` with every credential replaced by ``***``.

        For any text a server sent (a close reason, an HTTP body) or that quotes the request,
        before it goes into an error, an event or a log.  Credentials are found as written,
        URL-encoded (either hex case), JSON-escaped and base64-encoded, and shortened: 8 or more
        of their leading characters ending where the token ends (``AIzaSyAb12...``), or 4 or
        more at the very end of a text cut short (a close reason holds at most 123 bytes).
        """
        return self._scrubber.text(text)

    def scrub_frame(self, data: str | bytes) -> str | bytes:
        r"""Return a received frame with every credential echoed in it replaced by ``***``.

        Found as written, URL-encoded, or with characters JSON-escaped (``\u003d``, ``\/``).
        Frames are handed on unchanged (the same object) when they hold no credential, which is
        the cost of one substring search per form of each credential (and one for ``\u``).
        Only credentials that look like one are scrubbed here: at least 8 characters, and not
        made of letters only unless 20 or longer; a shorter or word-like secret (a user name)
        is scrubbed from texts only (see :meth:`scrub`), where replacing it corrupts nothing.
        """
        return self._scrubber.frame(data)

    def scrub_content(self, text: str) -> str:
        """Return decoded model text with credentials replaced, as :meth:`scrub_frame` does."""
        return self._scrubber.content(text)


def _recent_bearers(endpoint: Endpoint) -> deque[ResolvedEndpoint] | None:
    return None if endpoint._bearer is None else deque(maxlen=_KEPT_BEARERS)


@attrs.frozen(repr=False)
class Endpoint:
    """Where to connect and how to authenticate; build it with one of the class methods.

    Attributes:
        url: the WebSocket URL without credentials.
        backend: ``"google_ai"``, ``"vertex"`` or ``"url"``; decides how model names are written.
        project, location: the Vertex project and location (Vertex only).
        ssl_context: TLS settings for ``wss://`` URLs (None: the system default).
    """

    url: str
    backend: Backend = "url"
    project: str | None = None
    location: str | None = None
    ssl_context: ssl.SSLContext | None = None
    _query_secrets: tuple[tuple[str, str], ...] = attrs.field(default=(), alias="query_secrets")
    _header_secrets: tuple[tuple[str, str], ...] = attrs.field(default=(), alias="header_secrets")
    _bearer: Callable[[], str] | None = attrs.field(default=None, alias="bearer")
    _plain_secrets: tuple[str, ...] = attrs.field(default=(), alias="plain_secrets")
    _static: Scrubber = attrs.field(
        init=False,
        eq=False,
        default=attrs.Factory(lambda self: shared_scrubber(self._secrets()), True),
    )
    # the newest connections' bearer tokens (only an endpoint with a bearer has any)
    _recent: deque[ResolvedEndpoint] | None = attrs.field(
        init=False, eq=False, default=attrs.Factory(_recent_bearers, takes_self=True)
    )

    # -- constructors -------------------------------------------------------------------------

    @classmethod
    def google_ai(
        cls,
        api_key: str,
        *,
        api_version: Literal["v1beta", "v1alpha"] = "v1beta",
        key_in_query: bool = False,
        base_url: str = GOOGLE_AI_BASE_URL,
        ssl_context: ssl.SSLContext | None = None,
    ) -> Endpoint:
        """The Gemini Developer API with an API key.

        Args:
            api_key: the key; sent in the ``x-goog-api-key`` header unless ``key_in_query``.
            api_version: ``v1beta`` (documented default) or ``v1alpha``.
            key_in_query: send the key as ``?key=`` (what browsers must do) instead of a header.
            base_url: scheme and host, e.g. the emulator's ``ws://127.0.0.1:PORT``.
            ssl_context: TLS settings for ``wss://``.
        """
        if not api_key:
            raise ValueError("api_key is empty; pass a Gemini API key or set GEMINI_API_KEY")
        path = (
            f"/ws/google.ai.generativelanguage.{api_version}.GenerativeService.BidiGenerateContent"
        )
        url = _join(base_url, path)
        if key_in_query:
            return cls(url, "google_ai", ssl_context=ssl_context, query_secrets=(("key", api_key),))
        return cls(
            url, "google_ai", ssl_context=ssl_context, header_secrets=(("x-goog-api-key", api_key),)
        )

    @classmethod
    def ephemeral_token(
        cls,
        token: str,
        *,
        api_version: Literal["v1beta", "v1alpha"] = "v1alpha",
        in_header: bool = False,
        base_url: str = GOOGLE_AI_BASE_URL,
        ssl_context: ssl.SSLContext | None = None,
    ) -> Endpoint:
        """The constrained method with an ephemeral token (``auth_tokens/...``).

        Args:
            token: the token's ``name`` as returned by the token service.
            api_version: ``v1alpha`` (what the official SDKs use) or ``v1beta``.
            in_header: send ``Authorization: Token ...`` instead of ``?access_token=``.
            base_url: scheme and host.
            ssl_context: TLS settings for ``wss://``.
        """
        if not token:
            raise ValueError("ephemeral token is empty")
        path = (
            f"/ws/google.ai.generativelanguage.{api_version}"
            ".GenerativeService.BidiGenerateContentConstrained"
        )
        url = _join(base_url, path)
        if in_header:
            return cls(
                url,
                "google_ai",
                ssl_context=ssl_context,
                header_secrets=(("authorization", f"Token {token}"),),
            )
        return cls(
            url, "google_ai", ssl_context=ssl_context, query_secrets=(("access_token", token),)
        )

    @classmethod
    def vertex(
        cls,
        *,
        project: str,
        location: str,
        token: Callable[[], str] | None = None,
        api_key: str | None = None,
        api_version: Literal["v1beta1", "v1"] = "v1beta1",
        base_url: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> Endpoint:
        """Vertex AI with an OAuth bearer token (or an express-mode API key).

        Args:
            project: the Google Cloud project id.
            location: e.g. ``us-central1``, or ``global``.
            token: called on every connect to get a fresh access token (tokens expire).
            api_key: an express-mode API key instead of ``token``.
            api_version: ``v1beta1`` (what the SDKs use) or ``v1``.
            base_url: scheme and host; default derived from ``location``.
            ssl_context: TLS settings for ``wss://``.
        """
        if not project or not location:
            raise ValueError("Vertex needs both project and location")
        if (token is None) == (api_key is None):
            raise ValueError("Vertex needs exactly one of token (a callable) or api_key")
        if base_url is None:
            host = (
                "aiplatform.googleapis.com"
                if location == "global"
                else f"{location}-aiplatform.googleapis.com"
            )
            base_url = f"wss://{host}"
        path = f"/ws/google.cloud.aiplatform.{api_version}.LlmBidiService/BidiGenerateContent"
        headers = (("x-goog-api-key", api_key),) if api_key is not None else ()
        return cls(
            _join(base_url, path),
            "vertex",
            project=project,
            location=location,
            ssl_context=ssl_context,
            header_secrets=headers,
            bearer=token,
        )

    @classmethod
    def from_url(cls, url: str, *, ssl_context: ssl.SSLContext | None = None) -> Endpoint:
        """A plain WebSocket URL (the emulator, a proxy).

        A credential pasted into its query string (``key``, ``apiKey``, ``access_token``,
        ``token``, ``password``... any case) is treated as a secret:
        sent, but never shown in reprs, logs or errors.  So is a ``user:password@`` part: it is
        sent as an ``Authorization: Basic`` header (user name and password both secret) and shown
        as ``***@``.  A ``#fragment`` is dropped: it is not part of a WebSocket request.
        """
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("ws", "wss"):
            shown = parts.scheme or redact_query(url)
            raise ValueError(f"endpoint URL must start with ws:// or wss://, got {shown!r}")
        headers: tuple[tuple[str, str], ...] = ()
        plain: tuple[str, ...] = ()
        if "@" in parts.netloc:
            userinfo, _, host = parts.netloc.rpartition("@")
            user, _, password = userinfo.partition(":")
            user, password = urllib.parse.unquote(user), urllib.parse.unquote(password)
            basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            headers = (("authorization", f"Basic {basic}"),)
            plain = tuple(value for value in (user, password) if value)
            parts = parts._replace(netloc=host)
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        secrets = tuple((k, v) for k, v in query if is_secret_name(k))
        if secrets:
            kept = urllib.parse.urlencode([(k, v) for k, v in query if (k, v) not in secrets])
            parts = parts._replace(query=kept)
        # A WebSocket URL has no fragment (RFC 6455 §3): it is never sent, and never shown (a
        # pasted URL may carry a token there).
        changed = bool(secrets or headers or parts.fragment or url.endswith("#"))
        parts = parts._replace(fragment="")
        return cls(
            urllib.parse.urlunsplit(parts) if changed else url,
            "url",
            query_secrets=secrets,
            header_secrets=headers,
            plain_secrets=plain,
            ssl_context=ssl_context,
        )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Endpoint | None:
        """The Google AI endpoint for ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``), if one is set."""
        env = os.environ if environ is None else environ
        key = env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY")
        return cls.google_ai(key) if key else None

    # -- use ----------------------------------------------------------------------------------

    def _secrets(self) -> list[str]:
        """The credentials known without calling the bearer-token callable."""
        secrets = [value for _, value in self._query_secrets]
        secrets += [value for _, value in self._header_secrets]
        # "Token auth_tokens/..." also leaks if only the token part is quoted somewhere.
        secrets += [value.partition(" ")[2] for _, value in self._header_secrets if " " in value]
        secrets += self._plain_secrets
        # ... and so does the token's id, the part after "auth_tokens/".
        secrets += [
            secret.removeprefix(_TOKEN_COLLECTION)
            for secret in secrets
            if secret.startswith(_TOKEN_COLLECTION)
        ]
        return list(dict.fromkeys(secret for secret in secrets if secret))

    def resolve(self) -> ResolvedEndpoint:
        """Fill in credentials for one connection attempt (calls the bearer-token callable)."""
        headers = list(self._header_secrets)
        secrets = self._secrets()
        if self._bearer is not None:
            token = self._bearer()
            if not token:
                raise ValueError("the Vertex token callable returned an empty token")
            headers.append(("authorization", f"Bearer {token}"))
            secrets.append(token)
        url = self.url
        if self._query_secrets:
            sep = "&" if urllib.parse.urlsplit(url).query else "?"
            url += sep + urllib.parse.urlencode(self._query_secrets)
        resolved = ResolvedEndpoint(
            url, tuple(headers), self.redacted_url, tuple(secrets), self.ssl_context
        )
        if self._recent is not None:
            self._recent.append(resolved)
        return resolved

    def scrub_content(self, text: str) -> str:
        """``text`` (model text or a transcript joined from fragments) with credentials hidden.

        The same rule as for received frames (see
        :meth:`~livehandle.lowlevel.ResolvedEndpoint.scrub_frame`), for this endpoint's
        credentials and the bearer tokens of its newest connections: an echo split across two
        frames escapes each frame's scrub, and is caught here once joined.
        """
        text = self._static.content(text)
        for resolved in () if self._recent is None else tuple(self._recent):
            text = resolved.scrub_content(text)
        return text

    @property
    def redacted_url(self) -> str:
        """The URL with credentials shown as ``***``; safe to log.

        Credential query values appear as ``name=***``; a ``user:password@`` part given to
        :meth:`from_url` appears as ``***@``.
        """
        url = self.url
        if self._plain_secrets:
            scheme, _, rest = url.partition("://")
            url = f"{scheme}://{_REDACTED}@{rest}"
        if not self._query_secrets:
            return url
        sep = "&" if urllib.parse.urlsplit(url).query else "?"
        shown = urllib.parse.urlencode(
            [(name, _REDACTED) for name, _ in self._query_secrets], safe="*"
        )
        return url + sep + shown

    def model_name(self, model: str) -> str:
        """Write ``model`` the way this backend's ``setup.model`` expects it.

        Google AI: ``models/{id}``;
        Vertex: ``projects/{p}/locations/{l}/publishers/google/models/{id}``.
        Names that are already qualified are returned unchanged.
        """
        if self.backend == "vertex":
            if model.startswith("projects/"):
                return model
            model_id = model.removeprefix("models/").removeprefix("publishers/google/models/")
            return (
                f"projects/{self.project}/locations/{self.location}"
                f"/publishers/google/models/{model_id}"
            )
        if model.startswith(("models/", "projects/", "tunedModels/")):
            return model
        return f"models/{model}"

    def __repr__(self) -> str:
        auth = []
        if self._header_secrets or self._query_secrets:
            auth.append("credentials=***")
        if self._bearer is not None:
            auth.append("bearer=<callable>")
        extra = "".join(f", {a}" for a in auth)
        return f"Endpoint({self.backend}, url={self.redacted_url!r}{extra})"


def _join(base_url: str, path: str) -> str:
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("ws", "wss"):
        shown = redact_query(base_url)
        raise ValueError(f"base_url must start with ws:// or wss://, got {shown!r}")
    if "@" in parts.netloc or parts.query:
        # Whatever is there may be a credential: refuse it rather than send or show it.
        raise ValueError(
            "base_url must be a scheme and host only, without user:password@ or a query; "
            f"got {redact_query(base_url)!r}"
        )
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))
