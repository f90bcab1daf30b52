"""Routers pick, per input, the composition or executor most likely to be right at least cost.

Built-in routers: ``FixedRouter`` and ``RuleRouter`` (per task), ``FallbackRouter`` (direct first,
escalate on a failed constraint or a low answer log-probability), ``LearnedRouter`` (a logistic
regression on cheap features, trained on a run log), ``CheapestRouter`` (the cheapest strategy
likely to be right, decided before any call) and ``OracleRouter`` (the upper bound). Train
and replay them on run logs with ``skillgap.evals.train_router`` / ``simulate``; run them live with
``skillgap.graphs.routed``. Every router sees one :class:`Signals` type, built by one builder live
and offline. Router kinds are registered with ``@register_router`` and ``skillgap.routers`` entry
points.
"""

from ._calibrate import Cost, Item, Point, pick_threshold, sweep
from ._cheapest import CheapestRouter, Rung
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
from ._fit import Row, TrainOptions, calibrate, items
from ._fixed import FixedRouter
from ._learned import LearnedRouter, fit_logistic
from ._oracle import OracleRouter
from ._router import (
    ENTRY_POINT_GROUP,
    ROUTER_KINDS,
    RouteDecision,
    Router,
    RouterBase,
    ThresholdRouter,
    TrainableRouter,
    get_router_class,
    register_router,
    router_from_record,
    router_kinds,
    trainable_kinds,
)
from ._rule import RuleRouter
from ._signals import Probe, Signals, build_signals

__all__ = [
    "ENTRY_POINT_GROUP",
    "FEATURE_SETS",
    "ROUTER_KINDS",
    "CheapestRouter",
    "Cost",
    "FallbackRouter",
    "FixedRouter",
    "Item",
    "LearnedRouter",
    "OracleRouter",
    "Point",
    "Probe",
    "RouteDecision",
    "Router",
    "RouterBase",
    "RouterFile",
    "RouterOverlapError",
    "Row",
    "RuleRouter",
    "Rung",
    "Signals",
    "ThresholdRouter",
    "TrainOptions",
    "TrainableRouter",
    "TrainedOn",
    "build_signals",
    "calibrate",
    "check_no_overlap",
    "fit_logistic",
    "get_router_class",
    "image_stats",
    "items",
    "load_router",
    "pick_threshold",
    "read_router_file",
    "register_router",
    "router_from_record",
    "router_kinds",
    "save_router",
    "signal_features",
    "sweep",
    "trainable_kinds",
]
