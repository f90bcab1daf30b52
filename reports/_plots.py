"""PNG plots of a run summary (and of several runs side by side).

matplotlib is imported inside the functions, and only its object-oriented API with the Agg
canvas is used (no pyplot, no global backend switch), so ``import skillgap`` stays light and
plotting works headless and from threads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..backends._names import model_name
from ..evals._summary import strategy_order
from ..evals._summary_model import CI, Stats, Summary, TaskSummary
from ..graphs.strategies import skill_steps

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

STRATEGY_COLOURS = {"direct": "#d62728", "cascaded": "#1f77b4", "cot": "#2ca02c"}
SKILL_COLOURS = {"visual": "#9e9ac8", "textual": "#bcbddc"}
OTHER_COLOURS = ["#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]
RUN_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def warm_imports() -> None:
    """Import what drawing needs (matplotlib's figure, the Agg canvas and its fonts) now, e.g. on a
    thread while a run waits for its model, so the report does not pay for it at the end."""
    import matplotlib.backends.backend_agg
    import matplotlib.figure  # noqa: F401


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


def _yerr(value: float, ci: CI | None) -> tuple[float, float]:
    low, high = ci if ci is not None else (value, value)
    return max(0.0, value - low), max(0.0, high - value)


#: Height of a bar's value label in axis units (fontsize 8 on a 0–1.15 axis), and the clearance it
#: keeps from the baseline line.
LABEL_HEIGHT = 0.05
LABEL_CLEARANCE = 0.015


def label_y(top: float, baseline: float | None) -> float:
    """Where a bar's value label goes: just above the bar (and its error bar), unless that would
    put the baseline line through the text; then just above the line."""
    y = top + 0.02
    if baseline is not None and y - LABEL_CLEARANCE < baseline < y + LABEL_HEIGHT + LABEL_CLEARANCE:
        y = baseline + LABEL_CLEARANCE + 0.005
    return y


def _colour(name: str, others: list[str]) -> str:
    if name in STRATEGY_COLOURS:
        return STRATEGY_COLOURS[name]
    if name in SKILL_COLOURS:
        return SKILL_COLOURS[name]
    if name not in others:
        others.append(name)
    return OTHER_COLOURS[others.index(name) % len(OTHER_COLOURS)]


def accuracy_plot(summary: Summary, path: Path) -> Path:
    """One panel per task: each strategy's accuracy (over scored samples) with its 95% CI, the
    skills alone (lighter, hatched), and the majority-class baseline as a dashed line; a strategy
    with no scored sample is marked "no scored samples" instead of a bar of 0."""
    tasks = summary.tasks
    fig, axes = _figure(len(tasks))
    others: list[str] = []
    for ax, (task, entry) in zip(axes, tasks.items(), strict=False):
        bars = [(name, stats, False) for name, stats in entry.strategies.items()]
        bars += [(f"{name}\nskill", stats, True) for name, stats in entry.skill_stats.items()]
        baseline = entry.majority_baseline
        for x, (label, stats, is_skill) in enumerate(bars):
            name = label.split("\n")[0]
            if stats.accuracy is None:
                ax.text(x, 0.02, "no scored\nsamples", ha="center", va="bottom", fontsize=7,
                        color="#b00000", rotation=90)
                continue
            low, high = _yerr(stats.accuracy, stats.ci)
            ax.bar(x, stats.accuracy, width=0.7, color=_colour(name, others),
                   hatch="//" if is_skill else None, edgecolor="white" if is_skill else None,
                   yerr=[[low], [high]], capsize=4, error_kw={"elinewidth": 1.2})
            ax.text(x, label_y(min(stats.accuracy + high, 1.0), baseline), f"{stats.accuracy:.2f}",
                    ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(bars)), [label for label, _, _ in bars], fontsize=8)
        if baseline is not None:
            ax.axhline(baseline, color="black", linestyle="--", linewidth=1,
                       label=f"majority baseline ({baseline:.2f})")
            ax.legend(loc="upper left", fontsize=7, frameon=False)
        title = task
        gap = entry.gap
        if gap is not None and gap.absolute is not None:
            title += f"\ngap {gap.absolute:+.2f}"
            if gap.ci is not None:
                title += f" [{gap.ci[0]:+.2f}, {gap.ci[1]:+.2f}]"
            if gap.p_value is not None:
                title += f" (McNemar p={gap.p_value:.2g})"
        if entry.mostly_failed:
            title += f"\n{entry.error_rate:.0%} of calls FAILED"
        ax.set_title(title, fontsize=10, color="#b00000" if entry.mostly_failed else "black")
        ax.set_ylim(0, 1.15)
        ax.set_ylabel("accuracy")
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    fig.suptitle(f"Accuracy with 95% CI — {model_name(summary.model)}", fontsize=11)
    return _save(fig, path)


def gap_by_difficulty_plot(task: str, entry: TaskSummary, path: Path) -> Path | None:
    """One panel per difficulty knob: the gap (bars, with CIs) and direct / cascaded accuracy
    (lines, with CIs) per bin; bins with few scored samples are hatched and their n marked;
    None (nothing written) when the task has no knob with several values."""
    from ..evals._summary_model import SMALL_BIN

    knobs = entry.by_difficulty
    if not knobs:
        return None
    fig, axes = _figure(len(knobs), width=4.0, height=3.3)
    for ax, (knob, rows) in zip(axes, knobs.items(), strict=False):
        xs = list(range(len(rows)))
        gaps = [row.gap if row.gap is not None else 0.0 for row in rows]
        gap_err = [_yerr(row.gap, row.gap_ci) if row.gap is not None else (0.0, 0.0) for row in rows]
        ax.bar(xs, gaps, width=0.6, color="#7f7f7f", alpha=0.45, label="gap (cascaded − direct)",
               hatch=["xx" if row.small else "" for row in rows], edgecolor="#555555",
               yerr=[[e[0] for e in gap_err], [e[1] for e in gap_err]], capsize=3,
               error_kw={"elinewidth": 1.0, "ecolor": "#555555"})
        for name, offset in (("direct", -0.08), ("cascaded", 0.08)):
            ys = [getattr(row, name) if getattr(row, name) is not None else math.nan for row in rows]
            errs = [_yerr(y, getattr(row, f"{name}_ci")) if not math.isnan(y) else (0.0, 0.0)
                    for y, row in zip(ys, rows, strict=True)]
            ax.errorbar([x + offset for x in xs], ys, yerr=[[e[0] for e in errs], [e[1] for e in errs]],
                        marker="o", color=STRATEGY_COLOURS[name], label=name, linewidth=1.5,
                        capsize=3, elinewidth=1.0)
        ax.axhline(0, color="black", linewidth=0.8)
        labels = [f"{row.bin}\nn={min(row.n_direct, row.n_cascaded)}" for row in rows]
        ax.set_xticks(xs, labels, fontsize=8)
        for tick, row in zip(ax.get_xticklabels(), rows, strict=True):
            if row.small:
                tick.set_color("#b00000")
        ax.set_xlabel(knob)
        low = min([0.0, *[g - e[0] for g, e in zip(gaps, gap_err, strict=True)]])
        ax.set_ylim(min(-0.05, low - 0.1), 1.1)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    axes[0].set_ylabel("accuracy / gap (95% CI)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    fig.suptitle(f"{task}: gap by difficulty (hatched, red n: fewer than {SMALL_BIN} scored samples)",
                 fontsize=10)
    return _save(fig, path)


def compare_plot(summaries: Sequence[Summary], labels: Sequence[str], path: Path) -> Path:
    """Grouped bars across runs: one panel per task, a group per strategy / skill, a bar per run
    with its 95% CI."""
    tasks: list[str] = []
    for summary in summaries:
        tasks += [task for task in summary.tasks if task not in tasks]
    fig, axes = _figure(len(tasks), width=5.2)
    width = 0.8 / max(1, len(summaries))
    for ax, task in zip(axes, tasks, strict=False):
        entries = [summary.tasks.get(task) for summary in summaries]
        names = strategy_order({n for e in entries if e for n in e.strategies})
        skills = [s for s in skill_steps() if any(e and s in e.skill_stats for e in entries)]
        groups = [(n, "strategies") for n in names] + [(s, "skill_stats") for s in skills]
        for r, entry in enumerate(entries):
            labelled = False
            for g, (name, where) in enumerate(groups):
                stats: Stats | None = None
                if entry is not None:
                    stats = (entry.strategies if where == "strategies" else entry.skill_stats).get(name)
                if stats is None or stats.accuracy is None:
                    continue
                low, high = _yerr(stats.accuracy, stats.ci)
                ax.bar(g - 0.4 + width * (r + 0.5), stats.accuracy, width=width * 0.95,
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
    unique: dict[str, Artist] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            unique.setdefault(label, handle)
    shown = [label for label in labels if label in unique]
    fig.legend([unique[label] for label in shown], shown, loc="outside lower center",
               ncols=max(1, min(4, len(shown))), fontsize=8, frameon=False)
    fig.suptitle("Accuracy with 95% CI across runs", fontsize=11)
    return _save(fig, path)


def pareto_plot(summary: Summary, path: Path) -> Path | None:
    """One panel per task: accuracy against model calls per sample for every strategy, router and
    the oracle (points), and each two-way router with its threshold swept (lines); None (nothing
    written) when no task ran a router (the summary has no ``pareto`` then)."""
    tasks = {task: entry.pareto for task, entry in summary.tasks.items() if entry.pareto is not None}
    if not tasks:
        return None
    fig, axes = _figure(len(tasks))
    others: list[str] = []
    markers = {"strategy": "o", "router": "*", "oracle": "D"}
    for ax, (task, pareto) in zip(axes, tasks.items(), strict=False):
        for label, curve in pareto.curves.items():
            # A router's swept line takes its point's colour ("learned (threshold swept)" is the
            # line of the "learned" star), the same in every panel.
            ax.plot([p.calls for p in curve], [p.accuracy for p in curve], marker=".",
                    linewidth=1.2, alpha=0.8, color=_colour(label.split(" (", 1)[0], others),
                    linestyle=":" if label.startswith("fallback (direct") else "-", label=label)
        for point in pareto.points:
            kind = point.kind
            colour = "black" if kind == "oracle" else _colour(point.name, others)
            ax.scatter([point.calls], [point.accuracy], marker=markers.get(kind, "o"),
                       s=140 if kind == "router" else 60, color=colour, zorder=3,
                       facecolors="none" if kind == "oracle" else colour, label=point.name)
        ax.set_title(task, fontsize=10)
        ax.set_xlabel("model calls per sample")
        ax.set_ylabel("accuracy")
        ax.set_ylim(-0.02, 1.05)
        ax.grid(alpha=0.3)
        ax.set_axisbelow(True)
        ax.legend(loc="lower right", fontsize=7, frameon=False)
    fig.suptitle(f"Accuracy against cost — {model_name(summary.model)}", fontsize=11)
    return _save(fig, path)
