"""The samples of a traced run, each row linked to its trace in Phoenix when Phoenix received it.

A run traced with ``--trace`` notes its receiver in ``trace.json``; every line of ``samples.jsonl``
carries its span id, and Phoenix opens a span (in its trace) at ``<url>/redirects/spans/<id>``.
"""

from __future__ import annotations

from pathlib import Path

from ..evals._records import read_records
from ..telemetry._phoenix import read_trace_note, span_url
from ..telemetry._spans import verdict
from ._blocks import Block, Heading, Para, Table


def _cell(text: str | None, limit: int = 40) -> str:
    text = "" if text is None else " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sample_blocks(out: Path, *, level: int = 2) -> list[Block]:
    """A "Samples and their traces" section for a traced run in ``out`` (nothing otherwise)."""
    note = read_trace_note(out)
    log = out / "samples.jsonl"
    if note is None or not log.is_file():
        return []
    records = sorted(read_records(log), key=lambda r: (r.task, r.sample_id, r.strategy))
    phoenix = note.phoenix_url
    where = (f"in Phoenix at {phoenix}, session `{note.run_id}`" if phoenix
             else f"to {note.target}, session `{note.run_id}`")
    rows = [[r.task, r.sample_id, r.strategy, _cell(r.prediction), _cell(r.gold), verdict(r)]
            for r in records]
    links = [span_url(phoenix, r.span_id) if phoenix and r.span_id else None for r in records]
    return [
        Heading(level, "Samples and their traces"),
        Para(f"Each sample × strategy is one trace, sent {where}; the span id of each is in "
             "`samples.jsonl`" + (" and linked below." if phoenix else ".")),
        Table(["task", "sample", "strategy", "prediction", "gold", "verdict"], rows,
              links=links if phoenix else None),
    ]
