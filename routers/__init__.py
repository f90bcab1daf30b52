"""Routers pick, per input, the composition or executor most likely to be right at least cost.

Built-in routers: ``FixedRouter`` and ``RuleRouter`` (per task), ``FallbackRouter`` (direct first,
escalate on a failed constraint or a low answer log-probability), ``LearnedRouter`` (a logistic
regression on cheap features, trained on a run log) and ``OracleRouter`` (the upper bound). Train
and replay them on run logs with ``skillgap.evals.train_router`` / ``simulate``; run them live with
``skillgap.graphs.routed``.
"""

from ._calibrate import Cost, Item, Point, pick_threshold, sweep
from ._fallback import FallbackRouter
from ._features import FEATURE_SETS, image_stats, signal_features
from ._files import (
    RouterFile,
    RouterOverlapError,
    TrainedOn,
    check_no_overlap,
    load_router,
    read_router_file,
    save_router,
)
from ._fixed import FixedRouter
from ._learned import LearnedRouter, fit_logistic
from ._oracle import OracleRouter
from ._router import (
    BRANCHES,
    ROUTER_KINDS,
    RouteDecision,
    Router,
    ThresholdRouter,
    register_router,
    router_from_record,
)
from ._rule import RuleRouter

__all__ = [
    "BRANCHES",
    "FEATURE_SETS",
    "ROUTER_KINDS",
    "Cost",
    "FallbackRouter",
    "FixedRouter",
    "Item",
    "LearnedRouter",
    "OracleRouter",
    "Point",
    "RouteDecision",
    "Router",
    "RouterFile",
    "RouterOverlapError",
    "RuleRouter",
    "ThresholdRouter",
    "TrainedOn",
    "check_no_overlap",
    "fit_logistic",
    "image_stats",
    "load_router",
    "pick_threshold",
    "read_router_file",
    "register_router",
    "router_from_record",
    "save_router",
    "signal_features",
    "sweep",
]
