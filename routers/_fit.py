"""Fitting routers on per-sample outcomes: rows, training options, threshold calibration.

A row is one sample of a run that executed several strategies: the signals a router would have
seen, and each strategy's correctness and cost. Rows are built from run logs by
:mod:`skillgap.evals` (``load_run_rows``); each trainable router kind fits itself on them with its
``train(rows, options)`` classmethod.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from ._calibrate import Cost, Item, pick_threshold
from ._signals import Signals

if TYPE_CHECKING:
    from ._router import Router, ThresholdRouter

T = TypeVar("T", bound="ThresholdRouter")

@dataclass(frozen=True)
class Row:
    """One sample of a run: the signals a router would see, and each strategy's outcome and cost."""

    task: str
    sample_id: str
    signals: Signals
    correct: dict[str, bool]
    costs: dict[str, Cost] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.task}/{self.sample_id}"

    def signals_for(self, router: Router) -> Signals:
        """The signals as ``router`` sees them in use (only its own probe's outcome)."""
        return self.signals.seen_by(router.probe)


@dataclass(frozen=True)
class TrainOptions:
    """How to fit a router; each kind reads what it needs.

    ``cost_order`` lists the strategies cheapest first (from the strategy registry): the oracle's
    and the rule router's tie-break.
    """

    name: str
    features: str = "direct"
    escalate_to: str = "cascaded"
    max_cost_ratio: float = 0.75
    metric: str = "calls"
    l2: float = 1.0
    cost_order: tuple[str, ...] = ()


def by_task(rows: Sequence[Row]) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row.task].append(row)
    return dict(grouped)


def items(router: ThresholdRouter, rows: Sequence[Row]) -> list[Item]:
    """The two-way view of each row for ``router`` (its score, both sides' outcome and cost)."""
    out = []
    for row in rows:
        signals = row.signals_for(router)
        probed = signals.probes.get(router.probe) if router.probe else None
        forced = probed is not None and not probed.ok
        score = None if forced else router.score(signals)
        target, stay = router.escalate_to, router.stay
        out.append(Item(score=score, direct_ok=row.correct[stay], escalate_ok=row.correct[target],
                        direct_cost=row.costs[stay], escalate_cost=row.costs[target],
                        probed=router.probe == stay, forced=forced))
    return out


def calibrate(router: T, rows: Sequence[Row], *, max_cost_ratio: float = 0.75,
              metric: str = "calls") -> T:
    """A copy of ``router`` with per-task thresholds: the most accurate within ``max_cost_ratio`` ×
    always-escalating cost (``metric``: calls or tokens) on ``rows``."""
    thresholds = {}
    for task, task_rows in by_task(rows).items():
        n = len(task_rows)
        baseline = sum((r.costs[router.escalate_to] for r in task_rows), Cost())
        mean = Cost(baseline.calls / n, baseline.tokens / n, baseline.latency_s / n)
        thresholds[task] = pick_threshold(items(router, task_rows), mean,
                                          max_cost_ratio=max_cost_ratio, metric=metric).threshold
    return router.with_thresholds(thresholds)
