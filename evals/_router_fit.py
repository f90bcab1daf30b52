"""Routers on run logs: train them on a finished run, and replay them on another run's records.

A run that executed every strategy on every sample says what each branch would have answered and
cost, so a router can be trained and judged without calling the model again: replaying it means
asking it for its choice on each sample's signals and reading that branch's record. Signals are
rebuilt from the records (the direct answer's log-probability and whether it failed) and from the
run's samples, regenerated from ``run.json`` (question and image statistics).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..routers._calibrate import Cost, Item, pick_threshold
from ..routers._fallback import FallbackRouter
from ..routers._features import image_stats
from ..routers._files import TrainedOn
from ..routers._learned import LearnedRouter
from ..routers._oracle import OracleRouter
from ..routers._router import Router, ThresholdRouter
from ..routers._rule import RuleRouter

if TYPE_CHECKING:
    from ..tasks._sample import Sample
    from ._records import SampleRecord

TRAINABLE = ("learned", "fallback", "rule", "oracle")
_STRATEGIES = ("direct", "cascaded", "cot")


@dataclass(frozen=True)
class Row:
    """One sample of a run: the signals a router would see, and each strategy's outcome and cost."""

    task: str
    sample_id: str
    signals: dict[str, Any]
    correct: dict[str, bool]
    costs: dict[str, Cost] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.task}/{self.sample_id}"


def record_cost(record: SampleRecord) -> Cost:
    return Cost(float(record.calls), float(record.tokens.get("output", 0)), float(record.latency_s))


def rows_from_records(records: Sequence[SampleRecord], samples: Sequence[Sample] = (), *,
                      require: Sequence[str] = ("direct", "cascaded")) -> list[Row]:
    """One row per sample that has a record of every ``require``d strategy."""
    by_sample: dict[tuple[str, str], dict[str, SampleRecord]] = defaultdict(dict)
    for record in records:
        if record.strategy in _STRATEGIES:
            by_sample[(record.task, record.sample_id)][record.strategy] = record
    known = {(s.task, s.id): s for s in samples}
    rows = []
    for (task, sample_id), steps in sorted(by_sample.items()):
        if any(name not in steps for name in require):
            continue
        sample = known.get((task, sample_id))
        signals: dict[str, Any] = {"task": task, "sample_id": sample_id}
        if sample is not None:
            signals.update(question=sample.question, image=sample.image, inputs=dict(sample.inputs),
                           image_stats=image_stats(sample.image))
        if "direct" in steps:
            direct = steps["direct"]
            signals["direct"] = {"ok": direct.error is None, "logprob": direct.logprob,
                                 "answer": direct.prediction}
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
    if router.probe == "direct" and choice != "direct":
        return row.costs["direct"] + row.costs[choice]
    return row.costs[choice]


def items(router: ThresholdRouter, rows: Sequence[Row]) -> list[Item]:
    """The two-way view of each row for ``router`` (its score, both sides' outcome and cost)."""
    out = []
    for row in rows:
        direct = row.signals.get("direct") or {}
        forced = router.probe == "direct" and not direct.get("ok", False)
        score = None if forced else router.score(row.task, row.signals)
        target = router.escalate_to
        out.append(Item(score=score, direct_ok=row.correct["direct"], escalate_ok=row.correct[target],
                        direct_cost=row.costs["direct"], escalate_cost=row.costs[target],
                        probed=router.probe == "direct", forced=forced))
    return out


def gap_closed(direct: float, cascaded: float, routed: float) -> float | None:
    gap = cascaded - direct
    return None if abs(gap) < 1e-12 else (routed - direct) / gap


def _ratio(value: float, base: float) -> float | None:
    return value / base if base else None


def simulate(router: Router, rows: Sequence[Row]) -> dict[str, dict[str, Any]]:
    """Replay ``router`` on ``rows``: per task, its accuracy, mean cost, choices, the share of the
    gap it closes and its cost relative to always-cascaded."""
    by_task: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_task[row.task].append(row)
    out: dict[str, dict[str, Any]] = {}
    for task, task_rows in sorted(by_task.items()):
        choices: Counter[str] = Counter()
        correct = 0
        total = Cost()
        for row in task_rows:
            choice = router.route(task, row.signals).choice
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


def calibrate(router: ThresholdRouter, rows: Sequence[Row], *, max_cost_ratio: float = 0.75,
              metric: str = "calls") -> ThresholdRouter:
    """A copy of ``router`` with per-task thresholds: the most accurate within ``max_cost_ratio`` ×
    always-cascaded cost (``metric``: calls or tokens) on ``rows``."""
    by_task: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_task[row.task].append(row)
    thresholds = {}
    for task, task_rows in by_task.items():
        n = len(task_rows)
        baseline = sum((r.costs["cascaded"] for r in task_rows), Cost())
        mean = Cost(baseline.calls / n, baseline.tokens / n, baseline.latency_s / n)
        thresholds[task] = pick_threshold(items(router, task_rows), mean,
                                          max_cost_ratio=max_cost_ratio, metric=metric).threshold
    return router.with_thresholds(thresholds)


def train_router(kind: str, rows: Sequence[Row], *, name: str | None = None, features: str = "direct",
                 escalate_to: str = "cascaded", max_cost_ratio: float = 0.75, metric: str = "calls",
                 l2: float = 1.0) -> Router:
    """Fit a router of ``kind`` (learned, fallback, rule or oracle) on a run's rows.

    Thresholds of learned and fallback routers are calibrated on the same rows (see
    :func:`calibrate`); a rule router takes, per task, the most accurate strategy (the cheaper on
    a tie); an oracle remembers every row's cheapest right branch.
    """
    if not rows:
        raise ValueError("no training rows: the run has no sample with both direct and cascaded records")
    name = name or kind
    if kind == "fallback":
        return calibrate(FallbackRouter(name=name, escalate_to=escalate_to), rows,
                         max_cost_ratio=max_cost_ratio, metric=metric)
    if kind == "learned":
        tasks = sorted({row.task for row in rows})
        names = LearnedRouter.feature_names(tasks, features)
        probe = "direct" if features == "direct" else None
        draft = LearnedRouter(features=names, weights=[0.0] * len(names), bias=0.0,
                              mean=[0.0] * len(names), scale=[1.0] * len(names), probe=probe,
                              escalate_to=escalate_to)
        matrix = np.array([draft.vector(row.task, row.signals) for row in rows])
        labels = np.array([row.correct[escalate_to] and not row.correct["direct"] for row in rows])
        fitted = LearnedRouter.fit(matrix, labels, features=names, probe=probe, l2=l2, name=name,
                                   escalate_to=escalate_to)
        return calibrate(fitted, rows, max_cost_ratio=max_cost_ratio, metric=metric)
    if kind == "rule":
        by_task: dict[str, list[Row]] = defaultdict(list)
        for row in rows:
            by_task[row.task].append(row)
        rules = {}
        for task, task_rows in by_task.items():
            ran = [s for s in _STRATEGIES if all(s in r.correct for r in task_rows)]
            rules[task] = max(ran, key=lambda s: (sum(r.correct[s] for r in task_rows),
                                                  -sum(r.costs[s].calls for r in task_rows),
                                                  -sum(r.costs[s].tokens for r in task_rows)))
        return RuleRouter(rules, name=name)
    if kind == "oracle":
        return OracleRouter.from_outcomes(((r.task, r.sample_id, r.correct) for r in rows), name=name)
    raise ValueError(f"cannot train a {kind!r} router; trainable: {', '.join(TRAINABLE)}")


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
