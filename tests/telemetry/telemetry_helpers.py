"""Shared by the telemetry tests: tracing into memory while a fixture is active."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from skillgap.evals import EvalConfig, SampleRecord
from skillgap.telemetry import Tracing, configure_tracing

#: One sample per task, every strategy and skill step.
CONFIG = EvalConfig(n=1, seed=5)


class Traced:
    """Spans and metrics recorded while the fixture is active."""

    def __init__(self, tracing: Tracing, spans: InMemorySpanExporter, metrics: InMemoryMetricReader):
        self.tracing = tracing
        self.exporter = spans
        self.metrics = metrics

    def spans(self) -> list:
        self.tracing.force_flush()
        return list(self.exporter.get_finished_spans())


def tracing_into_memory() -> Iterator[Traced]:
    spans, metrics = InMemorySpanExporter(), InMemoryMetricReader()
    tracing = configure_tracing(exporter=spans, metric_reader=metrics)
    try:
        yield Traced(tracing, spans, metrics)
    finally:
        tracing.shutdown()


def comparable(records: list[SampleRecord]) -> list[dict[str, Any]]:
    """Records without what differs between two identical runs (span ids, timings)."""
    return sorted((r.model_dump(exclude={"trace_id", "span_id", "latency_s"}) for r in records),
                  key=lambda r: (r["task"], r["sample_id"], r["strategy"]))
