"""The clients under test (see ``_common``), behind one small interface.

``connect(kind, ...)`` is an async context manager yielding a connection with:

* ``send_frame()``: send one 20 ms microphone frame (``MIC_FRAME``) as ``realtimeInput.audio``,
  encoding it on every call, the way the client would be used;
* ``turn(text, on_audio, expected)``: send a typed user turn, then receive until the model's turn
  is complete (and, for the handle, until ``expected`` audio chunks arrived: its audio and its
  ``TurnComplete`` travel on different lanes); ``on_audio`` sees each chunk's PCM bytes.  Returns
  how many audio chunks arrived.

``handle``, ``handle-wsk``, ``resume`` (the handle with ``auto_resume=True``), ``session``,
``trio-ws`` and ``websockets-trio`` run under Trio; ``genai`` and ``websockets-asyncio`` under
asyncio (``ASYNCIO_KINDS``).  The two bare ``websockets`` clients are written like the bare
trio-websocket one (``json`` + ``base64`` by hand, no compression, as trio-websocket has none);
they keep the package's default keepalive pings, as google-genai does.  ``pace`` (only for the
capacity and real-time CPU benchmarks) opens no connection: its frames cost only the pacing.
"""

from __future__ import annotations

import base64
import functools
import json
import sys
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from _common import (
    API_KEY,
    ASYNCIO_KINDS,
    LIVE_PATH,
    MIC_FRAME,
    MIC_MIME,
    MODEL,
    client_ssl_context,
    endpoint,
    genai_config,
    live_config,
    raw_setup,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    AudioCallback = Callable[[bytes], None] | None

T = TypeVar("T")

TAIL_WAIT = 0.5  # seconds the handle may wait for audio still in its fast lane after TurnComplete


class HandleClient:
    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.events = handle.stream()

    async def send_frame(self) -> None:
        await self.handle.send_audio(MIC_FRAME)

    async def turn(self, text: str, on_audio: AudioCallback = None, expected: int = 0) -> int:
        import trio

        from livehandle import LiveEvent

        await self.handle.send_text(text)
        chunks = 0
        complete = False
        receive = self.events.receive
        with trio.CancelScope() as tail:  # no limit until TurnComplete arrived
            while True:
                event = await receive()
                if isinstance(event, LiveEvent.Audio):
                    chunks += 1
                    if on_audio is not None:
                        on_audio(event.data)
                    if complete and chunks >= expected:
                        break
                elif isinstance(event, LiveEvent.TurnComplete):
                    complete = True
                    if chunks >= expected:
                        break
                    tail.deadline = trio.current_time() + TAIL_WAIT
        return chunks


class SessionClient:
    def __init__(self, session: Any) -> None:
        self.session = session
        self.events = session.subscribe()

    async def send_frame(self) -> None:
        from livehandle._wire import messages as m

        await self.session.send(m.RealtimeInput(audio=m.Blob(MIC_MIME, MIC_FRAME)))

    async def turn(self, text: str, on_audio: AudioCallback = None, expected: int = 0) -> int:
        from livehandle import SessionEvent
        from livehandle._wire import messages as m

        turn = m.Content(parts=(m.Part(text=text),), role="user")
        await self.session.send(m.ClientContent(turns=(turn,), turn_complete=True))
        chunks = 0
        receive = self.events.receive
        while True:
            event = await receive()
            if isinstance(event, SessionEvent.AudioData):
                chunks += 1
                if on_audio is not None:
                    on_audio(event.data)
            elif isinstance(event, SessionEvent.TurnComplete):
                return chunks


class TrioWsClient:
    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def send_frame(self) -> None:
        data = base64.b64encode(MIC_FRAME).decode("ascii")
        message = {"realtimeInput": {"audio": {"mimeType": MIC_MIME, "data": data}}}
        await self.ws.send_message(json.dumps(message))

    async def turn(self, text: str, on_audio: AudioCallback = None, expected: int = 0) -> int:
        turn = {"role": "user", "parts": [{"text": text}]}
        await self.ws.send_message(
            json.dumps({"clientContent": {"turns": [turn], "turnComplete": True}})
        )
        chunks = 0
        get_message = self.ws.get_message
        while True:
            message = json.loads(await get_message())
            content = message.get("serverContent")
            if content is None:
                continue
            model_turn = content.get("modelTurn")
            if model_turn is not None:
                for part in model_turn.get("parts", ()):
                    blob = part.get("inlineData")
                    if blob is not None:
                        pcm = base64.b64decode(blob["data"])
                        chunks += 1
                        if on_audio is not None:
                            on_audio(pcm)
            if content.get("turnComplete"):
                return chunks


class WebsocketsClient:
    """A bare ``websockets`` connection (Trio or asyncio: both have ``send`` and ``recv``)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def send_frame(self) -> None:
        data = base64.b64encode(MIC_FRAME).decode("ascii")
        message = {"realtimeInput": {"audio": {"mimeType": MIC_MIME, "data": data}}}
        await self.ws.send(json.dumps(message))

    async def turn(self, text: str, on_audio: AudioCallback = None, expected: int = 0) -> int:
        turn = {"role": "user", "parts": [{"text": text}]}
        await self.ws.send(json.dumps({"clientContent": {"turns": [turn], "turnComplete": True}}))
        chunks = 0
        recv = self.ws.recv
        while True:
            message = json.loads(await recv())
            content = message.get("serverContent")
            if content is None:
                continue
            model_turn = content.get("modelTurn")
            if model_turn is not None:
                for part in model_turn.get("parts", ()):
                    blob = part.get("inlineData")
                    if blob is not None:
                        pcm = base64.b64decode(blob["data"])
                        chunks += 1
                        if on_audio is not None:
                            on_audio(pcm)
            if content.get("turnComplete"):
                return chunks


class GenaiClient:
    def __init__(self, session: Any) -> None:
        from google.genai import types

        self.session = session
        self.types = types

    async def send_frame(self) -> None:
        blob = self.types.Blob(data=MIC_FRAME, mime_type=MIC_MIME)
        await self.session.send_realtime_input(audio=blob)

    async def turn(self, text: str, on_audio: AudioCallback = None, expected: int = 0) -> int:
        types = self.types
        turn = types.Content(role="user", parts=[types.Part(text=text)])
        await self.session.send_client_content(turns=turn, turn_complete=True)
        chunks = 0
        async for message in self.session.receive():  # ends after turnComplete
            content = message.server_content
            if content is None or content.model_turn is None:
                continue
            for part in content.model_turn.parts or ():
                if part.inline_data is not None and part.inline_data.data is not None:
                    chunks += 1
                    if on_audio is not None:
                        on_audio(part.inline_data.data)
        return chunks


class PaceOnly:
    """No client at all: each "frame" costs only the benchmark's own pacing (a Trio sleep).

    ``--clients pace`` in the capacity and real-time CPU benchmarks measures the floor every
    Trio client pays per frame before it sends anything.
    """

    async def send_frame(self) -> None:
        pass

    async def turn(self, text: str, on_audio: AudioCallback = None, expected: int = 0) -> int:
        raise NotImplementedError("the pace-only client has no connection")


@asynccontextmanager
async def connect(
    kind: str,
    url: str,
    tls: str,
    modality: str = "TEXT",
    *,
    transport: Any = None,
    genai: Any = None,
    context: Any = None,
) -> AsyncIterator[Any]:
    """Open one connection of client ``kind`` (see the module docstring).

    ``transport`` is passed to the livehandle clients; ``genai`` is a shared ``genai.Client``
    and ``context`` a shared client ``ssl.SSLContext`` (each is made when None).
    """
    if kind in ("handle", "resume", "handle-wsk"):
        from livehandle import open_live_session

        if kind == "handle-wsk" and transport is None:
            from livehandle.lowlevel import WebsocketsTransport  # type: ignore[attr-defined]

            transport = WebsocketsTransport()
        config = live_config(modality, auto_resume=kind == "resume")
        where = endpoint(url, tls, context)
        async with open_live_session(config, endpoint=where, transport=transport) as handle:
            yield HandleClient(handle)
    elif kind == "session":
        from livehandle._session import open_session

        where = endpoint(url, tls, context)
        setup = live_config(modality).to_setup(where)
        async with open_session(setup, endpoint=where, transport=transport) as session:
            yield SessionClient(session)
    elif kind == "trio-ws":
        import trio_websocket

        async with trio_websocket.open_websocket_url(
            url + LIVE_PATH,
            ssl_context=(context or client_ssl_context(tls)) if url.startswith("wss:") else None,
            extra_headers=[(b"x-goog-api-key", API_KEY.encode())],
            message_queue_size=4,
        ) as ws:
            await ws.send_message(raw_setup(modality))
            answer = json.loads(await ws.get_message())
            if "setupComplete" not in answer:
                raise RuntimeError(f"expected setupComplete, got {sorted(answer)}")
            yield TrioWsClient(ws)
    elif kind in ("websockets-trio", "websockets-asyncio"):
        if kind == "websockets-trio":
            from websockets.trio.client import connect as ws_connect
        else:
            from websockets.asyncio.client import connect as ws_connect  # type: ignore[assignment]

        tls_context = (context or client_ssl_context(tls)) if url.startswith("wss:") else None
        async with ws_connect(
            url + LIVE_PATH,
            ssl=tls_context,
            additional_headers=[("x-goog-api-key", API_KEY)],
            compression=None,
            proxy=None,
            max_queue=4,
        ) as ws:
            await ws.send(raw_setup(modality))
            answer = json.loads(await ws.recv())
            if "setupComplete" not in answer:
                raise RuntimeError(f"expected setupComplete, got {sorted(answer)}")
            yield WebsocketsClient(ws)
    elif kind == "pace":
        yield PaceOnly()
    elif kind == "genai":
        from _common import genai_client

        client = genai if genai is not None else genai_client(url, tls)
        try:
            async with client.aio.live.connect(model=MODEL, config=genai_config(modality)) as s:
                yield GenaiClient(s)
        finally:
            if genai is None:
                await client.aio.aclose()
                client.close()
    else:
        raise ValueError(f"unknown client {kind!r}")


def run_client(kind: str, main: Callable[[Callable[[], Awaitable[str]]], Awaitable[T]]) -> T:
    """Run ``main(read_line)`` under the client's event loop (asyncio or Trio).

    ``read_line`` reads a line of stdin in a worker thread (for :class:`_common.DrivenWorker`).
    """
    if kind in ASYNCIO_KINDS:
        import asyncio

        async def amain() -> T:
            return await main(functools.partial(asyncio.to_thread, sys.stdin.readline))

        return asyncio.run(amain())
    import trio

    async def tmain() -> T:
        return await main(functools.partial(trio.to_thread.run_sync, sys.stdin.readline))

    return trio.run(tmain)


async def sleep(kind: str, seconds: float) -> None:
    """Sleep under the client's event loop."""
    if kind in ASYNCIO_KINDS:
        import asyncio

        await asyncio.sleep(seconds)
    else:
        import trio

        await trio.sleep(seconds)


async def run_many(
    kind: str,
    count: int,
    opener: Callable[[int], Any],
    body: Callable[[Any, int], Awaitable[None]],
    on_all_open: Callable[[], Awaitable[None]],
    *,
    background: Callable[[], Awaitable[None]] | None = None,
    concurrency: int = 20,
) -> float:
    """Open ``count`` connections (at most ``concurrency`` connecting at once) and run ``body``.

    ``opener(i)`` makes the async context manager of connection ``i``.  Once every connection is
    open, ``on_all_open()`` runs; when it returns, ``body(client, i)`` runs for each connection
    (which closes when its body returns), and ``background()`` alongside.  Returns the seconds it
    took to open them all.  A failure to connect ends them all and propagates.
    """
    opened = 0
    if kind in ASYNCIO_KINDS:
        import asyncio

        started = asyncio.get_running_loop().time()
        gate = asyncio.Semaphore(concurrency)
        all_open, go = asyncio.Event(), asyncio.Event()
    else:
        import trio

        started = trio.current_time()
        gate = trio.Semaphore(concurrency)  # type: ignore[assignment]
        all_open, go = trio.Event(), trio.Event()  # type: ignore[assignment]
    ramp = 0.0

    async def one(index: int) -> None:
        nonlocal opened, ramp
        await gate.acquire()
        holding = True
        try:
            async with opener(index) as client:
                gate.release()
                holding = False
                opened += 1
                if opened == count:
                    ramp = now() - started
                    all_open.set()
                await go.wait()
                await body(client, index)
        finally:
            if holding:
                gate.release()

    if kind in ASYNCIO_KINDS:
        now = asyncio.get_running_loop().time
        async with asyncio.TaskGroup() as tasks:
            for index in range(count):
                tasks.create_task(one(index))
            await all_open.wait()
            await on_all_open()
            go.set()
            if background is not None:
                await background()
    else:
        now = trio.current_time
        async with trio.open_nursery() as nursery:
            for index in range(count):
                nursery.start_soon(one, index)
            await all_open.wait()
            await on_all_open()
            go.set()
            if background is not None:
                await background()
    return ramp


def count_tasks(kind: str) -> int:
    """How many tasks the client's event loop has now.

    Trio: every task in the tree under the root task (``trio.lowlevel.current_root_task()``),
    found by walking each task's child nurseries; asyncio: ``len(asyncio.all_tasks())``.  A
    difference of two counts, divided by the sessions opened in between, is the tasks per session
    (minus the one task per session that :func:`run_many` itself runs).
    """
    if kind in ASYNCIO_KINDS:
        import asyncio

        return len(asyncio.all_tasks())
    import trio

    count = 0
    todo = [trio.lowlevel.current_root_task()]
    while todo:
        task = todo.pop()
        if task is None:
            continue
        count += 1
        for nursery in task.child_nurseries:
            todo.extend(nursery.child_tasks)
    return count
