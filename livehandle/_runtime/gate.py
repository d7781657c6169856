"""ToolGate: what the tool dispatcher asks before it runs a call, and tells after it succeeded.

The dispatcher knows nothing of conversation flows; a governor (the flow runtime) plugs in by
implementing :class:`ToolGate`:

* :meth:`ToolGate.check` is asked once per call of a ``toolCall`` message, in order, before
  anything else sees the call (the ``on_tool_call`` hook, the tool, the application).  A string
  refuses the call: it is answered ``{"error": <the string>}`` and never runs.  The gate itself
  records and publishes the violation, and decides between enforcing (refuse) and observing
  (record, return None, let the call run);
* :meth:`ToolGate.succeeded` is told each final answer that reports no error (see
  :func:`is_success`) once it is sent, whoever answered: a tool, a background tool's result,
  the ``on_tool_call`` hook, or the application through ``LiveHandle.send_tool_response``.
  Answers never sent (the server withdrew the call, its connection was replaced, the session
  ended) do not count; neither do acknowledgements, errors, exceptions and timeouts;
* :meth:`ToolGate.finished` is told once per admitted call when the dispatcher is done with it,
  however it ended (answered, failed, cancelled, the session ending), after its answer (if any)
  was sent and :meth:`~ToolGate.succeeded` told.  A call left to the application ends when the
  application answers it, the server's turn ends or its connection is lost, whichever comes
  first.  Between ``check`` and ``finished`` the call is in flight: a gate can refuse a second
  call of a tool that may run only once while the first one runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from livehandle._wire import messages as m

__all__ = ["ToolGate", "is_success"]


class ToolGate(Protocol):
    """Admits or refuses tool calls, and learns which tools succeeded (see the module docstring).

    Both methods run on the session's event loop, synchronously: they must not block.  An
    exception from any is a bug of the gate: ``check`` raising refuses the call (the tool never
    runs ungoverned), ``succeeded`` or ``finished`` raising is reported; all as
    ``LiveEvent.Error``.
    """

    def check(self, name: str, call_id: str | None) -> str | None:
        """None: run the call.  A string: refuse it, with this reason (sent to the model)."""
        ...

    def succeeded(self, name: str) -> None:
        """A final answer to a call of ``name`` reported success (no top-level ``"error"``)."""
        ...

    def finished(self, name: str) -> None:
        """An admitted call of ``name`` has ended, whatever the outcome (told once per call)."""
        ...


def is_success(response: m.FunctionResponse) -> bool:
    """Whether ``response`` is a final answer that reports no error.

    A "running" acknowledgement (``willContinue: true``) is not final; a response whose
    ``response`` object has a top-level ``"error"`` key reports a failure.
    """
    return not response.will_continue and "error" not in response.response
