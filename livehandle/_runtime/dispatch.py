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
* every answer goes out in one ``toolResponse`` per message (after ``before_tool_response`` may
  rewrite it), with a ``LiveEvent.ToolExecution`` per call, and only on the connection the calls
  came from: answers for a replaced connection are dropped, counted and reported as
  :class:`~livehandle.StaleToolResponse`.

``stop()`` cancels every tool still running (``disconnect()`` calls it first).  A sync tool stuck
in its worker thread is abandoned with a warning (see :meth:`~livehandle.Tool.run`).
"""

from __future__ import annotations

import inspect
import itertools
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import trio

from livehandle._convert import to_json_value
from livehandle._errors import (
    ProtocolError,
    SessionClosed,
    StaleToolResponse,
    ToolArgumentError,
    ToolHookFailed,
    ToolTimeout,
)
from livehandle._events import LiveEvent
from livehandle._nursery import TaskHost
from livehandle._tools.results import error_payload, to_response_payload
from livehandle._wire import messages as m

if TYPE_CHECKING:
    from livehandle._config.hooks import BeforeToolResponse, OnToolCall
    from livehandle._runtime.bargein import BargeIn
    from livehandle._runtime.writer import SessionWriter
    from livehandle._state import State
    from livehandle._tools.declare import Tool, ToolSet

__all__ = ["ToolDispatcher", "ToolStats"]

log = logging.getLogger("livehandle.tools")


@attrs.define
class ToolStats:
    """What happened to the tool calls of one session (for telemetry and tests).

    Each call is counted once under what ended it.  ``ignored_cancellations`` counts server
    cancellations naming no call in flight (never seen, or already finished).
    """

    calls: int = 0
    answered: int = 0
    errors: int = 0
    cancelled_by_server: int = 0
    cancelled_by_barge_in: int = 0
    cancelled_by_disconnect: int = 0
    cancelled_by_reconnect: int = 0
    left_to_application: int = 0
    stale_dropped: int = 0
    background_running: int = 0
    ignored_cancellations: int = 0


@attrs.frozen
class _Answer:
    call: m.FunctionCall
    response: m.FunctionResponse


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
    """

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
    ) -> None:
        self._tools = tools
        self._writer = writer
        self._emit = emit
        self._state = state
        self._barge_in = barge_in
        self._connection_id = connection_id
        self._on_tool_call = on_tool_call
        self._before_tool_response = before_tool_response
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
        # call finishes, so they stay as small as the calls running now.
        self._in_flight: dict[str, int] = {}
        self._left: set[str] = set()
        self._server_cancelled: set[str] = set()
        self._reported: set[str] = set()  # ids already named in a ToolCancelled event
        self._lost_keys: set[int] = set()  # running calls cut because their connection ended
        self._stopped = False
        self._host = TaskHost("the tool dispatcher")
        self.stats = ToolStats()

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
            self._lost_keys.add(key)
            scope.cancel()
        ids = tuple(call_id for _, (call_id, _) in running if call_id)
        if ids:
            self._emit(LiveEvent.ToolCancelled(ids, reason="connection_lost"))

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
        left, self._left = self._left, set()
        for call_id in left:
            if call_id not in self._in_flight:
                self._forget(call_id)

    def dispatch(self, calls: tuple[m.FunctionCall, ...]) -> None:
        """Start answering one ``toolCall`` message (called on the control lane; never waits)."""
        self.stats.calls += len(calls)
        if not self._host.running:
            return  # the session is ending: nothing can be answered any more
        group = self._barge_in()  # the turn these calls belong to
        self._host.start_soon(self._answer, calls, group, self._connection_id())

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
        self._server_cancelled |= withdrawn
        for call_id, scope in (*self._inline.values(), *self._background.values()):
            if call_id in withdrawn:
                scope.cancel()
        fresh = tuple(i for i in ids if i not in self._reported)
        self._reported.update(fresh)
        return fresh

    # -- one message --------------------------------------------------------------------------

    async def _answer(
        self, calls: tuple[m.FunctionCall, ...], group: BargeIn, connection: int
    ) -> None:
        started: list[m.FunctionCall] = []  # background calls now running on their own
        try:
            await self._answer_calls(calls, group, connection, started)
        finally:
            for call in calls:
                if call.id and not any(call is s for s in started):
                    self._release(call.id)

    async def _answer_calls(
        self,
        calls: tuple[m.FunctionCall, ...],
        group: BargeIn,
        connection: int,
        started: list[m.FunctionCall],
    ) -> None:
        answers: list[_Answer] = []
        with group.scope() as barge_in:
            hooked = await self._hooked_answers(calls)
            if hooked is not None:
                answers = hooked
            else:
                background = [c for c in calls if self._bg(c)]
                await self._start_background(background, connection, started)
                answers = await self._run_inline([c for c in calls if not self._bg(c)])
        if barge_in.cancelled_caught:
            # A barge-in ended this turn: its calls are cancelled, not answered (the server
            # withdraws them), except background calls already running on their own.
            cut = [c.id or "" for c in calls if c not in started]
            cut = [i for i in cut if i not in self._server_cancelled]
            self.stats.cancelled_by_barge_in += len(cut)
            self._report_cancelled(cut, reason="barge_in")
            return
        await self._send(await self._rewrite(answers), connection)

    async def _hooked_answers(self, calls: tuple[m.FunctionCall, ...]) -> list[_Answer] | None:
        if self._on_tool_call is None:
            return None
        try:
            result = self._on_tool_call(calls, self._state)
            if inspect.isawaitable(result):
                result = await result
            if result is None:
                return None
            responses = _responses(result)
        except Exception as exc:  # the hook's bug: every call gets an error, the session lives
            self._hook_failed("on_tool_call", exc)
            message = f"the application failed to answer: {type(exc).__name__}: {exc}"
            return [_Answer(c, self._response(c, error_payload(message))) for c in calls]
        by_id = {c.id: c for c in calls}
        answers = []
        for response in responses:
            call = by_id.get(response.id) or m.FunctionCall(name=response.name, id=response.id)
            answers.append(_Answer(call, response))
        return answers

    async def _run_inline(self, calls: list[m.FunctionCall]) -> list[_Answer]:
        results: dict[int, _Answer] = {}
        async with trio.open_nursery() as nursery:
            for index, call in enumerate(calls):
                nursery.start_soon(self._run_one, index, call, results)
        return [results[i] for i in sorted(results)]

    async def _run_one(self, index: int, call: m.FunctionCall, out: dict[int, _Answer]) -> None:
        call_id = call.id or ""
        if call_id and call_id in self._server_cancelled:
            self.stats.cancelled_by_server += 1
            return  # withdrawn before it started
        tool = self._tool_for(call)
        if tool is None:
            if self._manual or call.name in self._declared:
                self.stats.left_to_application += 1
                if call_id:
                    self._left.add(call_id)  # in flight until the server's turn ends
                return
            self.stats.errors += 1
            message = f"unknown tool {call.name!r}: this client has no such function"
            out[index] = _Answer(call, self._response(call, error_payload(message)))
            return
        key = next(self._keys)
        with trio.CancelScope() as scope:
            self._inline[key] = (call_id, scope)
            try:
                ok, value = await self._outcome(tool, call)
            finally:
                del self._inline[key]
        if scope.cancelled_caught:
            self._count_cancelled(key)
            return
        payload = self._payload_of(tool, value) if ok else error_payload(str(value))
        out[index] = _Answer(call, self._response(call, payload))

    def _payload_of(self, tool: Tool, value: object) -> dict[str, Any]:
        try:
            return to_response_payload(value)
        except (TypeError, ValueError) as exc:  # a result JSON cannot carry (NaN is a ValueError)
            self.stats.errors += 1
            return error_payload(f"{tool.name} returned a value that is not JSON: {exc}")

    async def _outcome(self, tool: Tool, call: m.FunctionCall) -> tuple[bool, Any]:
        """Run ``tool`` for ``call``: ``(True, value)``, or ``(False, why it failed)``."""
        try:
            return True, await tool.run(call.args)
        except (ToolArgumentError, ToolTimeout) as exc:
            self.stats.errors += 1
            return False, str(exc)
        except Exception as exc:  # the tool's own failure goes to the model, not the session
            self.stats.errors += 1
            log.warning("tool %s failed", tool.name, exc_info=True)
            return False, f"{type(exc).__name__}: {exc}"

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
            ack = self._response(call, running, scheduling=m.Scheduling.SILENT)
            acks.append(_Answer(call, attrs.evolve(ack, will_continue=True)))
        if self._acknowledge:
            await self._send(acks, connection, final=False)

    async def _run_background(
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
                ok, value = await self._outcome(tool, call)
        finally:
            del self._background[key]
            self.stats.background_running -= 1
            if call.id:
                self._release(call.id)
        if scope.cancelled_caught:
            self._count_cancelled(key)
            return
        body = self._background_body(tool, ok, value)
        scheduling = tool.scheduling or m.Scheduling.WHEN_IDLE
        answer = _Answer(call, self._response(call, body, scheduling=scheduling))
        await self._send(await self._rewrite([answer]), connection, background=True)

    def _background_body(self, tool: Tool, ok: bool, value: object) -> dict[str, Any]:
        """The final response of a background call, through the tool's formatter."""
        try:
            if ok:
                try:
                    body = tool.formatter.result(tool.name, to_json_value(value))
                except (TypeError, ValueError) as exc:
                    self.stats.errors += 1
                    body = tool.formatter.error(tool.name, f"the result is not JSON: {exc}")
            else:
                body = tool.formatter.error(tool.name, str(value))
            return dict(to_json_value(body))  # type: ignore[arg-type]
        except Exception as exc:  # a formatter's bug: the model still gets an answer
            self._hook_failed(f"{tool.name} formatter", exc)
            reason = str(value) if not ok else f"{type(exc).__name__}: {exc}"
            return {"status": "error", "tool": tool.name, "error": reason}

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

    @staticmethod
    def _response(
        call: m.FunctionCall,
        payload: dict[str, Any],
        *,
        scheduling: m.Scheduling | None = None,
    ) -> m.FunctionResponse:
        return m.FunctionResponse(
            name=call.name, response=payload, id=call.id, scheduling=scheduling
        )

    async def _rewrite(self, answers: list[_Answer]) -> list[_Answer]:
        hook = self._before_tool_response
        if hook is None or not answers:
            return answers
        try:
            result = hook([a.response for a in answers], self._state)
            if inspect.isawaitable(result):
                result = await result
            result = _responses(result)
        except Exception as exc:  # the hook's bug: the unrewritten answers go out
            self._hook_failed("before_tool_response", exc)
            return answers
        by_id = {a.call.id: a.call for a in answers}
        return [_Answer(by_id.get(r.id) or m.FunctionCall(name=r.name, id=r.id), r) for r in result]

    async def _send(
        self,
        answers: list[_Answer],
        connection: int,
        *,
        background: bool = False,
        final: bool = True,
    ) -> None:
        """Send ``answers`` as one toolResponse, on the connection the calls came from only."""
        # A call the server withdrew is never answered, whenever the withdrawal came.
        answers = [a for a in answers if not (a.call.id and a.call.id in self._server_cancelled)]
        if not answers:
            return
        current = self._connection_id()
        if current != connection:
            ids = tuple(a.call.id or "" for a in answers)
            self.stats.stale_dropped += len(ids)
            self._emit(LiveEvent.Error(StaleToolResponse(ids, connection, current)))
            return
        try:
            with trio.CancelScope(shield=True):  # an answer must not be cut by a barge-in
                await self._writer.send_tool_response([a.response for a in answers])
        except SessionClosed:
            return  # the session ended first: nothing left to answer
        except (ProtocolError, ValueError) as exc:  # e.g. a hook put NaN in an answer
            self._hook_failed("the answer", exc)
            message = f"the answer could not be encoded: {exc}"
            fallback = [attrs.evolve(a.response, response=error_payload(message)) for a in answers]
            with trio.CancelScope(shield=True):
                try:
                    await self._writer.send_tool_response(fallback)
                except SessionClosed:
                    return
            answers = [_Answer(a.call, f) for a, f in zip(answers, fallback, strict=True)]
        if not final:
            return  # acknowledgements: the answer proper comes later
        self.stats.answered += len(answers)
        for answer in answers:
            self._emit(
                LiveEvent.ToolExecution(
                    answer.call.name,
                    dict(answer.call.args or {}),
                    dict(answer.response.response),
                    id=answer.call.id,
                    background=background,
                )
            )

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
        self._server_cancelled.discard(call_id)
        self._reported.discard(call_id)

    def _count_cancelled(self, key: int) -> None:
        if key in self._lost_keys:
            self._lost_keys.discard(key)
            self.stats.cancelled_by_reconnect += 1
        else:
            self.stats.cancelled_by_server += 1

    def _report_cancelled(self, ids: Sequence[str], reason: str = "server") -> None:
        fresh = tuple(i for i in ids if i not in self._reported)
        if fresh:
            self._reported.update(fresh)
            self._emit(LiveEvent.ToolCancelled(fresh, reason=reason))


def _responses(result: object) -> list[m.FunctionResponse]:
    """``result`` as a list of FunctionResponse, or TypeError saying what it was instead."""
    if isinstance(result, str | bytes) or not isinstance(result, Sequence | tuple | list):
        raise TypeError(f"expected a list of FunctionResponse, got {type(result).__name__}")
    answers = list(result)
    for answer in answers:
        if not isinstance(answer, m.FunctionResponse):
            raise TypeError(f"expected FunctionResponse items, got {type(answer).__name__}")
    return answers
