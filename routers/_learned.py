"""The learned router: a logistic regression on cheap features that predicts when escalating pays.

Trained on a finished run's records: the label of a sample is 1 when the escalation target (the
cascade) was right and direct was wrong, the only case where paying for it changes the outcome.
The score is the predicted probability of that; it escalates at or above the task's threshold.
Only numpy is needed, and the saved router is a few hundred bytes of JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._features import FEATURE_SETS, signal_features
from ._fit import Row, TrainOptions, calibrate
from ._router import ThresholdRouter, register_router
from ._signals import Signals


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1.0, iterations: int = 50
                 ) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method: ``(weights, bias)``.

    The bias is lightly regularised too, so a training set with one class still gives finite
    weights (it then predicts that class everywhere).
    """
    n, d = x.shape
    design = np.hstack([x, np.ones((n, 1))])
    penalty = np.full(d + 1, l2)
    penalty[-1] = 1e-3
    w = np.zeros(d + 1)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -30, 30)))
        gradient = design.T @ (p - y) + penalty * w
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return w[:-1], float(w[-1])


@register_router("learned")
class LearnedRouter(ThresholdRouter):
    """Escalates when the predicted chance that escalation fixes the answer reaches the threshold.

    ``features`` names the inputs (``task=<name>`` indicators, question and image statistics and,
    with ``probe="direct"``, the direct answer's log-probability); ``mean``/``scale`` standardise
    them. Build one with :func:`skillgap.routers.train_router`.
    """

    def __init__(self, *, features: Sequence[str], weights: Sequence[float], bias: float,
                 mean: Sequence[float], scale: Sequence[float], probe: str | None = "direct",
                 name: str = "learned", threshold: float = 0.5,
                 thresholds: Mapping[str, float] | None = None, escalate_to: str = "cascaded"):
        super().__init__(name=name, threshold=threshold, thresholds=thresholds, escalate_to=escalate_to)
        if not len(features) == len(weights) == len(mean) == len(scale):
            raise ValueError("learned router: features, weights, mean and scale differ in length")
        if probe not in (None, "direct"):
            raise ValueError(f"learned router: probe must be 'direct' or None, got {probe!r}")
        self.probe = probe
        self.features = list(features)
        self.weights = np.asarray(weights, dtype=float)
        self.bias = float(bias)
        self.mean = np.asarray(mean, dtype=float)
        self.scale = np.asarray(scale, dtype=float)

    @classmethod
    def feature_names(cls, tasks: Sequence[str], feature_set: str) -> list[str]:
        try:
            base = FEATURE_SETS[feature_set]
        except KeyError:
            raise ValueError(f"unknown feature set {feature_set!r}; choose from "
                             f"{', '.join(FEATURE_SETS)}") from None
        return [f"task={task}" for task in sorted(tasks)] + list(base)

    def vector(self, signals: Signals) -> np.ndarray:
        found = signal_features(signals)
        return np.array([found.get(name, 0.0) for name in self.features], dtype=float)

    def probability(self, rows: np.ndarray) -> np.ndarray:
        z = ((rows - self.mean) / self.scale) @ self.weights + self.bias
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))))

    def score(self, signals: Signals) -> float | None:
        return float(self.probability(self.vector(signals)[None, :])[0])

    @classmethod
    def fit(cls, rows: np.ndarray, labels: np.ndarray, *, features: Sequence[str],
            probe: str | None, l2: float = 1.0, **options: Any) -> LearnedRouter:
        """Standardise ``rows`` (one per sample) and fit the regression on ``labels`` (0/1)."""
        mean = rows.mean(axis=0) if len(rows) else np.zeros(len(features))
        scale = rows.std(axis=0) if len(rows) else np.ones(len(features))
        scale = np.where(scale > 1e-9, scale, 1.0)
        weights, bias = fit_logistic((rows - mean) / scale, labels.astype(float), l2=l2)
        return cls(features=features, weights=weights.tolist(), bias=bias, mean=mean.tolist(),
                   scale=scale.tolist(), probe=probe, **options)

    @classmethod
    def train(cls, rows: Sequence[Row], options: TrainOptions) -> LearnedRouter:
        """Fit on ``rows`` (label: escalating was right and staying was wrong), then calibrate
        per-task thresholds on the same rows."""
        names = cls.feature_names(sorted({row.task for row in rows}), options.features)
        probe = cls.stay if options.features == "direct" else None
        draft = cls(features=names, weights=[0.0] * len(names), bias=0.0, mean=[0.0] * len(names),
                    scale=[1.0] * len(names), probe=probe, escalate_to=options.escalate_to)
        matrix = np.array([draft.vector(row.signals_for(draft)) for row in rows])
        labels = np.array([row.correct[options.escalate_to] and not row.correct[cls.stay]
                           for row in rows])
        fitted = cls.fit(matrix, labels, features=names, probe=probe, l2=options.l2,
                         name=options.name, escalate_to=options.escalate_to)
        return calibrate(fitted, rows, max_cost_ratio=options.max_cost_ratio, metric=options.metric)

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            **self._threshold_record(),
            "probe": self.probe,
            "features": self.features,
            "weights": [round(float(w), 8) for w in self.weights],
            "bias": round(self.bias, 8),
            "mean": [round(float(m), 8) for m in self.mean],
            "scale": [round(float(s), 8) for s in self.scale],
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> LearnedRouter:
        return cls(features=record["features"], weights=record["weights"], bias=record["bias"],
                   mean=record["mean"], scale=record["scale"], probe=record.get("probe", "direct"),
                   **cls._threshold_args(record))
