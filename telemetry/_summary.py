"""``skillgap trace summarize``: model calls per strategy and skill, latency percentiles, tokens.

Cache hits are counted apart: a look-up of a few microseconds is not a model call, and mixed in it
would drag every latency percentile down (and count tokens no model spent).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ._jsonl import SpanRecord, read_spans

GRAPH_ROW = "(graph)"


@dataclass
class CallStats:
    """Calls of one skill within one strategy (or, for ``skill == "(graph)"``, whole graph runs).

    ``latencies_s``, ``errors`` and the tokens are those of calls that reached the model;
    ``cache_hits`` counts the calls answered from the call cache.
    """

    strategy: str
    skill: str
    latencies_s: list[float] = field(default_factory=list)
    cache_hits: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def calls(self) -> int:
        return len(self.latencies_s)

    def percentile_ms(self, q: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        ordered = sorted(self.latencies_s)
        if not ordered:
            return 0.0
        rank = max(1, math.ceil(q / 100 * len(ordered)))
        return ordered[rank - 1] * 1000


def _strategy(span: SpanRecord) -> str:
    attributes = span.attributes
    return str(attributes.get("skillgap.strategy") or attributes.get("skillgap.graph") or "?")


def summarize_spans(spans: Iterable[SpanRecord]) -> list[CallStats]:
    """Group model-call spans (OpenInference kind LLM) by strategy and skill, cache hits apart,
    and graph spans by strategy; rows sorted by strategy, graph row first."""
    rows: dict[tuple[str, str], CallStats] = {}
    for span in spans:
        kind = span.attributes.get("openinference.span.kind")
        if kind == "LLM":
            skill = str(span.attributes.get("skillgap.skill", "?"))
        elif span.attributes.get("skillgap.graph") and span.name.startswith("graph "):
            skill = GRAPH_ROW
        else:
            continue
        key = (_strategy(span), skill)
        stats = rows.setdefault(key, CallStats(*key))
        if span.attributes.get("skillgap.cached") is True:
            stats.cache_hits += 1
            continue
        stats.latencies_s.append(span.duration_s)
        stats.errors += span.status.code == "ERROR"
        stats.input_tokens += int(span.attributes.get("gen_ai.usage.input_tokens", 0))
        stats.output_tokens += int(span.attributes.get("gen_ai.usage.output_tokens", 0))
    return [rows[key] for key in sorted(rows, key=lambda k: (k[0], k[1] != GRAPH_ROW, k[1]))]


def format_summary(rows: list[CallStats]) -> str:
    """A fixed-width table of :func:`summarize_spans` rows."""
    header = ("strategy", "skill", "calls", "cache hits", "errors", "p50 ms", "p90 ms",
              "p99 ms", "in tokens", "out tokens")
    lines = [header] + [
        (row.strategy, row.skill, str(row.calls), str(row.cache_hits), str(row.errors),
         *(f"{row.percentile_ms(q):.1f}" if row.calls else "–" for q in (50, 90, 99)),
         str(row.input_tokens), str(row.output_tokens))
        for row in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) if i < 2 else cell.rjust(width)
                  for i, (cell, width) in enumerate(zip(line, widths, strict=True))).rstrip()
        for line in lines
    )


def summarize_trace(path: str | Path) -> str:
    """The summary table of a JSONL trace file (what ``skillgap trace summarize`` prints)."""
    spans = read_spans(path)
    rows = summarize_spans(spans)
    if not rows:
        return f"{path}: {len(spans)} spans, none of them a model call or a graph run"
    calls = sum(row.calls for row in rows if row.skill != GRAPH_ROW)
    hits = sum(row.cache_hits for row in rows)
    footer = f"{len(spans)} spans, {calls} model calls"
    if hits:
        footer += f", {hits} cache hits (not in the latencies or tokens)"
    return format_summary(rows) + "\n" + footer
