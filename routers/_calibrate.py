"""Threshold sweeps and calibration for two-way routers, on per-sample outcomes and costs.

A two-way router keeps the cheap answer (direct) or escalates (to the cascade). Given, per sample,
the escalation score, whether each side was right and what each cost, every threshold gives an
accuracy and a cost; the sweep is the router's accuracy–cost curve, and calibration picks the most
accurate threshold whose cost stays within a budget relative to always-cascaded.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Cost:
    """What running something on one sample cost: model calls, generated tokens, wall time."""

    calls: float = 0.0
    tokens: float = 0.0
    latency_s: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.calls + other.calls, self.tokens + other.tokens,
                    self.latency_s + other.latency_s)

    def get(self, metric: str) -> float:
        return float(getattr(self, metric))


@dataclass(frozen=True)
class Item:
    """One sample, as a two-way router sees it: its score and both sides' outcome and cost.

    ``forced`` escalates whatever the threshold (the cheap answer failed its constraint);
    ``probed`` means the cheap side already ran, so escalating pays for both.
    """

    score: float | None
    direct_ok: bool
    escalate_ok: bool
    direct_cost: Cost
    escalate_cost: Cost
    probed: bool
    forced: bool = False

    def escalates(self, threshold: float) -> bool:
        return self.forced or self.score is None or self.score >= threshold

    def outcome(self, threshold: float) -> tuple[bool, Cost]:
        if not self.escalates(threshold):
            return self.direct_ok, self.direct_cost
        cost = self.direct_cost + self.escalate_cost if self.probed else self.escalate_cost
        return self.escalate_ok, cost


@dataclass(frozen=True)
class Point:
    """One threshold's result, averaged over the items."""

    threshold: float
    accuracy: float
    cost: Cost
    escalated: float  # share of items escalated


def candidate_thresholds(scores: Sequence[float | None]) -> list[float]:
    """Always escalate, never escalate, and each midpoint between consecutive distinct scores."""
    distinct = sorted({s for s in scores if s is not None and math.isfinite(s)})
    middles = [(a + b) / 2 for a, b in itertools.pairwise(distinct)]
    return [-math.inf, *middles, math.inf]


def evaluate(items: Sequence[Item], threshold: float) -> Point:
    n = max(1, len(items))
    correct = 0
    total = Cost()
    escalated = 0
    for item in items:
        ok, cost = item.outcome(threshold)
        correct += ok
        total = total + cost
        escalated += item.escalates(threshold)
    mean = Cost(total.calls / n, total.tokens / n, total.latency_s / n)
    return Point(threshold, correct / n, mean, escalated / n)


def sweep(items: Sequence[Item]) -> list[Point]:
    """Every distinct threshold's point, from never escalating to always (cheapest first)."""
    points = [evaluate(items, t) for t in candidate_thresholds([i.score for i in items])]
    return sorted(points, key=lambda p: (p.cost.calls, p.cost.tokens, -p.accuracy))


def pick_threshold(items: Sequence[Item], baseline: Cost, *, max_cost_ratio: float = 0.75,
                   metric: str = "calls") -> Point:
    """The most accurate threshold costing at most ``max_cost_ratio`` × ``baseline`` in ``metric``
    (ties go to the cheaper); the cheapest threshold when none fits the budget."""
    points = [evaluate(items, t) for t in candidate_thresholds([i.score for i in items])]
    budget = max_cost_ratio * baseline.get(metric) + 1e-9
    feasible = [p for p in points if p.cost.get(metric) <= budget]
    if not feasible:
        return min(points, key=lambda p: (p.cost.get(metric), -p.accuracy))
    return max(feasible, key=lambda p: (p.accuracy, -p.cost.get(metric), -p.escalated))
