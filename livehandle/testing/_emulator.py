"""LiveEmulator: a server that speaks the Gemini Live protocol, for tests and demos.

It plays the model as its :class:`~livehandle.testing.Scenario` says, to clients that reach it
over a real WebSocket on 127.0.0.1 (:meth:`~livehandle.testing.LiveEmulator.running`) or over an
in-memory transport with no socket at all (:meth:`~livehandle.testing.LiveEmulator.in_memory`
and :meth:`~livehandle.testing.LiveEmulator.memory_transport`).  Both ways in share one engine:
the same path routing, credential and setup checks, recording, faults and close codes.
"""

from __future__ import annotations

import urllib.parse
from collections import deque
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import attrs
import trio
import trio_websocket

from livehandle._logs import LogScope, library_logger, scoped
from livehandle._transport.endpoints import redact_query
from livehandle._transport.memory import MemoryTransport
from livehandle.testing._checks import (
    DEFAULT_MODELS,
    INTERNAL_ERROR,
    INVALID_HANDLE,
    NOT_A_LIVE_PATH,
    credential_problem,
    rest_credential_problem,
    route,
    setup_problem,
)
from livehandle.testing._conversation import Checkpoint, Conversation
from livehandle.testing._engine import Engine
from livehandle.testing._extractions import (
    GenerateRequest,
    choose,
    generate_route,
    google_error,
    request_problem,
    scripted_answer,
)
from livehandle.testing._link import MemoryLink, WebSocketLink
from livehandle.testing._log import connection_closed, peer_of
from livehandle.testing._record import EmulatorConnection
from livehandle.testing._rest import ReplayStream, serve_http, sniff
from livehandle.testing._scenario import Scenario

if TYPE_CHECKING:
    import ssl
    from collections.abc import AsyncIterator, Collection

    from livehandle._transport.endpoints import ResolvedEndpoint
    from livehandle._transport.memory import MemoryConnection
    from livehandle._wire import messages as m
    from livehandle.testing._checks import Route
    from livehandle.testing._extractions import Answer
    from livehandle.testing._host import EmulatorHost
    from livehandle.testing._link import Link
    from livehandle.testing._rest import HttpRequest, Sniffed

__all__ = ["DEFAULT_MODELS", "MEMORY_URL", "LiveEmulator"]

log = library_logger("livehandle.testing")

HANDSHAKE_TIMEOUT = 10.0  # seconds a client may take to send its WebSocket upgrade request

#: The emulator's URL when it serves in memory only: ``.invalid`` never resolves, so a client
#: given this URL without the emulator's memory transport fails to connect instead of reaching
#: some other server.
MEMORY_URL = "ws://emulator.livehandle.invalid"


class LiveEmulator:
    """A Gemini Live server that plays a scripted model, over a socket or in memory.

    Over a socket, for any client (another process, another language, the default transport)::

        async with LiveEmulator(scenario).running() as emulator:   # ws://127.0.0.1:PORT
            async with open_live_session(config, endpoint=emulator.url) as handle:
                ...

    In memory, for tests: no socket is opened, and everything runs on Trio's clock, so
    ``trio.testing.MockClock`` (pytest-trio's ``autojump_clock``) is safe to use::

        async with LiveEmulator(scenario).in_memory() as emulator:
            transport = emulator.memory_transport()
            async with open_live_session(
                config, endpoint=emulator.url, transport=transport
            ) as handle:
                ...

    :meth:`memory_transport` also works while serving a socket (both kinds of clients at once).

    On the same port it also answers Gemini's REST ``generateContent`` (``POST
    /v1beta/models/{model}:generateContent``, and the Vertex ``/v1/projects/.../models/{model}
    :generateContent``), as :attr:`Scenario.extractions` scripts it, checking credentials as
    for Live connections; every request is recorded in :attr:`generate_requests`.  This is
    what a session's :class:`~livehandle.LlmExtractor` calls when it runs against the emulator.
    Connections made either way are served identically and recorded in :attr:`connections`.

    It accepts the Google AI paths (``v1beta``/``v1alpha``, ``BidiGenerateContent`` and
    ``BidiGenerateContentConstrained``), the Vertex path, and ``/`` (Google AI ``v1beta``); other
    paths are refused with HTTP 404 (:class:`~livehandle.ConnectFailed`).  Credentials are checked
    only when configured; a wrong one is accepted at the HTTP level and then closed with 1007 and
    the real reason text, as Gemini does.  The setup is checked as strictly as Gemini checks it:
    an unknown name anywhere in it, a schema keyword outside the API's subset in function
    ``parameters``, or a response modality other than TEXT or AUDIO closes with 1007, and so
    does an unknown name in any later client message (see :ref:`testing-strictness`).  Server
    frames are binary JSON by default.  Connections
    are independent; conversations (history, instruction, rule use) survive session resumption.
    Every decoded client message is recorded with its Trio timestamp.

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
        strict_activity_audio: with automatic activity detection off, close with 1007
            ("Request contains an invalid argument.") when audio arrives before the first
            ``activityStart``.  The only source for this rule is one third-party report
            (BasedHardware/omi#7611), so it can be turned off: audio before ``activityStart`` is
            then taken in (counted) and belongs to no turn.
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
        strict_activity_audio: bool = True,
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
        self.strict_activity_audio = strict_activity_audio
        self.connections: list[EmulatorConnection] = []
        self.generate_requests: list[GenerateRequest] = []
        self._extraction_uses: dict[int, int] = {}  # Scenario.extractions index -> uses
        self._transcripts: deque[str] = deque()
        self.conversations: list[Conversation] = []
        self._checkpoints: dict[str, Checkpoint] = {}  # handle -> checkpoint (expiry: on use)
        self._bound_port: int | None = None
        self._nursery: trio.Nursery | None = None  # where connections are served, while serving
        self._live: set[Link] = set()  # open connections, dropped when the emulator stops

    def __repr__(self) -> str:
        where = self.url if self._nursery is not None else "not serving"
        return f"<LiveEmulator {where} connections={len(self.connections)}>"

    # -- running ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``ws://host:port`` (or ``wss://``) while serving a socket, else ``MEMORY_URL``.

        Raises:
            RuntimeError: the emulator is not serving.
        """
        if self._nursery is None:
            raise RuntimeError(
                "the emulator is not serving yet; start it with running(), in_memory() or serve()"
            )
        if self._bound_port is None:
            return MEMORY_URL
        scheme = "wss" if self.ssl_context is not None else "ws"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self._bound_port}"

    async def serve(
        self, *, task_status: trio.TaskStatus[LiveEmulator] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen and serve until cancelled; ``task_status.started`` once listening.

        Raises:
            RuntimeError: the emulator is already serving.
        """
        self._check_idle()
        tcp = await trio.open_tcp_listeners(self.port, host=self.host)
        listeners: list[trio.abc.Listener[trio.abc.Stream]] = list(tcp)
        if self.ssl_context is not None:
            listeners = [
                trio.SSLListener(listener, self.ssl_context, https_compatible=True)
                for listener in tcp
            ]
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(trio.serve_listeners, self._handle_stream, listeners)
                self._bound_port = tcp[0].socket.getsockname()[1]
                self._nursery = nursery
                task_status.started(self)
                try:
                    await trio.sleep_forever()
                finally:
                    await self._stop()
        finally:
            self._bound_port = None
            self._nursery = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[LiveEmulator]:
        """Serve on a socket for the duration of an ``async with`` block."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.serve)
            try:
                yield self
            finally:
                nursery.cancel_scope.cancel()

    @asynccontextmanager
    async def in_memory(self) -> AsyncIterator[LiveEmulator]:
        """Serve in-memory clients only, for an ``async with`` block: no socket is opened.

        Connect with :meth:`memory_transport`; :attr:`url` is ``MEMORY_URL`` (or any
        ``ws://`` URL: only its path and credentials matter in memory).

        Raises:
            RuntimeError: the emulator is already serving.
        """
        self._check_idle()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                try:
                    yield self
                finally:
                    await self._stop()
                    nursery.cancel_scope.cancel()
        finally:
            self._nursery = None

    def memory_transport(self, *, capacity: int = 64) -> MemoryTransport:
        """A transport whose connections this emulator serves in memory, as it serves sockets.

        Pass it as ``transport=`` to :func:`~livehandle.open_live_session` or
        :func:`~livehandle.lowlevel.open_session`, with any endpoint: the URL's path picks the API
        (as over a socket; unknown paths are refused with HTTP 404) and its credentials are
        checked.  Connections run in the emulator's nursery, so they outlive the client's session
        as a server's would, and they are dropped (1006) when the emulator stops.  Connecting
        after the emulator has stopped raises :class:`~livehandle.ConnectFailed` (HTTP 503).

        Args:
            capacity: messages buffered in each direction; a sender waits while it is full.

        Raises:
            RuntimeError: the emulator is not serving (start it with :meth:`in_memory` or
                :meth:`running` first).
        """
        nursery = self._nursery
        if nursery is None:
            raise RuntimeError(
                "the emulator is not serving; start it with in_memory() or running() first"
            )

        def gate(resolved: ResolvedEndpoint) -> tuple[int, str] | None:
            if self._nursery is not nursery:
                return 503, "the emulator has stopped"
            if route(_request_path(resolved.url)) is None:
                return 404, NOT_A_LIVE_PATH
            return None

        return MemoryTransport(self._serve_memory, capacity=capacity, gate=gate, serve_in=nursery)

    def _check_idle(self) -> None:
        if self._nursery is not None:
            raise RuntimeError(f"the emulator is already serving at {self.url}")

    async def _stop(self) -> None:
        # Stopping: drop every open connection, which also unblocks handlers stuck sending to
        # clients that stopped reading, so that stopping is prompt whatever the clients do.
        with trio.CancelScope(shield=True):
            for link in list(self._live):
                await link.drop()

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
        conversation = Conversation(len(self.conversations) + 1)
        self.conversations.append(conversation)
        return conversation

    def new_handle(self, conversation: Conversation) -> str:
        """Mint a resumption handle for ``conversation`` (used by the engine)."""
        conversation.handles += 1
        return f"emu-{conversation.id}-{conversation.handles}"

    def keep(self, checkpoint: Checkpoint) -> None:
        """Make ``checkpoint`` resumable by its handle (used by the engine)."""
        self._checkpoints[checkpoint.handle] = checkpoint

    def checkpoint(self, handle: str) -> Checkpoint | None:
        """The checkpoint ``handle`` names, or None if the emulator never issued it."""
        return self._checkpoints.get(handle)

    def resume(self, handle: str) -> Conversation | tuple[int, str]:
        """The conversation restored from ``handle``'s checkpoint, or why the resume is refused.

        Refusals, as ``(code, reason)``: an unknown handle, or one that expired
        (:attr:`Scenario.handle_ttl` after the connection that issued it ended), is refused with
        1007 (wire-protocol.md §5.2 "2 h after the last session termination"; §5.4: 1007 for an
        invalid argument); a conversation whose connection is still open is refused with 1011
        (wire-protocol.md §5.2; sip-to-ai PR #14, which reports the code only, so the reason is
        the generic 1011 text of §5.4).
        """
        checkpoint = self._checkpoints.get(handle)
        if checkpoint is not None:
            ended = self.connections[checkpoint.connection].ended_at
            if ended is not None and trio.current_time() >= ended + self.scenario.handle_ttl:
                checkpoint = None
        if checkpoint is None:
            return 1007, INVALID_HANDLE
        conversation = self.conversations[checkpoint.conversation - 1]
        if conversation.attached:
            return 1011, INTERNAL_ERROR
        conversation.restore(checkpoint)
        return conversation

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
                # A client that connects and never sends its request (a port probe, a failed
                # TLS handshake) would otherwise hold this task until shutdown.
                request: trio_websocket.WebSocketRequest | None = None
                sniffed: Sniffed | None = None
                with trio.move_on_after(HANDSHAKE_TIMEOUT):
                    sniffed = await sniff(stream)
                    if sniffed.request is None and not sniffed.ended:  # a WebSocket upgrade
                        request = await trio_websocket.wrap_server_stream(
                            nursery,
                            ReplayStream(stream, sniffed.data),  # any Trio stream works
                            message_queue_size=4,
                            max_message_size=16 * 2**20,
                            receive_buffer_size=None,
                        )
                if sniffed is not None and sniffed.request is not None:
                    await serve_http(stream, sniffed, self._answer_generate)
                elif request is not None:
                    await self._serve_request(request, stream)
                nursery.cancel_scope.cancel()
        except Exception:  # one misbehaving client must never stop the emulator
            log.exception("emulator: connection handler failed")
        finally:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(stream)

    async def _answer_generate(self, request: HttpRequest, body: bytes) -> Answer:
        """Answer one ``generateContent`` request as the scenario scripts it; record it."""
        route = generate_route(request.target)
        if route is None:  # sniff hands over only generateContent paths
            raise RuntimeError(f"not a generateContent path: {redact_query(request.target)}")
        backend, _, model = route
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.target).query))
        refused = rest_credential_problem(
            backend,
            request.headers,
            query,
            api_key=self.api_key,
            bearer_tokens=self.bearer_tokens,
        )
        answer = None if refused is None else google_error(refused[0], refused[2], refused[1])
        decoded = None
        if answer is None:
            answer, decoded = request_problem(body)
        record = GenerateRequest(
            request.target, backend, model, request.headers, decoded, at=trio.current_time()
        )
        if answer is None:
            text = "\n".join(filter(None, (record.system_instruction, record.text)))
            rule = choose(self.scenario.extractions, self._extraction_uses, text)
            answer = scripted_answer(rule, model)
        self.generate_requests.append(attrs.evolve(record, status=answer.status))
        return answer

    async def _serve_request(
        self, request: trio_websocket.WebSocketRequest, stream: trio.abc.Stream
    ) -> None:
        found = route(request.path)
        if found is None:
            await request.reject(404, body=NOT_A_LIVE_PATH.encode())
            return
        ws = await request.accept()
        headers = {name.decode().lower(): value.decode() for name, value in request.headers}
        link = WebSocketLink(ws, stream)
        await self._serve_link(link, request.path, found, headers, peer_of(stream))

    async def _serve_memory(self, server: MemoryConnection) -> None:
        resolved = server.endpoint
        if resolved is None:  # only a MemoryTransport reaches here, and it always sets one
            raise RuntimeError("an in-memory connection without an endpoint")
        path = _request_path(resolved.url)
        found = route(path)
        if found is None:  # the gate refuses these before they connect
            shown = redact_query(path)
            raise RuntimeError(f"an in-memory connection to an unserved path {shown!r}")
        headers = {"host": urllib.parse.urlsplit(resolved.url).netloc}
        headers.update((name.lower(), value) for name, value in resolved.headers)
        await self._serve_link(MemoryLink(server), path, found, headers, "in-memory")

    async def _serve_link(
        self, link: Link, path: str, found: Route, headers: dict[str, str], peer: str
    ) -> None:
        """Serve one accepted connection, however it arrived, until it ends; record everything."""
        record = EmulatorConnection(len(self.connections), path, *found, headers)
        self.connections.append(record)
        # This connection's records carry its own ids, never those of the client that spawned it.
        with scoped(LogScope(None, record.index)):
            await self._serve_record(link, record, peer)

    async def _serve_record(self, link: Link, record: EmulatorConnection, peer: str) -> None:
        engine = Engine(self, link, record, peer=peer)
        started = trio.current_time()
        record.attach(engine)  # the record's controls drive its engine
        self._live.add(link)
        try:
            problem = credential_problem(
                record,
                api_key=self.api_key,
                ephemeral_tokens=self.ephemeral_tokens,
                bearer_tokens=self.bearer_tokens,
            )
            if problem is not None:
                await engine.close(1007, problem)
            else:
                await engine.run()
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await link.close(1000, "")
        finally:
            self._live.discard(link)
            record.close_code, record.close_reason = link.ended()
            record.mark_closed()
            turns = engine.responder.turns_on_connection
            connection_closed(record, trio.current_time() - started, turns)

    def check_setup(
        self, record: EmulatorConnection, setup: m.Setup, raw: object
    ) -> tuple[int, str] | None:
        """Why this setup is refused, as ``(code, reason)``, or None (used by the engine)."""
        return setup_problem(record, setup, self.models, raw)


def _request_path(url: str) -> str:
    """The path and query a WebSocket client requests for ``url`` (``/`` for a bare host)."""
    parts = urllib.parse.urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


if TYPE_CHECKING:  # static proof that the emulator gives its engines what they use
    _host: type[EmulatorHost] = LiveEmulator
