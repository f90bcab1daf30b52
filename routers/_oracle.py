"""The oracle router: the upper bound, from a run that executed every strategy on the same samples."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._fit import Row, TrainOptions
from ._router import RouteDecision, RouterBase, register_router
from ._signals import Signals


@register_router("oracle")
class OracleRouter(RouterBase):
    """Per sample, the cheapest branch that was right (direct when none was).

    It knows the answers, so it can only route samples of the run it was built from (by
    ``signals.sample_id``): it is the ceiling a real router is measured against.
    """

    def __init__(self, table: Mapping[str, str], *, name: str = "oracle",
                 choices: Sequence[str] = ("direct", "cascaded")):
        self.table = dict(table)
        self.name = name
        self.choices: tuple[str, ...] = tuple(dict.fromkeys([*choices, *self.table.values()]))

    @classmethod
    def from_outcomes(cls, outcomes: Iterable[tuple[str, str, Mapping[str, bool]]], *,
                      name: str = "oracle", cost_order: Sequence[str] | None = None
                      ) -> OracleRouter:
        """From ``(task, sample_id, {strategy: correct})`` triples. ``cost_order`` lists the
        strategies cheapest first (the strategy registry's ``cost_order()``); without it each
        mapping's own order is taken as cheapest first."""
        table: dict[str, str] = {}
        used: list[str] = []
        for task, sample_id, correct in outcomes:
            order = list(cost_order) if cost_order is not None else list(correct)
            ranked = [s for s in order if s in correct] + sorted(set(correct) - set(order))
            used += [s for s in ranked if s not in used]
            table[f"{task}/{sample_id}"] = next((s for s in ranked if correct[s]), ranked[0])
        return cls(table, name=name, choices=used or ("direct",))

    @classmethod
    def train(cls, rows: Sequence[Row], options: TrainOptions) -> OracleRouter:
        """Remember every row's cheapest right strategy."""
        return cls.from_outcomes(((r.task, r.sample_id, r.correct) for r in rows), name=options.name,
                                 cost_order=options.cost_order or None)

    def route(self, signals: Signals) -> RouteDecision:
        key = f"{signals.task}/{signals.sample_id}"
        if key not in self.table:
            raise ValueError(f"oracle router {self.name!r} has no outcome for sample {key}: an oracle "
                             "routes only the samples of the run it was built from")
        return RouteDecision(router=self.name, choice=self.table[key])

    def to_record(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "choices": list(self.choices),
                "table": dict(sorted(self.table.items()))}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> OracleRouter:
        return cls(record.get("table", {}), name=record.get("name", "oracle"),
                   choices=record.get("choices", ("direct", "cascaded")))
