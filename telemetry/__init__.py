"""OpenTelemetry tracing of runs: exporters (console, OTLP over HTTP, JSONL), span helpers and
trace summaries.

    >>> from skillgap.telemetry import configure_tracing
    >>> with configure_tracing("otlp:http://127.0.0.1:6006"):  # doctest: +SKIP
    ...     run_eval(config, backend, out)

Only the configuration type is imported eagerly; the SDK, exporters and span helpers load when
asked for, so ``import skillgap`` stays light.
"""

from typing import TYPE_CHECKING, Any

from ._config import TraceConfig

if TYPE_CHECKING:
    from ._jsonl import JsonlSpanExporter, SpanRecord, read_spans
    from ._setup import GuardedExporter, Tracing, active_tracing, configure_tracing
    from ._spans import TRACER_NAME, span_ids
    from ._summary import CallStats, format_summary, summarize_spans, summarize_trace

_LAZY = {
    "Tracing": "_setup",
    "GuardedExporter": "_setup",
    "active_tracing": "_setup",
    "configure_tracing": "_setup",
    "JsonlSpanExporter": "_jsonl",
    "SpanRecord": "_jsonl",
    "read_spans": "_jsonl",
    "CallStats": "_summary",
    "format_summary": "_summary",
    "summarize_spans": "_summary",
    "summarize_trace": "_summary",
    "TRACER_NAME": "_spans",
    "span_ids": "_spans",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(name)


__all__ = [
    "TRACER_NAME",
    "CallStats",
    "GuardedExporter",
    "JsonlSpanExporter",
    "SpanRecord",
    "TraceConfig",
    "Tracing",
    "active_tracing",
    "configure_tracing",
    "format_summary",
    "read_spans",
    "span_ids",
    "summarize_spans",
    "summarize_trace",
]
