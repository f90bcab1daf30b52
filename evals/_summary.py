"""Per task × strategy accuracies with CIs, per-skill accuracies, the composition gap and its
attribution, and the gap by difficulty knob.

The stable shape (more keys are added alongside)::

    {"model": str, "tasks": {task: {
        "strategies": {strategy: {"accuracy": float, "ci": [lo, hi], "n": int, ...}},
        "skills": {"visual": float, "textual": float},
        "gap": {"absolute": float, "relative": float, "p_value": float, ...}}}}

``gap`` is present when both ``direct`` and ``cascaded`` ran; ``skills`` holds the skills measured.
``routers`` (``{name: {"accuracy", "ci", "gap_closed", "cost_ratio_vs_cascaded", ...}}``: each
``routed:NAME`` step, and the ``oracle`` when direct and cascaded ran) and ``pareto`` (accuracy
against cost points and threshold sweeps) come with routed steps or a direct + cascaded run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from ._metrics import (
    attribution,
    bin_values,
    bootstrap_ci,
    discordant,
    gap_closed,
    majority_baseline,
    mcnemar_exact,
    numeric_knobs,
    relative_gap,
)
from ._records import SampleRecord
from ._routing import routing_entry

CANONICAL = ("direct", "cascaded", "cot")
SKILL_STEPS = ("visual", "textual")


def strategy_order(names: Iterable[str]) -> list[str]:
    """``direct, cascaded, cot`` first, then any others alphabetically (skill steps excluded)."""
    names = set(names) - set(SKILL_STEPS)
    return [n for n in CANONICAL if n in names] + sorted(names - set(CANONICAL))


def summarize(records: Iterable[SampleRecord], *, model: str, seed: int = 0,
              n_boot: int = 2000) -> dict[str, Any]:
    """The run summary (see the module docstring) from run records; deterministic for a seed."""
    grouped: dict[str, dict[str, list[SampleRecord]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        grouped[record.task][record.strategy].append(record)
    tasks = {
        task: _task_entry(by_step, seed=seed, n_boot=n_boot) for task, by_step in sorted(grouped.items())
    }
    return {"model": model, "tasks": tasks}


def _task_entry(by_step: dict[str, list[SampleRecord]], *, seed: int, n_boot: int) -> dict[str, Any]:
    strategies = {
        name: _stats(by_step[name], seed=seed, n_boot=n_boot) for name in strategy_order(by_step)
    }
    skill_stats = {
        name: _stats(by_step[name], seed=seed, n_boot=n_boot) for name in SKILL_STEPS if name in by_step
    }
    outcome = {name: {r.sample_id: r.correct for r in items} for name, items in by_step.items()}
    # Gold answers of the composed question, one per sample (the visual step's gold is the intermediate).
    golds = {r.sample_id: r.gold for name, items in by_step.items() if name != "visual" for r in items}
    entry: dict[str, Any] = {
        "strategies": strategies,
        "skills": {name: stats["accuracy"] for name, stats in skill_stats.items()},
        "skill_stats": skill_stats,
        "majority_baseline": majority_baseline(golds.values()),
        "n_samples": len({r.sample_id for items in by_step.values() for r in items}),
    }
    if "direct" in strategies and "cascaded" in strategies:
        direct = strategies["direct"]["accuracy"]
        cascaded = strategies["cascaded"]["accuracy"]
        n_paired, b, c = discordant(outcome["direct"], outcome["cascaded"])
        gap: dict[str, Any] = {
            "absolute": cascaded - direct,
            "relative": relative_gap(direct, cascaded),
            "p_value": mcnemar_exact(b, c),
            "n_paired": n_paired,
            "direct_only": b,
            "cascaded_only": c,
            "cot_closed": None,
        }
        if "cot" in strategies:
            gap["cot_closed"] = gap_closed(direct, cascaded, strategies["cot"]["accuracy"])
        entry["gap"] = gap
        entry["by_difficulty"] = _by_difficulty(by_step)
    entry.update(routing_entry(by_step, seed=seed, n_boot=n_boot))
    if "direct" in strategies:
        entry["attribution"] = attribution(outcome["direct"], outcome.get("visual"), outcome.get("textual"))
    return entry


def _stats(items: list[SampleRecord], *, seed: int, n_boot: int) -> dict[str, Any]:
    n = len(items)
    correct = sum(item.correct for item in items)
    low, high = bootstrap_ci([item.correct for item in items],
                             [item.image_id or item.sample_id for item in items],
                             seed=seed, n_boot=n_boot)
    return {
        "accuracy": correct / n if n else 0.0,
        "ci": [low, high],
        "n": n,
        "correct": correct,
        "errors": sum(item.error is not None for item in items),
        "format_failure_rate": sum(item.format_failure for item in items) / n if n else 0.0,
    }


def _by_difficulty(by_step: dict[str, list[SampleRecord]]) -> dict[str, list[dict[str, Any]]]:
    """For each numeric knob with several values: per bin, direct and cascaded accuracy and the gap."""
    difficulty = {r.sample_id: r.difficulty for items in by_step.values() for r in items}
    knobs = numeric_knobs(difficulty.values())
    out: dict[str, list[dict[str, Any]]] = {}
    for knob in knobs:
        ids = [sid for sid, d in difficulty.items() if knob in d]
        index, labels = bin_values([float(difficulty[sid][knob]) for sid in ids])
        bin_of = dict(zip(ids, index, strict=True))
        rows = []
        for number, label in enumerate(labels):
            row: dict[str, Any] = {"bin": label}
            for name in ("direct", "cascaded"):
                hits = [r.correct for r in by_step[name] if bin_of.get(r.sample_id) == number]
                row[name] = sum(hits) / len(hits) if hits else None
                row[f"n_{name}"] = len(hits)
            row["gap"] = (row["cascaded"] - row["direct"]
                          if row["direct"] is not None and row["cascaded"] is not None else None)
            rows.append(row)
        out[knob] = rows
    return out


def _pct(value: float) -> str:
    return f"{value:.3f}"


def format_ci(stats: dict[str, Any]) -> str:
    low, high = stats["ci"]
    return f"{stats['accuracy']:.3f} [{low:.3f}, {high:.3f}]"


def format_p(p: float) -> str:
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def format_table(summary: dict[str, Any]) -> str:
    """A plain-text table for the terminal: per task, each strategy's accuracy with its 95% CI,
    the gap with its McNemar p-value, and the skills alone."""
    lines = [f"model: {summary['model']}"]
    for task, entry in summary["tasks"].items():
        baseline = entry.get("majority_baseline")
        head = f"{task}  (n={entry.get('n_samples', '?')}"
        head += f", majority baseline {baseline:.3f})" if baseline is not None else ")"
        lines.append(head)
        for name, stats in entry["strategies"].items():
            extra = f"  format failures {stats['format_failure_rate']:.0%}" \
                if stats.get("format_failure_rate") else ""
            lines.append(f"  {name:<10} {format_ci(stats)}  n={stats['n']}{extra}")
        if "gap" in entry:
            gap = entry["gap"]
            text = (f"  gap        {gap['absolute']:+.3f}  relative {gap['relative']:+.3f}"
                    f"  McNemar p={format_p(gap['p_value'])}")
            if gap.get("cot_closed") is not None:
                text += f"  cot closes {gap['cot_closed']:.0%}"
            lines.append(text)
        for name, stats in (entry.get("routers") or {}).items():
            closed = "–" if stats["gap_closed"] is None else f"{stats['gap_closed']:.0%}"
            ratio = stats["cost_ratio_vs_cascaded"]
            lines.append(f"  router {name:<14} {stats['accuracy']:.3f}  gap closed {closed}  "
                         f"calls {stats['calls']:.2f}/sample"
                         + ("" if ratio is None else f" ({ratio:.2f}x cascaded)"))
        if entry["skills"]:
            stats_by = entry.get("skill_stats", {})
            parts = [f"{name} {format_ci(stats_by[name]) if name in stats_by else _pct(value)}"
                     for name, value in entry["skills"].items()]
            lines.append("  skills     " + "  ".join(parts))
    return "\n".join(lines)
