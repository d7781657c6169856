"""The emulated model's replies: scenario steps, tool calls, barge-in handling, goAway.

A :class:`Responder` answers one connection's user turns one at a time.  Each reply runs inside a
cancel scope; a barge-in (user speech, a new typed turn, an INTERRUPT-scheduled tool result)
cancels it, and the responder then sends ``interrupted``, a ``toolCallCancellation`` for calls
still pending, and ``turnComplete`` (never ``generationComplete``).  Calls to BLOCKING functions
wait for their ``toolResponse``; NON_BLOCKING results are scheduled as the response asks.
"""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING, Any

import attrs
import trio

from livehandle._logs import library_logger
from livehandle._wire import messages as m
from livehandle.testing import audio
from livehandle.testing._conversation import PendingReply, Stop, prompt_tokens
from livehandle.testing._log import turn_ended
from livehandle.testing._scenario import (
    Audio,
    CallTools,
    Fault,
    Pause,
    Say,
    Step,
    Transcript,
    UserTurn,
)

if TYPE_CHECKING:
    from livehandle.testing._line import Line

__all__ = ["Responder"]

log = library_logger("livehandle.testing")

DEADLINE = "Deadline expired before operation could complete."  # wire-protocol.md §1.5, §5.4
MODEL_RATE = 24000  # model audio is 24 kHz PCM (wire-protocol.md §5.1)
MS_PER_CHAR = 55  # how long the synthesized voice takes to "say" one character
TURN_QUEUE = 32  # user turns waiting for the responder; more are dropped and logged


def _render(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _output_of(response: m.FunctionResponse) -> str:
    body = response.response
    if set(body) == {"output"}:
        return _render(body["output"])
    if set(body) == {"error"}:
        return "error: " + _render(body["error"])
    return _render(body)


class _Template(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Responder:
    """Answers the user turns of one connection (see the module docstring)."""

    def __init__(self, line: Line) -> None:
        self.line = line
        self.replying = False
        self.reply_scope: trio.CancelScope | None = None
        self.blocking: dict[str, m.FunctionCall] = {}
        self.answers: dict[str, m.FunctionResponse] = {}
        self.answered = trio.Event()
        self.background: dict[str, m.FunctionCall] = {}
        self.turns_in, self.turns_out = trio.open_memory_channel[UserTurn](TURN_QUEUE)
        self.owed = 0  # user turns queued or being answered: while any, no quiet point
        self.turns_on_connection = 0
        self.go_away_sent = False
        self.ids = itertools.count(1)
        self.handing_out = trio.Lock()  # one checkpoint at a time, so handles go out in order
        self.reply = _Reply(UserTurn("text", ""), (), [], _Template())
        self.resuming_reply = False  # start() restored a reply waiting at a tool boundary

    # -- turns in -----------------------------------------------------------------------------

    def user_turn(self, turn: UserTurn, *, interrupt: bool) -> None:
        """Queue ``turn`` for an answer; ``interrupt`` barges in on a reply in progress."""
        if interrupt:
            self.barge_in()
        try:
            self.turns_in.send_nowait(turn)
        except trio.WouldBlock:
            log.warning("emulator: %d user turns are waiting; dropping %r", TURN_QUEUE, turn)
            self.line.record.errors.append(f"turn queue full; dropped {turn!r}")
        else:
            self.owed += 1

    def barge_in(self) -> None:
        """Cut the current reply short (unless activity handling is NO_INTERRUPTION)."""
        # START_OF_ACTIVITY_INTERRUPTS is the default; NO_INTERRUPTION lets the model finish
        # (wire-protocol.md §2.1 realtimeInputConfig).
        if self.replying and self.line.interrupts and self.reply_scope is not None:
            self.reply_scope.cancel()

    @property
    def quiet(self) -> bool:
        """Nothing owed: no turn queued or being answered, no blocking call waited for."""
        return self.owed == 0 and not self.blocking

    async def tool_response(self, message: m.ToolResponse) -> None:
        """Take the client's answers: wake a waiting reply, or schedule a background result."""
        # Responses are matched to calls by id (wire-protocol.md §2.4); BLOCKING calls hold the
        # reply until all are answered, NON_BLOCKING ones are scheduled (§7).
        for response in message.function_responses:
            call_id = response.id or ""
            if call_id in self.blocking:
                self.answers[call_id] = response
            elif call_id in self.background:
                if response.will_continue:  # interim answer, more will follow (§2.4, §7)
                    name = self.background[call_id].name
                    self.line.current_conversation().history.append(
                        ("tool", f"{name}: {_output_of(response)} (more to come)")
                    )
                    continue
                name = self.background.pop(call_id).name
                await self._background_result(name, response)
            else:
                self.line.record.errors.append(f"toolResponse for unknown call id {call_id!r}")
        if self.blocking and set(self.blocking) <= set(self.answers):
            self.answered.set()

    async def _background_result(self, name: str, response: m.FunctionResponse) -> None:
        result = _output_of(response)
        self.line.current_conversation().history.append(("tool", f"{name}: {result}"))
        # WHEN_IDLE by default; SILENT only adds to the context; INTERRUPT cuts the reply in
        # progress (wire-protocol.md §7 NON_BLOCKING; §2.4 on the SDK default).
        scheduling = response.scheduling or m.Scheduling.WHEN_IDLE
        if scheduling == m.Scheduling.SILENT:
            return
        turn = UserTurn("tool_result", result, tool_name=name, tool_result=result)
        if scheduling == m.Scheduling.INTERRUPT and self.replying and self.reply_scope is not None:
            self.reply_scope.cancel()
        self.user_turn(turn, interrupt=False)

    # -- checkpoints --------------------------------------------------------------------------

    async def checkpoint(self, *, tool_call: m.ToolCall | None = None) -> None:
        """Take a checkpoint and send its handle, if the connection asked for resumption.

        Only at a quiet point (nothing owed) or, with ``tool_call``, at a tool boundary: the
        checkpoint is taken before ``tool_call`` is sent and includes it, and its handle follows
        the call (wire-protocol.md §3.6; issue 12 part 8: checkpoints at turn and tool
        boundaries).  The snapshot is taken with no await between it and the state it copies.
        """
        if not self.line.resumption:
            if tool_call is not None:
                await self.line.send(tool_call)
            return
        async with self.handing_out:
            waiting = tool_call is not None and self.owed == 1
            update = None
            if (waiting or self.quiet) and not self.line.silent:
                update = self._snapshot(waiting=waiting)
            if tool_call is not None:
                await self.line.send(tool_call)
            if update is not None:
                await self.line.send(update)

    def _snapshot(self, *, waiting: bool) -> m.SessionResumptionUpdate:
        line = self.line
        conversation = line.current_conversation()
        pending = None
        if waiting:
            reply = self.reply
            pending = PendingReply(
                reply.turn,
                reply.rest,
                tuple(reply.said),
                tuple(reply.values.items()),
                tuple(self.blocking.values()),
            )
        handle = line.host.new_handle(conversation)
        checkpoint = conversation.snapshot(
            handle,
            line.record.index,
            trio.current_time(),
            line.consumed,
            tool_calls=(*(pending.blocking if pending else ()), *self.background.values()),
            reply=pending,
        )
        line.host.keep(checkpoint)
        line.record.checkpoints.append(checkpoint)
        # Vertex transparent mode reports the last client message the checkpoint includes
        # (wire-protocol.md §3.6, §8); the index counts this connection's messages after setup.
        index = checkpoint.consumed_index if line.transparent else None
        return m.SessionResumptionUpdate(
            new_handle=handle, resumable=True, last_consumed_client_message_index=index
        )

    # -- replies ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin the connection: its first handle, and the calls a resume issues again.

        Runs before any client message after ``setup`` is read, so the first handle names the
        state the connection starts from.  A resumed connection issues again the tool calls its
        checkpoint waited for (same ids); at a tool boundary, :meth:`run` then goes on with the
        rest of that reply.
        """
        conversation = self.line.current_conversation()
        pending, calls = conversation.pending, conversation.resumed_calls
        conversation.pending, conversation.resumed_calls = None, ()
        waiting = {c.id or "" for c in pending.blocking} if pending else set()
        self.background = {c.id or "": c for c in calls if (c.id or "") not in waiting}
        if pending is None:
            await self.checkpoint()
            if calls:
                await self.line.send(m.ToolCall(calls))
            return
        self.owed += 1
        values = _Template(pending.values)
        self.reply = _Reply(pending.turn, pending.rest, list(pending.said), values)
        self.blocking = {c.id or "": c for c in pending.blocking}
        self.answers, self.answered = {}, trio.Event()
        self.resuming_reply = True
        await self.checkpoint(tool_call=m.ToolCall(calls))

    async def run(self) -> None:
        """Answer queued turns one at a time until the connection ends."""
        if self.resuming_reply:
            self.resuming_reply = False
            await self._play(resumed=True)
        async for turn in self.turns_out:
            await self._reply(turn)

    async def _reply(self, turn: UserTurn) -> None:
        conversation = self.line.current_conversation()
        if self.line.silent:  # a server gone quiet after goAway answers nothing
            self.owed -= 1
            return
        steps = self.line.host.scenario.reply_for(turn, conversation.rule_uses)
        values = _Template(
            user_text=turn.text,
            instruction=conversation.instruction,
            turn=str(conversation.turns + 1),
            name=turn.tool_name or "",
            result=turn.tool_result or "",
            results=turn.tool_result or "",
        )
        self.reply = _Reply(turn, steps, [], values)
        await self._play(resumed=False)

    async def _play(self, *, resumed: bool) -> None:
        reply = self.reply
        with trio.CancelScope() as scope:
            self.reply_scope = scope
            self.replying = True
            if resumed:
                await self._collect_answers()
            elif self.line.resumption:  # not resumable while generating (wire-protocol.md §3.6)
                await self.line.send(m.SessionResumptionUpdate(resumable=False))
            steps = reply.rest
            for index, step in enumerate(steps):
                reply.rest = steps[index + 1 :]  # what a tool-boundary checkpoint still owes
                await self._run_step(step, reply.values, reply.said)
        self.reply_scope = None
        self.replying = False
        if scope.cancelled_caught:
            await self._interrupted()
        else:
            # generationComplete, then turnComplete with the usage (wire-protocol.md §3.2, §3.9).
            await self.line.send(m.ServerContent(generation_complete=True))
            usage = self._usage(reply.said)
            await self.line.send(m.ServerContent(turn_complete=True, usage_metadata=usage))
        conversation = self.line.current_conversation()  # Stop if resumed elsewhere meanwhile
        if not scope.cancelled_caught:
            if reply.said:
                conversation.history.append(("model", " ".join(reply.said)))
            conversation.answered.append(reply.turn)
        conversation.turns += 1
        self.turns_on_connection += 1
        interrupted = scope.cancelled_caught
        turn_ended(
            self.line.record,
            conversation.turns,
            reply.turn,
            reply.said,
            reply.tools,
            interrupted=interrupted,
        )
        self.owed -= 1
        await self.checkpoint()  # a turn boundary
        limit = self.line.host.scenario.go_away_after_turns
        if limit is not None and self.turns_on_connection >= limit:
            self._start_go_away(self.line.host.scenario.go_away_time_left)

    async def _interrupted(self) -> None:
        # interrupted, a cancellation of the calls still pending, turnComplete and no
        # generationComplete (wire-protocol.md §3.2, §3.4, §3.9 "barge-in").
        await self.line.send(m.ServerContent(interrupted=True))
        pending = [call_id for call_id in self.blocking if call_id not in self.answers]
        pending += list(self.background)
        if pending:
            await self.line.send(m.ToolCallCancellation(tuple(pending)))
        self.blocking.clear()
        self.background.clear()
        self.answers.clear()
        await self.line.send(m.ServerContent(turn_complete=True))

    def _usage(self, said: list[str]) -> m.UsageMetadata:
        # Per-modality counts as the real server reports them (wire-protocol.md §3.7, §6's
        # example: TEXT and AUDIO prompt tokens side by side), sent with turnComplete.
        details = prompt_tokens(self.line.current_conversation())
        prompt = sum(details.values())
        spoken = sum(len(text) for text in said)
        response = (spoken * MS_PER_CHAR * 25 // 1000) if self.line.audio_out else spoken // 4 + 1
        modality = "AUDIO" if self.line.audio_out else "TEXT"
        return m.UsageMetadata(
            prompt_token_count=prompt,
            response_token_count=response,
            total_token_count=prompt + response,
            prompt_tokens_details=tuple(
                m.ModalityTokenCount(name, count) for name, count in details.items()
            ),
            response_tokens_details=(m.ModalityTokenCount(modality, response),),
        )

    # -- steps --------------------------------------------------------------------------------

    async def _run_step(self, step: Step, values: _Template, said: list[str]) -> None:
        match step:
            case Say(text=template):
                text = template.format_map(values)
                lead = " " if said else ""  # consecutive steps read as one sentence
                said.append(text)
                if self.line.audio_out:
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
                    await self.line.send(m.ServerContent(input_transcription=fragment))
                else:
                    await self.line.send(m.ServerContent(output_transcription=fragment))
            case CallTools(calls=calls):
                await self._call_tools(calls)
            case Pause(seconds=seconds):
                await trio.sleep(seconds)
            case Fault():
                await self.fault(step)

    async def _write(self, text: str) -> None:
        words = text.split(" ")
        for start in range(0, len(words), 3):
            piece = " ".join(words[start : start + 3])
            if start + 3 < len(words):
                piece += " "
            await self.line.send(
                m.ServerContent(model_turn=m.Content((m.Part(text=piece),), "model"))
            )
            await self._pace(0.05)

    async def _speak(self, ms: int, transcript: str | None) -> None:
        # Audio as inlineData parts of modelTurn, outputTranscription fragments alongside, only
        # when outputAudioTranscription was asked for (wire-protocol.md §2.1, §3.2).
        pcm = audio.synth_voice(ms, sample_rate=MODEL_RATE, seed=transcript or ms)
        chunks = audio.chunked(pcm, self.line.host.chunk_ms, sample_rate=MODEL_RATE)
        words = transcript.split(" ") if transcript else []
        transcribe = (
            self.line.setup is not None and self.line.setup.output_audio_transcription is not None
        )
        sent_words = 0
        for index, chunk in enumerate(chunks):
            blob = m.Blob("audio/pcm;rate=24000", chunk)
            await self.line.send(
                m.ServerContent(model_turn=m.Content((m.Part(inline_data=blob),), "model"))
            )
            due = len(words) * (index + 1) // len(chunks)
            if transcribe and due > sent_words:
                piece = " ".join(words[sent_words:due]) + (" " if due < len(words) else "")
                sent_words = due
                await self.line.send(m.ServerContent(output_transcription=m.Transcription(piece)))
            await self._pace(self.line.host.chunk_ms / 1000)

    async def _pace(self, seconds: float) -> None:
        if self.line.host.realtime:
            await trio.sleep(seconds)
        else:
            await trio.lowlevel.checkpoint()  # lets the reader see a barge-in between chunks

    async def _call_tools(self, specs: tuple[Any, ...]) -> None:
        declarations = self.line.host.declarations(self.line.setup)
        calls = []
        for spec in specs:
            call_id = spec.id or f"fc-{self.line.record.index}-{next(self.ids)}"
            calls.append(m.FunctionCall(name=spec.name, id=call_id, args=dict(spec.args)))
        # BLOCKING unless declared NON_BLOCKING (wire-protocol.md §2.1 FunctionDeclaration, §7).
        self.blocking = {c.id or "": c for c in calls if declarations.get(c.name) != "NON_BLOCKING"}
        self.background.update(
            {c.id or "": c for c in calls if declarations.get(c.name) == "NON_BLOCKING"}
        )
        self.answers = {}
        self.answered = trio.Event()
        self.reply.tools.extend(call.name for call in calls)
        await self.checkpoint(tool_call=m.ToolCall(tuple(calls)))  # a tool boundary
        if self.blocking:
            await self._collect_answers()

    async def _collect_answers(self) -> None:
        """Wait for every blocking call's answer, then fill in ``{result}`` and go on."""
        await self.answered.wait()
        if self.line.resumption:  # generating again (wire-protocol.md §3.6)
            await self.line.send(m.SessionResumptionUpdate(resumable=False))
        calls = list(self.blocking.values())
        outputs = [_output_of(self.answers[call_id]) for call_id in self.blocking]
        values = self.reply.values
        values["result"] = outputs[-1]
        values["results"] = ", ".join(outputs)
        values["name"] = calls[-1].name
        self.line.current_conversation().history.extend(
            ("tool", f"{c.name}: {o}") for c, o in zip(calls, outputs, strict=True)
        )
        self.blocking = {}
        self.answers = {}

    async def fault(self, fault: Fault) -> None:
        """Make ``fault`` happen now (see :data:`~livehandle.testing.FaultKind`)."""
        match fault.kind:
            case "drop":
                await self.line.drop()
                raise Stop
            case "close":
                await self.line.close(fault.code, fault.reason)
                raise Stop
            case "malformed":
                await self.line.send_raw(b'{"serverContent": {"modelTurn": ')
            case "unknown_kind":
                await self.line.send_raw('{"futureMessageKind":{"detail":"not in any client yet"}}')
            case "usage_only":
                await self.line.send(m.EmptyServerMessage(self._usage([])))
            case "empty_content":
                await self.line.send(m.ServerContent())
            case "stall":
                await trio.sleep_forever()
            case "go_away":
                self._start_go_away(fault.time_left)

    # -- goAway -------------------------------------------------------------------------------

    async def go_away_later(self, after: float) -> None:
        """Send ``goAway`` once the connection is ``after`` seconds old."""
        await trio.sleep(after)
        self._start_go_away(self.line.host.scenario.go_away_time_left)

    async def live_for(self, lifetime: float) -> None:
        """End the connection at ``lifetime``: ``goAway`` a lead time before, then close 1011.

        The lead is ``Scenario.go_away_time_left`` (wire-protocol.md §3.5, §5.2: about 10 min,
        ``goAway`` about 50-60 s before); the close is the deadline close of §5.4, whatever
        other ``goAway`` came first.
        """
        lead = self.line.host.scenario.go_away_time_left
        await trio.sleep(lifetime - lead)
        self._start_go_away(lead)
        await trio.sleep(lead)
        await self.line.close(1011, DEADLINE)

    def _start_go_away(self, time_left: float) -> None:
        if not self.go_away_sent and self.line.nursery is not None:
            self.go_away_sent = True
            self.line.nursery.start_soon(self._go_away, time_left)

    async def _go_away(self, time_left: float) -> None:
        try:
            await self.line.send(m.GoAway(time_left=time_left))
        except Stop:
            return
        if self.line.host.scenario.silent_after_go_away:
            # The server can go quiet after goAway (tau2-bench PR #461): the reply in progress
            # stops where it is and nothing more is sent until the deadline close.
            self.line.silence()
            if self.reply_scope is not None:
                self.reply_scope.cancel()
        await trio.sleep(time_left)
        await self.line.close(1011, DEADLINE)


@attrs.define
class _Reply:
    """The reply being played: its turn, the steps still to run, what was said, the values."""

    turn: UserTurn
    rest: tuple[Step, ...]
    said: list[str]
    values: _Template
    tools: list[str] = attrs.Factory(list)  # the names of the tools it called, for the log
