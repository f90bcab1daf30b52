"""The gap against the share of composed (direct-format) training data, across trained tiny models.

Each run folder's ``run.json`` names its model folder; a model trained by ``skillgap train-tiny``
records its data mix in ``skillgap.json``. Runs of such models, compared with ``skillgap report``,
get a table and a plot of direct / cascaded accuracy and the gap per task against that share.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..evals._summary_model import Gap, Stats
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


@dataclass(frozen=True)
class ShareRow:
    """One run × task of the study: the model's direct-format share and the run's typed results."""

    run: str
    direct_share: float
    direct_trained_on_task: bool
    task: str
    direct: Stats | None
    cascaded: Stats | None
    cot: Stats | None
    majority: float | None
    skills: dict[str, float | None]
    gap: Gap | None

    def stats(self, strategy: str) -> Stats | None:
        return {"direct": self.direct, "cascaded": self.cascaded, "cot": self.cot}[strategy]


def share_rows(folders: Sequence[Path]) -> list[ShareRow]:
    """One row per run and task: the model's direct share and the run's accuracies and gap."""
    rows = []
    for folder in folders:
        training = training_card(Path(folder))
        if training is None:
            raise ValueError(f"{folder}: its model has no training record (skillgap.json 'training')")
        config = training.get("config", {})
        summary = load_run(Path(folder)).summary
        for task, entry in summary.tasks.items():
            direct_tasks = config.get("direct_tasks") or config.get("tasks") or []
            rows.append(ShareRow(
                run=Path(folder).name,
                direct_share=float(config.get("direct_share", 0.0)),
                direct_trained_on_task=task in direct_tasks and config.get("direct_share", 0) > 0,
                task=task,
                direct=entry.strategies.get("direct"),
                cascaded=entry.strategies.get("cascaded"),
                cot=entry.strategies.get("cot"),
                majority=entry.majority_baseline,
                skills=entry.skills,
                gap=entry.gap,
            ))
    return sorted(rows, key=lambda row: (row.task, row.direct_share, row.run))


def _acc(stats: Stats | None) -> str:
    if stats is None or stats.accuracy is None:
        return "–"
    ci = "" if stats.ci is None else f" [{stats.ci[0]:.2f}, {stats.ci[1]:.2f}]"
    return f"{stats.accuracy:.3f}{ci}"


def _num(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def share_markdown(rows: Sequence[ShareRow]) -> str:
    lines = [
        "| task | direct share | visual | textual | direct (95% CI) | majority | direct format failures "
        "| cascaded (95% CI) | cot | gap (abs) | p |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        share = f"{100 * row.direct_share:g}%"
        if row.direct_share and not row.direct_trained_on_task:
            share += " (other tasks)"
        failures = None if row.direct is None else row.direct.format_failure_rate
        gap = row.gap
        lines.append(
            f"| {row.task} | {share} | {_num(row.skills.get('visual'), '.3f')} "
            f"| {_num(row.skills.get('textual'), '.3f')} | {_acc(row.direct)} "
            f"| {_num(row.majority, '.3f')} | {_num(failures, '.3f')} | {_acc(row.cascaded)} "
            f"| {_acc(row.cot)} | {_num(None if gap is None else gap.absolute, '+.3f')} "
            f"| {_num(None if gap is None else gap.p_value, '.2g')} |"
        )
    return "\n".join(lines) + "\n"


def share_plot(rows: Sequence[ShareRow], path: Path) -> Path:
    """Direct and cascaded accuracy (with CIs) against the direct share, one panel per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({row.task for row in rows})
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        mine = [row for row in rows if row.task == task]
        shares = [100 * row.direct_share for row in mine]
        for strategy, colour in (("direct", "tab:red"), ("cascaded", "tab:blue"), ("cot", "tab:green")):
            points = [(x, stats.accuracy, stats.ci or (stats.accuracy, stats.accuracy))
                      for x, row in zip(shares, mine, strict=True)
                      if (stats := row.stats(strategy)) is not None and stats.accuracy is not None]
            if not points:
                continue
            xs = [x for x, _, _ in points]
            ys = [y for _, y, _ in points]
            errs = [[y - ci[0] for _, y, ci in points], [ci[1] - y for _, y, ci in points]]
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


__all__ = ["ShareRow", "share_markdown", "share_plot", "share_rows", "training_card", "write_share_report"]
