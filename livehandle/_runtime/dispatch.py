"""ToolDispatcher: every tool call gets exactly one answer, or a recorded reason why not.

The control lane hands each ``toolCall`` message to :meth:`ToolDispatcher.dispatch`, which
starts one task per message in the dispatcher's own nursery (so a slow tool never stalls the
control lane) and returns:

* the ``on_tool_call(calls, state)`` hook may answer the whole message itself; otherwise
* **inline** calls (ordinary tools) run concurrently, inside the barge-in group captured when the
  message arrived: a barge-in cancels them, and they are reported as cancelled, not answered.
  Each has its own cancel scope, so a server ``toolCallCancellation`` stops exactly the calls it
  names.  A cancellation is remembered only for calls **in flight** (seen in a ``toolCall``
  and not finished; a call left to the application stays in flight until the server's turn
  ends): one naming anything else is ignored, counted in
  :attr:`~livehandle.ToolStats.ignored_cancellations` and logged, so it can never withdraw a
  later call that reuses the id, and the memory of cancelled ids never outgrows the calls in
  flight.
  Exceptions, bad arguments, unknown tool names and timeouts are answered as ``{"error": ...}``:
  the model never waits for ever;
* **background** calls (``@tool(background=True)``, declared NON_BLOCKING) are acknowledged at
  once where the backend supports ``willContinue`` (the formatter's "running" payload,
  ``scheduling: SILENT``, ``willContinue: true``) and run in their own task and cancel scope,
  tracked by call id, outside the barge-in group; their result follows with the tool's
  scheduling (WHEN_IDLE by default).  Vertex has no ``FunctionResponse.willContinue``
  (wire-protocol.md §8; its server refuses the name with 1007), and a plain acknowledgement
  would be the call's one and only answer, so on Vertex no acknowledgement is sent: the call
  gets exactly one response, its result, and the model talks on meanwhile as NON_BLOCKING
  lets it.  ``scheduling`` is sent on both backends (§7);
* every answer goes out in one ``toolResponse`` per message, with a ``LiveEvent.ToolExecution``
  per call, only on the connection the calls came from (see :class:`AnswerSender`).

A tool gate (``ToolGate``, a governing flow) screens each
message's calls first: a refused call is answered with its reason and nothing else sees it (not
the hooks, ``before_tool_response`` included, nor the application).

``stop()`` cancels every tool still running (``disconnect()`` calls it first).  A sync tool stuck
in its worker thread is abandoned with a warning (see :meth:`~livehandle.Tool.run`).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import attrs
import trio

from livehandle._errors import ToolHookFailed
from livehandle._events import LiveEvent
from livehandle._logs import library_logger
from livehandle._nursery import TaskHost
from livehandle._runtime.answers import (
    Answer,
    AnswerSender,
    Screened,
    ToolStats,
    response_to,
    with_refusals,
)
from livehandle._tools.results import error_payload
from livehandle._wire import messages as m

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from livehandle._config.hooks import BeforeToolResponse, OnToolCall
    from livehandle._runtime.bargein import BargeIn
    from livehandle._runtime.gate import ToolGate
    from livehandle._runtime.writer import SessionWriter
    from livehandle._state import State
    from livehandle._tools.declare import Tool, ToolSet

__all__ = ["Screened", "ToolDispatcher", "ToolStats"]

log = library_logger("livehandle.tools")


class ToolDispatcher:
    """Runs and answers the model's tool calls for one session; see the module docstring.

    Args:
        tools: the registered tools.
        writer: the session's raw writer (answers never wait for deferred context).
        emit: publishes LiveEvents (``ToolExecution``, ``ToolCancelled``, ``Error``).
        state: passed to the hooks.
        barge_in: returns the current barge-in group.
        connection_id: returns the session's current connection id.
        on_tool_call: optional hook that may answer a whole message itself.
        before_tool_response: optional hook that may rewrite the answers before they are sent.
        manual: leave calls to unknown tools to the application (``send_tool_response``)
            instead of answering them with an error.
        declared: functions the application declared itself (wire declarations, not
            ``@tool``): their calls are always left to it.
        acknowledge: answer background calls at once with a "running" response marked
            ``willContinue`` (Google AI supports it; the session passes False on Vertex, which
            does not, and then each background call is answered once, with its result).
        gate: optional ``ToolGate`` consulted for every call
            before anything else sees it, and told every successful final answer.
    """

    __slots__ = (
        "_acknowledge",
        "_awaiting",
        "_background",
        "_barge_in",
        "_connection_id",
        "_declared",
        "_emit",
        "_gate",
        "_handed",
        "_host",
        "_in_flight",
        "_inline",
        "_keys",
        "_left",
        "_lost_keys",
        "_manual",
        "_reported",
        "_sender",
        "_server_cancelled",
        "_stopped",
        "_tools",
        "stats",
    )

    def __init__(
        self,
        tools: ToolSet,
        *,
        writer: SessionWriter,
        emit: Callable[[LiveEvent], object],
        state: State,
        barge_in: Callable[[], BargeIn],
        connection_id: Callable[[], int],
        on_tool_call: OnToolCall | None = None,
        before_tool_response: BeforeToolResponse | None = None,
        manual: bool = False,
        declared: frozenset[str] = frozenset(),
        acknowledge: bool = True,
        gate: ToolGate | None = None,
    ) -> None:
        self._tools = tools
        self._emit = emit
        self._barge_in = barge_in
        self._connection_id = connection_id
        self._gate = gate
        self._manual = manual
        self._declared = declared
        self._acknowledge = acknowledge
        # Running tools by a key unique to each call (ids may be missing or repeated): its id
        # and its cancel scope.
        self._inline: dict[int, tuple[str, trio.CancelScope]] = {}
        self._background: dict[int, tuple[str, trio.CancelScope]] = {}
        self._keys = itertools.count()
        # Calls in flight by id (the router registers them as they arrive; ids may repeat),
        # and the calls left to the application, in flight until the server's turn ends.  The
        # two sets below only ever hold ids of calls in flight: an id leaves them when its last
        # call finishes, so they stay as small as the calls running now.  These "sets" are
        # dicts with None values: an empty dict costs a quarter of an empty set, and an idle
        # session keeps them all empty.
        self._in_flight: dict[str, int] = {}
        self._left: dict[str, None] = {}
        self._server_cancelled: dict[str, None] = {}
        self._reported: dict[str, None] = {}  # ids already named in a ToolCancelled event
        self._lost_keys: dict[int, None] = {}  # running calls cut because their connection ended
        # Admitted calls left to the application whose end the tool gate has not been told yet:
        # told when the application answers one, the server's turn ends or the connection is
        # lost (at most the calls left in flight).
        self._awaiting: list[m.FunctionCall] = []
        # ids (``id()``) of the calls of messages being answered that were left to the
        # application: their end is told when it answers or their turn ends, not with the message.
        self._handed: dict[int, None] = {}
        self._stopped = False
        self._host = TaskHost("the tool dispatcher")
        self.stats = ToolStats()
        self._sender = AnswerSender(
            writer=writer,
            emit=emit,
            state=state,
            stats=self.stats,
            connection_id=connection_id,
            withdrawn=self._server_cancelled.__contains__,
            hook_failed=self._hook_failed,
            on_tool_call=on_tool_call,
            before_tool_response=before_tool_response,
            gate=gate,
        )

    # -- lifecycle ----------------------------------------------------------------------------

    def attach(self, nursery: trio.Nursery) -> None:
        """Run tool tasks in ``nursery`` (the session's) until :meth:`stop`; no task of its own."""
        self._host.attach(nursery)

    def stop(self) -> None:
        """Cancel every tool still running, background ones included.  Idempotent.

        The calls it cuts are counted in ``cancelled_by_disconnect`` once, by the first call
        (the runner and ``disconnect()`` both call it when the connection drops).
        """
        if self._stopped:
            return
        self._stopped = True
        self.stats.cancelled_by_disconnect += len(self._inline) + len(self._background)
        self._host.stop()
        self._end_awaiting()  # calls left to the application end with the session too

    @property
    def running(self) -> tuple[str, ...]:
        """The ids of the calls whose tools are running now (inline, then background)."""
        return tuple(i for i, _ in (*self._inline.values(), *self._background.values()))

    # -- from the lanes -----------------------------------------------------------------------

    def connection_lost(self) -> None:
        """Their connection ended (``auto_resume`` is opening another): stop every running call.

        Their answers could not be sent anyway (an answer is bound to the connection that asked).
        Each is counted in ``cancelled_by_reconnect`` and reported in one ``ToolCancelled`` with
        reason ``"connection_lost"``; the server issues the calls again after resuming if its
        checkpoint still waits for them, and those run as new calls.
        """
        running = [*self._inline.items(), *self._background.items()]
        for key, (_, scope) in running:
            self._lost_keys[key] = None
            scope.cancel()
        ids = tuple(call_id for _, (call_id, _) in running if call_id)
        if ids:
            self._emit(LiveEvent.ToolCancelled(ids, reason="connection_lost"))
        self._end_awaiting()  # their answers could not be sent either

    def arrived(self, calls: tuple[m.FunctionCall, ...]) -> None:
        """Note calls the server just issued (called by the router, at once, before dispatch).

        From now until they finish, a ``toolCallCancellation`` naming them withdraws them, even
        while the control lane has not dispatched them yet.
        """
        for call in calls:
            if call.id:
                self._in_flight[call.id] = self._in_flight.get(call.id, 0) + 1

    def turn_ended(self) -> None:
        """The server's turn ended: calls left to the application are no longer in flight."""
        left, self._left = self._left, {}
        for call_id in left:
            if call_id not in self._in_flight:
                self._forget(call_id)
        self._end_awaiting()

    def screen(self, calls: tuple[m.FunctionCall, ...]) -> Screened:
        """Ask the tool gate about each call of one message, in order (never waits).

        Without a gate every call is admitted.  A gate that raises refuses the call (reported
        as ``LiveEvent.Error(ToolHookFailed)``): a call is never run ungoverned.
        """
        if self._gate is None:
            return Screened(calls)
        refused: dict[int, str] = {}
        for index, call in enumerate(calls):
            try:
                reason = self._gate.check(call.name, call.id)
            except Exception as exc:  # the gate's bug: refuse rather than run ungoverned
                self._hook_failed("the tool gate (check)", exc)
                reason = f"the call could not be checked: {type(exc).__name__}: {exc}"
            if reason is not None:
                refused[index] = str(reason)
        return Screened(calls, refused)

    def dispatch(self, calls: tuple[m.FunctionCall, ...] | Screened) -> None:
        """Start answering one ``toolCall`` message (called on the control lane; never waits).

        ``calls`` not yet :meth:`screen`-ed are screened first.  Refused calls are answered
        with ``{"error": <reason>}`` in the message's one ``toolResponse``, at their place among
        the other answers; nothing else (hook, tool, application) ever sees them.
        """
        screened = calls if isinstance(calls, Screened) else self.screen(calls)
        self.stats.calls += len(screened.calls)
        if not self._host.running:
            self._finished(screened.admitted)
            return  # the session is ending: nothing can be answered any more
        self.stats.refused += len(screened.refused)
        group = self._barge_in()  # the turn these calls belong to
        self._host.start_soon(self._answer, screened, group, self._connection_id())

    def application_answered(self, sent: Sequence[m.FunctionResponse]) -> None:
        """The application answered calls itself (``send_tool_response``) and they were sent.

        The tool gate learns each successful final answer, as for the dispatcher's own, then
        that the calls they answer (left to the application) have finished.
        """
        self._sender.sent(sent)
        for response in sent:
            if response.will_continue or not response.id:
                continue
            call = next((c for c in self._awaiting if c.id == response.id), None)
            if call is not None:
                self._awaiting.remove(call)
                self._finished([call])

    def cancel(self, ids: Sequence[str]) -> tuple[str, ...]:
        """The server withdrew these calls: stop their tools (called by the router, at once).

        Only ids of calls in flight count; the others are ignored (counted and logged): a call
        never seen cannot be withdrawn, and remembering its id would withdraw a later call that
        reuses it.

        Returns the ids of calls in flight not yet reported in a ``ToolCancelled`` event (the
        control lane reports those).
        """
        known = [i for i in ids if i in self._in_flight or i in self._left]
        if len(known) < len(ids):
            ignored = [i for i in ids if i not in known]
            self.stats.ignored_cancellations += len(ignored)
            log.debug("ignoring a cancellation of calls not in flight: %s", ignored)
        ids = known
        withdrawn = set(ids)
        self._server_cancelled.update(dict.fromkeys(ids))
        for call_id, scope in (*self._inline.values(), *self._background.values()):
            if call_id in withdrawn:
                scope.cancel()
        fresh = tuple(i for i in ids if i not in self._reported)
        self._reported.update(dict.fromkeys(fresh))
        return fresh

    # -- one message --------------------------------------------------------------------------

    async def _answer(self, screened: Screened, group: BargeIn, connection: int) -> None:
        started: list[m.FunctionCall] = []  # background calls now running on their own
        try:
            await self._answer_calls(screened, group, connection, started)
        finally:
            for call in screened.calls:
                if call.id and not any(call is s for s in started):
                    self._release(call.id)
            # Background calls now running on their own finish in their own task; calls left
            # to the application when it answers them (or their turn ends).
            handed = self._handed
            self._finished(
                [
                    c
                    for c in screened.admitted
                    if not any(c is s for s in started) and id(c) not in handed
                ]
            )
            for call in screened.calls:
                handed.pop(id(call), None)

    def _finished(self, calls: Sequence[m.FunctionCall]) -> None:
        """Tell the tool gate these admitted calls have ended (see ``ToolGate.finished``)."""
        if self._gate is None:
            return
        for call in calls:
            try:
                self._gate.finished(call.name)
            except Exception as exc:  # the gate's bug: reported, the session goes on
                self._hook_failed("the tool gate (finished)", exc)

    async def _answer_calls(
        self,
        screened: Screened,
        group: BargeIn,
        connection: int,
        started: list[m.FunctionCall],
    ) -> None:
        calls, admitted = screened.calls, screened.admitted
        answers: list[Answer] = []
        with group.scope() as barge_in:
            hooked = await self._sender.hooked(admitted) if admitted else None
            if hooked is not None:
                answers = hooked
            else:
                background = [c for c in admitted if self._bg(c)]
                await self._start_background(background, connection, started)
                answers = await self._run_inline([c for c in admitted if not self._bg(c)])
        if barge_in.cancelled_caught:
            # A barge-in ended this turn: its calls are cancelled, not answered (the server
            # withdraws them), except background calls already running on their own.
            # A refused call is reported too (its refusal was never sent), but it was counted
            # as refused already: each call is counted once.
            cut = [
                (c.id or "", i in screened.refused)
                for i, c in enumerate(calls)
                if not any(c is s for s in started)
            ]
            cut = [(i, refused) for i, refused in cut if i not in self._server_cancelled]
            self.stats.cancelled_by_barge_in += sum(1 for _, refused in cut if not refused)
            self._report_cancelled([i for i, _ in cut], reason="barge_in")
            return
        await self._sender.send(await self._rewrite_admitted(screened, answers), connection)

    async def _rewrite_admitted(self, screened: Screened, answers: list[Answer]) -> list[Answer]:
        """The message's answers, the admitted ones rewritten, refusals at their calls' places.

        Refusals skip ``before_tool_response``: nothing but the model sees a refused call, and a
        rewrite could otherwise turn one into a "success" the flow would count.  The places are
        taken before the rewrite (calls may share an id); a rewrite that changes the number of
        answers gets the refusals placed after it.
        """
        if not screened.refused:
            return await self._sender.rewrite(answers)
        merged = with_refusals(screened, answers)
        own = {id(answer) for answer in answers}
        rewritten = await self._sender.rewrite(answers)
        if len(rewritten) != len(answers):
            return with_refusals(screened, rewritten)
        fresh = iter(rewritten)
        return [next(fresh) if id(answer) in own else answer for answer in merged]

    async def _run_inline(self, calls: list[m.FunctionCall]) -> list[Answer]:
        results: dict[int, Answer] = {}
        async with trio.open_nursery() as nursery:
            for index, call in enumerate(calls):
                nursery.start_soon(self._run_one, index, call, results)
        return [results[i] for i in sorted(results)]

    async def _run_one(self, index: int, call: m.FunctionCall, out: dict[int, Answer]) -> None:
        call_id = call.id or ""
        if call_id and call_id in self._server_cancelled:
            self.stats.cancelled_by_server += 1
            return  # withdrawn before it started
        tool = self._tool_for(call)
        if tool is None:
            if self._manual or call.name in self._declared:
                self.stats.left_to_application += 1
                if call_id:
                    self._left[call_id] = None  # in flight until the server's turn ends
                if self._gate is not None:
                    self._awaiting.append(call)  # the gate hears of its end later
                    self._handed[id(call)] = None  # ... not from this message's end
                return
            self.stats.errors += 1
            message = f"unknown tool {call.name!r}: this client has no such function"
            out[index] = Answer(call, response_to(call, error_payload(message)))
            return
        key = next(self._keys)
        with trio.CancelScope() as scope:
            self._inline[key] = (call_id, scope)
            try:
                ok, value = await self._sender.outcome(tool, call)
            finally:
                del self._inline[key]
        if scope.cancelled_caught:
            self._count_cancelled(key)
            return
        payload = self._sender.payload_of(tool, value) if ok else error_payload(str(value))
        out[index] = Answer(call, response_to(call, payload))

    async def _start_background(
        self, calls: list[m.FunctionCall], connection: int, started: list[m.FunctionCall]
    ) -> None:
        """Start background calls, acknowledge them (where the backend allows it).

        Each call is added to ``started`` as its task starts (from then on the task owns it).
        """
        acks = []
        for call in calls:
            if call.id and call.id in self._server_cancelled:
                continue
            tool = self._tools.get(call.name)
            assert tool is not None
            key = next(self._keys)
            scope = trio.CancelScope()  # registered now: a cancel can reach it before it runs
            self._background[key] = (call.id or "", scope)
            self._host.start_soon(self._run_background, call, tool, connection, key, scope)
            started.append(call)
            try:
                running = tool.formatter.running(tool.name)
            except Exception as exc:
                self._hook_failed(f"{tool.name} formatter (running)", exc)
                running = {"status": "running", "tool": tool.name}
            ack = response_to(call, running, scheduling=m.Scheduling.SILENT)
            acks.append(Answer(call, attrs.evolve(ack, will_continue=True)))
        if self._acknowledge:
            await self._sender.send(acks, connection, final=False)

    async def _run_background(
        self,
        call: m.FunctionCall,
        tool: Tool,
        connection: int,
        key: int,
        scope: trio.CancelScope,
    ) -> None:
        try:
            await self._background_call(call, tool, connection, key, scope)
        finally:
            self._finished([call])  # after its result was sent, whatever happened

    async def _background_call(
        self,
        call: m.FunctionCall,
        tool: Tool,
        connection: int,
        key: int,
        scope: trio.CancelScope,
    ) -> None:
        self.stats.background_running += 1
        try:
            with scope:
                ok, value = await self._sender.outcome(tool, call)
        finally:
            del self._background[key]
            self.stats.background_running -= 1
            if call.id:
                self._release(call.id)
        if scope.cancelled_caught:
            self._count_cancelled(key)
            return
        body = self._sender.background_body(tool, ok, value)
        scheduling = tool.scheduling or m.Scheduling.WHEN_IDLE
        answer = Answer(call, response_to(call, body, scheduling=scheduling))
        await self._sender.send(await self._sender.rewrite([answer]), connection, background=True)

    def _end_awaiting(self) -> None:
        """Tell the tool gate that the calls left to the application have ended."""
        awaiting, self._awaiting = self._awaiting, []
        self._finished(awaiting)

    def _hook_failed(self, hook: str, exc: Exception) -> None:
        self.stats.errors += 1
        log.warning("tool hook %s failed", hook, exc_info=exc)
        self._emit(LiveEvent.Error(ToolHookFailed(hook, exc)))

    # -- answering ----------------------------------------------------------------------------

    def _tool_for(self, call: m.FunctionCall) -> Tool | None:
        return self._tools.get(call.name)

    def _bg(self, call: m.FunctionCall) -> bool:
        tool = self._tool_for(call)
        return tool is not None and tool.background

    def _release(self, call_id: str) -> None:
        """One call with this id finished; forget the id once no call with it is in flight."""
        count = self._in_flight.get(call_id, 0) - 1
        if count > 0:
            self._in_flight[call_id] = count
            return
        self._in_flight.pop(call_id, None)
        if call_id not in self._left:
            self._forget(call_id)

    def _forget(self, call_id: str) -> None:
        self._server_cancelled.pop(call_id, None)
        self._reported.pop(call_id, None)

    def _count_cancelled(self, key: int) -> None:
        if key in self._lost_keys:
            del self._lost_keys[key]
            self.stats.cancelled_by_reconnect += 1
        else:
            self.stats.cancelled_by_server += 1

    def _report_cancelled(self, ids: Sequence[str], reason: str = "server") -> None:
        fresh = tuple(i for i in ids if i not in self._reported)
        if fresh:
            self._reported.update(dict.fromkeys(fresh))
            self._emit(LiveEvent.ToolCancelled(fresh, reason=reason))
