"""The OpenTelemetry tests read the export with opentelemetry-sdk: skipped without it, not in CI."""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator


def _sdk_installed() -> bool:
    return importlib.util.find_spec("opentelemetry") is not None and (
        importlib.util.find_spec("opentelemetry.sdk") is not None
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if _sdk_installed():
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError(
            "opentelemetry-sdk is missing: pip install -e '.[otel]' opentelemetry-sdk"
        )
    skip = pytest.mark.skip(
        reason="opentelemetry-sdk is not installed (pip install opentelemetry-sdk)"
    )
    for item in items:
        if "tests/otel/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(skip)


class Exported:
    """The in-memory SDK providers of one test, and what they collected."""

    def __init__(self) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        self.spans_exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans_exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self) -> list:  # type: ignore[type-arg]
        return list(self.spans_exporter.get_finished_spans())

    def span(self, name: str) -> object:
        found = [s for s in self.spans() if s.name == name]
        assert len(found) == 1, [s.name for s in self.spans()]
        return found[0]

    def points(self, name: str) -> list:  # type: ignore[type-arg]
        """Every data point of metric ``name`` (empty when it was never recorded)."""
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def total(self, name: str, **attributes: object) -> float:
        """The sum of a counter's points (or the count of a histogram's) with ``attributes``."""
        total = 0.0
        for point in self.points(name):
            if all(point.attributes.get(k.replace("__", ".")) == v for k, v in attributes.items()):
                total += getattr(point, "value", None) if hasattr(point, "value") else point.count
        return total


@pytest.fixture
def exported() -> Iterator[Exported]:
    found = Exported()
    yield found
    found.tracer_provider.shutdown()
    found.meter_provider.shutdown()
