"""The summary's router section: each ``routed:NAME`` step and the oracle (accuracy over scored
samples, cost per sample, the routes taken), and accuracy against cost with thresholds swept.

Shares of the gap closed are not computed here: the summary computes them for routers, the oracle
and CoT alike, from one bootstrap (see :mod:`skillgap.evals._summary`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from ._metrics import bootstrap_ci
from ._records import RouteRecord, SampleRecord
from ._routing import PREFIX, is_routed
from ._summary_model import CurvePoint, GapClosed, Pareto, ParetoPoint, RouterStats

if TYPE_CHECKING:
    from ..routers._calibrate import Cost, Item, Point



class MeanCost:
    """Mean model calls, generated tokens and wall time per sample of some records."""

    def __init__(self, records: Sequence[SampleRecord]):
        n = max(1, len(records))
        self.calls = sum(r.calls for r in records) / n
        self.tokens = sum(r.tokens.get("output", 0) for r in records) / n
        self.latency_s = sum(r.latency_s for r in records) / n


def _cost(record: SampleRecord) -> Cost:
    from ..routers._calibrate import Cost

    return Cost(float(record.calls), float(record.tokens.get("output", 0)), float(record.latency_s))


def _ratio(value: float, base: float) -> float | None:
    return value / base if base else None


def scored_by_sample(by_step: Mapping[str, Sequence[SampleRecord]]
                     ) -> dict[str, dict[str, SampleRecord]]:
    """Per sample id, the scored record of each step (failed calls and bad inputs left out)."""
    out: dict[str, dict[str, SampleRecord]] = {}
    for step, records in by_step.items():
        for record in records:
            if record.status in ("correct", "wrong"):
                out.setdefault(record.sample_id, {})[step] = record
    return out


def oracle_picks(per_sample: Mapping[str, Mapping[str, SampleRecord]]) -> dict[str, SampleRecord]:
    """The oracle's record per sample scored by both direct and cascaded: the cheapest strategy
    that was right (by the oracle router's cost order), among those scored on every such sample."""
    from ..routers._oracle import OracleRouter

    both = {sid: steps for sid, steps in sorted(per_sample.items())
            if "direct" in steps and "cascaded" in steps}
    if not both:
        return {}
    from ..graphs.strategies import cost_order

    # The registered composition strategies scored on every such sample, cheapest first.
    considered = [s for s in cost_order() if all(s in steps for steps in both.values())]
    oracle = OracleRouter.from_outcomes(
        (("", sid, {s: steps[s].correct for s in considered}) for sid, steps in both.items()),
        cost_order=considered)
    return {sid: steps[oracle.table[f"/{sid}"]] for sid, steps in both.items()}


def router_stats(records: Sequence[SampleRecord], choices: Mapping[str, int], *, closed: GapClosed,
                 cascaded: MeanCost | None, seed: int, n_boot: int) -> RouterStats:
    """A router's (or the oracle's) row: accuracy over its scored samples, costs over all it ran."""
    scored = [r for r in records if r.status in ("correct", "wrong")]
    n = len(scored)
    correct = sum(r.correct for r in scored)
    cost = MeanCost(records)
    ci = bootstrap_ci([r.correct for r in scored], [r.image_id or r.sample_id for r in scored],
                      seed=seed, n_boot=n_boot) if n else None
    total = sum(choices.values())
    return RouterStats(
        accuracy=correct / n if n else None, ci=ci, n=n,
        errors=sum(r.status == "error" for r in records), gap_closed=closed,
        cost_ratio_vs_cascaded=_ratio(cost.calls, cascaded.calls) if cascaded else None,
        token_ratio_vs_cascaded=_ratio(cost.tokens, cascaded.tokens) if cascaded else None,
        calls=cost.calls, tokens=cost.tokens, latency_s=cost.latency_s,
        choices={c: count / total for c, count in sorted(choices.items())} if total else {},
    )


def routed_choices(records: Sequence[SampleRecord]) -> Counter[str]:
    return Counter(r.route.choice for r in records if r.route is not None)


def pareto(by_step: Mapping[str, Sequence[SampleRecord]], base: Mapping[str, tuple[float, MeanCost]],
           routers: Mapping[str, RouterStats],
           per_sample: Mapping[str, Mapping[str, SampleRecord]]) -> Pareto:
    """Accuracy against cost: strategies and routers as points; each routed step's threshold swept
    (and direct's log-prob swept as a fallback router when direct and cascaded both ran)."""
    from ..routers._calibrate import Item, sweep

    points = [ParetoPoint(name=name, kind="strategy", accuracy=accuracy, calls=cost.calls,
                          tokens=cost.tokens, latency_s=cost.latency_s)
              for name, (accuracy, cost) in base.items()]
    points += [ParetoPoint(name=name, kind="oracle" if name == "oracle" else "router",
                           accuracy=stats.accuracy, calls=stats.calls, tokens=stats.tokens,
                           latency_s=stats.latency_s)
               for name, stats in routers.items() if stats.accuracy is not None]
    both = {sid: steps for sid, steps in sorted(per_sample.items())
            if "direct" in steps and "cascaded" in steps}

    def items_for(score_of: Callable[[str, Mapping[str, SampleRecord]], tuple[float | None, bool]],
                  probed: bool, target: str) -> list[Item]:
        items = []
        for sid, steps in both.items():
            if target not in steps:
                continue
            score, forced = score_of(sid, steps)
            items.append(Item(score=score, direct_ok=steps["direct"].correct,
                              escalate_ok=steps[target].correct, direct_cost=_cost(steps["direct"]),
                              escalate_cost=_cost(steps[target]), probed=probed, forced=forced))
        return items

    def direct_logprob(sid: str, steps: Mapping[str, SampleRecord]) -> tuple[float | None, bool]:
        record = steps["direct"]
        return (None if record.logprob is None else -record.logprob), record.format_failure

    curves: dict[str, list[CurvePoint]] = {}
    if any(steps["direct"].logprob is not None for steps in both.values()):
        curves["fallback (direct log-prob swept)"] = _curve(
            sweep(items_for(direct_logprob, True, "cascaded")))
    for step, records in by_step.items():
        if not is_routed(step):
            continue
        routes = {r.sample_id: r.route for r in records if r.route is not None}
        if not any(route.score is not None for route in routes.values()):
            continue
        chosen = {route.choice for route in routes.values()} - {"direct"}
        target = chosen.pop() if len(chosen) == 1 else "cascaded"
        probed = any(route.probe == "direct" for route in routes.values())

        def routed_score(sid: str, steps: Mapping[str, SampleRecord],
                         routes: Mapping[str, RouteRecord] = routes) -> tuple[float | None, bool]:
            route = routes.get(sid)
            return (None if route is None else route.score), False

        curves[f"{step[len(PREFIX):]} (threshold swept)"] = _curve(
            sweep(items_for(routed_score, probed, target)))
    return Pareto(points=points, curves={k: v for k, v in curves.items() if v})


def _curve(points: Sequence[Point]) -> list[CurvePoint]:
    # Thresholds "never" and "always" escalate are None (JSON has no infinity): see "escalated".
    return [CurvePoint(threshold=p.threshold if math.isfinite(p.threshold) else None,
                       accuracy=p.accuracy, calls=p.cost.calls, tokens=p.cost.tokens,
                       latency_s=p.cost.latency_s, escalated=p.escalated) for p in points]
