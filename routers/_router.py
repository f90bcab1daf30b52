"""The Router protocol: pick, per sample, the strategy (or executor) to run, and the router registry.

A router sees cheap *signals* about a sample before the expensive path runs: the task, the
question, the image reference, the textual inputs, the sample id when known, and, for routers that
probe, the outcome of the cheap path (``signals["direct"] = {"ok", "logprob", "answer"}``).
Every built-in router can be saved to and rebuilt from a small JSON record.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol, Self, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict

#: What a router may choose: the three strategies, and ``tesseract`` = the cascade with its
#: visual (read-text) step run by Tesseract OCR instead of the model.
BRANCHES = ("direct", "cascaded", "cot", "tesseract")
#: Steps a router can run before it decides (their results become signals).
PROBES = ("direct",)


class RouteDecision(BaseModel):
    """A router's choice for one sample, with its score, for logs and traces."""

    model_config = ConfigDict(frozen=True)
    router: str
    choice: str
    score: float | None = None


@runtime_checkable
class Router(Protocol):
    """Chooses a branch (``direct``, ``cascaded``, ``cot`` or ``tesseract``) from cheap signals.

    ``probe`` names the step run before deciding (``"direct"``: its answer is kept when the router
    chooses ``direct``), or None; ``choices`` lists every branch the router may pick, so a routed
    graph builds (and draws) only those.
    """

    name: str
    probe: str | None
    choices: tuple[str, ...]

    def route(self, task: str, signals: Mapping[str, Any]) -> RouteDecision: ...

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready arguments that rebuild this router (``kind`` included)."""
        ...


ROUTER_KINDS: dict[str, Callable[[Mapping[str, Any]], Router]] = {}

R = TypeVar("R")


def register_router(kind: str) -> Callable[[type[R]], type[R]]:
    """Class decorator: record a router kind so ``router_from_record`` can rebuild it."""

    def add(cls: type[R]) -> type[R]:
        ROUTER_KINDS[kind] = cls.from_record  # type: ignore[attr-defined]
        cls.kind = kind  # type: ignore[attr-defined]
        return cls

    return add


def router_from_record(record: Mapping[str, Any]) -> Router:
    """Rebuild a router from ``to_record()`` output."""
    kind = record.get("kind")
    if kind not in ROUTER_KINDS:
        raise ValueError(f"unknown router kind {kind!r}; known: {', '.join(sorted(ROUTER_KINDS))}")
    return ROUTER_KINDS[str(kind)](record)


def check_choice(choice: str, where: str) -> str:
    if choice not in BRANCHES:
        raise ValueError(f"{where}: unknown branch {choice!r}; choose from {', '.join(BRANCHES)}")
    return choice


class ThresholdRouter:
    """A two-way router: stay on ``direct`` unless the escalation score reaches the threshold.

    Subclasses give ``score`` (higher = more reason to escalate; None = cannot judge, so escalate).
    Thresholds are per task, with ``threshold`` for tasks without one; ``math.inf`` never escalates.
    """

    kind: ClassVar[str]
    probe: str | None = None

    def __init__(self, *, name: str, threshold: float = 0.0,
                 thresholds: Mapping[str, float] | None = None, escalate_to: str = "cascaded"):
        self.name = name
        self.threshold = float(threshold)
        self.thresholds = {task: float(value) for task, value in (thresholds or {}).items()}
        self.escalate_to = check_choice(escalate_to, f"router {name!r}")
        if escalate_to == "direct":
            raise ValueError(f"router {name!r}: escalate_to must differ from direct")
        self.choices: tuple[str, ...] = ("direct", escalate_to)

    def score(self, task: str, signals: Mapping[str, Any]) -> float | None:
        raise NotImplementedError

    def threshold_for(self, task: str) -> float:
        return self.thresholds.get(task, self.threshold)

    def decide(self, task: str, score: float | None) -> str:
        escalate = score is None or score >= self.threshold_for(task)
        return self.escalate_to if escalate else "direct"

    def route(self, task: str, signals: Mapping[str, Any]) -> RouteDecision:
        direct = signals.get("direct")
        if self.probe == "direct" and direct is not None and not direct.get("ok", False):
            return RouteDecision(router=self.name, choice=self.escalate_to, score=None)
        score = self.score(task, signals)
        return RouteDecision(router=self.name, choice=self.decide(task, score), score=score)

    def with_thresholds(self, thresholds: Mapping[str, float]) -> Self:
        """A copy with these per-task thresholds (the original is left as it was)."""
        record = {**self.to_record(), "thresholds": _json_thresholds(thresholds)}
        return type(self).from_record(record)  # type: ignore[attr-defined]

    def _threshold_record(self) -> dict[str, Any]:
        return {"name": self.name, "threshold": _json_float(self.threshold),
                "thresholds": _json_thresholds(self.thresholds), "escalate_to": self.escalate_to}

    def to_record(self) -> dict[str, Any]:
        raise NotImplementedError

    @staticmethod
    def _threshold_args(record: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "name": record.get("name", record["kind"]),
            "threshold": _from_json_float(record.get("threshold", 0.0)),
            "thresholds": {t: _from_json_float(v) for t, v in (record.get("thresholds") or {}).items()},
            "escalate_to": record.get("escalate_to", "cascaded"),
        }


def _json_float(value: float) -> float | str:
    # JSON has no infinity; "never" (escalate) and "always" keep router files valid JSON.
    if math.isinf(value):
        return "never" if value > 0 else "always"
    return value


def _from_json_float(value: float | str) -> float:
    if value == "never":
        return math.inf
    if value == "always":
        return -math.inf
    return float(value)


def _json_thresholds(thresholds: Mapping[str, float]) -> dict[str, float | str]:
    return {task: _json_float(value) for task, value in sorted(thresholds.items())}
