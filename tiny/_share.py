"""The gap against the share of composed (direct-format) training data, across trained tiny models.

Each run folder's ``run.json`` names its model folder; a model trained by ``skillgap train-tiny``
records its data mix in ``skillgap.json``. Runs of such models, compared with ``skillgap report``,
get a table and a plot of direct / cascaded accuracy and the gap per task against that share.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..evals._summary_model import Stats
from ..reports import load_run


def training_card(run_folder: Path) -> dict[str, Any] | None:
    """The training record of the model a run used, or ``None`` when it was not trained by us."""
    try:
        run = json.loads((run_folder / "run.json").read_text())
        model = Path(str(run["backend"]["model"]))
        card = json.loads((model / "skillgap.json").read_text())
    except (OSError, KeyError, TypeError, ValueError):
        return None
    training = card.get("training")
    return training if isinstance(training, dict) else None


def share_rows(folders: Sequence[Path]) -> list[dict[str, Any]]:
    """One row per run and task: the model's direct share and the run's accuracies and gap."""
    rows = []
    for folder in folders:
        training = training_card(Path(folder))
        if training is None:
            raise ValueError(f"{folder}: its model has no training record (skillgap.json 'training')")
        config = training.get("config", {})
        summary = load_run(Path(folder)).summary
        for task, entry in summary.tasks.items():
            strategies = entry.strategies
            direct_tasks = config.get("direct_tasks") or config.get("tasks") or []
            rows.append({
                "run": Path(folder).name,
                "direct_share": float(config.get("direct_share", 0.0)),
                "direct_trained_on_task": task in direct_tasks and config.get("direct_share", 0) > 0,
                "task": task,
                "direct": _stats(strategies.get("direct")),
                "cascaded": _stats(strategies.get("cascaded")),
                "cot": _stats(strategies.get("cot")),
                "majority": entry.majority_baseline,
                "skills": entry.skills,
                "gap": {} if entry.gap is None else entry.gap.model_dump(),
            })
    return sorted(rows, key=lambda row: (row["task"], row["direct_share"], row["run"]))


def _stats(stats: Stats | None) -> dict[str, Any]:
    # The rows are this study's own table; the typed stats are read here, once.
    return {} if stats is None else stats.model_dump()


def _acc(stats: dict[str, Any]) -> str:
    if not stats or stats.get("accuracy") is None:
        return "–"
    lo, hi = stats.get("ci") or (None, None)
    ci = f" [{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None else ""
    return f"{stats['accuracy']:.3f}{ci}"


def _num(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def share_markdown(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| task | direct share | visual | textual | direct (95% CI) | majority | direct format failures "
        "| cascaded (95% CI) | cot | gap (abs) | p |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        gap = row["gap"]
        failures = row["direct"].get("format_failure_rate")
        share = f"{100 * row['direct_share']:g}%"
        if row["direct_share"] and not row["direct_trained_on_task"]:
            share += " (other tasks)"
        majority = "–" if row["majority"] is None else f"{row['majority']:.3f}"
        skills = [row["skills"].get(name) for name in ("visual", "textual")]
        visual, textual = ("–" if value is None else f"{value:.3f}" for value in skills)
        lines.append(
            f"| {row['task']} | {share} | {visual} | {textual} | {_acc(row['direct'])} | {majority} "
            f"| {'–' if failures is None else f'{failures:.3f}'} | {_acc(row['cascaded'])} "
            f"| {_acc(row['cot'])} | {_num(gap.get('absolute'), '+.3f')} "
            f"| {_num(gap.get('p_value'), '.2g')} |"
        )
    return "\n".join(lines) + "\n"


def share_plot(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Direct and cascaded accuracy (with CIs) against the direct share, one panel per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({row["task"] for row in rows})
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        mine = [row for row in rows if row["task"] == task]
        shares = [100 * row["direct_share"] for row in mine]
        for strategy, colour in (("direct", "tab:red"), ("cascaded", "tab:blue"), ("cot", "tab:green")):
            points = [(x, row[strategy]) for x, row in zip(shares, mine, strict=True)
                      if row[strategy].get("accuracy") is not None]
            if not points:
                continue
            xs = [x for x, _ in points]
            ys = [stats["accuracy"] for _, stats in points]
            errs = [[y - stats["ci"][0] for y, (_, stats) in zip(ys, points, strict=True)],
                    [stats["ci"][1] - y for y, (_, stats) in zip(ys, points, strict=True)]]
            ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=strategy, color=colour)
        ax.set_title(task)
        ax.set_xlabel("direct-format share of training data (%)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy")
    axes[0][-1].legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_share_report(folders: Sequence[Path], out: Path) -> dict[str, Path]:
    """Write ``direct_share.md`` and ``plots/direct_share.png`` into ``out``."""
    rows = share_rows(folders)
    out.mkdir(parents=True, exist_ok=True)
    markdown = out / "direct_share.md"
    markdown.write_text("# Composition gap against the direct-format training share\n\n"
                        + share_markdown(rows), encoding="utf-8")
    return {"markdown": markdown, "plot": share_plot(rows, out / "plots" / "direct_share.png")}


__all__ = ["share_markdown", "share_plot", "share_rows", "training_card", "write_share_report"]
