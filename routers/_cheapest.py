"""The cheapest-right router: one learned chance of being right per cheap strategy, tried cheapest first.

A two-way router can only stay on direct or escalate. A model that composes partially offers more:
direct is right on the easiest inputs, CoT (one call too) on somewhat harder ones, and only the rest
needs the cascade. This router learns, for each cheap strategy (a *rung*), the chance that it is
right from features known before any call (task, question, image statistics), and sends each input
to the first rung, cheapest first, whose chance reaches that rung's threshold for the task; inputs
no rung claims go to the escalation target (cascaded). The thresholds are calibrated per task on
the training rows: the most accurate combination whose cost stays within the budget.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._features import FEATURE_SETS, signal_features
from ._fit import Row, TrainOptions, by_task
from ._learned import fit_logistic
from ._router import RouteDecision, RouterBase, _from_json_float, _json_float, check_choice, register_router
from ._signals import Signals

#: Candidate thresholds per rung and task: quantiles of the rung's chances on the task's rows. A
#: coarse grid keeps the joint search over rungs small and less prone to fit the rows' noise.
THRESHOLD_GRID = 16


@dataclass(frozen=True)
class Rung:
    """One cheap strategy and the logistic model of its chance of being right."""

    strategy: str
    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def chance(self, signals: Signals) -> float:
        found = signal_features(signals)
        x = np.array([found.get(name, 0.0) for name in self.features], dtype=float)
        standard = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        z = float(standard @ np.asarray(self.weights)) + self.bias
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_record(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "features": list(self.features),
                "weights": [round(w, 8) for w in self.weights], "bias": round(self.bias, 8),
                "mean": [round(m, 8) for m in self.mean], "scale": [round(s, 8) for s in self.scale]}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Rung:
        features = tuple(record["features"])
        rung = cls(strategy=check_choice(record["strategy"], "cheapest router rung"), features=features,
                   weights=tuple(float(w) for w in record["weights"]), bias=float(record["bias"]),
                   mean=tuple(float(m) for m in record["mean"]),
                   scale=tuple(float(s) for s in record["scale"]))
        if not len(features) == len(rung.weights) == len(rung.mean) == len(rung.scale):
            raise ValueError(f"cheapest router rung {rung.strategy!r}: features, weights, mean and "
                             "scale differ in length")
        return rung

    @classmethod
    def fit(cls, strategy: str, rows: Sequence[Row], features: Sequence[str], *, l2: float) -> Rung:
        matrix = np.array([[signal_features(row.signals).get(name, 0.0) for name in features]
                           for row in rows], dtype=float)
        labels = np.array([row.correct[strategy] for row in rows], dtype=float)
        mean = matrix.mean(axis=0)
        scale = np.where(matrix.std(axis=0) > 1e-9, matrix.std(axis=0), 1.0)
        weights, bias = fit_logistic((matrix - mean) / scale, labels, l2=l2)
        return cls(strategy, tuple(features), tuple(float(w) for w in weights), float(bias),
                   tuple(float(m) for m in mean), tuple(float(s) for s in scale))


@register_router("cheapest")
class CheapestRouter(RouterBase):
    """Sends each input to the cheapest strategy likely to be right, else to ``escalate_to``.

    ``rungs`` are tried in order (cheapest first); ``thresholds[task][strategy]`` is the chance a
    rung needs on that task (``math.inf``: never on that task). It decides before any model call.
    """

    probe = None

    def __init__(self, *, rungs: Sequence[Rung], thresholds: Mapping[str, Mapping[str, float]],
                 name: str = "cheapest", escalate_to: str = "cascaded"):
        self.name = name
        self.rungs = tuple(rungs)
        self.escalate_to = check_choice(escalate_to, f"router {name!r}")
        names = [rung.strategy for rung in self.rungs]
        if escalate_to in names or len(set(names)) != len(names):
            raise ValueError(f"router {name!r}: rungs {names} must be distinct and differ from "
                             f"escalate_to {escalate_to!r}")
        self.thresholds = {task: {s: float(v) for s, v in per.items()} for task, per in thresholds.items()}
        self.choices: tuple[str, ...] = (*names, escalate_to)

    def threshold(self, task: str, strategy: str) -> float:
        # A task the router was not trained on gets no cheap rung: escalating is the safe default.
        return self.thresholds.get(task, {}).get(strategy, math.inf)

    def choices_for(self, task: str) -> tuple[str, ...]:
        used = [r.strategy for r in self.rungs if self.threshold(task, r.strategy) < math.inf]
        return (*used, self.escalate_to)

    def route(self, signals: Signals) -> RouteDecision:
        for rung in self.rungs:
            needed = self.threshold(signals.task, rung.strategy)
            if needed == math.inf:  # never on this task
                continue
            if rung.chance(signals) >= needed:
                return self._decision(rung.strategy)
        return self._decision(self.escalate_to)

    def _decision(self, choice: str) -> RouteDecision:
        # No score: a decision's score means "reason to escalate" to a two-way router, and reports
        # sweep it as one threshold; this router has one threshold per rung, none of which is that.
        return RouteDecision(router=self.name, choice=choice, score=None)

    @classmethod
    def train(cls, rows: Sequence[Row], options: TrainOptions) -> CheapestRouter:
        """Fit one model per rung (every strategy the rows ran that is cheaper than the escalation
        target in the registry's cost order) on pre-call features, then calibrate per task."""
        if options.features != "pre":
            raise ValueError("the cheapest router decides before any call: train it with features 'pre'")
        ran = set.intersection(*(set(row.correct) for row in rows))
        order = list(options.cost_order) or sorted(ran)
        if options.escalate_to not in ran:
            raise ValueError(f"cheapest router: the run has no {options.escalate_to!r} records to "
                             "escalate to")
        cheaper = order[:order.index(options.escalate_to)] if options.escalate_to in order else []
        strategies = [s for s in cheaper if s in ran]
        if not strategies:
            raise ValueError(f"cheapest router: the run has no strategy cheaper than {options.escalate_to!r} "
                             f"(it ran {', '.join(sorted(ran))})")
        tasks = sorted({row.task for row in rows})
        features = [f"task={task}" for task in tasks] + list(FEATURE_SETS["pre"])
        rungs = [Rung.fit(s, rows, features, l2=options.l2) for s in strategies]
        draft = cls(rungs=rungs, thresholds={}, name=options.name, escalate_to=options.escalate_to)
        thresholds = {task: draft.calibrate(task_rows, max_cost_ratio=options.max_cost_ratio,
                                            metric=options.metric)
                      for task, task_rows in by_task(rows).items()}
        return cls(rungs=rungs, thresholds=thresholds, name=options.name, escalate_to=options.escalate_to)

    def calibrate(self, rows: Sequence[Row], *, max_cost_ratio: float, metric: str) -> dict[str, float]:
        """The rung thresholds for one task's rows: the most accurate combination costing at most
        ``max_cost_ratio`` × always escalating (the cheaper on a tie; all-escalate when none fits)."""
        chances = np.array([[rung.chance(row.signals) for rung in self.rungs] for row in rows])
        right = np.array([[row.correct[s] for s in self.choices] for row in rows], dtype=float)
        cost = np.array([[row.costs[s].get(metric) for s in self.choices] for row in rows], dtype=float)
        budget = max_cost_ratio * cost[:, -1].mean() + 1e-9
        grids = [sorted({math.inf, *np.quantile(chances[:, j], np.linspace(0, 1, THRESHOLD_GRID))})
                 for j in range(len(self.rungs))]
        best: tuple[float, float, tuple[float, ...]] | None = None
        for combo in itertools.product(*grids):
            claimed = chances >= np.asarray(combo)  # rows × rungs
            first = np.where(claimed.any(axis=1), claimed.argmax(axis=1), len(self.rungs))
            pick = np.arange(len(rows))
            accuracy, spent = right[pick, first].mean(), cost[pick, first].mean()
            if spent <= budget and (best is None or (accuracy, -spent) > (best[0], -best[1])):
                best = (float(accuracy), float(spent), combo)
        chosen = best[2] if best is not None else tuple(math.inf for _ in self.rungs)
        return {rung.strategy: float(t) for rung, t in zip(self.rungs, chosen, strict=True)}

    def to_record(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "escalate_to": self.escalate_to,
                "rungs": [rung.to_record() for rung in self.rungs],
                "thresholds": {task: {s: _json_float(v) for s, v in sorted(per.items())}
                               for task, per in sorted(self.thresholds.items())}}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> CheapestRouter:
        thresholds = {task: {s: _from_json_float(v) for s, v in per.items()}
                      for task, per in (record.get("thresholds") or {}).items()}
        return cls(rungs=[Rung.from_record(r) for r in record.get("rungs", [])], thresholds=thresholds,
                   name=record.get("name", "cheapest"), escalate_to=record.get("escalate_to", "cascaded"))
