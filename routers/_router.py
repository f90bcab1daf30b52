"""The Router protocol, the router registry, and the two-way ``ThresholdRouter`` base.

A router sees cheap :class:`Signals` about a sample before the expensive path runs — the task, the
question, the image, the textual inputs, the sample id when known and, for routers that probe, the
outcome of the cheap path (``signals.direct``) — and picks the strategy (or executor) to run.

Router kinds are registered with ``@register_router(kind)`` (a class with ``from_record``) and
found in installed packages through the ``skillgap.routers`` entry-point group. Every router can
be saved to and rebuilt from a small JSON record. Which branch names exist is the strategy
registry's business (a layer above): the routed graph checks a router's choices against it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict

from ._signals import Signals

if TYPE_CHECKING:
    from ._fit import Row, TrainOptions

ENTRY_POINT_GROUP = "skillgap.routers"


class RouteDecision(BaseModel):
    """A router's choice for one sample, with its score, for logs and traces."""

    model_config = ConfigDict(frozen=True)
    router: str
    choice: str
    score: float | None = None


@runtime_checkable
class Router(Protocol):
    """Chooses a branch (a strategy such as ``direct`` or ``cascaded``, or an executor such as
    ``tesseract``) from cheap signals.

    ``probe`` names the strategy run before deciding (its answer is kept when the router picks
    it), or None; ``choices`` lists every branch the router may pick and ``choices_for(task)``
    those it may pick on one task, so a routed graph builds (and draws) only those.
    """

    name: str
    probe: str | None
    choices: tuple[str, ...]

    @property
    def kind(self) -> str:
        """The registered kind that rebuilds this router from its record."""
        ...

    def choices_for(self, task: str) -> tuple[str, ...]: ...

    def route(self, signals: Signals) -> RouteDecision: ...

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready arguments that rebuild this router (``kind`` included)."""
        ...


class RouterClass(Protocol):
    """What the registry holds: a router class that rebuilds its routers from records."""

    def from_record(self, record: Mapping[str, Any]) -> Router: ...


class TrainableRouter(Protocol):
    """A router class that can also be fitted on a run's rows (``skillgap route train``)."""

    def from_record(self, record: Mapping[str, Any]) -> Router: ...

    def train(self, rows: Sequence[Row], options: TrainOptions) -> Router: ...


class RouterBase:
    """Defaults for the optional parts of :class:`Router`: no probe, the same choices on every
    task. Subclassing it is a convenience, not a requirement."""

    kind: ClassVar[str] = ""
    probe: str | None = None
    name: str
    choices: tuple[str, ...]

    def choices_for(self, task: str) -> tuple[str, ...]:
        return self.choices


#: kind -> router class; filled by ``@register_router`` and ``skillgap.routers`` entry points.
ROUTER_KINDS: dict[str, RouterClass] = {}
_entry_points_read = False

R = TypeVar("R")


def register_router(kind: str, *, replace: bool = False) -> Callable[[type[R]], type[R]]:
    """Class decorator: record a router kind, so ``router_from_record`` and the CLI find it.

    The class needs ``from_record(record)``; with ``train(rows, options)`` too it is trainable
    by ``skillgap route train --router KIND``.
    """

    def add(cls: type[R]) -> type[R]:
        if not callable(getattr(cls, "from_record", None)):
            raise TypeError(f"router kind {kind!r}: {cls.__name__} needs a from_record classmethod")
        known = ROUTER_KINDS.get(kind)
        # Re-running a definition (a notebook cell) brings back the same class under a new object.
        if known is not None and not replace and _class_key(known) != _class_key(cls):
            raise ValueError(f"a different router kind {kind!r} is already registered; pass "
                             "replace=True or pick another kind")
        ROUTER_KINDS[kind] = cls  # type: ignore[assignment]
        cls.kind = kind  # type: ignore[attr-defined]
        return cls

    return add


def _class_key(cls: object) -> tuple[str, str]:
    return getattr(cls, "__module__", ""), getattr(cls, "__qualname__", "")


def _read_entry_points() -> None:
    global _entry_points_read
    if _entry_points_read:
        return
    _entry_points_read = True
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        entry.load()  # importing the module runs its @register_router decorators
        if entry.name not in ROUTER_KINDS:
            raise ValueError(f"entry point {entry.name!r} ({entry.value}) of {ENTRY_POINT_GROUP} "
                             f"registered no router kind {entry.name!r} (use @register_router)")


def router_kinds() -> list[str]:
    """Every registered router kind (built-in, decorated, and from entry points)."""
    _read_entry_points()
    return list(ROUTER_KINDS)


def trainable_kinds() -> list[str]:
    """The router kinds that can be fitted on a run (their class has ``train``)."""
    return [kind for kind in router_kinds() if callable(getattr(ROUTER_KINDS[kind], "train", None))]


def get_router_class(kind: str) -> RouterClass:
    """The class registered as ``kind``; raises ``ValueError`` naming the known kinds."""
    _read_entry_points()
    try:
        return ROUTER_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown router kind {kind!r}; known: {', '.join(router_kinds())}") from None


def router_from_record(record: Mapping[str, Any]) -> Router:
    """Rebuild a router from ``to_record()`` output."""
    return get_router_class(str(record.get("kind"))).from_record(record)


def check_choice(choice: str, where: str) -> str:
    """A branch name must at least be a name; the routed graph checks it is a known branch."""
    if not isinstance(choice, str) or not choice.isidentifier():
        raise ValueError(f"{where}: {choice!r} is not a branch name")
    return choice


class ThresholdRouter(RouterBase):
    """A two-way router: stay on ``direct`` unless the escalation score reaches the threshold.

    Subclasses give ``score`` (higher = more reason to escalate; None = cannot judge, so escalate).
    Thresholds are per task, with ``threshold`` for tasks without one; ``math.inf`` never escalates.
    A subclass whose constructor takes only these arguments needs nothing but ``score``: its
    record and rebuilding come from here.
    """

    #: The cheap path a two-way router stays on.
    stay: ClassVar[str] = "direct"

    def __init__(self, *, name: str | None = None, threshold: float = 0.0,
                 thresholds: Mapping[str, float] | None = None, escalate_to: str = "cascaded"):
        name = name or self.kind or type(self).__name__
        self.name = name
        self.threshold = float(threshold)
        self.thresholds = {task: float(value) for task, value in (thresholds or {}).items()}
        self.escalate_to = check_choice(escalate_to, f"router {name!r}")
        if escalate_to == self.stay:
            raise ValueError(f"router {name!r}: escalate_to must differ from {self.stay}")
        self.choices: tuple[str, ...] = (self.stay, escalate_to)

    def score(self, signals: Signals) -> float | None:
        raise NotImplementedError

    def threshold_for(self, task: str) -> float:
        return self.thresholds.get(task, self.threshold)

    def decide(self, task: str, score: float | None) -> str:
        escalate = score is None or score >= self.threshold_for(task)
        return self.escalate_to if escalate else self.stay

    def route(self, signals: Signals) -> RouteDecision:
        probed = signals.probes.get(self.probe) if self.probe else None
        if probed is not None and not probed.ok:  # the cheap answer failed: nothing to keep
            return RouteDecision(router=self.name, choice=self.escalate_to, score=None)
        score = self.score(signals)
        return RouteDecision(router=self.name, choice=self.decide(signals.task, score), score=score)

    def with_thresholds(self, thresholds: Mapping[str, float]) -> Self:
        """A copy with these per-task thresholds (the original is left as it was)."""
        record = {**self.to_record(), "thresholds": _json_thresholds(thresholds)}
        return type(self).from_record(record)

    def _threshold_record(self) -> dict[str, Any]:
        return {"name": self.name, "threshold": _json_float(self.threshold),
                "thresholds": _json_thresholds(self.thresholds), "escalate_to": self.escalate_to}

    def to_record(self) -> dict[str, Any]:
        return {"kind": self.kind, **self._threshold_record()}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Self:
        return cls(**cls._threshold_args(record))

    @classmethod
    def train(cls, rows: Sequence[Row], options: TrainOptions) -> Self:
        """A router with per-task thresholds calibrated on ``rows``: the most accurate within
        ``options.max_cost_ratio`` × the cost of always escalating."""
        from ._fit import calibrate

        return calibrate(cls(name=options.name, escalate_to=options.escalate_to), rows,
                         max_cost_ratio=options.max_cost_ratio, metric=options.metric)

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
