"""The emulator's protocol engine: one instance plays the model on one WebSocket connection.

Three tasks per connection, in the connection's nursery:

* the reader decodes client messages, records them, runs server VAD over realtime audio and turns
  user activity into turns (a typed turn, a finished speech turn) and barge-ins;
* the responder answers turns one at a time by running the scenario's reply steps inside a
  cancel scope; a barge-in cancels that scope and the responder sends ``interrupted``, any
  ``toolCallCancellation`` and ``turnComplete`` (no ``generationComplete``);
* an optional timer sends ``goAway`` and then closes 1011 when its ``timeLeft`` is up.

Every send is shielded, so a barge-in never cuts a frame in half.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
from typing import TYPE_CHECKING, Any, Literal

import attrs
import trio
import trio_websocket

from livehandle.errors import ProtocolError
from livehandle.testing import audio
from livehandle.testing.scenario import (
    Audio,
    CallTools,
    Fault,
    Pause,
    Say,
    Step,
    Transcript,
    UserTurn,
)
from livehandle.testing.vad import ServerVad
from livehandle.wire import messages as m
from livehandle.wire.codec import decode_client, encode_server

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from livehandle.testing.emulator import EmulatorConnection, LiveEmulator

log = logging.getLogger("livehandle.testing")

INVALID_ARGUMENT = "Request contains an invalid argument."
EXPLICIT_ACTIVITY = (
    "Explicit activity control is not supported when automatic activity detection is enabled"
)
DEADLINE = "Deadline expired before operation could complete."
MODEL_RATE = 24000
MS_PER_CHAR = 55  # how long the synthesized voice takes to "say" one character
TURN_QUEUE = 32  # user turns waiting for the responder; more are dropped and logged
CLOSE_GRACE = 1.0  # seconds to wait for the client's close reply
SEND_TIMEOUT = 5.0  # seconds one frame may wait for a client that does not read


@attrs.define(eq=False)
class Conversation:
    """What the model remembers; shared by every connection that resumes it."""

    id: int
    instruction: str = ""
    history: list[tuple[str, str]] = attrs.field(factory=list)
    instructions: list[str] = attrs.field(factory=list)
    rule_uses: dict[int, int] = attrs.field(factory=dict)
    turns: int = 0
    handles: int = 0
    attached: bool = False

    def set_instruction(self, text: str) -> None:
        self.instruction = text
        self.instructions.append(text)


class _Stop(Exception):
    """The connection is gone (closed, dropped); stop the current reply."""


def _stopping() -> contextlib.suppress:
    """Where a closed connection simply ends the work at hand."""
    return contextlib.suppress(_Stop)


def _text_of(content: m.Content | None) -> str:
    if content is None:
        return ""
    return "".join(part.text for part in content.parts if part.text)


def _render(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _output_of(response: m.FunctionResponse) -> str:
    body = response.response
    if set(body) == {"output"}:
        return _render(body["output"])
    if set(body) == {"error"}:
        return "error: " + _render(body["error"])
    return _render(body)


def _level(value: str | None, low_default: bool) -> Literal["HIGH", "LOW"]:
    if value is None or value.endswith("UNSPECIFIED"):
        return "LOW" if low_default else "HIGH"
    return "LOW" if value.endswith("_LOW") else "HIGH"


class _Template(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Engine:
    """Plays the model on one accepted connection until it closes."""

    def __init__(
        self,
        emulator: LiveEmulator,
        ws: trio_websocket.WebSocketConnection,
        stream: trio.abc.Stream,
        record: EmulatorConnection,
    ) -> None:
        self.emu = emulator
        self.ws = ws
        self.stream = stream
        self.record = record
        self.setup: m.Setup | None = None
        self.conversation: Conversation | None = None
        self.vad: ServerVad | None = None
        self.manual_activity = False
        self.activity_started_at: float | None = None
        self.activity_audio_ms = 0.0
        self.replying = False
        self.reply_scope: trio.CancelScope | None = None
        self.blocking: dict[str, m.FunctionCall] = {}
        self.answers: dict[str, m.FunctionResponse] = {}
        self.answered = trio.Event()
        self.background: dict[str, str] = {}
        self.turns_in, self.turns_out = trio.open_memory_channel[UserTurn](TURN_QUEUE)
        self.turns_on_connection = 0
        self.go_away_sent = False
        self.nursery: trio.Nursery | None = None
        self.ids = itertools.count(1)
        self.seeding_history = False

    # -- lifecycle ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Handshake, then serve the connection until it closes."""
        try:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                with _stopping():
                    if await self._handshake():
                        nursery.start_soon(self._until_stopped, self._run_responder)
                        if (after := self.emu.scenario.go_away_after) is not None:
                            nursery.start_soon(self._go_away_later, after)
                        await self._run_reader()
                nursery.cancel_scope.cancel()  # the reader ended: the connection is over
        finally:
            if self.conversation is not None:
                self.conversation.attached = False

    async def _until_stopped(self, task: Callable[[], Awaitable[None]]) -> None:
        with _stopping():
            await task()
        if self.nursery is not None:  # only a closed connection ends a task: end the others
            self.nursery.cancel_scope.cancel()

    async def inject(self, fault: Fault) -> None:
        """Apply ``fault`` now, outside any reply (a test control)."""
        await self.in_engine(functools.partial(self._fault, fault))

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
                with _stopping():
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
            await self.close(1007, INVALID_ARGUMENT)
            return False
        self.setup = first
        self.record.setup = first
        problem = self.emu.check_setup(self.record, first)
        if problem is not None:
            await self.close(*problem)
            return False
        resumption = first.session_resumption
        if resumption is not None and resumption.handle:
            conversation = self.emu.conversation_for(resumption.handle)
            if conversation is None:
                await self.close(1007, "Invalid session resumption handle.")
                return False
            self.record.resumed_from = resumption.handle
        else:
            conversation = self.emu.new_conversation()
        self.conversation = conversation
        conversation.attached = True
        self.record.conversation = conversation
        if first.system_instruction is not None:
            conversation.set_instruction(_text_of(first.system_instruction))
        self._configure_activity(first.realtime_input_config)
        history = first.history_config
        self.seeding_history = bool(history and history.initial_history_in_client_content)
        scenario = self.emu.scenario
        if scenario.setup_delay:
            await trio.sleep(scenario.setup_delay)
        if not scenario.setup_complete:
            await self._run_reader()  # record what the client sends, never answer
            return False
        session_id = (
            f"emulator-session-{conversation.id}" if self.record.backend == "vertex" else None
        )
        await self.send(m.SetupComplete(session_id=session_id))
        await self._checkpoint()
        return True

    def _configure_activity(self, config: m.RealtimeInputConfig | None) -> None:
        detection = config.automatic_activity_detection if config else None
        if detection is not None and detection.disabled:
            self.manual_activity = True
            return
        # Sensitivity defaults differ by backend: HIGH on Google AI, LOW on Vertex.
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

    # -- sending ------------------------------------------------------------------------------

    async def send(self, message: m.ServerMessage) -> None:
        """Encode and send one message (shielded: a barge-in never cuts a frame)."""
        text = encode_server(message)
        await self.send_raw(text.encode() if self.emu.binary_frames else text, message)

    async def send_raw(self, data: str | bytes, message: m.ServerMessage | None = None) -> None:
        """Send a frame as it is; ``message`` (if given) is what gets recorded."""
        # Shielded so that a barge-in never cuts a frame in half; bounded so that a client that
        # stopped reading cannot hold the emulator (it is dropped instead).
        with trio.move_on_after(SEND_TIMEOUT, shield=True) as waited:
            try:
                await self.ws.send_message(data)
            except (trio_websocket.ConnectionClosed, trio.BrokenResourceError):
                raise _Stop from None
        if waited.cancelled_caught:
            self.record.errors.append(f"the client read nothing for {SEND_TIMEOUT:g} s; dropped")
            await self.drop()
            raise _Stop
        self.record.record_sent(message if message is not None else data)

    async def close(self, code: int, reason: str) -> None:
        """Close the connection with a close frame.

        Bounded: trio-websocket waits for the peer's close reply, which never comes from a peer
        that has already dropped the TCP connection; after the grace the stream is closed.
        """
        with trio.CancelScope(shield=True):
            with trio.move_on_after(CLOSE_GRACE) as waited:
                await self.ws.aclose(code, reason)
            if waited.cancelled_caught:
                self.record.errors.append("the client did not answer the close frame in time")
                await trio.aclose_forcefully(self.stream)

    async def drop(self) -> None:
        """Close the TCP connection without a close frame."""
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(self.stream)

    async def _checkpoint(self) -> None:
        await trio.lowlevel.checkpoint()

    # -- reader -------------------------------------------------------------------------------

    async def _receive(self) -> m.ClientMessage | None:
        try:
            data = await self.ws.get_message()
        except trio_websocket.ConnectionClosed:
            return None
        try:
            message = decode_client(data)
        except ProtocolError as exc:
            log.info("emulator: closing on an invalid client message: %s", exc)
            self.record.errors.append(str(exc))
            await self.close(1007, INVALID_ARGUMENT)
            return None
        self.record.record_received(message)
        return message

    async def _run_reader(self) -> None:
        while (message := await self._receive()) is not None:
            await self._dispatch(message)

    async def _dispatch(self, message: m.ClientMessage) -> None:
        match message:
            case m.Setup():
                await self.close(1007, INVALID_ARGUMENT)  # setup is the first message only
            case m.ClientContent():
                await self._client_content(message)
            case m.RealtimeInput():
                await self._realtime_input(message)
            case m.ToolResponse():
                await self._tool_response(message)
            case m.ContextUpdate():
                self._context_update(message)

    async def _client_content(self, message: m.ClientContent) -> None:
        conversation = self._conversation()
        user_text = ""
        for turn in message.turns or ():
            text = _text_of(turn)
            if turn.role == "system":
                conversation.set_instruction(text)
                continue
            conversation.history.append((turn.role or "user", text))
            if turn.role in (None, "user"):
                user_text = text
        if not message.turn_complete:
            return
        if self.seeding_history:
            self.seeding_history = False  # initial history: taken in, no reply
            return
        self._user_turn(UserTurn("text", user_text), interrupt=True)

    async def _realtime_input(self, message: m.RealtimeInput) -> None:
        if message.text is not None:
            self._conversation().history.append(("user", message.text))
            self._user_turn(UserTurn("text", message.text), interrupt=True)
        elif message.audio is not None:
            await self._audio(message.audio.data)
        elif message.media_chunks:
            first = message.media_chunks[0]
            if first.mime_type.startswith("audio/"):
                await self._audio(first.data)
        elif message.activity_start is not None or message.activity_end is not None:
            if not self.manual_activity:
                await self.close(1007, EXPLICIT_ACTIVITY)
                return
            if message.activity_start is not None:
                self.activity_started_at = 0.0
                self.activity_audio_ms = 0.0
                self._barge_in()
            elif self.activity_started_at is not None:
                self.activity_started_at = None
                await self._speech_turn(self.activity_audio_ms)
        elif message.audio_stream_end and self.vad is not None:
            await self._vad_edges(self.vad.flush())
        # video frames are recorded and otherwise ignored

    async def _audio(self, pcm: bytes) -> None:
        if self.manual_activity:
            if self.activity_started_at is not None:
                self.activity_audio_ms += audio.duration_ms(pcm, sample_rate=16000)
            return
        assert self.vad is not None
        await self._vad_edges(self.vad.feed(pcm))

    async def _vad_edges(self, edges: list[Any]) -> None:
        for edge in edges:
            if edge.kind == "start":
                self.activity_started_at = edge.at_ms
                self._barge_in()
            elif self.activity_started_at is not None:
                started, self.activity_started_at = self.activity_started_at, None
                await self._speech_turn(edge.at_ms - started)

    async def _speech_turn(self, duration_ms: float) -> None:
        transcript = self.emu.take_transcript() or f"[speech {duration_ms / 1000:.1f} s]"
        self._conversation().history.append(("user", transcript))
        if self.setup is not None and self.setup.input_audio_transcription is not None:
            await self.send(
                m.ServerContent(input_transcription=m.Transcription(transcript, finished=True))
            )
        self._user_turn(UserTurn("speech", transcript, duration_ms=duration_ms), interrupt=False)

    def _user_turn(self, turn: UserTurn, *, interrupt: bool) -> None:
        if interrupt:
            self._barge_in()
        try:
            self.turns_in.send_nowait(turn)
        except trio.WouldBlock:
            log.warning("emulator: %d user turns are waiting; dropping %r", TURN_QUEUE, turn)

    def _barge_in(self) -> None:
        if self.replying and self.interrupts and self.reply_scope is not None:
            self.reply_scope.cancel()

    async def _tool_response(self, message: m.ToolResponse) -> None:
        for response in message.function_responses:
            call_id = response.id or ""
            if call_id in self.blocking:
                self.answers[call_id] = response
            elif call_id in self.background:
                name = self.background.pop(call_id)
                await self._background_result(name, response)
            else:
                self.record.errors.append(f"toolResponse for unknown call id {call_id!r}")
        if self.blocking and set(self.blocking) <= set(self.answers):
            self.answered.set()

    async def _background_result(self, name: str, response: m.FunctionResponse) -> None:
        result = _output_of(response)
        self._conversation().history.append(("tool", f"{name}: {result}"))
        scheduling = response.scheduling or m.Scheduling.WHEN_IDLE
        if scheduling == m.Scheduling.SILENT:
            return
        turn = UserTurn("tool_result", result, tool_name=name, tool_result=result)
        if scheduling == m.Scheduling.INTERRUPT and self.replying and self.reply_scope is not None:
            self.reply_scope.cancel()
        self._user_turn(turn, interrupt=False)

    def _context_update(self, message: m.ContextUpdate) -> None:
        if message.system_instruction is not None:
            self._conversation().set_instruction(_text_of(message.system_instruction))

    def _conversation(self) -> Conversation:
        assert self.conversation is not None
        return self.conversation

    # -- responder ----------------------------------------------------------------------------

    async def _run_responder(self) -> None:
        if self.resumption:
            await self._new_handle()
        async for turn in self.turns_out:
            await self._reply(turn)

    async def _reply(self, turn: UserTurn) -> None:
        conversation = self._conversation()
        steps = self.emu.scenario.reply_for(turn, conversation.rule_uses)
        values = _Template(
            user_text=turn.text,
            instruction=conversation.instruction,
            turn=str(conversation.turns + 1),
            name=turn.tool_name or "",
            result=turn.tool_result or "",
            results=turn.tool_result or "",
        )
        said: list[str] = []
        with trio.CancelScope() as scope:
            self.reply_scope = scope
            self.replying = True
            if self.resumption:
                await self.send(m.SessionResumptionUpdate(resumable=False))
            for step in steps:
                await self._run_step(step, values, said)
        self.reply_scope = None
        self.replying = False
        if scope.cancelled_caught:
            await self._interrupted()
        else:
            if said:
                conversation.history.append(("model", " ".join(said)))
            await self.send(m.ServerContent(generation_complete=True))
            await self.send(m.ServerContent(turn_complete=True, usage_metadata=self._usage(said)))
        conversation.turns += 1
        self.turns_on_connection += 1
        if self.resumption:
            await self._new_handle()
        limit = self.emu.scenario.go_away_after_turns
        if limit is not None and self.turns_on_connection >= limit:
            self._start_go_away(self.emu.scenario.go_away_time_left)

    async def _interrupted(self) -> None:
        await self.send(m.ServerContent(interrupted=True))
        pending = [call_id for call_id in self.blocking if call_id not in self.answers]
        pending += list(self.background)
        if pending:
            await self.send(m.ToolCallCancellation(tuple(pending)))
        self.blocking.clear()
        self.background.clear()
        self.answers.clear()
        await self.send(m.ServerContent(turn_complete=True))

    async def _new_handle(self) -> None:
        handle = self.emu.new_handle(self._conversation())
        await self.send(m.SessionResumptionUpdate(new_handle=handle, resumable=True))

    def _usage(self, said: list[str]) -> m.UsageMetadata:
        conversation = self._conversation()
        prompt = 8 + len(conversation.instruction) // 4
        prompt += sum(len(text) // 4 + 1 for _, text in conversation.history)
        spoken = sum(len(text) for text in said)
        response = (spoken * MS_PER_CHAR * 25 // 1000) if self.audio_out else spoken // 4 + 1
        modality = "AUDIO" if self.audio_out else "TEXT"
        return m.UsageMetadata(
            prompt_token_count=prompt,
            response_token_count=response,
            total_token_count=prompt + response,
            prompt_tokens_details=(m.ModalityTokenCount("TEXT", prompt),),
            response_tokens_details=(m.ModalityTokenCount(modality, response),),
        )

    # -- steps --------------------------------------------------------------------------------

    async def _run_step(self, step: Step, values: _Template, said: list[str]) -> None:
        match step:
            case Say(text=template):
                text = template.format_map(values)
                lead = " " if said else ""  # consecutive steps read as one sentence
                said.append(text)
                if self.audio_out:
                    await self._speak(max(200, len(text) * MS_PER_CHAR), lead + text)
                else:
                    await self._write(lead + text)
            case Audio(ms=ms, transcript=transcript):
                words = None if transcript is None else transcript.format_map(values)
                lead = " " if said else ""
                if words:
                    said.append(words)
                await self._speak(ms, lead + words if words else None)
            case Transcript(text=template, of_user=of_user):
                fragment = m.Transcription(template.format_map(values))
                if of_user:
                    await self.send(m.ServerContent(input_transcription=fragment))
                else:
                    await self.send(m.ServerContent(output_transcription=fragment))
            case CallTools(calls=calls):
                await self._call_tools(calls, values)
            case Pause(seconds=seconds):
                await trio.sleep(seconds)
            case Fault():
                await self._fault(step)

    async def _write(self, text: str) -> None:
        words = text.split(" ")
        for start in range(0, len(words), 3):
            piece = " ".join(words[start : start + 3])
            if start + 3 < len(words):
                piece += " "
            await self.send(m.ServerContent(model_turn=m.Content((m.Part(text=piece),), "model")))
            await self._pace(0.05)

    async def _speak(self, ms: int, transcript: str | None) -> None:
        pcm = audio.synth_voice(ms, sample_rate=MODEL_RATE, seed=transcript or ms)
        chunks = audio.chunked(pcm, self.emu.chunk_ms, sample_rate=MODEL_RATE)
        words = transcript.split(" ") if transcript else []
        transcribe = self.setup is not None and self.setup.output_audio_transcription is not None
        sent_words = 0
        for index, chunk in enumerate(chunks):
            blob = m.Blob("audio/pcm;rate=24000", chunk)
            await self.send(
                m.ServerContent(model_turn=m.Content((m.Part(inline_data=blob),), "model"))
            )
            due = len(words) * (index + 1) // len(chunks)
            if transcribe and due > sent_words:
                piece = " ".join(words[sent_words:due]) + (" " if due < len(words) else "")
                sent_words = due
                await self.send(m.ServerContent(output_transcription=m.Transcription(piece)))
            await self._pace(self.emu.chunk_ms / 1000)

    async def _pace(self, seconds: float) -> None:
        if self.emu.realtime:
            await trio.sleep(seconds)
        else:
            await trio.lowlevel.checkpoint()  # lets the reader see a barge-in between chunks

    async def _call_tools(self, specs: tuple[Any, ...], values: _Template) -> None:
        declarations = self.emu.declarations(self.setup)
        calls = []
        for spec in specs:
            call_id = spec.id or f"fc-{self.record.index}-{next(self.ids)}"
            calls.append(m.FunctionCall(name=spec.name, id=call_id, args=dict(spec.args)))
        self.blocking = {c.id or "": c for c in calls if declarations.get(c.name) != "NON_BLOCKING"}
        self.background.update(
            {c.id or "": c.name for c in calls if declarations.get(c.name) == "NON_BLOCKING"}
        )
        self.answers = {}
        self.answered = trio.Event()
        await self.send(m.ToolCall(tuple(calls)))
        if not self.blocking:
            return
        await self.answered.wait()
        outputs = [_output_of(self.answers[call_id]) for call_id in self.blocking]
        values["result"] = outputs[-1]
        values["results"] = ", ".join(outputs)
        values["name"] = calls[-1].name
        self._conversation().history.extend(
            ("tool", f"{c.name}: {o}") for c, o in zip(self.blocking.values(), outputs, strict=True)
        )
        self.blocking = {}
        self.answers = {}

    async def _fault(self, fault: Fault) -> None:
        match fault.kind:
            case "drop":
                await self.drop()
                raise _Stop
            case "close":
                await self.close(fault.code, fault.reason)
                raise _Stop
            case "malformed":
                await self.send_raw(b'{"serverContent": {"modelTurn": ')
            case "unknown_kind":
                await self.send_raw('{"futureMessageKind":{"detail":"not in any client yet"}}')
            case "usage_only":
                await self.send(m.EmptyServerMessage(self._usage([])))
            case "empty_content":
                await self.send(m.ServerContent())
            case "stall":
                await trio.sleep_forever()
            case "go_away":
                self._start_go_away(fault.time_left)

    # -- goAway -------------------------------------------------------------------------------

    async def _go_away_later(self, after: float) -> None:
        await trio.sleep(after)
        self._start_go_away(self.emu.scenario.go_away_time_left)

    def _start_go_away(self, time_left: float) -> None:
        if not self.go_away_sent and self.nursery is not None:
            self.go_away_sent = True
            self.nursery.start_soon(self._go_away, time_left)

    async def _go_away(self, time_left: float) -> None:
        try:
            await self.send(m.GoAway(time_left=time_left))
        except _Stop:
            return
        await trio.sleep(time_left)
        await self.close(1011, DEADLINE)
