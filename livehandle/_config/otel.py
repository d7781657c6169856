"""How a live session exports OpenTelemetry traces and metrics: :class:`OtelConfig`.

Describing the export costs nothing: this module never imports OpenTelemetry.  The session
imports it (the ``opentelemetry-api`` package, ``pip install 'livehandle[otel]'``) only when a
:class:`~livehandle.LiveConfig` carries an :class:`OtelConfig`; a session without one neither
imports it nor does any work for it.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import attrs

__all__ = ["OTEL_MISSING", "OtelConfig"]

#: What a session configured for OpenTelemetry says when the API package is missing.
OTEL_MISSING = (
    "OtelConfig needs the opentelemetry-api package, which is not installed: "
    "pip install 'livehandle[otel]'"
)


def _bool(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"OtelConfig.{attribute.name} must be a bool (got {value!r})")


@attrs.frozen
class OtelConfig:
    """Export this session's spans and metrics through OpenTelemetry.

    Set it as ``LiveConfig(otel=OtelConfig())``.  The session then records a span for its life,
    one per turn and one per tool call, and the metrics listed in the observability how-to,
    with the GenAI semantic-convention attribute names where they exist.  No credential and no
    transcript, tool argument or tool result text is ever put in an attribute.

    Attributes:
        tracer_provider: where the spans go, an ``opentelemetry.trace.TracerProvider``; None
            uses the global one (``opentelemetry.trace.set_tracer_provider``).
        meter_provider: where the metrics go, an ``opentelemetry.metrics.MeterProvider``; None
            uses the global one (``opentelemetry.metrics.set_meter_provider``).
        traces: record spans (True by default).
        metrics: record metrics (True by default).

    Raises:
        ImportError: ``opentelemetry-api`` is not installed (the message says how to install
            it); checked without importing it.
        TypeError: ``traces`` or ``metrics`` is not a bool.
    """

    # Typed Any: the OpenTelemetry classes cannot be named without importing the package.
    tracer_provider: Any = attrs.field(default=None, repr=False)
    meter_provider: Any = attrs.field(default=None, repr=False)
    traces: bool = attrs.field(default=True, validator=_bool)
    metrics: bool = attrs.field(default=True, validator=_bool)

    def __attrs_post_init__(self) -> None:
        try:
            found = importlib.util.find_spec("opentelemetry.trace") is not None
        except ModuleNotFoundError:  # not even the opentelemetry namespace
            found = False
        if not found:
            raise ImportError(OTEL_MISSING)
