"""The emulator's protocol engine: one instance plays the model on one client connection.

Its tasks run in the connection's nursery: the reader decodes client messages, records them, runs
server VAD over realtime audio and turns user activity into turns (a typed turn, a finished
speech turn) and barge-ins; the ``Responder`` answers those turns; an optional timer sends
``goAway``.  Every send is shielded (a barge-in never cuts a frame in half) and bounded (a client
that stops reading is dropped, not waited for).

The engine works on a ``Link`` (a WebSocket or an in-memory connection, the same to it) and
reaches the emulator only through the ``EmulatorHost`` interface.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import TYPE_CHECKING, Any, Literal

import trio

from livehandle._errors import ProtocolError
from livehandle._logs import library_logger
from livehandle._wire import messages as m
from livehandle._wire.codec import decode_client, encode_server
from livehandle.testing import audio
from livehandle.testing._checks import INVALID_ARGUMENT
from livehandle.testing._conversation import Conversation, Stop, stopping, text_of, text_tokens
from livehandle.testing._log import connection_opened
from livehandle.testing._mark import MarkReader
from livehandle.testing._responder import Responder
from livehandle.testing._scenario import Fault, UserTurn
from livehandle.testing._strict import message_unknown_names_reason
from livehandle.testing._vad import ServerVad

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from livehandle.testing._host import EmulatorHost
    from livehandle.testing._line import Line
    from livehandle.testing._link import Link
    from livehandle.testing._record import Controls, EmulatorConnection

log = library_logger("livehandle.testing")

# activityStart/End with server VAD on (wire-protocol.md §2.3 and §5.4, quoting gemini-rs).
EXPLICIT_ACTIVITY = (
    "Explicit activity control is not supported when automatic activity detection is enabled"
)
#: Close reasons are cut to this many UTF-8 bytes, as on the real server (wire-protocol.md §5.4:
#: "truncated to 123 bytes by the WebSocket spec"), on the socket and in memory alike.
MAX_REASON_BYTES = 123
CLOSE_GRACE = 1.0  # seconds to wait for the client's close reply
SEND_TIMEOUT = 5.0  # seconds one frame may wait for a client that does not read


def clip_reason(reason: str) -> str:
    """``reason`` cut to :data:`MAX_REASON_BYTES` bytes of UTF-8, never inside a character."""
    return reason.encode()[:MAX_REASON_BYTES].decode("utf-8", "ignore")


def _level(value: str | None, low_default: bool) -> Literal["HIGH", "LOW"]:
    if value is None or value.endswith("UNSPECIFIED"):
        return "LOW" if low_default else "HIGH"
    return "LOW" if value.endswith("_LOW") else "HIGH"


def _consent(setup: m.Setup) -> m.VoiceConsentSignature | None:
    """The consent signature ``setupComplete`` carries for a replicated voice, or None.

    The real server signs a replicated (custom) voice in ``setupComplete.voiceConsentSignature``
    as ``{"signature": "..."}`` (wire-protocol.md §3.1; issue 13 part 1 cites google-genai's
    tests for the shape).  The emulator's signature is opaque too, derived from the sample so
    that the same voice gets the same signature.
    """
    config = setup.generation_config
    speech = config.speech_config if config else None
    voice = speech.voice_config if speech else None
    replicated = voice.replicated_voice_config if voice else None
    if replicated is None:
        return None
    digest = hashlib.sha256(replicated.voice_sample_audio or b"").hexdigest()[:32]
    return m.VoiceConsentSignature(signature=f"emulator-consent-{digest}")


class Engine:
    """Plays the model on one accepted connection until it closes."""

    def __init__(
        self, host: EmulatorHost, link: Link, record: EmulatorConnection, *, peer: str = "?"
    ) -> None:
        self.host = host
        self.peer = peer  # where the client connects from, for the log
        self.link = link
        self.record = record
        self.setup: m.Setup | None = None
        self.conversation: Conversation | None = None
        self.vad: ServerVad | None = None
        self.marks = MarkReader()  # the words audio.speech() wrote into the audio
        self.manual_activity = False
        self.activity_seen = False  # an activityStart has arrived (manual activity only)
        self.activity_started_at: float | None = None
        self.activity_audio_ms = 0.0
        self.nursery: trio.Nursery | None = None
        self.seeding_history = False
        # User-role context sent with turnComplete false since the last turn that asked for a
        # reply: what a bare prompt (an empty turnComplete true turn) gets answered about.
        self.context_texts: list[str] = []
        self.consumed = 0  # index of the last client message consumed (setup is 0)
        self.silent = False  # gone quiet after goAway (Scenario.silent_after_go_away)
        self.ended = False  # the engine closed or dropped the connection
        self.last_frame: bytes | str = b""  # the raw frame of the message last received
        self.responder = Responder(self)

    # -- lifecycle ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Handshake, then serve the connection until it closes."""
        try:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                with stopping():
                    if await self._handshake():
                        scenario = self.host.scenario
                        await self.responder.start()
                        nursery.start_soon(self._until_stopped, self.responder.run)
                        if (after := scenario.go_away_after) is not None:
                            nursery.start_soon(self.responder.go_away_later, after)
                        if (lifetime := scenario.connection_lifetime) is not None:
                            nursery.start_soon(
                                self._until_stopped, self.responder.live_for, lifetime
                            )
                        await self._run_reader()
                nursery.cancel_scope.cancel()  # the reader ended: the connection is over
        finally:
            self.ended = True  # the conversation may be resumed from now on

    def is_open(self) -> bool:
        """The emulator has not seen this connection end (a resume of its conversation waits)."""
        return not self.ended and self.link.is_open()

    async def _until_stopped(self, task: Callable[..., Awaitable[None]], *args: Any) -> None:
        # Only a closed connection ends a task.  The reader is left to finish on its own: it
        # still has to record what the client sent before its close frame.
        with stopping():
            await task(*args)

    async def inject(self, fault: Fault) -> None:
        """Apply ``fault`` now, outside any reply (a test control)."""
        await self.in_engine(functools.partial(self.responder.fault, fault))

    async def send_now(self, message: m.ServerMessage) -> None:
        """Send ``message`` now, outside any reply (a test control)."""
        await self.in_engine(functools.partial(self.send, message))

    async def in_engine(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` as a task of this connection and wait for it.

        Work done for a test runs inside the connection's nursery, so the connection's teardown
        waits for it (a close started by a test completes its handshake) instead of racing it.
        """
        if self.nursery is None:
            raise RuntimeError("the connection is not running")
        done = trio.Event()

        async def run() -> None:
            try:
                with stopping():
                    await work()
            finally:
                done.set()

        self.nursery.start_soon(run)
        await done.wait()

    async def _handshake(self) -> bool:
        first = await self._receive()
        if first is None:
            return False
        if not isinstance(first, m.Setup):
            # "Send {"setup": …} as the first and only setup message" (wire-protocol.md §1.5).
            await self.close(1007, INVALID_ARGUMENT)
            return False
        self.setup = first
        self.record.setup = first
        # The codec has parsed this frame already: one object with one key, the setup's.
        (raw,) = json.loads(self.last_frame).values()
        problem = self.host.check_setup(self.record, first, raw)
        if problem is not None:
            await self._refuse(problem[1], "setup", problem[0])
            return False
        resumption = first.session_resumption
        if resumption is not None and resumption.handle:
            found = self.host.resume(resumption.handle)
            if isinstance(found, tuple):
                self.record.errors.append(f"resume refused: {found[1]}")
                await self.close(*found)
                return False
            conversation = found
            self.record.resumed_from = resumption.handle
        else:
            conversation = self.host.new_conversation()
        # No await since resume(): no other connection can claim the conversation in between.
        self.conversation = conversation
        conversation.attach(self.record.index, self.is_open)
        self.record.conversation = conversation
        if first.system_instruction is not None:
            conversation.set_instruction(text_of(first.system_instruction))
        self._configure_activity(first.realtime_input_config)
        history = first.history_config
        self.seeding_history = bool(history and history.initial_history_in_client_content)
        scenario = self.host.scenario
        if scenario.setup_delay:
            await trio.sleep(scenario.setup_delay)
        if not scenario.setup_complete:
            await self._run_reader()  # record what the client sends, never answer
            return False
        session_id = (
            f"emulator-session-{conversation.id}" if self.record.backend == "vertex" else None
        )
        await self.send(
            m.SetupComplete(session_id=session_id, voice_consent_signature=_consent(first))
        )
        connection_opened(self.record, self.peer)
        await trio.lowlevel.checkpoint()
        return True

    def _configure_activity(self, config: m.RealtimeInputConfig | None) -> None:
        detection = config.automatic_activity_detection if config else None
        if detection is not None and detection.disabled:
            # disabled: true hands turn-taking to activityStart/End (wire-protocol.md §2.1).
            self.manual_activity = True
            return
        # Sensitivity defaults differ by backend: HIGH on Google AI, LOW on Vertex; silence
        # duration about 800 ms by default (wire-protocol.md §2.1 realtimeInputConfig).
        low_default = self.record.backend == "vertex"
        start = detection.start_of_speech_sensitivity if detection else None
        end = detection.end_of_speech_sensitivity if detection else None
        self.vad = ServerVad(
            start_sensitivity=_level(start, low_default),
            end_sensitivity=_level(end, low_default),
            prefix_padding_ms=(detection.prefix_padding_ms if detection else None) or 20,
            silence_duration_ms=(detection.silence_duration_ms if detection else None) or 800,
        )

    @property
    def interrupts(self) -> bool:
        config = self.setup.realtime_input_config if self.setup else None
        return not (config and config.activity_handling == m.ActivityHandling.NO_INTERRUPTION)

    @property
    def audio_out(self) -> bool:
        config = self.setup.generation_config if self.setup else None
        modalities = config.response_modalities if config else None
        return not modalities or m.Modality.AUDIO in modalities

    @property
    def resumption(self) -> bool:
        return bool(self.setup and self.setup.session_resumption is not None)

    @property
    def transparent(self) -> bool:
        """Vertex transparent resumption (Google AI refuses it at setup: ``check_setup``)."""
        resumption = self.setup.session_resumption if self.setup else None
        return bool(resumption and resumption.transparent and self.record.backend == "vertex")

    def silence(self) -> None:
        """Send nothing more on this connection (the server went quiet after goAway)."""
        self.silent = True

    # -- sending ------------------------------------------------------------------------------

    async def send(self, message: m.ServerMessage) -> None:
        """Encode and send one message (shielded: a barge-in never cuts a frame).

        Once :attr:`silent`, nothing is sent; a closed connection still raises ``Stop``.
        """
        if self.silent:
            if not self.is_open():
                raise Stop
            await trio.lowlevel.checkpoint()
            return
        text = encode_server(message)
        await self.send_raw(text.encode() if self.host.binary_frames else text, message)

    async def send_raw(self, data: str | bytes, message: m.ServerMessage | None = None) -> None:
        """Send a frame as it is; ``message`` (if given) is what gets recorded."""
        # Shielded so that a barge-in never cuts a frame in half; bounded so that a client that
        # stopped reading cannot hold the emulator (it is dropped instead).
        with trio.move_on_after(SEND_TIMEOUT, shield=True) as waited:
            await self.link.send(data)  # raises Stop once the connection is gone
        if waited.cancelled_caught:
            self.record.errors.append(f"the client read nothing for {SEND_TIMEOUT:g} s; dropped")
            await self.drop()
            raise Stop
        self.record.record_sent(message if message is not None else data)

    async def close(self, code: int, reason: str) -> None:
        """Close the connection with a close frame.

        Bounded: a WebSocket waits for the peer's close reply, which never comes from a peer
        that has already dropped the TCP connection; after the grace the link is dropped.
        """
        self.ended = True
        with trio.CancelScope(shield=True):
            with trio.move_on_after(CLOSE_GRACE) as waited:
                await self.link.close(code, clip_reason(reason))
            if waited.cancelled_caught:
                self.record.errors.append("the client did not answer the close frame in time")
                await self.link.drop()

    async def _refuse(self, reason: str, what: str, code: int = 1007) -> None:
        """Close with ``code`` and ``reason``; a reason the close frame cuts is kept whole."""
        if len(reason.encode()) > MAX_REASON_BYTES:
            self.record.errors.append(f"{what} refused: {reason}")  # the whole reason
        await self.close(code, reason)

    async def drop(self) -> None:
        """End the connection without a close frame (a lost TCP link)."""
        self.ended = True
        with trio.CancelScope(shield=True):
            await self.link.drop()

    # -- reader -------------------------------------------------------------------------------

    async def _receive(self) -> m.ClientMessage | None:
        data = await self.link.receive()
        if data is None:
            return None
        self.last_frame = data
        try:
            message = decode_client(data)
        except ProtocolError as exc:
            # Malformed JSON, several top-level keys, a wrong JSON type: the generic 1007
            # (wire-protocol.md §1.4 "exactly one top-level key", §5.4).
            log.info("emulator: closing on an invalid client message: %s", exc)
            self.record.errors.append(str(exc))
            await self.close(1007, INVALID_ARGUMENT)
            return None
        self.record.record_received(message)
        if not isinstance(message, m.Setup):  # setup is checked in full by check_setup
            unknown = message_unknown_names_reason(message, data, self.record.backend)
            if unknown is not None:
                # The real server's parser refuses unknown names in every client message,
                # not only in setup: 1007 in its words (the docstring of _strict).  Each
                # backend parses into its own proto (wire-protocol.md §8): Vertex has no
                # FunctionResponse.willContinue, Google AI no Blob/FileData displayName.
                await self._refuse(unknown, "message")
                return None
        return message

    async def _run_reader(self) -> None:
        while (message := await self._receive()) is not None:
            await self._dispatch(message)
            if self.conversation is not None:
                await self._quiet_checkpoint()

    async def _quiet_checkpoint(self) -> None:
        # Vertex transparent mode may checkpoint more often than at turn boundaries (issue 12
        # part 8; wire-protocol.md §3.6 reports the consumed index for exactly this): here, at
        # a quiet point (nothing owed, no user speech in progress) once enough messages came.
        every = self.host.scenario.checkpoint_every_messages
        if every is None or not self.transparent or self.activity_started_at is not None:
            return
        taken = [c for c in self.record.checkpoints if c.connection == self.record.index]
        since = self.consumed - (taken[-1].consumed_index if taken else 0)
        if since >= every and self.responder.quiet and not self.responder.replying:
            await self.responder.checkpoint()

    async def _dispatch(self, message: m.ClientMessage) -> None:
        # The message counts as consumed from here: the state changes it makes happen before
        # any await below, so a checkpoint (taken with no await) sees all of them or none.
        if self.conversation is not None:
            self.consumed = len(self.record.received) - 1
        match message:
            case m.Setup():
                # setup is the first and only one (wire-protocol.md §1.5, §2.1).
                await self.close(1007, INVALID_ARGUMENT)
            case m.ClientContent():
                await self._client_content(message)
            case m.RealtimeInput():
                await self._realtime_input(message)
            case m.ToolResponse():
                await self.responder.tool_response(message)
            case m.ContextUpdate():
                self._context_update(message)

    async def _client_content(self, message: m.ClientContent) -> None:
        conversation = self.current_conversation()
        user_text = ""
        for turn in message.turns or ():
            text = text_of(turn)
            if turn.role == "system":
                conversation.set_instruction(text)
                continue
            conversation.history.append((turn.role or "user", text))
            if turn.role in (None, "user"):
                user_text = text
        if not message.turn_complete:
            if user_text and not self.seeding_history:
                self.context_texts.append(user_text)
            return
        if self.seeding_history:
            # initialHistoryInClientContent: taken in up to turnComplete, no reply
            # (wire-protocol.md §2.2, the SDK's HistoryConfig docstring).
            self.seeding_history = False
            return
        if not user_text:
            # A bare prompt: the model generates from the context it was given (wire-protocol.md
            # §2.2, clientContent with turnComplete true); the emulator answers the newest
            # user-role context since the last reply, so rules can match it.
            user_text = " ".join(self.context_texts)
        self.context_texts.clear()
        self.responder.user_turn(UserTurn("text", user_text), interrupt=True)

    async def _realtime_input(self, message: m.RealtimeInput) -> None:
        if message.text is not None:
            # Realtime text counts as user activity and gets a reply (wire-protocol.md §2.3).
            self.current_conversation().history.append(("user", message.text))
            self.responder.user_turn(UserTurn("text", message.text), interrupt=True)
        elif message.audio is not None:
            await self._audio(message.audio.data)
        elif message.media_chunks:
            # Deprecated; only the first element is used (wire-protocol.md §2.3).
            first = message.media_chunks[0]
            if first.mime_type.startswith("audio/"):
                await self._audio(first.data)
        elif message.activity_start is not None or message.activity_end is not None:
            if not self.manual_activity:  # with server VAD on: wire-protocol.md §2.3, §5.4
                await self.close(1007, EXPLICIT_ACTIVITY)
                return
            if message.activity_start is not None:
                self.activity_seen = True
                self.activity_started_at = 0.0
                self.activity_audio_ms = 0.0
                self.responder.barge_in()
            elif self.activity_started_at is not None:
                self.activity_started_at = None
                await self._speech_turn(self.activity_audio_ms)
        elif message.audio_stream_end and self.vad is not None:
            # Flushes the cached audio (wire-protocol.md §2.3); trailing speech ends there.
            await self._vad_edges(self.vad.flush())
        elif message.video is not None:
            # Frames do not count as activity (wire-protocol.md §2.3); they are context, and
            # their tokens show in the usage (§3.7: video about 258 tokens per second).
            self.current_conversation().video_frames += 1

    async def _audio(self, pcm: bytes) -> None:
        self.marks.feed(pcm)  # before the VAD: the chunk that ends a turn may hold its mark
        if self.manual_activity:
            if not self.activity_seen and self.host.strict_activity_audio:
                # With automatic activity detection off, audio before the first activityStart
                # is refused.  One third-party report only (BasedHardware/omi#7611), hence the
                # LiveEmulator(strict_activity_audio=False) switch.
                await self.close(1007, INVALID_ARGUMENT)
                return
            self._count_audio(pcm)
            if self.activity_started_at is not None:
                self.activity_audio_ms += audio.duration_ms(pcm, sample_rate=16000)
            return
        assert self.vad is not None
        self._count_audio(pcm)
        await self._vad_edges(self.vad.feed(pcm))

    def _count_audio(self, pcm: bytes) -> None:
        self.record.audio_bytes += len(pcm)
        self.current_conversation().audio_bytes += len(pcm)

    async def _vad_edges(self, edges: list[Any]) -> None:
        for edge in edges:
            if edge.kind == "start":
                self.activity_started_at = edge.at_ms
                self.responder.barge_in()
            elif self.activity_started_at is not None:
                started, self.activity_started_at = self.activity_started_at, None
                await self._speech_turn(edge.at_ms - started)

    async def _speech_turn(self, duration_ms: float) -> None:
        transcript = (
            self.marks.take()
            or self.host.take_transcript()
            or f"[speech {duration_ms / 1000:.1f} s]"
        )
        conversation = self.current_conversation()
        conversation.history.append(("user", transcript))
        conversation.heard_tokens += text_tokens(transcript)  # heard as audio, not text
        self.responder.owed += 1  # owed from now, though queued after the transcription
        try:
            if self.setup is not None and self.setup.input_audio_transcription is not None:
                await self.send(
                    m.ServerContent(input_transcription=m.Transcription(transcript, finished=True))
                )
        finally:
            self.responder.owed -= 1
        self.responder.user_turn(
            UserTurn("speech", transcript, duration_ms=duration_ms), interrupt=False
        )

    def _context_update(self, message: m.ContextUpdate) -> None:
        if message.system_instruction is not None:
            self.current_conversation().set_instruction(text_of(message.system_instruction))

    def current_conversation(self) -> Conversation:
        """The conversation; ``Stop`` once another connection has resumed it (never mutate it)."""
        conversation = self.conversation
        assert conversation is not None
        if conversation.connection != self.record.index:
            raise Stop
        return conversation


if TYPE_CHECKING:  # static proof that the engine gives the responder and the record what they use
    _line: type[Line] = Engine
    _controls: type[Controls] = Engine
