"""A span exporter that needs no server: one JSON object per span per line, and its reader."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from pydantic import BaseModel, Field


class SpanStatus(BaseModel):
    code: str = "UNSET"  # UNSET, OK or ERROR
    description: str | None = None


class SpanEvent(BaseModel):
    name: str
    time: datetime
    attributes: dict[str, Any] = Field(default_factory=dict)


class SpanRecord(BaseModel):
    """One span as a JSONL line: ids in hex, times in UTC, attributes flat (dotted keys)."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str | None = None
    kind: str = "INTERNAL"
    start_time: datetime
    end_time: datetime
    status: SpanStatus = Field(default_factory=SpanStatus)
    attributes: dict[str, Any] = Field(default_factory=dict)
    events: list[SpanEvent] = Field(default_factory=list)
    resource: dict[str, Any] = Field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return (self.end_time - self.start_time).total_seconds()

    @classmethod
    def from_span(cls, span: ReadableSpan) -> SpanRecord:
        context = span.get_span_context()
        assert context is not None
        parent = span.parent
        return cls(
            name=span.name,
            trace_id=f"{context.trace_id:032x}",
            span_id=f"{context.span_id:016x}",
            parent_id=None if parent is None else f"{parent.span_id:016x}",
            kind=span.kind.name,
            start_time=_time(span.start_time),
            end_time=_time(span.end_time),
            status=SpanStatus(code=span.status.status_code.name, description=span.status.description),
            attributes=_plain(span.attributes),
            events=[
                SpanEvent(name=event.name, time=_time(event.timestamp),
                          attributes=_plain(event.attributes))
                for event in span.events
            ],
            resource=_plain(span.resource.attributes),
        )


def _time(nanoseconds: int | None) -> datetime:
    return datetime.fromtimestamp((nanoseconds or 0) / 1e9, tz=UTC)


def _plain(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, tuple) else value
            for key, value in (attributes or {}).items()}


class JsonlSpanExporter(SpanExporter):
    """Appends each finished span to ``path`` as one line (see :class:`SpanRecord`).

    Example:
        >>> from skillgap.telemetry import configure_tracing
        >>> with configure_tracing("jsonl:traces.jsonl"):  # doctest: +SKIP
        ...     ...
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(SpanRecord.from_span(span).model_dump_json() + "\n" for span in spans)
        with self._lock:
            if self._file.closed:
                return SpanExportResult.FAILURE
            self._file.write(lines)
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._file.close()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def read_spans(path: str | Path) -> list[SpanRecord]:
    """Every span of a JSONL trace file, in file order; a bad line names its number."""
    spans = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            spans.append(SpanRecord.model_validate(json.loads(line)))
        except ValueError as exc:
            raise ValueError(f"{path}:{number} is not a span record: {exc}") from None
    return spans
