"""How bytes move: the ``Transport`` protocol, endpoints, and its implementations."""

from __future__ import annotations

from livehandle.transport.base import Connection as Connection, Transport as Transport
from livehandle.transport.endpoints import (
    GOOGLE_AI_BASE_URL as GOOGLE_AI_BASE_URL,
    Endpoint as Endpoint,
    ResolvedEndpoint as ResolvedEndpoint,
)

__all__ = ["GOOGLE_AI_BASE_URL", "Connection", "Endpoint", "ResolvedEndpoint", "Transport"]
