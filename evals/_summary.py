"""Per task × strategy accuracies, per-skill accuracies and the composition gap."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from ._records import SampleRecord


def summarize(records: Iterable[SampleRecord], *, model: str) -> dict[str, Any]:
    """``{"model", "tasks": {task: {"strategies", "skills", "gap"}}}`` from run records."""
    grouped: dict[str, dict[str, list[SampleRecord]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        grouped[record.task][record.strategy].append(record)
    tasks: dict[str, Any] = {}
    for task, by_step in sorted(grouped.items()):
        strategies = {
            step: _stats(items) for step, items in by_step.items() if step not in ("visual", "textual")
        }
        skills = {step: _stats(by_step[step])["accuracy"] for step in ("visual", "textual")
                  if step in by_step}
        entry: dict[str, Any] = {"strategies": strategies, "skills": skills}
        if "direct" in strategies and "cascaded" in strategies:
            direct = strategies["direct"]["accuracy"]
            cascaded = strategies["cascaded"]["accuracy"]
            entry["gap"] = {
                "absolute": cascaded - direct,
                "relative": (cascaded - direct) / cascaded if cascaded else 0.0,
            }
        tasks[task] = entry
    return {"model": model, "tasks": tasks}


def _stats(items: list[SampleRecord]) -> dict[str, Any]:
    n = len(items)
    return {
        "accuracy": sum(item.correct for item in items) / n if n else 0.0,
        "n": n,
        "errors": sum(item.error is not None for item in items),
        "format_failure_rate": sum(item.format_failure for item in items) / n if n else 0.0,
    }


def format_table(summary: dict[str, Any]) -> str:
    """A plain-text table of accuracies per task and strategy, for the terminal."""
    lines = [f"model: {summary['model']}"]
    for task, entry in summary["tasks"].items():
        parts = [f"{name} {stats['accuracy']:.3f}" for name, stats in entry["strategies"].items()]
        parts += [f"skill:{name} {value:.3f}" for name, value in entry["skills"].items()]
        if "gap" in entry:
            parts.append(f"gap {entry['gap']['absolute']:+.3f}")
        lines.append(f"{task:>14}: " + "  ".join(parts))
    return "\n".join(lines)
