"""What a tool's outcome looks like on the wire: the ``response`` of a function response.

:func:`to_response_payload` carries a result, :func:`error_payload` a failure, and a
:class:`ResultFormatter` shapes the two answers of a background tool.  Results are made JSON by
the shared converter (:func:`~livehandle.lowlevel.to_json_value`), so a tool may return what
:class:`~livehandle.State` can store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from livehandle._convert import JsonValue, to_json_value

__all__ = ["ResultFormatter", "error_payload", "to_response_payload"]


def to_response_payload(value: object) -> dict[str, Any]:
    """The ``response`` object of a function response carrying a tool's result.

    A dict (and an attrs instance, dataclass or TypedDict, which become one) is sent as it is;
    anything else is wrapped as ``{"output": value}``, the Live API's convention for results.

    Raises:
        TypeError: something in the value has no JSON form (bytes, a set, a non-str dict key...).
        ValueError: a float in it is not finite, or it contains itself.  Either message says
            what and where (``$.items[2]``).
    """
    data = to_json_value(value, what="tool result")
    if isinstance(data, dict):
        return data
    return {"output": data}


def error_payload(message: str) -> dict[str, Any]:
    """The ``response`` object of a function response reporting a failure: ``{"error": ...}``."""
    return {"error": message}


def _format_running(tool_name: str) -> dict[str, Any]:
    return {"status": "running", "tool": tool_name}


def _format_result(tool_name: str, value: JsonValue) -> dict[str, Any]:
    return {"status": "completed", "tool": tool_name, "result": value}


def _format_error(tool_name: str, message: str) -> dict[str, Any]:
    return {"status": "error", "tool": tool_name, "error": message}


_callable: Callable[[Any, Any, Any], Any] = attrs.validators.is_callable()


@attrs.frozen
class ResultFormatter:
    """Builds the responses of a background tool: the immediate one, then the outcome.

    A background (NON_BLOCKING) tool is answered at once with :attr:`running`'s response, and
    again when it finishes with :attr:`result`'s or :attr:`error`'s.  Customise any of them by
    passing a callable::

        ResultFormatter(result=lambda tool, value: {"status": "done", "data": value})

    Attributes:
        running: ``(tool_name) -> response``; default ``{"status": "running", "tool": name}``.
        result: ``(tool_name, value) -> response``, where ``value`` is the tool's result as
            :func:`~livehandle.lowlevel.to_json_value` made it; default
            ``{"status": "completed", "tool": name, "result": value}``.
        error: ``(tool_name, message) -> response``; default
            ``{"status": "error", "tool": name, "error": message}``.
    """

    running: Callable[[str], dict[str, Any]] = attrs.field(
        default=_format_running, validator=_callable
    )
    result: Callable[[str, JsonValue], dict[str, Any]] = attrs.field(
        default=_format_result, validator=_callable
    )
    error: Callable[[str, str], dict[str, Any]] = attrs.field(
        default=_format_error, validator=_callable
    )
