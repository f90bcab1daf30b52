"""The typed, versioned run summary: what ``summary.json`` holds and what reports read.

Written by :func:`skillgap.evals.summarize` and read back through :meth:`Summary.read`; nothing
downstream indexes a dict by string keys. Failed calls are never counted as wrong answers:
``accuracy`` is over the *scored* samples (``n``), with the error and format-failure rates beside
it, and bad dataset rows are counted apart (``invalid_rows``). Ratios that only mean something for
a positive gap (the relative gap, shares of the gap closed) are ``None`` with a ``reason`` otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

#: Bumped when a field changes meaning; a summary of another version is refused, not misread.
#: 1 was the untyped dict (no ``schema_version``); 2 counts errors apart from wrong answers.
SUMMARY_SCHEMA_VERSION = 2

#: Difficulty bins with fewer scored samples per strategy than this are marked small.
SMALL_BIN = 10

#: A task (or run) with more than this share of failed calls says so loudly.
MOSTLY_FAILED = 0.5

CI = tuple[float, float]


class _Model(BaseModel):
    # Computed fields (``skills``, ``error_rate``) are written for readers of the JSON and ignored
    # when it is read back.
    model_config = ConfigDict(frozen=True, extra="ignore")


class Stats(_Model):
    """One strategy's (or one skill's) outcome on a task.

    ``accuracy`` is ``correct / n`` over the scored samples (``None`` when none was scored);
    ``attempted`` = ``n`` + ``errors``: a sample whose call failed is an error, not a wrong answer.
    A format failure (the model answered, the answer did not parse) is scored, as wrong;
    ``format_failure_rate`` is its share of the scored samples, ``error_rate`` that of the attempted.
    """

    accuracy: float | None
    ci: CI | None
    n: int
    correct: int
    attempted: int
    errors: int
    error_rate: float
    format_failures: int
    format_failure_rate: float


class GapClosed(_Model):
    """A share of the gap closed, ``(x − direct) / (cascaded − direct)``, with its bootstrap CI;
    ``value`` is ``None`` (and ``reason`` says why) when the gap is not positive or its CI spans 0."""

    value: float | None = None
    ci: CI | None = None
    reason: str | None = None


class Gap(_Model):
    """Cascaded − direct accuracy, its paired clustered-bootstrap CI and exact McNemar p-value."""

    absolute: float | None
    ci: CI | None
    #: ``gap / cascaded``; ``None`` unless the gap is positive.
    relative: float | None
    p_value: float | None
    n_paired: int
    direct_only: int
    cascaded_only: int
    #: CoT's share of the gap closed; ``None`` when CoT did not run.
    cot_closed: GapClosed | None = None
    #: Why ratios of this gap are not shown (``None`` when the gap is positive and its CI excludes 0).
    reason: str | None = None


class SkillOutcome(_Model):
    right: int
    wrong: int
    missing: int


class Attribution(_Model):
    """Direct failures by each skill's outcome on the same input; ``both_right`` = composition
    failures (both skills right alone, direct still wrong)."""

    direct_wrong: int
    visual: SkillOutcome
    textual: SkillOutcome
    both_right: int


class DifficultyBin(_Model):
    """Direct and cascaded accuracy (scored samples) and the gap, with CIs, in one bin of a knob."""

    bin: str
    direct: float | None
    cascaded: float | None
    n_direct: int
    n_cascaded: int
    direct_ci: CI | None = None
    cascaded_ci: CI | None = None
    gap: float | None
    gap_ci: CI | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def small(self) -> bool:
        """Too few scored samples for the bin's numbers to mean much."""
        return min(self.n_direct, self.n_cascaded) < SMALL_BIN


class RouterStats(_Model):
    """A routed step (or the oracle): accuracy over scored samples, gap closed, cost per sample."""

    accuracy: float | None
    ci: CI | None
    n: int
    errors: int = 0
    gap_closed: GapClosed
    cost_ratio_vs_cascaded: float | None
    token_ratio_vs_cascaded: float | None
    calls: float
    tokens: float
    latency_s: float
    #: Share of the samples routed to each choice.
    choices: dict[str, float]


class ParetoPoint(_Model):
    name: str
    kind: Literal["strategy", "router", "oracle"]
    accuracy: float
    calls: float
    tokens: float
    latency_s: float


class CurvePoint(_Model):
    """One threshold of a two-way router swept; ``None`` thresholds are "never" / "always"."""

    threshold: float | None
    accuracy: float
    calls: float
    tokens: float
    latency_s: float
    escalated: float


class Pareto(_Model):
    points: list[ParetoPoint]
    curves: dict[str, list[CurvePoint]]


class TaskSummary(_Model):
    """Everything the summary holds about one task."""

    strategies: dict[str, Stats]
    skill_stats: dict[str, Stats] = Field(default_factory=dict)
    majority_baseline: float | None = None
    #: Distinct samples run (bad dataset rows excluded).
    n_samples: int
    #: Dataset rows of this task that failed validation: never run, never counted in ``n``.
    invalid_rows: int = 0
    #: Failed calls (all strategies and skills) and their share of the attempted.
    errors: int = 0
    attempted: int = 0
    first_error: str | None = None
    #: Loud notes for the reader (e.g. most samples failed); shown above the numbers.
    warnings: list[str] = Field(default_factory=list)
    gap: Gap | None = None
    by_difficulty: dict[str, list[DifficultyBin]] = Field(default_factory=dict)
    routers: dict[str, RouterStats] = Field(default_factory=dict)
    #: Accuracy against cost; only when a routed step ran (a router was asked for).
    pareto: Pareto | None = None
    attribution: Attribution | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def skills(self) -> dict[str, float | None]:
        """Each skill's accuracy alone (a shorthand of ``skill_stats``)."""
        return {name: stats.accuracy for name, stats in self.skill_stats.items()}

    @computed_field  # type: ignore[prop-decorator]
    @property
    def error_rate(self) -> float:
        return self.errors / self.attempted if self.attempted else 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def mostly_failed(self) -> bool:
        return self.error_rate > MOSTLY_FAILED


class Summary(_Model):
    """The run summary: per task, strategies, skills, gap, routers; see the module docstring."""

    schema_version: int = SUMMARY_SCHEMA_VERSION
    model: str
    tasks: dict[str, TaskSummary]
    #: Dataset rows that failed validation (listed in ``dataset_errors.jsonl``): never counted.
    dataset_errors: int = 0
    #: What the summary was computed from (records, model, code): a rerun reuses an equal one.
    records_fingerprint: str | None = None

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if version != SUMMARY_SCHEMA_VERSION:
            raise ValueError(f"summary schema version {version} is not {SUMMARY_SCHEMA_VERSION}: "
                             "recompute it from samples.jsonl (`skillgap report DIR`)")
        return version

    @computed_field  # type: ignore[prop-decorator]
    @property
    def errors(self) -> int:
        return sum(task.errors for task in self.tasks.values())

    @computed_field  # type: ignore[prop-decorator]
    @property
    def attempted(self) -> int:
        return sum(task.attempted for task in self.tasks.values())

    @computed_field  # type: ignore[prop-decorator]
    @property
    def error_rate(self) -> float:
        """Share of all attempted sample × step calls that failed (what ``--max-error-rate`` checks)."""
        return self.errors / self.attempted if self.attempted else 0.0

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> Summary:
        """Read ``summary.json`` (or a run folder's); a summary of another schema is a ValueError."""
        path = path / "summary.json" if path.is_dir() else path
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "schema_version" not in data:
            data["schema_version"] = 1  # version 1 (the untyped dict) wrote none: refused clearly
        return cls.model_validate(data)
