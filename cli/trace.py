"""``skillgap trace``: read traces written with ``--trace jsonl:PATH``; post a finished run's scores
to Phoenix as span annotations."""

from __future__ import annotations

import argparse
from pathlib import Path


def _trace_summarize(args: argparse.Namespace) -> int:
    from ..telemetry import summarize_trace

    print(summarize_trace(Path(args.file)))
    return 0


def _trace_annotate(args: argparse.Namespace) -> int:
    from ..evals import read_records
    from ..telemetry._phoenix import (
        PhoenixError,
        TraceNote,
        annotate_records,
        base_url,
        read_trace_note,
        write_trace_note,
    )
    from ..telemetry._spans import run_id

    folder = Path(args.run)
    log = folder / "samples.jsonl" if folder.is_dir() else folder
    if not log.is_file():
        print(f"error: {folder} holds no samples.jsonl: not a run folder (see `skillgap eval --out`)")
        return 2
    try:
        posted = annotate_records(args.phoenix, read_records(log))
    except PhoenixError as exc:
        print(f"error: {exc}")
        return 1
    url = base_url(args.phoenix)
    run = log.parent
    note = read_trace_note(run) or TraceNote(run_id=run_id(run), target=f"phoenix:{url}")
    write_trace_note(run, note.model_copy(update={"phoenix_url": url, "annotated": posted}))
    print(f"posted {posted} exact_match annotations to {url}")
    if (run / "summary.json").is_file():  # the report's sample rows now link to their traces
        from ..evals._summary_model import Summary
        from ..reports import write_run_report

        try:
            write_run_report(run, Summary.read(run / "summary.json"))
        except ValueError as exc:  # a summary of another schema version: leave the report be
            print(f"report not rewritten ({exc}); run `skillgap eval` again to update it")
        else:
            print(f"{run / 'report.html'} links each sample to its trace")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tc = sub.add_parser("trace", help="read JSONL traces; post a run's scores to Phoenix")
    trace_sub = tc.add_subparsers(dest="trace_command", required=True)
    ts = trace_sub.add_parser("summarize", help="model calls per strategy and skill: counts, "
                                                "cache hits apart, latency percentiles, tokens")
    ts.add_argument("file", metavar="FILE.jsonl", help="a trace written with --trace jsonl:PATH")
    ts.set_defaults(func=_trace_summarize)
    ta = trace_sub.add_parser(
        "annotate", help="post each sample's score of a finished traced run to Phoenix as a span "
                         "annotation (exact_match), e.g. when it was traced with plain otlp")
    ta.add_argument("run", metavar="RUN", help="the run folder (its samples.jsonl has the span ids)")
    ta.add_argument("--phoenix", required=True, metavar="URL",
                    help="Phoenix's URL, e.g. http://127.0.0.1:6006")
    ta.set_defaults(func=_trace_annotate)
