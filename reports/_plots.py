"""PNG plots of a run summary (and of several runs side by side).

matplotlib is imported inside the functions, and only its object-oriented API with the Agg
canvas is used (no pyplot, no global backend switch), so ``import skillgap`` stays light and
plotting works headless and from threads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..evals._summary import SKILL_STEPS, strategy_order

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

STRATEGY_COLOURS = {"direct": "#d62728", "cascaded": "#1f77b4", "cot": "#2ca02c"}
SKILL_COLOURS = {"visual": "#9e9ac8", "textual": "#bcbddc"}
OTHER_COLOURS = ["#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]
RUN_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def _figure(n_panels: int, *, width: float = 4.6, height: float = 3.8, max_cols: int = 3
            ) -> tuple[Figure, list[Axes]]:
    from matplotlib.figure import Figure

    cols = max(1, min(n_panels, max_cols))
    rows = max(1, math.ceil(n_panels / cols))
    fig = Figure(figsize=(width * cols, height * rows), dpi=100, layout="constrained")
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(max(n_panels, 1))]
    return fig, axes


def _save(fig: Figure, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", metadata={"Software": None})
    return path


def _yerr(stats: dict[str, Any]) -> tuple[float, float]:
    low, high = stats.get("ci", [stats["accuracy"], stats["accuracy"]])
    return max(0.0, stats["accuracy"] - low), max(0.0, high - stats["accuracy"])


def _colour(name: str, others: list[str]) -> str:
    if name in STRATEGY_COLOURS:
        return STRATEGY_COLOURS[name]
    if name in SKILL_COLOURS:
        return SKILL_COLOURS[name]
    if name not in others:
        others.append(name)
    return OTHER_COLOURS[others.index(name) % len(OTHER_COLOURS)]


def accuracy_plot(summary: dict[str, Any], path: Path) -> Path:
    """One panel per task: each strategy's accuracy with its 95% CI, the skills alone (lighter,
    hatched), and the majority-class baseline as a dashed line."""
    tasks = summary["tasks"]
    fig, axes = _figure(len(tasks))
    others: list[str] = []
    for ax, (task, entry) in zip(axes, tasks.items(), strict=False):
        bars = [(name, stats, False) for name, stats in entry["strategies"].items()]
        skill_stats = entry.get("skill_stats") or {
            name: {"accuracy": value} for name, value in entry.get("skills", {}).items()
        }
        bars += [(f"{name}\nskill", stats, True) for name, stats in skill_stats.items()]
        for x, (label, stats, is_skill) in enumerate(bars):
            name = label.split("\n")[0]
            low, high = _yerr(stats)
            ax.bar(x, stats["accuracy"], width=0.7, color=_colour(name, others),
                   hatch="//" if is_skill else None, edgecolor="white" if is_skill else None,
                   yerr=[[low], [high]], capsize=4, error_kw={"elinewidth": 1.2})
            ax.text(x, min(stats["accuracy"] + high, 1.0) + 0.02, f"{stats['accuracy']:.2f}",
                    ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(bars)), [label for label, _, _ in bars], fontsize=8)
        if "majority_baseline" in entry:
            ax.axhline(entry["majority_baseline"], color="black", linestyle="--", linewidth=1,
                       label=f"majority baseline ({entry['majority_baseline']:.2f})")
            ax.legend(loc="upper left", fontsize=7, frameon=False)
        title = task
        if "gap" in entry:
            gap = entry["gap"]
            title += f"\ngap {gap['absolute']:+.2f} (McNemar p={gap['p_value']:.2g})"
        ax.set_title(title, fontsize=10)
        ax.set_ylim(0, 1.15)
        ax.set_ylabel("accuracy")
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    fig.suptitle(f"Accuracy with 95% CI — {summary['model']}", fontsize=11)
    return _save(fig, path)


def gap_by_difficulty_plot(task: str, entry: dict[str, Any], path: Path) -> Path | None:
    """One panel per difficulty knob: the gap (bars) and direct / cascaded accuracy (lines) per
    bin; None (nothing written) when the task has no knob with several values."""
    knobs = entry.get("by_difficulty") or {}
    if not knobs:
        return None
    fig, axes = _figure(len(knobs), width=4.0, height=3.3)
    for ax, (knob, rows) in zip(axes, knobs.items(), strict=False):
        xs = list(range(len(rows)))
        gaps = [row["gap"] if row["gap"] is not None else 0.0 for row in rows]
        ax.bar(xs, gaps, width=0.6, color="#7f7f7f", alpha=0.45, label="gap (cascaded − direct)")
        for name in ("direct", "cascaded"):
            ys = [row[name] if row[name] is not None else math.nan for row in rows]
            ax.plot(xs, ys, marker="o", color=STRATEGY_COLOURS[name], label=name, linewidth=1.5)
        ax.axhline(0, color="black", linewidth=0.8)
        labels = [f"{row['bin']}\nn={row['n_direct']}" for row in rows]
        ax.set_xticks(xs, labels, fontsize=8)
        ax.set_xlabel(knob)
        low = min([0.0, *gaps])
        ax.set_ylim(min(-0.05, low - 0.1), 1.1)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    axes[0].set_ylabel("accuracy / gap")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    fig.suptitle(f"{task}: gap by difficulty", fontsize=11)
    return _save(fig, path)


def compare_plot(summaries: Sequence[dict[str, Any]], labels: Sequence[str], path: Path) -> Path:
    """Grouped bars across runs: one panel per task, a group per strategy / skill, a bar per run
    with its 95% CI."""
    tasks: list[str] = []
    for summary in summaries:
        tasks += [task for task in summary["tasks"] if task not in tasks]
    fig, axes = _figure(len(tasks), width=5.2)
    width = 0.8 / max(1, len(summaries))
    for ax, task in zip(axes, tasks, strict=False):
        entries = [summary["tasks"].get(task, {}) for summary in summaries]
        names = strategy_order({n for e in entries for n in e.get("strategies", {})})
        skills = [s for s in SKILL_STEPS if any(s in e.get("skill_stats", {}) for e in entries)]
        groups = [(n, "strategies") for n in names] + [(s, "skill_stats") for s in skills]
        for r, entry in enumerate(entries):
            labelled = False
            for g, (name, where) in enumerate(groups):
                stats = entry.get(where, {}).get(name)
                if stats is None:
                    continue
                low, high = _yerr(stats)
                ax.bar(g - 0.4 + width * (r + 0.5), stats["accuracy"], width=width * 0.95,
                       color=RUN_COLOURS[r % len(RUN_COLOURS)], yerr=[[low], [high]], capsize=2,
                       label=None if labelled else labels[r])
                labelled = True
        ax.set_xticks(range(len(groups)),
                      [n if w == "strategies" else f"{n}\nskill" for n, w in groups], fontsize=8)
        ax.set_title(task, fontsize=10)
        ax.set_ylim(0, 1.1)
        ax.set_ylabel("accuracy")
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    unique: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            unique.setdefault(label, handle)
    shown = [label for label in labels if label in unique]
    fig.legend([unique[label] for label in shown], shown, loc="outside lower center",
               ncols=max(1, min(4, len(shown))), fontsize=8, frameon=False)
    fig.suptitle("Accuracy with 95% CI across runs", fontsize=11)
    return _save(fig, path)


def pareto_plot(summary: dict[str, Any], path: Path) -> Path | None:
    """One panel per task: accuracy against model calls per sample for every strategy, router and
    the oracle (points), and each two-way router with its threshold swept (lines); None (nothing
    written) when no task has router results."""
    tasks = {task: entry["pareto"] for task, entry in summary["tasks"].items() if entry.get("pareto")}
    if not tasks:
        return None
    fig, axes = _figure(len(tasks))
    others: list[str] = []
    markers = {"strategy": "o", "router": "*", "oracle": "D"}
    for ax, (task, pareto) in zip(axes, tasks.items(), strict=False):
        for number, (label, curve) in enumerate(pareto.get("curves", {}).items()):
            ax.plot([p["calls"] for p in curve], [p["accuracy"] for p in curve], marker=".",
                    linewidth=1.2, alpha=0.8, color=OTHER_COLOURS[(number + 3) % len(OTHER_COLOURS)],
                    label=label)
        for point in pareto.get("points", []):
            kind = point["kind"]
            colour = "black" if kind == "oracle" else _colour(point["name"], others)
            ax.scatter([point["calls"]], [point["accuracy"]], marker=markers.get(kind, "o"),
                       s=140 if kind == "router" else 60, color=colour, zorder=3,
                       facecolors="none" if kind == "oracle" else colour, label=point["name"])
        ax.set_title(task, fontsize=10)
        ax.set_xlabel("model calls per sample")
        ax.set_ylabel("accuracy")
        ax.set_ylim(-0.02, 1.05)
        ax.grid(alpha=0.3)
        ax.set_axisbelow(True)
        ax.legend(loc="lower right", fontsize=7, frameon=False)
    fig.suptitle(f"Accuracy against cost — {summary['model']}", fontsize=11)
    return _save(fig, path)
