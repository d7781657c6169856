"""Fixtures of the persistence tests: a real ``redis-server`` for the session, a key prefix each."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from tests.persist.redis_server import find_redis_server, redis_server

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def redis_binary() -> str:
    """The path of ``redis-server``, for tests that start servers of their own.

    Skipped when ``redis-server`` is missing, unless ``CI=true``: then the test fails.
    """
    return find_redis_server()


@pytest.fixture(scope="session")
def redis_url(redis_binary: str) -> Iterator[str]:
    """The URL of a ``redis-server`` on a free loopback port, running for the whole test run.

    Skipped when ``redis-server`` is missing, unless ``CI=true``: then the test fails.
    """
    with redis_server() as port:
        yield f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix no other test uses, so that tests sharing the server never see each other."""
    return f"test-{uuid.uuid4().hex}:"
