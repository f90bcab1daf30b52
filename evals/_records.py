"""Run-log records: one JSON line per sample × strategy, appended as each finishes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1

#: Errors of samples whose input was bad (a dataset row that failed validation, an input the
#: graph refused): they never reached the model, so they are neither results nor call failures.
INPUT_ERRORS = ("bad input:", "bad dataset row")

#: What a record counts as: a scored answer (``correct`` / ``wrong``: a format failure is a wrong
#: answer), a failed call (``error``: never counted as a wrong answer) or a bad input (``invalid``).
Status = Literal["correct", "wrong", "error", "invalid"]


class RouteRecord(BaseModel):
    """A routed strategy's decision on one sample."""

    router: str
    choice: str
    #: The escalation score the router thresholded (None for routers that do not score).
    score: float | None = None
    #: The strategy run first to probe the sample (e.g. ``direct``), if any.
    probe: str | None = None


class SampleRecord(BaseModel):
    """The outcome of one strategy (or one skill alone) on one sample."""

    schema_version: int = SCHEMA_VERSION
    task: str
    sample_id: str
    strategy: str
    image_id: str | None = None  # samples sharing an image are one bootstrap cluster (None: own)
    prediction: str | None
    raw: str | None
    correct: bool
    gold: str
    intermediate: str | None = None
    gold_intermediate: str | None = None
    intermediate_correct: bool | None = None
    error: str | None = None
    format_failure: bool = False
    latency_s: float = 0.0
    tokens: dict[str, int] = Field(default_factory=lambda: {"input": 0, "output": 0})
    calls: int = 0
    logprob: float | None = None
    difficulty: dict[str, Any] = Field(default_factory=dict)
    #: The sample's span (hex ids) when the run was traced, so logs and traces join.
    trace_id: str | None = None
    span_id: str | None = None
    #: A routed strategy's decision: router, choice, score (escalation score) and probe.
    route: RouteRecord | None = None
    #: Which replica answered each model call, by graph node, when calls went over a fleet of
    #: endpoints or Ray replicas (``None`` for a single model).
    served_by: dict[str, str] | None = None

    def key(self) -> tuple[str, str, str]:
        return (self.task, self.sample_id, self.strategy)

    @property
    def status(self) -> Status:
        """How the summary counts this record (see :data:`Status`)."""
        if self.error is not None and self.error.startswith(INPUT_ERRORS):
            return "invalid"
        if self.error is not None and not self.format_failure:
            return "error"
        return "correct" if self.correct else "wrong"


class RecordLog:
    """An append-only JSONL file that survives a kill: each record is one write, flushed and
    fsynced; a torn last line left by a kill is cut off when the log is reopened."""

    def __init__(self, path: Path):
        self.path = path
        self.records: list[SampleRecord] = self._load()
        self._file = path.open("a", encoding="utf-8")

    def _load(self) -> list[SampleRecord]:
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        good_end = data.rfind(b"\n") + 1
        if good_end < len(data):
            # A kill mid-write left a partial line: drop it, its pair will be run again.
            with self.path.open("r+b") as handle:
                handle.truncate(good_end)
        records = []
        for number, line in enumerate(data[:good_end].decode().splitlines(), 1):
            if line.strip():
                try:
                    records.append(SampleRecord.model_validate_json(line))
                except ValueError as exc:
                    raise ValueError(f"{self.path}:{number} is not a sample record: {exc}") from None
        return records

    def done(self) -> set[tuple[str, str, str]]:
        return {record.key() for record in self.records}

    def append(self, record: SampleRecord) -> None:
        self._file.write(record.model_dump_json() + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.records.append(record)

    def close(self) -> None:
        self._file.close()


def read_records(path: str | Path) -> list[SampleRecord]:
    """All records of a finished or partial run (``samples.jsonl`` or its folder)."""
    path = Path(path)
    path = path / "samples.jsonl" if path.is_dir() else path
    return [
        SampleRecord.model_validate(json.loads(line))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
