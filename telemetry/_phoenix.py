"""Phoenix, when it is the receiver: scores as span annotations, links to spans, and a note in the
run folder saying where the traces went.

Phoenix shows a span annotation as a badge in the trace tree, a column in the span list and a
mean in the project's stats; the ``gen_ai.evaluation.*`` attributes the spans carry stay for
other receivers. Everything here speaks Phoenix's REST API with the standard library (the OTLP
exporter already needs nothing more), and a failure warns instead of failing the run.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ._spans import EVALUATION_NAME, ScoredRecord, explanation, score_value, verdict

if TYPE_CHECKING:
    from ._setup import Tracing
    from ._spans import RunTrace

log = logging.getLogger("skillgap.telemetry")

#: Where a traced run notes its receiver, next to ``samples.jsonl``.
TRACE_NOTE = "trace.json"
#: Annotations per request (Phoenix accepts batches; a run can have thousands).
_CHUNK = 500


class PhoenixError(RuntimeError):
    """Phoenix could not be reached or refused a request; the message says which and why."""


class TraceNote(BaseModel):
    """``trace.json``: where a run's traces went, so reports can link each sample to its trace."""

    run_id: str
    target: str
    project: str | None = None
    #: Phoenix's base URL when the receiver is Phoenix (links: ``<url>/redirects/spans/<id>``).
    phoenix_url: str | None = None
    annotated: int = 0


def base_url(endpoint: str) -> str:
    """A Phoenix (or OTLP) URL without the OTLP path: ``http://host:6006/v1/traces`` →
    ``http://host:6006``."""
    base = endpoint.rstrip("/")
    for suffix in ("/v1/traces", "/v1/metrics", "/v1"):
        base = base.removesuffix(suffix)
    return base


def span_url(phoenix_url: str, span_id: str) -> str:
    """The page of one span in Phoenix's UI (Phoenix redirects to its trace, span selected)."""
    return f"{base_url(phoenix_url)}/redirects/spans/{span_id}"


def is_phoenix(url: str, timeout_s: float = 5.0) -> bool:
    """Whether ``url`` is a Phoenix server (it answers ``GET /arize_phoenix_version``)."""
    try:
        with urllib.request.urlopen(f"{base_url(url)}/arize_phoenix_version",
                                    timeout=timeout_s) as response:
            text = response.read(64).decode("utf-8", "replace").strip()
    except (OSError, ValueError):  # refused, timed out, not HTTP, bad URL
        return False
    return response.status == 200 and bool(text) and text[0].isdigit()


def annotation(record: ScoredRecord) -> dict[str, Any]:
    """The Phoenix span annotation of one run-log record (``exact_match``: label, score,
    explanation with prediction and gold)."""
    if record.span_id is None:
        raise ValueError(f"record {record.task}/{record.sample_id}/{record.strategy} has no span "
                         "id: the run was not traced")
    result: dict[str, Any] = {"label": verdict(record), "explanation": explanation(record)}
    score = score_value(record)
    if score is not None:
        result["score"] = score
    return {
        "span_id": record.span_id,
        "name": EVALUATION_NAME,
        "annotator_kind": "CODE",
        "result": result,
        "metadata": {"task": record.task, "sample_id": record.sample_id,
                     "strategy": record.strategy, "gold": record.gold,
                     "prediction": record.prediction},
        # One exact_match per span: posting a run's scores again updates them.
        "identifier": "skillgap",
    }


def post_annotations(url: str, records: Iterable[ScoredRecord], *, sync: bool = False,
                     timeout_s: float = 10.0) -> int:
    """Post each traced record's score to Phoenix at ``url``; returns how many were posted.

    ``sync=False`` lets Phoenix insert them in the background (it keeps an annotation until its
    span has arrived, so spans still in flight are fine); ``sync=True`` inserts before answering
    and fails on spans Phoenix does not have. Raises :class:`PhoenixError`.
    """
    body = [annotation(record) for record in records if record.span_id is not None]
    endpoint = f"{base_url(url)}/v1/span_annotations?sync={'true' if sync else 'false'}"
    for start in range(0, len(body), _CHUNK):
        data = json.dumps({"data": body[start:start + _CHUNK]}).encode()
        request = urllib.request.Request(endpoint, data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read(500).decode("utf-8", "replace")
            raise PhoenixError(f"Phoenix at {base_url(url)} refused the annotations: HTTP "
                               f"{exc.code}: {detail}") from None
        except (OSError, ValueError) as exc:
            raise PhoenixError(f"could not reach Phoenix at {base_url(url)}: {exc}") from None
    return len(body)


def read_trace_note(folder: Path) -> TraceNote | None:
    """A run folder's ``trace.json``, or None when the run was not traced to a receiver."""
    try:
        return TraceNote.model_validate_json((folder / TRACE_NOTE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def write_trace_note(folder: Path, note: TraceNote) -> None:
    (folder / TRACE_NOTE).write_text(note.model_dump_json(indent=2) + "\n", encoding="utf-8")


def phoenix_of(tracing: Tracing) -> str | None:
    """Phoenix's base URL when ``tracing`` sends to Phoenix (said by ``phoenix:URL``, or found by
    asking the OTLP endpoint once), else None."""
    config = tracing.config
    if config.exporter != "otlp" or config.phoenix is False:
        return None
    endpoint = config.endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if endpoint is None:
        return None
    if config.phoenix or is_phoenix(endpoint):
        return base_url(endpoint)
    return None


def after_run(run: RunTrace) -> None:
    """When a traced run ends: post its new scores to Phoenix and note the receiver."""
    from ._setup import active_tracing, project_name

    tracing = active_tracing()
    if tracing is None or not tracing.enabled:
        return
    url = phoenix_of(tracing)
    annotated = 0
    if url is not None and run.records:
        tracing.force_flush()  # the spans first, so Phoenix has them when the scores arrive
        try:
            annotated = post_annotations(url, run.records)
        except PhoenixError as exc:
            log.warning("skillgap: the scores were not posted as Phoenix annotations (%s); post "
                        "them later with `skillgap trace annotate RUN --phoenix %s`", exc, url)
    if run.out is not None and tracing.config.exporter in ("otlp", "jsonl"):
        previous = read_trace_note(run.out)
        note = TraceNote(run_id=run.run_id, target=tracing.config.target(),
                         project=project_name(tracing.config), phoenix_url=url,
                         annotated=annotated + (previous.annotated if previous else 0))
        write_trace_note(run.out, note)


def annotate_records(url: str, records: Sequence[ScoredRecord], *,
                     timeout_s: float = 30.0) -> int:
    """Post a finished run's scores (``skillgap trace annotate``); records without span ids (an
    untraced run) are refused with the reason."""
    traced = [record for record in records if record.span_id is not None]
    if not traced:
        raise PhoenixError("no record of this run carries a span id: it was not traced "
                           "(run `skillgap eval --trace phoenix:URL`)")
    return post_annotations(url, traced, sync=True, timeout_s=timeout_s)
