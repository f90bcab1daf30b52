"""``skillgap trace``: read traces written with ``--trace jsonl:PATH``."""

from __future__ import annotations

import argparse
from pathlib import Path


def _trace_summarize(args: argparse.Namespace) -> int:
    from ..telemetry import summarize_trace

    print(summarize_trace(Path(args.file)))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tc = sub.add_parser("trace", help="read traces written with --trace jsonl:PATH")
    trace_sub = tc.add_subparsers(dest="trace_command", required=True)
    ts = trace_sub.add_parser("summarize", help="model calls per strategy and skill: counts, "
                                                "latency percentiles, tokens")
    ts.add_argument("file", metavar="FILE.jsonl")
    ts.set_defaults(func=_trace_summarize)
