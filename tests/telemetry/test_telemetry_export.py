"""Exporters and their failure modes: the JSONL file and its reader, ``trace summarize``, the CLI's
``--trace``, and an OTLP receiver that refuses connections."""

from __future__ import annotations

import json
import logging
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eval_helpers import reader_backend
from telemetry_helpers import CONFIG, Traced, comparable

from skillgap.cli import main
from skillgap.evals import load_samples, read_records, run_eval
from skillgap.telemetry import (
    JsonlSpanExporter,
    SpanRecord,
    TraceConfig,
    configure_tracing,
    read_spans,
    summarize_spans,
)


@pytest.fixture(scope="module")
def samples() -> list:
    return load_samples(CONFIG)


def test_trace_specs() -> None:
    assert TraceConfig.parse(None).exporter == "none"
    assert TraceConfig.parse("console").exporter == "console"
    assert TraceConfig.parse("otlp").endpoint is None
    assert TraceConfig.parse("otlp:http://127.0.0.1:6006").endpoint == "http://127.0.0.1:6006"
    jsonl = TraceConfig.parse("jsonl:runs/t.jsonl", redact_images=True)
    assert jsonl.path == Path("runs/t.jsonl") and jsonl.redact_images
    phoenix = TraceConfig.parse("phoenix:http://127.0.0.1:6006/")
    assert (phoenix.exporter, phoenix.endpoint, phoenix.phoenix) == (
        "otlp", "http://127.0.0.1:6006/", True)
    assert TraceConfig.parse("phoenix").endpoint == "http://127.0.0.1:6006"
    assert TraceConfig.parse("otlp:http://x:4318").phoenix is None  # asked at the end of a run
    for bad in ("jsonl", "jsonl:", "zipkin", "console:x"):
        with pytest.raises(ValueError, match="trace"):
            TraceConfig.parse(bad)


def test_jsonl_round_trip(traced: Traced, samples: list, tmp_path: Path) -> None:
    run_eval(CONFIG, reader_backend(samples), tmp_path / "run", show_progress=False)
    spans = traced.spans()
    exporter = JsonlSpanExporter(tmp_path / "t.jsonl")
    exporter.export(spans)
    exporter.shutdown()
    lines = (tmp_path / "t.jsonl").read_text().splitlines()
    assert len(lines) == len(spans)
    assert set(json.loads(lines[0])) >= {"name", "trace_id", "span_id", "parent_id", "start_time",
                                         "end_time", "status", "attributes"}
    back = read_spans(tmp_path / "t.jsonl")
    for span, record in zip(spans, back, strict=True):
        assert record.name == span.name
        assert int(record.trace_id, 16) == span.context.trace_id
        assert int(record.span_id, 16) == span.context.span_id
        assert record.parent_id == (None if span.parent is None else f"{span.parent.span_id:016x}")
        assert record.status.code == span.status.status_code.name
        assert record.attributes == {k: list(v) if isinstance(v, tuple) else v
                                     for k, v in span.attributes.items()}
        assert record.duration_s == pytest.approx((span.end_time - span.start_time) / 1e9, abs=2e-6)
        assert [event.name for event in record.events] == [event.name for event in span.events]
        assert record.resource["service.name"] == "skillgap"


def _span(name: str, ms: float, **attributes: object) -> SpanRecord:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return SpanRecord(name=name, trace_id="1" * 32, span_id="2" * 16, start_time=start,
                      end_time=start + timedelta(milliseconds=ms), attributes=attributes)


def _call(strategy: str, skill: str, ms: float, tokens: tuple[int, int],
          cached: bool = False) -> SpanRecord:
    return _span("chat m", ms, **{"openinference.span.kind": "LLM", "skillgap.strategy": strategy,
                                  "skillgap.skill": skill, "gen_ai.usage.input_tokens": tokens[0],
                                  "gen_ai.usage.output_tokens": tokens[1],
                                  "skillgap.cached": cached})


def test_trace_summarize_on_a_known_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spans = [_call("cascaded", "read_expression", ms, (10, 3)) for ms in (40, 10, 30, 20)]
    spans += [_call("cascaded", "solve_expression", 5, (8, 1)), _call("direct", "x.direct", 50, (12, 2))]
    # Cache hits (a look-up of a tenth of a millisecond) must not drag the latencies down.
    spans += [_call("cascaded", "read_expression", 0.1, (10, 3), cached=True) for _ in range(5)]
    spans += [_call("direct", "y.direct", 0.1, (12, 2), cached=True)]
    spans += [_span("graph cascaded", 70, **{"skillgap.graph": "cascaded"}),
              _span("sample", 80, **{"skillgap.strategy": "cascaded"})]
    spans[4].status.code = "ERROR"
    path = tmp_path / "known.jsonl"
    path.write_text("".join(span.model_dump_json() + "\n" for span in spans))

    rows = {(row.strategy, row.skill): row for row in summarize_spans(read_spans(path))}
    assert list(rows) == [("cascaded", "(graph)"), ("cascaded", "read_expression"),
                          ("cascaded", "solve_expression"), ("direct", "x.direct"),
                          ("direct", "y.direct")]
    read = rows["cascaded", "read_expression"]
    assert (read.calls, read.cache_hits, read.input_tokens, read.output_tokens) == (4, 5, 40, 12)
    assert [round(read.percentile_ms(q), 3) for q in (50, 90, 99)] == [20.0, 40.0, 40.0]
    assert rows["cascaded", "solve_expression"].errors == 1

    assert main(["trace", "summarize", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["strategy", "skill", "calls", "cache", "hits", "errors", "p50", "ms",
                              "p90", "ms", "p99", "ms", "in", "tokens", "out", "tokens"]
    assert out[2].split() == ["cascaded", "read_expression", "4", "5", "0", "20.0", "40.0", "40.0",
                              "40", "12"]
    assert out[5].split() == ["direct", "y.direct", "0", "1", "0", "–", "–", "–", "0", "0"]
    assert out[-1] == "14 spans, 6 model calls, 6 cache hits (not in the latencies or tokens)"


def test_cli_eval_writes_a_jsonl_trace_that_joins_the_run_log(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    trace_file = tmp_path / "traces.jsonl"
    code = main(["eval", "--backend", "mock", "--n", "1", "--tasks", "counting", "--no-cache",
                 "--quiet", "--out", str(tmp_path / "run"), "--trace", f"jsonl:{trace_file}",
                 "--trace-redact-images"])
    assert code == 0
    assert f"skillgap trace summarize {trace_file}" in capsys.readouterr().out
    spans = {span.span_id: span for span in read_spans(trace_file)}
    records = read_records(tmp_path / "run")
    assert records and all(spans[r.span_id].name == f"sample {r.sample_id} · {r.strategy}"
                           for r in records if r.strategy != "visual")
    note = json.loads((tmp_path / "run" / "trace.json").read_text())
    assert note["target"] == f"jsonl:{trace_file}" and note["phoenix_url"] is None
    assert "data:image" not in trace_file.read_text()
    assert main(["trace", "summarize", str(trace_file)]) == 0
    assert "counting.direct" in capsys.readouterr().out
    assert main(["eval", "--backend", "mock", "--trace", "zipkin"]) == 2


def _refused_port() -> int:
    with socket.socket() as probe:  # bound then closed: nothing listens there
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_receiver_down_the_run_completes_with_the_same_results(
        samples: list, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run_eval(CONFIG, reader_backend(samples), tmp_path / "plain", show_progress=False)
    config = TraceConfig.parse(f"otlp:http://127.0.0.1:{_refused_port()}", export_timeout_s=0.5)
    with caplog.at_level(logging.WARNING), configure_tracing(config) as tracing:
        # Two runs: the second must neither wait on the dead receiver again nor warn again.
        run_eval(CONFIG, reader_backend(samples), tmp_path / "traced", show_progress=False)
        tracing.force_flush()
        run_eval(CONFIG, reader_backend(samples), tmp_path / "again", show_progress=False)
    assert tracing.export_failures >= 1
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "could not export spans" in warnings[0].getMessage()
    plain = comparable(read_records(tmp_path / "plain"))
    assert comparable(read_records(tmp_path / "traced")) == plain
    assert comparable(read_records(tmp_path / "again")) == plain


def test_public_names_resolve_and_the_sdk_loads_only_when_asked_for() -> None:
    import subprocess
    import sys

    import skillgap.telemetry as telemetry

    assert all(getattr(telemetry, name) is not None for name in telemetry.__all__)
    probe = ("import sys, skillgap, skillgap.telemetry; "
             "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, timeout=120).stdout
    assert loaded.strip() == "[]"


def test_report_links_each_sample_to_its_trace_when_phoenix_is_known(
        traced: Traced, samples: list, tmp_path: Path) -> None:
    from skillgap.reports import write_run_report
    from skillgap.telemetry._phoenix import TraceNote, read_trace_note, write_trace_note

    out = tmp_path / "run"
    summary = run_eval(CONFIG, reader_backend(samples), out, show_progress=False)
    assert read_trace_note(out) is None  # traced into memory: no receiver to link to
    write_run_report(out, summary)
    assert "Samples and their traces" not in (out / "report.html").read_text()

    # What `skillgap trace annotate RUN --phoenix URL` (or a phoenix:URL run) leaves behind.
    write_trace_note(out, TraceNote(run_id="r1", target="phoenix:http://px:6006",
                                    phoenix_url="http://px:6006"))
    write_run_report(out, summary)
    page = (out / "report.html").read_text()
    records = read_records(out)
    for record in records:
        assert f'<a href="http://px:6006/redirects/spans/{record.span_id}"' in page
    assert page.count(">trace</a>") == len(records)
    assert f"(http://px:6006/redirects/spans/{records[0].span_id})" in (out / "report.md").read_text()


def test_trace_annotate_refuses_an_untraced_run(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from skillgap.evals import SampleRecord

    (tmp_path / "run").mkdir()
    untraced = SampleRecord(task="counting", sample_id="s1", strategy="direct", prediction="2",
                            raw="2", correct=True, gold="2")
    (tmp_path / "run" / "samples.jsonl").write_text(untraced.model_dump_json() + "\n")
    assert main(["trace", "annotate", str(tmp_path / "run"), "--phoenix",
                 "http://127.0.0.1:9"]) == 1
    assert "not traced" in capsys.readouterr().out
    assert main(["trace", "annotate", str(tmp_path / "nothing"), "--phoenix",
                 "http://127.0.0.1:9"]) == 2
