"""``emulator --tls``: a throwaway certificate authority, the server's TLS context, how to trust it.

Clients such as google-genai always connect with ``wss://``, so the emulator must speak TLS for
them.  A certificate authority is made afresh for each run (with ``trustme``, the optional extra
``livehandle[tls]``); it signs the server's certificate, and its certificate (never its key) is
written to a PEM file that the client is told to trust.  Nothing is trusted system-wide: only a
process given that file trusts the emulator.
"""

from __future__ import annotations

import ipaddress
import ssl
import urllib.parse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["MISSING", "TlsUnavailable", "identities", "server_context", "trust_instructions"]

#: The one line printed when ``trustme`` is not installed.
MISSING = "--tls needs the trustme package: pip install 'livehandle[tls]'"

# The names a local client may use for this machine; all of them are in the certificate.
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


class TlsUnavailable(Exception):
    """The TLS support cannot be loaded; the message says how to install it."""


def identities(host: str) -> list[str]:
    """What the server certificate is valid for: ``host`` (unless a wildcard) and local names."""
    names = list(LOCAL_NAMES)
    if host and host not in names and not _is_wildcard(host):
        names.insert(0, host)
    return names


def server_context(host: str, ca_file: Path) -> ssl.SSLContext:
    """A server context with a certificate a fresh CA signed; that CA's PEM goes to ``ca_file``.

    Raises:
        TlsUnavailable: ``trustme`` is not installed.
        OSError: ``ca_file`` cannot be written.
    """
    try:
        import trustme
    except ImportError:
        raise TlsUnavailable(MISSING) from None
    authority = trustme.CA(organization_name="livehandle emulator (throwaway, this run only)")
    certificate = authority.issue_cert(*identities(host))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    ca_file.write_bytes(authority.cert_pem.bytes())
    return context


def trust_instructions(url: str, ca_file: Path, *, key_required: bool = False) -> list[str]:
    """The lines that tell a user how to make a client trust the emulator at ``url``.

    With ``key_required`` the google-genai line has a placeholder for the ``--api-key`` value (never
    printed) instead of any key.
    """
    https = _reachable("https" + url.removeprefix("wss"))
    key = "<api-key>" if key_required else "any-key"
    return [
        f"TLS: a certificate authority made for this run signed the certificate; "
        f"its PEM is {ca_file}",
        "To trust it, give a client this environment (only that client: "
        "SSL_CERT_FILE replaces the system's CA list):",
        f"  Python's ssl module (websockets, ...):  SSL_CERT_FILE={ca_file}",
        f"  requests:                              REQUESTS_CA_BUNDLE={ca_file}",
        f"  google-genai:  SSL_CERT_FILE={ca_file} GOOGLE_GEMINI_BASE_URL={https} "
        f"GEMINI_API_KEY={key}",
    ]


def _reachable(url: str) -> str:
    """``url`` with a wildcard host (``0.0.0.0``, ``::``) replaced by the loopback address."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if not _is_wildcard(host):
        return url
    loopback = "[::1]" if ":" in host else "127.0.0.1"
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{loopback}:{parts.port}"))


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False
