"""Routers on run logs: train them on a finished run, and replay them on another run's records.

A run that executed every strategy on every sample says what each branch would have answered and
cost, so a router can be trained and judged without calling the model again: replaying it means
asking it for its choice on each sample's signals and reading that branch's record. Signals are
rebuilt from the records (the direct answer's log-probability and whether it failed) and from the
run's samples, regenerated from ``run.json`` (question and image statistics).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..graphs.strategies import cost_order, strategy_names
from ..routers._calibrate import Cost
from ..routers._files import TrainedOn
from ..routers._fit import Row, TrainOptions, by_task, calibrate, items
from ..routers._router import Router, get_router_class, trainable_kinds
from ..routers._signals import Probe, build_signals
from ._metrics import gap_closed

if TYPE_CHECKING:
    from ..tasks._sample import Sample
    from ._records import SampleRecord

__all__ = ["Row", "calibrate", "items", "load_run_rows", "rows_from_records", "simulate",
           "train_router", "trained_on"]


def __getattr__(name: str) -> object:
    if name == "TRAINABLE":  # kept for callers of the old constant; read from the registry
        return tuple(trainable_kinds())
    raise AttributeError(name)


def record_cost(record: SampleRecord) -> Cost:
    return Cost(float(record.calls), float(record.tokens.get("output", 0)), float(record.latency_s))


def rows_from_records(records: Sequence[SampleRecord], samples: Sequence[Sample] = (), *,
                      require: Sequence[str] = ("direct", "cascaded")) -> list[Row]:
    """One row per sample that has a record of every ``require``d strategy.

    Signals come from the same builder the routed graph uses live (the task's question and the
    sample's inputs, and the direct record as the probe's outcome), so a router is fitted on what
    it will see in use.
    """
    strategies = set(strategy_names())
    by_sample: dict[tuple[str, str], dict[str, SampleRecord]] = {}
    for record in records:
        if record.strategy in strategies:
            by_sample.setdefault((record.task, record.sample_id), {})[record.strategy] = record
    known = {(s.task, s.id): s for s in samples}
    rows = []
    for (task, sample_id), steps in sorted(by_sample.items()):
        if any(name not in steps for name in require):
            continue
        sample = known.get((task, sample_id))
        inputs: dict[str, Any] = {} if sample is None else {"image": sample.image, **sample.inputs}
        # The question the routed graph asked: the task's template filled in, or a dataset row's
        # own question (taken literally, as the runner does).
        question = "" if sample is None else sample.question.replace("{", "{{").replace("}", "}}")
        probes = {name: Probe(ok=record.error is None, logprob=record.logprob,
                              answer=record.prediction) for name, record in steps.items()}
        signals = build_signals(task, question, inputs, sample_id=sample_id, probes=probes)
        if sample is not None:
            signals.image_stats()  # computed once here, not once per router scored on the row
        rows.append(Row(task, sample_id, signals,
                        {name: record.correct for name, record in steps.items()},
                        {name: record_cost(record) for name, record in steps.items()}))
    return rows


def run_config(run: Path) -> dict[str, Any]:
    run_file = run / "run.json"
    if not run_file.is_file():
        return {}
    return dict(json.loads(run_file.read_text(encoding="utf-8")).get("config") or {})


def load_run_rows(run: Path, *, require: Sequence[str] = ("direct", "cascaded")) -> list[Row]:
    """The rows of a run folder; its samples (for question and image features) are regenerated
    from ``run.json`` when it is there."""
    from ._records import read_records
    from ._runner import EvalConfig, load_samples

    if not (run / "samples.jsonl").is_file():
        raise ValueError(f"{run} holds no samples.jsonl: not a run folder (see `skillgap eval --out`)")
    records = read_records(run)
    config = run_config(run)
    samples = load_samples(EvalConfig.model_validate(config)) if config else []
    rows = rows_from_records(records, samples, require=require)
    if not rows:
        raise ValueError(f"{run} has no sample with records of {', '.join(require)}: run "
                         f"`skillgap eval --strategies {','.join(require)}` first")
    return rows


def branch_cost(router: Router, row: Row, choice: str) -> Cost:
    if choice not in row.costs:
        raise ValueError(f"router {router.name!r} chose {choice!r} for {row.key}, which the run did "
                         f"not execute (it has {', '.join(sorted(row.costs))})")
    if router.probe is not None and choice != router.probe:  # the probe ran first, and was paid for
        return row.costs[router.probe] + row.costs[choice]
    return row.costs[choice]


def _ratio(value: float, base: float) -> float | None:
    return value / base if base else None


def simulate(router: Router, rows: Sequence[Row]) -> dict[str, dict[str, Any]]:
    """Replay ``router`` on ``rows``: per task, its accuracy, mean cost, choices, the share of the
    gap it closes (None unless cascaded beats direct) and its cost relative to always-cascaded."""
    out: dict[str, dict[str, Any]] = {}
    for task, task_rows in sorted(by_task(rows).items()):
        choices: Counter[str] = Counter()
        correct = 0
        total = Cost()
        for row in task_rows:
            choice = router.route(row.signals_for(router)).choice
            choices[choice] += 1
            correct += row.correct.get(choice, False)
            total = total + branch_cost(router, row, choice)
        n = len(task_rows)
        mean = Cost(total.calls / n, total.tokens / n, total.latency_s / n)
        direct = sum(r.correct["direct"] for r in task_rows) / n
        cascaded = sum(r.correct["cascaded"] for r in task_rows) / n
        cascaded_cost = sum((r.costs["cascaded"] for r in task_rows), Cost())
        accuracy = correct / n
        out[task] = {
            "accuracy": accuracy,
            "n": n,
            "direct": direct,
            "cascaded": cascaded,
            "gap_closed": gap_closed(direct, cascaded, accuracy),
            "calls": mean.calls,
            "tokens": mean.tokens,
            "latency_s": mean.latency_s,
            "cost_ratio_vs_cascaded": _ratio(total.calls, cascaded_cost.calls),
            "token_ratio_vs_cascaded": _ratio(total.tokens, cascaded_cost.tokens),
            "choices": {name: count / n for name, count in sorted(choices.items())},
        }
    return out


def train_router(kind: str, rows: Sequence[Row], *, name: str | None = None, features: str = "direct",
                 escalate_to: str = "cascaded", max_cost_ratio: float = 0.75, metric: str = "calls",
                 l2: float = 1.0) -> Router:
    """Fit a router of a registered trainable ``kind`` (learned, fallback, rule, oracle, ...) on a
    run's rows, with the strategy registry's cost order as every tie-break.

    Thresholds of learned and fallback routers are calibrated on the same rows (see
    :func:`calibrate`); a rule router takes, per task, the most accurate strategy (the cheaper on
    a tie); an oracle remembers every row's cheapest right branch.
    """
    if not rows:
        raise ValueError("no training rows: the run has no sample with both direct and cascaded records")
    cls = get_router_class(kind)
    train = getattr(cls, "train", None)  # TrainableRouter: the registry's optional capability
    if train is None:
        raise ValueError(f"cannot train a {kind!r} router; trainable: {', '.join(trainable_kinds())}")
    options = TrainOptions(name=name or kind, features=features, escalate_to=escalate_to,
                           max_cost_ratio=max_cost_ratio, metric=metric, l2=l2,
                           cost_order=tuple(cost_order()))
    router: Router = train(rows, options)
    return router


def trained_on(run: Path, rows: Sequence[Row], router: Router) -> TrainedOn:
    """The provenance saved with a router: run folder, config, sample keys, training metrics."""
    return TrainedOn(run=str(run), config=run_config(run), samples=[row.key for row in rows],
                     metrics=simulate(router, rows))


def format_simulation(results: Mapping[str, Mapping[str, Any]]) -> str:
    """A plain table of :func:`simulate` results."""
    lines = [f"{'task':<14} {'accuracy':>8} {'direct':>7} {'cascaded':>8} {'gap closed':>10} "
             f"{'calls':>6} {'calls/casc':>10} {'tokens/casc':>11}  choices"]
    for task, r in results.items():
        closed = "–" if r["gap_closed"] is None else f"{r['gap_closed']:.0%}"
        calls = "–" if r["cost_ratio_vs_cascaded"] is None else f"{r['cost_ratio_vs_cascaded']:.2f}"
        tokens = "–" if r["token_ratio_vs_cascaded"] is None else f"{r['token_ratio_vs_cascaded']:.2f}"
        choices = " ".join(f"{k} {v:.0%}" for k, v in r["choices"].items())
        lines.append(f"{task:<14} {r['accuracy']:>8.3f} {r['direct']:>7.3f} {r['cascaded']:>8.3f} "
                     f"{closed:>10} {r['calls']:>6.2f} {calls:>10} {tokens:>11}  {choices}")
    return "\n".join(lines)
