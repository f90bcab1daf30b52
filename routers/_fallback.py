"""The fallback router: run the cheap path (direct) first and escalate when its answer looks unsure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._router import ThresholdRouter, register_router


@register_router("fallback")
class FallbackRouter(ThresholdRouter):
    """Keeps the direct answer unless it failed its output constraint or its log-probability is low.

    The score is the direct answer's negative log-probability (its surprisal, higher = less sure);
    the router escalates when it reaches the task's threshold, and also when the backend gives no
    log-probability (nothing to judge by). Thresholds are calibrated on a training run with
    ``skillgap route train --router fallback``.

    Example:
        >>> router = FallbackRouter(threshold=1.5)   # escalate when p(answer) < e^-1.5
        >>> router.route("cards", {"direct": {"ok": True, "logprob": -0.1}}).choice
        'direct'
    """

    probe: str | None = "direct"

    def __init__(self, *, name: str = "fallback", threshold: float = 1.0,
                 thresholds: Mapping[str, float] | None = None, escalate_to: str = "cascaded"):
        super().__init__(name=name, threshold=threshold, thresholds=thresholds, escalate_to=escalate_to)

    def score(self, task: str, signals: Mapping[str, Any]) -> float | None:
        direct = signals.get("direct") or {}
        logprob = direct.get("logprob")
        return None if logprob is None else -float(logprob)

    def to_record(self) -> dict[str, Any]:
        return {"kind": self.kind, **self._threshold_record()}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> FallbackRouter:
        return cls(**cls._threshold_args(record))
