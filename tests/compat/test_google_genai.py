"""google-genai's own, unmodified async live client against ``livehandle.testing.LiveEmulator``.

Only the nox ``compat`` session installs google-genai; elsewhere this module is skipped.

google-genai is asyncio-based and the emulator is Trio-based, so every test is a plain sync
function: :class:`EmulatorThread` runs the emulator under its own ``trio.run`` in a background
thread, and the client script runs with ``asyncio.run`` in the test's thread.  pytest-trio's
``trio_mode`` only takes over ``async def`` tests, so it leaves these alone.

What google-genai 3.6 sends, as captured against a throwaway server:

* ``wss://HOST/ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent`` (``v1``
  is its default API version; ``GOOGLE_GENAI_API_VERSION`` changes it), no query string; the key
  in ``x-goog-api-key``; also ``content-type``, ``user-agent`` and ``x-goog-api-client``.
* Client frames are text; top-level keys are snake_case (``client_content``, ``realtime_input``,
  ``tool_response``) and snake_case also leaks into nested objects (``audio.mime_type``,
  ``speechConfig.voice_config``, ``realtimeInputConfig.automatic_activity_detection``).
* ``Blob.data`` is URL-safe base64 with padding.
* It reads the first server frame after ``setup`` as the setup answer and silently drops it if
  it is not ``setupComplete``; it accepts binary and text server frames; ``receive()`` ends each
  turn at ``turnComplete`` (or ``interactionStatus: IDLE``) but not at ``toolCall``.

The emulator-facing code is in :class:`EmulatorThread` and :func:`make_emulator` only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import ssl
import struct
import threading
import urllib.parse
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trustme

genai = pytest.importorskip(
    "google.genai", reason="google-genai is not installed (only the nox 'compat' session has it)"
)
from google.genai import types  # noqa: E402

from livehandle._wire import ClientContent, RealtimeInput, Setup, ToolResponse  # noqa: E402
from livehandle.testing import LiveEmulator, Scenario  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Coroutine

MODEL = "gemini-live-2.5-flash-preview"  # accepts TEXT and AUDIO output
FAKE_API_KEY = "test-key-123"
CLIENT_TIMEOUT = 30.0  # seconds for one whole client script
THREAD_TIMEOUT = 10.0  # seconds for the emulator thread to start or to stop

WEATHER_SCENARIO = {
    "rules": [
        {
            "when": {"text": "weather"},
            "reply": [
                {"call": [{"name": "get_weather", "args": {"city": "Paris"}}]},
                {"say": "It is {result} in Paris."},
            ],
        }
    ]
}

# Environment variables that would change what google-genai does (Vertex instead of Google AI,
# another API version, replay mode, a real key).
GENAI_ENVIRONMENT = (
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_USE_ENTERPRISE",
    "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_GENAI_CLIENT_MODE",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
)


# -- the emulator, in its own thread --------------------------------------------------------------


def make_emulator(ssl_context: ssl.SSLContext, scenario: dict[str, Any] | None) -> LiveEmulator:
    if scenario is None:
        return LiveEmulator(ssl_context=ssl_context)
    return LiveEmulator(ssl_context=ssl_context, scenario=Scenario.from_dict(scenario))


class EmulatorThread:
    """Runs a LiveEmulator under ``trio.run`` in a background thread for the ``with`` block.

    ``url`` is set on entry.  On exit the thread is told to stop (a ``trio.Event`` set through
    ``trio.from_thread``), snapshots what every connection received into ``received`` (one list
    of records per connection, in connection order), leaves ``running()`` and is joined; an
    exception raised in the thread is re-raised here.  Leave the client's ``connect()`` block
    before the ``with`` block ends: google-genai raises ``APIError`` for any close it did not
    start, even 1000.
    """

    def __init__(self, ssl_context: ssl.SSLContext, scenario: dict[str, Any] | None = None) -> None:
        self._ssl_context = ssl_context
        self._scenario = scenario
        self.url = ""
        self.received: list[list[Any]] = []
        self._started = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="LiveEmulator", daemon=True)

    def __enter__(self) -> EmulatorThread:
        self._thread.start()
        if not self._started.wait(THREAD_TIMEOUT):
            self._shut_down()
            raise RuntimeError("the emulator thread did not start in time")
        if self._error is not None:
            self._shut_down()
            raise RuntimeError("the emulator thread failed to start") from self._error
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._shut_down()
        if self._error is not None and exc_info[0] is None:
            raise RuntimeError("the emulator thread failed") from self._error

    def _shut_down(self) -> None:
        if self._thread.is_alive() and self._token is not None and self._stop is not None:
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(THREAD_TIMEOUT)
        if self._thread.is_alive():
            raise RuntimeError("the emulator thread did not stop in time")

    def _main(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as exc:  # handed to the test's thread
            self._error = exc
        finally:
            self._started.set()

    async def _serve(self) -> None:
        self._stop = trio.Event()
        self._token = trio.lowlevel.current_trio_token()
        emulator = make_emulator(self._ssl_context, self._scenario)
        async with emulator.running():
            self.url = emulator.url
            self._started.set()
            await self._stop.wait()
            self.received = [list(connection.received) for connection in emulator.connections]

    def messages(self, connection: int = 0) -> list[Any]:
        """The decoded client messages one connection received, in order."""
        return [record.message for record in self.received[connection]]


# -- the google-genai side ----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _plain_genai_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in GENAI_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts: a trustme certificate with an IP SAN for 127.0.0.1."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


@contextlib.asynccontextmanager
async def live_session(
    url: str, client_context: ssl.SSLContext, config: dict[str, Any]
) -> AsyncIterator[Any]:
    """``client.aio.live.connect`` pointed at the emulator (``wss://`` -> ``https://`` base URL)."""
    parts = urllib.parse.urlsplit(url)
    assert parts.scheme == "wss", url
    client = genai.Client(
        api_key=FAKE_API_KEY,
        vertexai=False,
        http_options=types.HttpOptions(
            base_url=f"https://{parts.netloc}", async_client_args={"ssl": client_context}
        ),
    )
    try:
        async with client.aio.live.connect(model=MODEL, config=config) as session:
            yield session
    finally:
        await client.aio.aclose()
        client.close()


def run_client(script: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(script, CLIENT_TIMEOUT))


def user_turn(text: str) -> types.Content:
    return types.Content(role="user", parts=[types.Part(text=text)])


def pcm16_tone(seconds: float, rate: int = 16000, frequency: float = 220.0) -> bytes:
    count = round(seconds * rate)
    return struct.pack(
        f"<{count}h",
        *(round(9000 * math.sin(2 * math.pi * frequency * i / rate)) for i in range(count)),
    )


def assert_in_time_order(records: list[Any]) -> None:
    times = [record.at for record in records]
    assert all(isinstance(t, float) for t in times)
    assert times == sorted(times)


# -- tests --------------------------------------------------------------------------------------


def test_text_turn(tls):
    server_context, client_context = tls

    async def client(url):
        async with live_session(url, client_context, {"response_modalities": ["TEXT"]}) as session:
            setup_complete = session.setup_complete
            await session.send_client_content(turns=user_turn("hello"), turn_complete=True)
            return setup_complete, [message async for message in session.receive()]

    with EmulatorThread(server_context) as emulator:
        setup_complete, messages = run_client(client(emulator.url))

    # The client: setupComplete came first, then one turn that receive() ended at turnComplete.
    assert setup_complete is not None
    assert "".join(message.text or "" for message in messages) == "You said: hello"
    assert messages[-1].server_content.turn_complete is True
    assert not any(message.server_content.turn_complete for message in messages[:-1])

    # The emulator: google-genai's snake_case client_content decoded into the wire classes.
    assert len(emulator.received) == 1
    setup, content = emulator.messages()
    assert isinstance(setup, Setup)
    assert setup.model == f"models/{MODEL}"
    assert [str(m) for m in setup.generation_config.response_modalities] == ["TEXT"]
    assert isinstance(content, ClientContent)
    assert content.turn_complete is True
    (turn,) = content.turns
    assert turn.role == "user"
    assert [part.text for part in turn.parts] == ["hello"]
    assert_in_time_order(emulator.received[0])


def test_audio_turn(tls):
    server_context, client_context = tls
    # 0.5 s of 16 kHz PCM16 in 100 ms chunks; 3200-byte chunks are not a multiple of 3, so each
    # chunk's URL-safe base64 is padded, and the negative samples put '-'/'_' into it.
    speech = pcm16_tone(0.5)
    chunks = [speech[i : i + 3200] for i in range(0, len(speech), 3200)]
    assert {"-", "_"} & set(base64.urlsafe_b64encode(speech).decode())
    config = {
        "response_modalities": ["AUDIO"],
        "input_audio_transcription": {},
        "output_audio_transcription": {},
    }

    async def client(url):
        async with live_session(url, client_context, config) as session:
            for chunk in chunks:
                blob = types.Blob(data=chunk, mime_type="audio/pcm;rate=16000")
                await session.send_realtime_input(audio=blob)
            await session.send_realtime_input(audio_stream_end=True)
            return [message async for message in session.receive()]

    with EmulatorThread(server_context) as emulator:
        messages = run_client(client(emulator.url))

    # The client: audio, an input and an output transcription, then turnComplete.
    audio_parts = [
        part.inline_data
        for message in messages
        if message.server_content and message.server_content.model_turn
        for part in message.server_content.model_turn.parts or ()
        if part.inline_data
    ]
    assert audio_parts
    assert all(blob.mime_type.startswith("audio/pcm") for blob in audio_parts)
    assert all("rate=24000" in blob.mime_type for blob in audio_parts)
    audio = b"".join(blob.data for blob in audio_parts)
    assert len(audio) > 0
    assert len(audio) % 2 == 0  # whole PCM16 samples
    heard = "".join(
        message.server_content.input_transcription.text or ""
        for message in messages
        if message.server_content and message.server_content.input_transcription
    )
    said = "".join(
        message.server_content.output_transcription.text or ""
        for message in messages
        if message.server_content and message.server_content.output_transcription
    )
    assert heard.strip()
    assert said.startswith("You said:")
    assert messages[-1].server_content.turn_complete is True

    # The emulator: every audio byte arrived intact (URL-safe base64, snake_case mime_type), then
    # exactly one audioStreamEnd, after the audio.
    setup, *inputs = emulator.messages()
    assert isinstance(setup, Setup)
    assert [str(m) for m in setup.generation_config.response_modalities] == ["AUDIO"]
    assert setup.input_audio_transcription is not None
    assert setup.output_audio_transcription is not None
    assert all(isinstance(message, RealtimeInput) for message in inputs)
    audio_inputs = [message.audio for message in inputs if message.audio is not None]
    assert [blob.mime_type for blob in audio_inputs] == ["audio/pcm;rate=16000"] * len(chunks)
    assert b"".join(blob.data for blob in audio_inputs) == speech
    assert [message.audio_stream_end for message in inputs] == [None] * len(chunks) + [True]
    assert_in_time_order(emulator.received[0])


def test_tool_call_round_trip(tls):
    server_context, client_context = tls
    config = {
        "response_modalities": ["TEXT"],
        "tools": [
            {
                "function_declarations": [
                    {
                        "name": "get_weather",
                        "description": "The current weather in a city.",
                        "parameters": {
                            "type": "OBJECT",
                            "properties": {"city": {"type": "STRING"}},
                            "required": ["city"],
                        },
                    }
                ]
            }
        ],
    }

    async def client(url):
        calls, texts = [], []
        async with live_session(url, client_context, config) as session:
            await session.send_client_content(
                turns=user_turn("What's the weather in Paris?"), turn_complete=True
            )
            # receive() does not stop at a toolCall: answer it and keep iterating.
            async for message in session.receive():
                if message.tool_call:
                    for call in message.tool_call.function_calls:
                        calls.append((call.id, call.name, dict(call.args or {})))
                        response = types.FunctionResponse(
                            id=call.id, name=call.name, response={"output": "sunny"}
                        )
                        await session.send_tool_response(function_responses=[response])
                elif message.text:
                    texts.append(message.text)
        return calls, texts

    with EmulatorThread(server_context, WEATHER_SCENARIO) as emulator:
        calls, texts = run_client(client(emulator.url))

    # The client: one call with the scenario's name and arguments, then the filled-in reply.
    ((call_id, name, args),) = calls
    assert call_id
    assert name == "get_weather"
    assert args == {"city": "Paris"}
    assert "".join(texts) == "It is sunny in Paris."

    # The emulator: google-genai's snake_case tool_response, answering that very call.
    setup, content, tool_response = emulator.messages()
    assert isinstance(setup, Setup)
    (tool,) = setup.tools
    assert [declaration.name for declaration in tool.function_declarations] == ["get_weather"]
    assert isinstance(content, ClientContent)
    assert isinstance(tool_response, ToolResponse)
    (function_response,) = tool_response.function_responses
    assert function_response.id == call_id
    assert function_response.name == "get_weather"
    assert function_response.response == {"output": "sunny"}
    assert_in_time_order(emulator.received[0])
