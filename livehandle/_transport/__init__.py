"""How bytes move: the ``Transport`` protocol, endpoints, and its implementations."""

from __future__ import annotations

from livehandle._transport.base import Connection as Connection, Transport as Transport
from livehandle._transport.endpoints import (
    GOOGLE_AI_BASE_URL as GOOGLE_AI_BASE_URL,
    Endpoint as Endpoint,
    ResolvedEndpoint as ResolvedEndpoint,
)
from livehandle._transport.memory import (
    MemoryConnection as MemoryConnection,
    MemoryTransport as MemoryTransport,
    memory_connection_pair as memory_connection_pair,
)
from livehandle._transport.websocket import (
    WebSocketConnection as WebSocketConnection,
    WebSocketTransport as WebSocketTransport,
)
from livehandle._transport.websockets_trio import (
    WebsocketsConnection as WebsocketsConnection,
    WebsocketsTransport as WebsocketsTransport,
)

__all__ = [
    "GOOGLE_AI_BASE_URL",
    "Connection",
    "Endpoint",
    "MemoryConnection",
    "MemoryTransport",
    "ResolvedEndpoint",
    "Transport",
    "WebSocketConnection",
    "WebSocketTransport",
    "WebsocketsConnection",
    "WebsocketsTransport",
    "memory_connection_pair",
]
