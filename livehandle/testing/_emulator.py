"""LiveEmulator: a real WebSocket server that speaks the Gemini Live protocol, for tests and demos.

Start it in a nursery, point any client at :attr:`LiveEmulator.url`, and it plays the model as its
:class:`~livehandle.testing.Scenario` says::

    async with LiveEmulator().running() as emu:          # echo assistant on ws://127.0.0.1:PORT
        async with open_session(setup, endpoint=Endpoint.from_url(emu.url)) as session:
            ...
        assert isinstance(emu.connections[0].received[0].message, Setup)

It accepts the Google AI paths (``v1beta``/``v1alpha``, ``BidiGenerateContent`` and
``BidiGenerateContentConstrained``), the Vertex path, and ``/`` (treated as Google AI ``v1beta``).
Credentials are checked only when configured; a wrong one is accepted at the HTTP level and then
closed with 1007 and the real reason text, as Gemini does.  Server frames are binary JSON by
default.  Connections are independent; conversations (history, instruction, rule use) survive
session resumption.  Every decoded client message is recorded with its Trio timestamp.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import urllib.parse
from collections import deque
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal, TypeVar

import attrs
import trio
import trio_websocket

from livehandle._wire import messages as m
from livehandle.testing._conversation import Conversation
from livehandle.testing._engine import INVALID_ARGUMENT, Engine
from livehandle.testing._scenario import Fault, Scenario

if TYPE_CHECKING:
    import ssl
    from collections.abc import AsyncIterator, Callable, Collection

__all__ = ["DEFAULT_MODELS", "EmulatorConnection", "LiveEmulator", "Received", "Sent"]

log = logging.getLogger("livehandle.testing")

T = TypeVar("T")

#: Model ids the emulator knows (wire-protocol.md's table); others close with 1008.
DEFAULT_MODELS = frozenset(
    {
        "gemini-2.0-flash-live-001",
        "gemini-live-2.5-flash-preview",
        "gemini-2.5-flash-native-audio-preview-09-2025",
        "gemini-2.5-flash-native-audio-preview-12-2025",
        "gemini-live-2.5-flash-native-audio",
        "gemini-3.1-flash-live-preview",
        "gemini-3.8-live",
        "gemini-3.8-live-extended-thinking",
    }
)

_GOOGLE_PATH = re.compile(
    r"/ws/google\.ai\.generativelanguage\.(v1[a-z0-9]*)\.GenerativeService"
    r"\.(BidiGenerateContent|BidiGenerateContentConstrained)"
)
_VERTEX_PATH = re.compile(
    r"/ws/google\.cloud\.aiplatform\.(v1beta1|v1)\.LlmBidiService/BidiGenerateContent"
)
_VERTEX_MODEL = re.compile(r"projects/[^/]+/locations/[^/]+/publishers/google/models/([^/]+)")
_BAD_KEY = "API key not valid. Please pass a valid API key."
HANDSHAKE_TIMEOUT = 10.0  # seconds a client may take to send its WebSocket upgrade request
_BAD_TOKEN = "Request had invalid authentication credentials."


@attrs.frozen
class Received:
    """A client message as the emulator decoded it, with the Trio time it arrived."""

    at: float
    message: m.ClientMessage


@attrs.frozen
class Sent:
    """A server frame the emulator sent: the message, or the raw frame for faults."""

    at: float
    message: m.ServerMessage | str | bytes


@attrs.define(eq=False)
class EmulatorConnection:
    """What one client connection did, for assertions; also lets a test act on it.

    Attributes:
        index: position in :attr:`LiveEmulator.connections`.
        path: the request path including the query string.
        backend: ``"google_ai"`` or ``"vertex"``.
        api_version: e.g. ``"v1beta"``.
        constrained: True for ``BidiGenerateContentConstrained`` (ephemeral tokens).
        headers: request headers, names lower-cased.
        received: every decoded client message, in order.
        sent: every server frame, in order.
        setup: the connection's setup message, once received.
        resumed_from: the resumption handle it presented, if any.
        conversation: the conversation it is attached to.
        errors: problems the emulator noticed (undecodable frames, unknown call ids).
        close_code, close_reason: how the connection ended, once it has.
    """

    index: int
    path: str
    backend: Literal["google_ai", "vertex"]
    api_version: str
    constrained: bool
    headers: dict[str, str] = attrs.field(repr=lambda headers: f"<{len(headers)} headers>")
    received: list[Received] = attrs.field(factory=list)
    sent: list[Sent] = attrs.field(factory=list)
    setup: m.Setup | None = None
    resumed_from: str | None = None
    conversation: Conversation | None = None
    errors: list[str] = attrs.field(factory=list)
    close_code: int | None = None
    close_reason: str | None = None
    closed: trio.Event = attrs.field(factory=trio.Event)
    _arrived: trio.Event = attrs.field(factory=trio.Event, repr=False)
    _engine: Engine | None = attrs.field(default=None, repr=False)

    @property
    def query(self) -> dict[str, str]:
        """The request's query parameters."""
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))

    def messages(self, kind: type[T]) -> list[T]:
        """The received messages of one class, e.g. ``conn.messages(ToolResponse)``."""
        return [r.message for r in self.received if isinstance(r.message, kind)]

    def sent_messages(self, kind: type[T]) -> list[T]:
        """The sent messages of one class, e.g. ``conn.sent_messages(ToolCall)``."""
        return [s.message for s in self.sent if isinstance(s.message, kind)]

    def record_received(self, message: m.ClientMessage) -> None:
        """Append a received message (used by the engine)."""
        self.received.append(Received(trio.current_time(), message))
        self._arrived.set()
        self._arrived = trio.Event()

    async def wait_for(self, predicate: Callable[[EmulatorConnection], bool]) -> None:
        """Wait until ``predicate(self)`` is true, checking after every message received.

        For tests that must see a message arrive before they go on (no polling, no sleeps)::

            await conn.wait_for(lambda c: len(c.messages(ToolResponse)) == 2)

        Raises:
            RuntimeError: the connection ended first.
        """
        while not predicate(self):
            if self.closed.is_set():
                raise RuntimeError(f"emulator connection {self.index} ended first")
            await self._arrived.wait()

    def mark_closed(self) -> None:
        """Note that the connection has ended (used by the engine); wakes every waiter."""
        self.closed.set()
        self._arrived.set()

    def record_sent(self, message: m.ServerMessage | str | bytes) -> None:
        """Append a sent frame (used by the engine)."""
        self.sent.append(Sent(trio.current_time(), message))

    async def send(self, message: m.ServerMessage) -> None:
        """Send a server message now, outside any scripted reply."""
        engine = self._live_engine()
        await engine.in_engine(functools.partial(engine.send, message))

    async def fault(self, fault: Fault) -> None:
        """Apply a fault now (drop, close, malformed frame, goAway...)."""
        await self._live_engine().inject(fault)

    async def wait_closed(self) -> None:
        """Wait until this connection has ended."""
        await self.closed.wait()

    def _live_engine(self) -> Engine:
        if self._engine is None or self.closed.is_set():
            raise RuntimeError(f"emulator connection {self.index} is not open")
        return self._engine


class LiveEmulator:
    """A Gemini Live server on 127.0.0.1 that plays a scripted model.

    Args:
        scenario: how the model behaves (default: :meth:`Scenario.echo`).
        host: interface to listen on.
        port: 0 picks a free port.
        ssl_context: serve ``wss://`` with this server-side TLS context.
        api_key: when set, Google AI connections must present it (header or ``?key=``).
        ephemeral_tokens: accepted tokens for ``BidiGenerateContentConstrained``; when set,
            others are refused.
        bearer_tokens: accepted Vertex bearer tokens; when set, others are refused.
        models: known model ids (others close 1008); None accepts any model.
        binary_frames: send server JSON in binary frames (as Gemini does) or text frames.
        realtime: pace model audio at one chunk per chunk duration of Trio time.
        chunk_ms: duration of each model audio chunk.
    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        api_key: str | None = None,
        ephemeral_tokens: Collection[str] = (),
        bearer_tokens: Collection[str] = (),
        models: Collection[str] | None = DEFAULT_MODELS,
        binary_frames: bool = True,
        realtime: bool = False,
        chunk_ms: int = 40,
    ) -> None:
        if chunk_ms <= 0:
            raise ValueError(f"chunk_ms must be positive, got {chunk_ms}")
        self.scenario = scenario or Scenario.echo()
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.api_key = api_key
        self.ephemeral_tokens = frozenset(ephemeral_tokens)
        self.bearer_tokens = frozenset(bearer_tokens)
        self.models = None if models is None else frozenset(models)
        self.binary_frames = binary_frames
        self.realtime = realtime
        self.chunk_ms = chunk_ms
        self.connections: list[EmulatorConnection] = []
        self._transcripts: deque[str] = deque()
        self._handles: dict[str, Conversation] = {}
        self._conversation_ids = itertools.count(1)
        self._bound_port: int | None = None
        self._new_connection = trio.lowlevel.ParkingLot()

    def __repr__(self) -> str:
        where = self.url if self._bound_port is not None else "not serving"
        return f"<LiveEmulator {where} connections={len(self.connections)}>"

    # -- running ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``ws://host:port`` (or ``wss://``) once serving."""
        if self._bound_port is None:
            raise RuntimeError(
                "the emulator is not serving yet; start it with serve() or running()"
            )
        scheme = "wss" if self.ssl_context is not None else "ws"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self._bound_port}"

    async def serve(
        self, *, task_status: trio.TaskStatus[LiveEmulator] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen and serve until cancelled; ``task_status.started`` once listening."""
        tcp = await trio.open_tcp_listeners(self.port, host=self.host)
        self._bound_port = tcp[0].socket.getsockname()[1]
        listeners: list[trio.abc.Listener[trio.abc.Stream]] = list(tcp)
        if self.ssl_context is not None:
            listeners = [
                trio.SSLListener(listener, self.ssl_context, https_compatible=True)
                for listener in tcp
            ]
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(trio.serve_listeners, self._handle_stream, listeners)
                task_status.started(self)
                try:
                    await trio.sleep_forever()
                finally:
                    # Stopping: unblock handlers stuck sending to clients that stopped reading,
                    # so that stopping is prompt whatever the clients do.
                    with trio.CancelScope(shield=True):
                        await self._close_live_streams()
        finally:
            self._bound_port = None

    async def _close_live_streams(self) -> None:
        for record in self.connections:
            engine = record._engine  # the emulator owns its records' engines
            if engine is not None and not record.closed.is_set():
                await trio.aclose_forcefully(engine.stream)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[LiveEmulator]:
        """Serve for the duration of an ``async with`` block."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.serve)
            try:
                yield self
            finally:
                nursery.cancel_scope.cancel()

    async def wait_for_connections(self, count: int) -> list[EmulatorConnection]:
        """Wait until at least ``count`` connections have been accepted."""
        while len(self.connections) < count:
            await self._new_connection.park()
        return self.connections[:count]

    # -- test controls ------------------------------------------------------------------------

    def queue_transcript(self, text: str) -> None:
        """Use ``text`` as the transcript of the next speech turn (on any connection)."""
        self._transcripts.append(text)

    def take_transcript(self) -> str | None:
        """The next queued transcript, if any (used by the engine)."""
        return self._transcripts.popleft() if self._transcripts else None

    # -- conversations and handles ------------------------------------------------------------

    def new_conversation(self) -> Conversation:
        """Start a fresh conversation (used by the engine)."""
        return Conversation(next(self._conversation_ids))

    def conversation_for(self, handle: str) -> Conversation | None:
        """The conversation a resumption handle belongs to, or None if unknown."""
        return self._handles.get(handle)

    def new_handle(self, conversation: Conversation) -> str:
        """Mint a resumption handle for ``conversation`` (old handles stay valid)."""
        conversation.handles += 1
        handle = f"emu-{conversation.id}-{conversation.handles}"
        self._handles[handle] = conversation
        return handle

    def declarations(self, setup: m.Setup | None) -> dict[str, str]:
        """Function name -> behaviour (``BLOCKING``/``NON_BLOCKING``) from a setup's tools."""
        result: dict[str, str] = {}
        for tool in (setup.tools if setup else None) or ():
            for declaration in tool.function_declarations or ():
                result[declaration.name] = str(declaration.behavior or "BLOCKING")
        return result

    # -- connections --------------------------------------------------------------------------

    async def _handle_stream(self, stream: trio.abc.Stream) -> None:
        try:
            async with trio.open_nursery() as nursery:
                # A client that connects and never sends the upgrade request (a port probe, a
                # failed TLS handshake) would otherwise hold this task until shutdown.
                request = None
                with trio.move_on_after(HANDSHAKE_TIMEOUT):
                    request = await trio_websocket.wrap_server_stream(
                        nursery,
                        stream,  # annotated as SocketStream, but any Trio stream works
                        message_queue_size=4,
                        max_message_size=16 * 2**20,
                        receive_buffer_size=None,
                    )
                if request is not None:
                    await self._serve_request(request, stream)
                nursery.cancel_scope.cancel()
        except Exception:  # one misbehaving client must never stop the emulator
            log.exception("emulator: connection handler failed")
        finally:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(stream)

    async def _serve_request(
        self, request: trio_websocket.WebSocketRequest, stream: trio.abc.Stream
    ) -> None:
        route = _route(request.path)
        if route is None:
            await request.reject(404, body=b"not a Live API path")
            return
        ws = await request.accept()
        headers = {name.decode().lower(): value.decode() for name, value in request.headers}
        record = EmulatorConnection(len(self.connections), request.path, *route, headers)
        self.connections.append(record)
        self._new_connection.unpark_all()
        engine = Engine(self, ws, stream, record)
        record._engine = engine  # the record's controls drive its engine
        try:
            problem = self._check_credentials(record)
            if problem is not None:
                await engine.close(1007, problem)
            else:
                await engine.run()
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await ws.aclose()
        finally:
            reason = ws.closed
            record.close_code = reason.code if reason is not None else 1006
            record.close_reason = (reason.reason or "") if reason is not None else ""
            record.mark_closed()

    def _check_credentials(self, record: EmulatorConnection) -> str | None:
        query = record.query
        auth = record.headers.get("authorization", "")
        if record.backend == "vertex":
            if self.bearer_tokens and auth.removeprefix("Bearer ") not in self.bearer_tokens:
                return _BAD_TOKEN
            return None
        if record.constrained:
            token = query.get("access_token") or auth.removeprefix("Token ")
            if self.ephemeral_tokens and token not in self.ephemeral_tokens:
                return _BAD_KEY
            return None
        if self.api_key is not None:
            key = record.headers.get("x-goog-api-key") or query.get("key")
            if key != self.api_key:
                return _BAD_KEY
        return None

    def check_setup(self, record: EmulatorConnection, setup: m.Setup) -> tuple[int, str] | None:
        """Why this setup is refused, as ``(code, reason)``, or None (used by the engine)."""
        if record.backend == "vertex":
            match = _VERTEX_MODEL.fullmatch(setup.model)
            model_id = match.group(1) if match else None
            if model_id is None or (self.models is not None and model_id not in self.models):
                return (
                    1008,
                    f"Publisher Model `{setup.model}` was not found or your project does not "
                    "have access to it.",
                )
        else:
            model_id = setup.model.removeprefix("models/")
            if not setup.model.startswith("models/") or (
                self.models is not None and model_id not in self.models
            ):
                return 1008, (
                    f"{setup.model} is not found for API version {record.api_version}, or is not "
                    "supported for bidiGenerateContent. Call ListModels to see the list of "
                    "available models and their supported methods."
                )
        config = setup.generation_config
        modalities = (config.response_modalities if config else None) or ()
        if len(modalities) > 1:
            return 1007, INVALID_ARGUMENT
        resumption = setup.session_resumption
        if resumption is not None and resumption.transparent and record.backend != "vertex":
            return 1007, INVALID_ARGUMENT
        return None


def _route(path: str) -> tuple[Literal["google_ai", "vertex"], str, bool] | None:
    """(backend, api_version, constrained) for a request path, or None if it is not served."""
    bare = urllib.parse.urlsplit(path).path
    if bare in ("", "/"):
        return "google_ai", "v1beta", False
    if match := _GOOGLE_PATH.fullmatch(bare):
        return "google_ai", match.group(1), match.group(2).endswith("Constrained")
    if match := _VERTEX_PATH.fullmatch(bare):
        return "vertex", match.group(1), False
    return None
