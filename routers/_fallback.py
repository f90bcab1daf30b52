"""The fallback router: run the cheap path (direct) first and escalate when its answer looks unsure."""

from __future__ import annotations

from collections.abc import Mapping

from ._router import ThresholdRouter, register_router
from ._signals import Signals


@register_router("fallback")
class FallbackRouter(ThresholdRouter):
    """Keeps the direct answer unless it failed its output constraint or its log-probability is low.

    The score is the direct answer's negative log-probability (its surprisal, higher = less sure);
    the router escalates when it reaches the task's threshold, and also when the backend gives no
    log-probability (nothing to judge by). Thresholds are calibrated on a training run with
    ``skillgap route train --router fallback``.

    Example:
        >>> from skillgap.routers import Probe, Signals
        >>> router = FallbackRouter(threshold=1.5)   # escalate when p(answer) < e^-1.5
        >>> sure = Signals(task="cards", probes={"direct": Probe(ok=True, logprob=-0.1)})
        >>> router.route(sure).choice
        'direct'
    """

    probe: str | None = "direct"

    def __init__(self, *, name: str = "fallback", threshold: float = 1.0,
                 thresholds: Mapping[str, float] | None = None, escalate_to: str = "cascaded"):
        super().__init__(name=name, threshold=threshold, thresholds=thresholds, escalate_to=escalate_to)

    def score(self, signals: Signals) -> float | None:
        direct = signals.direct
        return None if direct is None or direct.logprob is None else -float(direct.logprob)

