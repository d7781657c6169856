"""How the tool dispatcher's answers are made and reach the model: sent, counted, reported.

:class:`AnswerSender` owns the answering side of every tool call.  It turns a tool's outcome
(its value, its exception) into the response payload, or lets the ``on_tool_call`` hook answer a
whole message.  The ``before_tool_response`` hook may rewrite a message's answers; then they go
out as one ``toolResponse``, only on the connection the calls came from (answers for a replaced
connection are dropped, counted and reported as :class:`~livehandle.StaleToolResponse`), never
for a call the server withdrew.  Each final answer sent becomes a ``LiveEvent.ToolExecution``,
and a successful one (see ``is_success``) is told to the tool gate, when there is one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import trio

from livehandle._convert import to_json_value
from livehandle._errors import (
    ProtocolError,
    SessionClosed,
    StaleToolResponse,
    ToolArgumentError,
    ToolTimeout,
)
from livehandle._events import LiveEvent
from livehandle._logs import library_logger
from livehandle._runtime.gate import is_success
from livehandle._tools.results import error_payload, to_response_payload
from livehandle._wire import messages as m

if TYPE_CHECKING:
    from livehandle._config.hooks import BeforeToolResponse, OnToolCall
    from livehandle._runtime.gate import ToolGate
    from livehandle._runtime.writer import SessionWriter
    from livehandle._state import State
    from livehandle._tools.declare import Tool

__all__ = [
    "Answer",
    "AnswerSender",
    "Screened",
    "ToolStats",
    "response_to",
    "responses",
    "with_refusals",
]

log = library_logger("livehandle.tools")


@attrs.define
class ToolStats:
    """What happened to the tool calls of one session (for telemetry and tests).

    Each call is counted once under what ended it.  ``ignored_cancellations`` counts server
    cancellations naming no call in flight (never seen, or already finished).  ``refused``
    counts calls a governing flow did not admit (answered with its reason, never run).
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
    refused: int = 0


@attrs.frozen
class Answer:
    """One call and the response that answers it."""

    call: m.FunctionCall
    response: m.FunctionResponse


def response_to(
    call: m.FunctionCall, payload: dict[str, Any], *, scheduling: m.Scheduling | None = None
) -> m.FunctionResponse:
    """The response answering ``call`` with ``payload``."""
    return m.FunctionResponse(name=call.name, response=payload, id=call.id, scheduling=scheduling)


def responses(result: object) -> list[m.FunctionResponse]:
    """``result`` as a list of FunctionResponse, or TypeError saying what it was instead."""
    if isinstance(result, str | bytes) or not isinstance(result, Sequence | tuple | list):
        raise TypeError(f"expected a list of FunctionResponse, got {type(result).__name__}")
    answers = list(result)
    for answer in answers:
        if not isinstance(answer, m.FunctionResponse):
            raise TypeError(f"expected FunctionResponse items, got {type(answer).__name__}")
    return answers


@attrs.frozen
class Screened:
    """One ``toolCall`` message as the tool gate screened it (:meth:`ToolDispatcher.screen`).

    ``refused`` maps the index of each refused call in ``calls`` to the reason it was refused.
    """

    calls: tuple[m.FunctionCall, ...]
    refused: Mapping[int, str] = attrs.field(factory=dict)

    @property
    def admitted(self) -> tuple[m.FunctionCall, ...]:
        """The calls the gate let through, in their order."""
        return tuple(c for i, c in enumerate(self.calls) if i not in self.refused)


def with_refusals(screened: Screened, answers: list[Answer]) -> list[Answer]:
    """``answers`` with the refused calls' answers at their calls' places in the message.

    Answers keep their own order; each refusal goes before the first answer to a later call
    (answers to no call of the message, a hook's invention, keep their place).
    """
    if not screened.refused:
        return answers
    place = {id(call): index for index, call in enumerate(screened.calls)}
    waiting = [
        Answer(call, response_to(call, error_payload(screened.refused[index])))
        for index, call in enumerate(screened.calls)
        if index in screened.refused
    ]
    positions = sorted(screened.refused)
    merged: list[Answer] = []
    for answer in answers:
        index = place.get(id(answer.call))
        while waiting and index is not None and positions[0] < index:
            positions.pop(0)
            merged.append(waiting.pop(0))
        merged.append(answer)
    return merged + waiting


class AnswerSender:
    """Rewrites, sends and reports the dispatcher's answers; see the module docstring.

    Args:
        writer: the session's raw writer.
        emit: publishes LiveEvents.
        state: passed to the ``before_tool_response`` hook.
        stats: the dispatcher's counters (shared).
        connection_id: returns the session's current connection id.
        withdrawn: whether the server withdrew the call with this id (never answered).
        hook_failed: reports a failed hook (its name, the exception).
        on_tool_call: optional hook that may answer a whole message itself.
        before_tool_response: optional hook that may rewrite the answers before they are sent.
        gate: told each successful final answer.
    """

    __slots__ = (
        "_before_tool_response",
        "_connection_id",
        "_emit",
        "_gate",
        "_hook_failed",
        "_on_tool_call",
        "_state",
        "_stats",
        "_withdrawn",
        "_writer",
    )

    def __init__(
        self,
        *,
        writer: SessionWriter,
        emit: Callable[[LiveEvent], object],
        state: State,
        stats: ToolStats,
        connection_id: Callable[[], int],
        withdrawn: Callable[[str], bool],
        hook_failed: Callable[[str, Exception], None],
        on_tool_call: OnToolCall | None = None,
        before_tool_response: BeforeToolResponse | None = None,
        gate: ToolGate | None = None,
    ) -> None:
        self._writer = writer
        self._emit = emit
        self._state = state
        self._stats = stats
        self._connection_id = connection_id
        self._withdrawn = withdrawn
        self._hook_failed = hook_failed
        self._on_tool_call = on_tool_call
        self._before_tool_response = before_tool_response
        self._gate = gate

    async def hooked(self, calls: tuple[m.FunctionCall, ...]) -> list[Answer] | None:
        """The answers the ``on_tool_call`` hook gives for ``calls``; None: it left them to run.

        A hook that fails is reported, and every call is answered with an error.
        """
        if self._on_tool_call is None:
            return None
        try:
            result = self._on_tool_call(calls, self._state)
            if inspect.isawaitable(result):
                result = await result
            if result is None:
                return None
            answered = responses(result)
        except Exception as exc:  # the hook's bug: every call gets an error, the session lives
            self._hook_failed("on_tool_call", exc)
            message = f"the application failed to answer: {type(exc).__name__}: {exc}"
            return [Answer(c, response_to(c, error_payload(message))) for c in calls]
        by_id = {c.id: c for c in calls}
        answers = []
        for response in answered:
            call = by_id.get(response.id) or m.FunctionCall(name=response.name, id=response.id)
            answers.append(Answer(call, response))
        return answers

    async def rewrite(self, answers: list[Answer]) -> list[Answer]:
        """``answers`` as the ``before_tool_response`` hook rewrites them (unchanged without it).

        A hook that fails is reported, and the answers go out unrewritten.
        """
        hook = self._before_tool_response
        if hook is None or not answers:
            return answers
        try:
            result = hook([a.response for a in answers], self._state)
            if inspect.isawaitable(result):
                result = await result
            result = responses(result)
        except Exception as exc:  # the hook's bug: the unrewritten answers go out
            self._hook_failed("before_tool_response", exc)
            return answers
        by_id = {a.call.id: a.call for a in answers}
        return [Answer(by_id.get(r.id) or m.FunctionCall(name=r.name, id=r.id), r) for r in result]

    async def send(
        self,
        answers: list[Answer],
        connection: int,
        *,
        background: bool = False,
        final: bool = True,
    ) -> None:
        """Send ``answers`` as one toolResponse, on the connection the calls came from only."""
        # A call the server withdrew is never answered, whenever the withdrawal came.
        answers = [a for a in answers if not (a.call.id and self._withdrawn(a.call.id))]
        if not answers:
            return
        current = self._connection_id()
        if current != connection:
            ids = tuple(a.call.id or "" for a in answers)
            self._stats.stale_dropped += len(ids)
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
            answers = [Answer(a.call, f) for a, f in zip(answers, fallback, strict=True)]
        if not final:
            return  # acknowledgements: the answer proper comes later
        self._stats.answered += len(answers)
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
        self.sent([a.response for a in answers])

    def sent(self, sent: Sequence[m.FunctionResponse]) -> None:
        """These responses reached the wire: tell the gate of each successful final answer."""
        if self._gate is None:
            return
        for response in sent:
            if not is_success(response):
                continue
            try:
                self._gate.succeeded(response.name)
            except Exception as exc:  # the gate's bug: reported, the session goes on
                self._hook_failed("the tool gate (succeeded)", exc)

    # -- tool outcomes ------------------------------------------------------------------------

    def payload_of(self, tool: Tool, value: object) -> dict[str, Any]:
        try:
            return to_response_payload(value)
        except (TypeError, ValueError) as exc:  # a result JSON cannot carry (NaN is a ValueError)
            self._stats.errors += 1
            return error_payload(f"{tool.name} returned a value that is not JSON: {exc}")

    async def outcome(self, tool: Tool, call: m.FunctionCall) -> tuple[bool, Any]:
        """Run ``tool`` for ``call``: ``(True, value)``, or ``(False, why it failed)``."""
        try:
            return True, await tool.run(call.args)
        except (ToolArgumentError, ToolTimeout) as exc:
            self._stats.errors += 1
            return False, str(exc)
        except Exception as exc:  # the tool's own failure goes to the model, not the session
            self._stats.errors += 1
            log.warning("tool %s failed", tool.name, exc_info=True)
            return False, f"{type(exc).__name__}: {exc}"

    def background_body(self, tool: Tool, ok: bool, value: object) -> dict[str, Any]:
        """The final response of a background call, through the tool's formatter."""
        try:
            if ok:
                try:
                    body = tool.formatter.result(tool.name, to_json_value(value))
                except (TypeError, ValueError) as exc:
                    self._stats.errors += 1
                    body = tool.formatter.error(tool.name, f"the result is not JSON: {exc}")
            else:
                body = tool.formatter.error(tool.name, str(value))
            return dict(to_json_value(body))  # type: ignore[arg-type]
        except Exception as exc:  # a formatter's bug: the model still gets an answer
            self._hook_failed(f"{tool.name} formatter", exc)
            reason = str(value) if not ok else f"{type(exc).__name__}: {exc}"
            return {"status": "error", "tool": tool.name, "error": reason}
