"""Skip (or, under ``CI=true``, fail) the tests of the optional ``websockets`` transport."""

from __future__ import annotations

import os

import pytest

MISSING = "the optional 'websockets' package is not installed (pip install -e '.[websockets]')"


def require_websockets() -> None:
    """Skip the calling test module when ``websockets`` is missing; under ``CI=true``, fail it.

    nox installs the ``websockets`` extra for the ``tests`` and ``coverage`` sessions, so in CI a
    missing package is a broken environment, not a reason to skip.
    """
    try:
        import websockets.trio.client  # noqa: F401
    except ImportError:
        pass
    else:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{MISSING} (CI=true: these tests must run in CI)", pytrace=False)
    pytest.skip(MISSING, allow_module_level=True)
