"""Trace a small eval of the embedded tiny model into a JSONL file, join it to the run log, and
summarize it per strategy and skill.

    python examples/tracing.py

Swap the target for ``"phoenix:http://127.0.0.1:6006"`` (Phoenix: one trace per sample ×
strategy in the run's session, scores as annotations) or ``"otlp"`` (the ``OTEL_EXPORTER_OTLP_*``
variables) to see the same spans in an observability tool.
"""

import tempfile
from pathlib import Path

import skillgap as sg
from skillgap.evals import EvalConfig, read_records, run_eval
from skillgap.telemetry import TraceConfig, configure_tracing, read_spans, summarize_trace

out = Path(tempfile.mkdtemp(prefix="skillgap-tracing-"))
traces = out / "traces.jsonl"
config = EvalConfig(tasks=["counting"], strategies=["direct", "cascaded"], n=2, seed=3)

with configure_tracing(TraceConfig.parse(f"jsonl:{traces}", image_max_chars=256)):
    run_eval(config, sg.load_backend("transformers"), out / "run", show_progress=False)

# Every record names the span of its sample: the run log and the trace join on span_id.
spans = {span.span_id: span for span in read_spans(traces)}
for record in read_records(out / "run"):
    sample = spans[record.span_id]
    print(f"{record.sample_id} {record.strategy:>8}: correct={record.correct} "
          f"span {sample.span_id} ({sample.duration_s * 1000:.0f} ms)")

print(summarize_trace(traces))
