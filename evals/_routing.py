"""Routed strategies in an eval: ``routed:ROUTER_FILE`` steps, the held-out check, and the summary's
router section (accuracy with CI, cost, share of the gap closed, the oracle, Pareto points).

A routed step is named ``routed:NAME`` with ``EvalConfig.routers[NAME]`` the router file, or
``routed:PATH`` directly. Its records carry the decision (``record.route``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..tasks import composition
from ._metrics import bootstrap_ci, gap_closed
from ._records import SampleRecord

if TYPE_CHECKING:
    from ..graphs._compiled import GraphResult
    from ..graphs._routed import RoutedGraph
    from ..routers._calibrate import Cost
    from ..tasks._sample import Sample
    from ._runner import EvalConfig

PREFIX = "routed:"


def is_routed(step: str) -> bool:
    return step.startswith(PREFIX)


def router_path(config: EvalConfig, step: str) -> Path:
    name = step[len(PREFIX):]
    return Path(config.routers.get(name, name))


def routed_steps(config: EvalConfig) -> list[str]:
    return [step for step in config.strategies if is_routed(step)]


def check_routed(config: EvalConfig) -> None:
    """Every routed step's file must load, and Tesseract must be there if a router may pick it."""
    from ..backends._tesseract import INSTALL_HINT, tesseract_available
    from ..routers._files import load_router

    for step in routed_steps(config):
        router = load_router(router_path(config, step))
        wants_ocr = any("tesseract" in _choices(router, task) for task in config.tasks)
        if wants_ocr and not tesseract_available():
            raise ValueError(f"{step}: router {router.name!r} may choose the tesseract executor. "
                             f"{INSTALL_HINT}")


def _choices(router: Any, task: str) -> tuple[str, ...]:
    choices_for = getattr(router, "choices_for", None)
    return tuple(choices_for(task)) if choices_for is not None else tuple(router.choices)


def routed_graphs(task: str, config: EvalConfig) -> dict[str, RoutedGraph]:
    from ..graphs._routed import routed
    from ..routers._files import load_router

    comp = composition(task)
    return {step: routed(comp, load_router(router_path(config, step))) for step in routed_steps(config)}


def check_held_out(config: EvalConfig, samples: Sequence[Sample]) -> None:
    """Refuse to evaluate a router on samples it was trained on (``RouterOverlapError``)."""
    from ..routers._files import check_no_overlap, read_router_file

    keys = [f"{sample.task}/{sample.id}" for sample in samples]
    for step in routed_steps(config):
        path = router_path(config, step)
        check_no_overlap(read_router_file(path), keys, where=f"this eval ({step})")


def route_record(result: GraphResult) -> dict[str, Any] | None:
    """What a routed result's record keeps of the decision (None for other strategies)."""
    route = getattr(result, "route", None)
    if route is None:
        return None
    return {"router": route.router, "choice": route.choice, "score": route.score,
            "probe": getattr(result, "probe", None)}


# ---------------------------------------------------------------- summary


def _cost(record: SampleRecord) -> Cost:
    from ..routers._calibrate import Cost

    return Cost(float(record.calls), float(record.tokens.get("output", 0)), float(record.latency_s))


def _mean_cost(records: Sequence[SampleRecord]) -> dict[str, float]:
    n = max(1, len(records))
    return {"calls": sum(r.calls for r in records) / n,
            "tokens": sum(r.tokens.get("output", 0) for r in records) / n,
            "latency_s": sum(r.latency_s for r in records) / n}


def _ratio(value: float, base: float | None) -> float | None:
    return value / base if base else None


def _router_stats(name: str, outcomes: Sequence[bool], clusters: Sequence[str], cost: Mapping[str, float],
                  base: Mapping[str, Mapping[str, float]], choices: Mapping[str, int], *, seed: int,
                  n_boot: int) -> dict[str, Any]:
    n = len(outcomes)
    accuracy = sum(outcomes) / n if n else 0.0
    low, high = bootstrap_ci(list(outcomes), list(clusters), seed=seed, n_boot=n_boot)
    direct, cascaded = base.get("direct"), base.get("cascaded")
    closed = (gap_closed(direct["accuracy"], cascaded["accuracy"], accuracy)
              if direct is not None and cascaded is not None else None)
    return {
        "accuracy": accuracy,
        "ci": [low, high],
        "n": n,
        "gap_closed": closed,
        "cost_ratio_vs_cascaded": _ratio(cost["calls"], cascaded["calls"]) if cascaded else None,
        "token_ratio_vs_cascaded": _ratio(cost["tokens"], cascaded["tokens"]) if cascaded else None,
        "calls": cost["calls"],
        "tokens": cost["tokens"],
        "latency_s": cost["latency_s"],
        "choices": {choice: count / n for choice, count in sorted(choices.items())} if n else {},
    }


def routing_entry(by_step: Mapping[str, Sequence[SampleRecord]], *, seed: int = 0, n_boot: int = 2000
                  ) -> dict[str, Any]:
    """The summary's ``routers`` (live routed steps and the oracle) and ``pareto`` for one task.

    Empty when the task ran neither a routed step nor both direct and cascaded.
    """
    from ..routers._oracle import OracleRouter

    base = {name: {"accuracy": sum(r.correct for r in by_step[name]) / len(by_step[name]),
                   **_mean_cost(by_step[name])}
            for name in ("direct", "cascaded", "cot") if by_step.get(name)}
    routers: dict[str, Any] = {}
    for step, records in sorted(by_step.items()):
        if not is_routed(step) or not records:
            continue
        choices: dict[str, int] = defaultdict(int)
        for record in records:
            if record.route is not None:
                choices[record.route["choice"]] += 1
        routers[step[len(PREFIX):]] = _router_stats(
            step, [r.correct for r in records], [r.image_id or r.sample_id for r in records],
            _mean_cost(records), base, choices, seed=seed, n_boot=n_boot)

    per_sample = _per_sample(by_step)
    both = {sid: steps for sid, steps in per_sample.items() if "direct" in steps and "cascaded" in steps}
    if both:
        considered = [s for s in ("direct", "cascaded", "cot") if all(s in v for v in both.values())]
        oracle = OracleRouter.from_outcomes(
            ("", sid, {s: steps[s].correct for s in considered}) for sid, steps in sorted(both.items()))
        picked = [steps[oracle.table[f"/{sid}"]] for sid, steps in sorted(both.items())]
        choices = defaultdict(int)
        for sid in both:
            choices[oracle.table[f"/{sid}"]] += 1
        routers["oracle"] = _router_stats(
            "oracle", [r.correct for r in picked], [r.image_id or r.sample_id for r in picked],
            _mean_cost(picked), base, choices, seed=seed, n_boot=n_boot)
    if not routers:
        return {}
    return {"routers": routers, "pareto": _pareto(by_step, base, routers, both)}


def _per_sample(by_step: Mapping[str, Sequence[SampleRecord]]) -> dict[str, dict[str, SampleRecord]]:
    out: dict[str, dict[str, SampleRecord]] = defaultdict(dict)
    for step, records in by_step.items():
        for record in records:
            out[record.sample_id][step] = record
    return out


def _pareto(by_step: Mapping[str, Sequence[SampleRecord]], base: Mapping[str, Mapping[str, float]],
            routers: Mapping[str, Mapping[str, Any]], both: Mapping[str, Mapping[str, SampleRecord]]
            ) -> dict[str, Any]:
    """Accuracy against cost: strategies and routers as points, two-way routers' thresholds swept."""
    from ..routers._calibrate import Item, sweep

    points = [{"name": name, "kind": "strategy", "accuracy": stats["accuracy"], "calls": stats["calls"],
               "tokens": stats["tokens"], "latency_s": stats["latency_s"]} for name, stats in base.items()]
    points += [{"name": name, "kind": "oracle" if name == "oracle" else "router",
                "accuracy": stats["accuracy"], "calls": stats["calls"], "tokens": stats["tokens"],
                "latency_s": stats["latency_s"]} for name, stats in routers.items()]
    curves: dict[str, list[dict[str, float | None]]] = {}

    def items_for(score_of: Any, probed: bool, target: str) -> list[Item]:
        items = []
        for sid, steps in sorted(both.items()):
            if target not in steps:
                continue
            score, forced = score_of(sid, steps)
            items.append(Item(score=score, direct_ok=steps["direct"].correct,
                              escalate_ok=steps[target].correct, direct_cost=_cost(steps["direct"]),
                              escalate_cost=_cost(steps[target]), probed=probed, forced=forced))
        return items

    def direct_logprob(sid: str, steps: Mapping[str, SampleRecord]) -> tuple[float | None, bool]:
        record = steps["direct"]
        return (None if record.logprob is None else -record.logprob), record.error is not None

    if both and any(steps["direct"].logprob is not None for steps in both.values()):
        curves["fallback (direct log-prob swept)"] = _curve(sweep(items_for(direct_logprob, True,
                                                                            "cascaded")))
    for step in by_step:
        if not is_routed(step):
            continue
        routes = {r.sample_id: r.route for r in by_step[step] if r.route is not None}
        scored = [route for route in routes.values() if route.get("score") is not None]
        if not scored:
            continue
        chosen = {route["choice"] for route in routes.values()} - {"direct"}
        target = chosen.pop() if len(chosen) == 1 else "cascaded"
        probed = any(route.get("probe") == "direct" for route in routes.values())

        def routed_score(sid: str, steps: Mapping[str, SampleRecord],
                         routes: Mapping[str, Any] = routes) -> tuple[float | None, bool]:
            route = routes.get(sid) or {}
            return route.get("score"), False

        curves[f"{step[len(PREFIX):]} (threshold swept)"] = _curve(
            sweep(items_for(routed_score, probed, target)))
    return {"points": points, "curves": {k: v for k, v in curves.items() if v}}


def _curve(points: Sequence[Any]) -> list[dict[str, float | None]]:
    # Thresholds "never" and "always" escalate are None (JSON has no infinity): see "escalated".
    return [{"threshold": p.threshold if math.isfinite(p.threshold) else None,
             "accuracy": p.accuracy, "calls": p.cost.calls, "tokens": p.cost.tokens,
             "latency_s": p.cost.latency_s, "escalated": p.escalated} for p in points]


def resolve_routed(strategies: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Turn ``routed:PATH`` steps into ``routed:NAME`` (NAME from the router file) and the
    ``EvalConfig.routers`` entries that map each NAME to its absolute path."""
    from ..routers._files import read_router_file

    named: list[str] = []
    paths: dict[str, str] = {}
    for step in strategies:
        if not is_routed(step):
            named.append(step)
            continue
        path = Path(step[len(PREFIX):]).expanduser().resolve()
        record = read_router_file(path).router
        name = str(record.get("name") or record.get("kind") or path.stem)
        if name in paths and paths[name] != str(path):
            name = path.stem if path.stem not in paths else f"{name}-{len(paths)}"
        paths[name] = str(path)
        named.append(PREFIX + name)
    return named, paths
