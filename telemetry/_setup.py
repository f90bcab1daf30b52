"""One place to turn tracing on and off: exporters, resource, batching, metrics, shutdown.

skillgap's spans come from the global tracer named "skillgap". The first ``configure_tracing``
installs a global provider that forwards to the configured SDK provider, so later calls (another
run, another test, tracing off again) can swap exporters and resources even though OpenTelemetry
lets a process set its global provider only once.

Export never hurts a run: spans leave in a background thread in batches; an export that fails
(receiver down, slow or refusing) warns once, and the batches of the next ``retry_after_s`` are
dropped instead of waiting, so a dead receiver costs at most about one export timeout at shutdown.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics

from . import _spans
from ._config import TraceConfig

log = logging.getLogger("skillgap.telemetry")

#: Loggers of the exporters and processors that would report every failed batch; our guard
#: reports the first failure instead.
_NOISY_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.sdk.metrics._internal.export",
    "opentelemetry.sdk.metrics._internal",
)


class _Quiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


_QUIET = _Quiet()


class _SwitchTracer(trace.Tracer):
    """A tracer that forwards to whatever provider is configured at the time of each span."""

    def __init__(self, switch: _SwitchProvider, args: tuple[Any, ...], kwargs: dict[str, Any]):
        self._switch = switch
        self._args = args
        self._kwargs = kwargs
        self._cached: tuple[trace.TracerProvider, trace.Tracer] | None = None

    def _current(self) -> trace.Tracer:
        target = self._switch.target
        cached = self._cached
        if cached is None or cached[0] is not target:
            cached = self._cached = (target, target.get_tracer(*self._args, **self._kwargs))
        return cached[1]

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._current().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._current().start_as_current_span(*args, **kwargs)


class _SwitchProvider(trace.TracerProvider):
    def __init__(self) -> None:
        self.target: trace.TracerProvider = trace.NoOpTracerProvider()

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _SwitchTracer(self, args, kwargs)


_switch: _SwitchProvider | None = None
_active: Tracing | None = None
_lock = threading.Lock()


def _install_switch() -> _SwitchProvider | None:
    """Our forwarding provider as the global one; None if someone else's is already set."""
    global _switch
    if _switch is None:
        current = trace.get_tracer_provider()
        if not isinstance(current, trace.ProxyTracerProvider):
            return None
        switch = _SwitchProvider()
        trace.set_tracer_provider(switch)
        if trace.get_tracer_provider() is not switch:
            return None
        _switch = switch
    return _switch


class GuardedExporter(SpanExporter):
    """Wraps an exporter so that failures warn once and a dead receiver is not waited on."""

    def __init__(self, inner: SpanExporter, target: str, retry_after_s: float = 30.0):
        self.inner = inner
        self.target = target
        self.retry_after_s = retry_after_s
        self.failures = 0
        self.dropped = 0
        self._resume_at = 0.0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if time.monotonic() < self._resume_at:
            self.dropped += len(spans)
            return SpanExportResult.FAILURE
        reason = ""
        try:
            result = self.inner.export(spans)
        except Exception as exc:  # an exporter bug must not reach the run either
            result, reason = SpanExportResult.FAILURE, f": {type(exc).__name__}: {exc}"
        if result is SpanExportResult.FAILURE:
            self.failures += 1
            self.dropped += len(spans)
            self._resume_at = time.monotonic() + self.retry_after_s
            if self.failures == 1:
                log.warning("skillgap: could not export spans to %s%s; the run goes on, and spans "
                            "are dropped while the receiver stays unreachable", self.target, reason)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


class Tracing:
    """Handle of a configured tracing set-up; ``shutdown()`` (or leaving the ``with``) flushes."""

    def __init__(
        self,
        config: TraceConfig,
        provider: TracerProvider | None = None,
        processor: BatchSpanProcessor | None = None,
        exporter: GuardedExporter | None = None,
        meter_provider: MeterProvider | None = None,
    ):
        self.config = config
        self.provider = provider
        self.processor = processor
        self.exporter = exporter
        self.meter_provider = meter_provider
        self._closed = provider is None

    @property
    def enabled(self) -> bool:
        return not self._closed

    @property
    def export_failures(self) -> int:
        return 0 if self.exporter is None else self.exporter.failures

    def force_flush(self) -> bool:
        if self._closed or self.provider is None:
            return True
        return self.provider.force_flush(int(self.config.flush_timeout_s * 1000))

    def shutdown(self) -> None:
        """Flush queued spans (waiting at most ``flush_timeout_s``) and turn tracing off."""
        global _active
        with _lock:
            if self._closed:
                return
            self._closed = True
            if _active is self:
                _active = None
                if _switch is not None:
                    _switch.target = trace.NoOpTracerProvider()
                _spans.settings = _spans.SpanSettings()
        timeout_ms = int(self.config.flush_timeout_s * 1000)
        try:
            if self.processor is not None:  # bounded: the guard stops waiting on a dead receiver
                self.processor.shutdown()
            if self.meter_provider is not None:
                self.meter_provider.shutdown(timeout_millis=timeout_ms)
        finally:
            for name in _NOISY_LOGGERS:
                logging.getLogger(name).removeFilter(_QUIET)

    def __enter__(self) -> Tracing:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()


def project_name(config: TraceConfig) -> str:
    """The Phoenix project the spans go to."""
    return config.project_name or os.environ.get("PHOENIX_PROJECT_NAME") or "skillgap"


def _resource(config: TraceConfig) -> Resource:
    service = config.service_name or os.environ.get("OTEL_SERVICE_NAME") or "skillgap"
    return Resource.create({"service.name": service,
                            "openinference.project.name": project_name(config)})


def _otlp_url(config: TraceConfig, signal: str) -> str | None:
    if config.endpoint is None:
        return None  # the exporter reads OTEL_EXPORTER_OTLP_* (default localhost:4318)
    base = config.endpoint.rstrip("/")
    for known in ("/v1/traces", "/v1/metrics"):
        base = base.removesuffix(known)
    return f"{base}/v1/{signal}"


def _span_exporter(config: TraceConfig) -> SpanExporter:
    if config.exporter == "jsonl":
        from ._jsonl import JsonlSpanExporter

        assert config.path is not None
        return JsonlSpanExporter(config.path)
    if config.exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=_otlp_url(config, "traces"), timeout=config.export_timeout_s)


def _metric_reader(config: TraceConfig) -> MetricReader | None:
    if not config.metrics or config.exporter in ("none", "jsonl"):
        return None  # a JSONL trace already holds every call's tokens and latency
    if config.exporter == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        return PeriodicExportingMetricReader(ConsoleMetricExporter(), export_interval_millis=60_000)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    exporter = OTLPMetricExporter(endpoint=_otlp_url(config, "metrics"),
                                  timeout=config.export_timeout_s)
    return PeriodicExportingMetricReader(exporter, export_interval_millis=30_000,
                                         export_timeout_millis=config.export_timeout_s * 1000)


def configure_tracing(
    config: TraceConfig | str | None = None,
    *,
    exporter: SpanExporter | None = None,
    metric_reader: MetricReader | None = None,
) -> Tracing:
    """Send skillgap's spans (and GenAI client metrics) somewhere; returns a handle to shut down.

    ``config`` is a :class:`TraceConfig` or a ``--trace`` spec (``none``, ``console``, ``otlp``,
    ``otlp:URL``, ``phoenix[:URL]``, ``jsonl:PATH``). ``exporter`` overrides the config's (tests pass an
    ``InMemorySpanExporter``); ``metric_reader`` likewise for metrics. A previous configuration is
    shut down first.

    Example:
        >>> from skillgap.telemetry import configure_tracing
        >>> with configure_tracing("jsonl:runs/traces.jsonl"):  # doctest: +SKIP
        ...     run_eval(config, backend, Path("runs/latest"))
    """
    global _active
    if not isinstance(config, TraceConfig):
        config = TraceConfig.parse(config)
    if _active is not None:
        _active.shutdown()
    if config.exporter == "none" and exporter is None:
        return Tracing(config)
    switch = _install_switch()
    if switch is None:
        log.warning("skillgap: a global tracer provider is already set; skillgap's spans go to it "
                    "and --trace %s is ignored", config.target())
        return Tracing(config)
    guarded = GuardedExporter(exporter or _span_exporter(config), config.target(),
                              config.retry_after_s)
    resource = _resource(config)
    processor = BatchSpanProcessor(guarded, schedule_delay_millis=2_000,
                                   export_timeout_millis=config.export_timeout_s * 1000)
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    reader = metric_reader or _metric_reader(config)
    meter_provider = None if reader is None else MeterProvider(resource=resource,
                                                               metric_readers=[reader])
    tracing = Tracing(config, provider, processor, guarded, meter_provider)
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).addFilter(_QUIET)
    with _lock:
        _active = tracing
        settings = _spans.SpanSettings(config.image_max_chars, config.redact_images)
        if meter_provider is not None:
            meter = meter_provider.get_meter(_spans.TRACER_NAME)
            settings.token_usage = gen_ai_metrics.create_gen_ai_client_token_usage(meter)
            settings.duration = gen_ai_metrics.create_gen_ai_client_operation_duration(meter)
        _spans.settings = settings
        switch.target = provider
    return tracing


def active_tracing() -> Tracing | None:
    """The configuration in force, if any."""
    return _active


@atexit.register
def _flush_at_exit() -> None:
    if _active is not None:
        _active.shutdown()
