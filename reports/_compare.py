"""Reports of finished run folders, one or several side by side.

Runs are labelled by what differs between them (the model's name, else the settings that differ,
else the folder), and a comparison shows each run's n, the difference to the first run with a
bootstrap CI (paired on the samples both runs share), and the config difference.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..evals._metrics import bootstrap_means, percentile_ci
from ..evals._records import SampleRecord, read_records
from ..evals._summary import format_ci, format_p, strategy_order, summarize
from ..evals._summary_model import Stats, Summary, TaskSummary
from ..graphs.strategies import skill_steps
from ._blocks import Block, Heading, Image, Para, Table
from ._report import EXPLAINER, PLOTS, model_name, run_blocks, run_plots, write_blocks

#: What a report folder holds that ``--overwrite`` replaces.
REPORT_FILES = ("report.md", "report.html", "direct_share.md")


@dataclass(frozen=True)
class LoadedRun:
    folder: Path
    model: str
    summary: Summary
    records: list[SampleRecord]
    #: ``run.json``'s config and backend description, flattened to ``key: value`` text.
    settings: dict[str, str]


def _flat(prefix: str, value: object) -> dict[str, str]:
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, inner in value.items():
            out.update(_flat(f"{prefix}.{key}" if prefix else str(key), inner))
        return out
    return {prefix: value if isinstance(value, str) else json.dumps(value)}


def load_run(folder: Path) -> LoadedRun:
    """Read a run folder's ``samples.jsonl`` (and ``run.json`` for the model and settings) and
    recompute its summary; a missing folder or log is a ValueError with a clear message."""
    if not folder.is_dir():
        raise ValueError(f"run folder not found: {folder}")
    log = folder / "samples.jsonl"
    if not log.is_file():
        raise ValueError(f"{folder} holds no samples.jsonl: not a run folder (see `skillgap eval --out`)")
    settings: dict[str, str] = {}
    run_file = folder / "run.json"
    if run_file.is_file():
        try:
            run = json.loads(run_file.read_text(encoding="utf-8"))
        except ValueError:  # an unreadable run.json: the folder name stands for the model
            run = {}
        if isinstance(run, dict):
            settings = {**_flat("", run.get("config") or {}),
                        **_flat("backend", run.get("backend") or {})}
    model = settings.get("backend.model") or folder.name
    try:
        records = read_records(log)
    except ValueError as exc:
        raise ValueError(f"{log} is not a run log: {exc}") from None
    if not records:
        raise ValueError(f"{log} is empty: the run recorded no samples yet")
    errors_file = folder / "dataset_errors.jsonl"
    dataset_errors = (sum(1 for line in errors_file.read_text(encoding="utf-8").splitlines()
                          if line.strip()) if errors_file.is_file() else 0)
    summary = summarize(records, model=model, dataset_errors=dataset_errors)
    return LoadedRun(folder, model, summary, records, settings)


def differing_settings(runs: Sequence[LoadedRun]) -> dict[str, list[str]]:
    """The settings whose values are not the same in every run (``–`` where a run lacks one)."""
    keys = sorted({key for run in runs for key in run.settings})
    values = {key: [run.settings.get(key, "–") for run in runs] for key in keys}
    return {key: vals for key, vals in values.items() if len(set(vals)) > 1}


def _tails(models: Sequence[str]) -> list[str]:
    """The shortest path tails that tell the models apart (the full strings if none do)."""
    parts = [Path(model).parts for model in models]
    for depth in range(1, max(len(p) for p in parts) + 1):
        tails = ["/".join(p[-depth:]) for p in parts]
        if len(set(tails)) == len(tails):
            return tails
    return list(models)


def run_labels(runs: Sequence[LoadedRun]) -> list[str]:
    """Short labels that tell runs apart by what differs: the model's name; if that is shared,
    the settings that differ (``seed=1``); else the folder name; a number where all clash."""
    names = [model_name(run.model) for run in runs]
    differing = differing_settings(runs)
    if len(set(names)) == len(names):
        labels = names
    elif "backend.model" in differing:
        labels = _tails([run.model for run in runs])
    else:
        keys = list(differing)[:3]

        def what(run: LoadedRun) -> str:
            return ", ".join(f"{key}={run.settings.get(key, '–')}" for key in keys) or run.folder.name

        labels = [f"{name} ({what(run)})" for name, run in zip(names, runs, strict=True)]
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return unique


def _outcomes(run: LoadedRun, task: str, step: str) -> dict[str, bool]:
    return {r.sample_id: r.correct for r in run.records
            if r.task == task and r.strategy == step and r.status in ("correct", "wrong")}


def _clusters(runs: Sequence[LoadedRun]) -> dict[str, str]:
    return {r.sample_id: r.image_id or r.sample_id for run in runs for r in run.records}


def difference(first: LoadedRun, second: LoadedRun, task: str, steps: Sequence[str],
               clusters: Mapping[str, str]) -> tuple[float, tuple[float, float] | None] | None:
    """``second − first`` of one step's accuracy (one step) or of the gap (``cascaded − direct``,
    two steps), with a bootstrap CI from one resampling of both runs' samples: paired where the
    runs share sample ids. None when a run scored nothing there."""
    # A linear combination of the runs' step accuracies: b − a, or (b_c − b_d) − (a_c − a_d).
    signs = [1.0] if len(steps) == 1 else [-1.0, 1.0]
    weights = {f"{tag}:{step}": sign * side
               for tag, side in (("a", -1.0), ("b", 1.0)) for step, sign in zip(steps, signs, strict=True)}
    runs = {"a": first, "b": second}
    columns = {key: _outcomes(runs[key[0]], task, key[2:]) for key in weights}
    if any(not column for column in columns.values()):
        return None
    reps = bootstrap_means(columns, clusters, seed=0, n_boot=2000)
    point = sum(w * sum(columns[key].values()) / len(columns[key]) for key, w in weights.items())
    spread = sum((w * reps[key] for key, w in weights.items()), start=np.zeros(2000))
    return point, percentile_ci(spread)


def _delta(diff: tuple[float, tuple[float, float] | None] | None) -> str:
    if diff is None:
        return "–"
    point, ci = diff
    return f"{point:+.3f}" + ("" if ci is None else f" [{ci[0]:+.3f}, {ci[1]:+.3f}]")


def _cell(stats: Stats | None) -> str:
    if stats is None:
        return "–"
    text = f"{format_ci(stats)} (n={stats.n}"
    if stats.errors:
        text += f", {stats.errors} errors"
    return text + ")"


def _gap_cell(entry: TaskSummary | None) -> str:
    if entry is None or entry.gap is None or entry.gap.absolute is None:
        return "–"
    gap = entry.gap
    ci = "" if gap.ci is None else f" [{gap.ci[0]:+.3f}, {gap.ci[1]:+.3f}]"
    return f"{gap.absolute:+.3f}{ci} (p={format_p(gap.p_value)}, n={gap.n_paired})"


def comparison_table(runs: Sequence[LoadedRun], labels: Sequence[str]) -> Table:
    """One row per task × metric, one column per run (accuracy, CI, n), then the difference of each
    later run to the first with its 95% CI."""
    tasks: list[str] = []
    for run in runs:
        tasks += [task for task in run.summary.tasks if task not in tasks]
    clusters = _clusters(runs)
    first = runs[0]
    rows: list[list[str]] = []
    for task in tasks:
        entries = [run.summary.tasks.get(task) for run in runs]
        strategies = strategy_order({n for e in entries if e for n in e.strategies})
        for name in strategies:
            rows.append([task, name,
                         *[_cell(e.strategies.get(name) if e else None) for e in entries],
                         *[_delta(difference(first, run, task, [name], clusters)) for run in runs[1:]]])
        rows.append([task, "gap (cascaded − direct)", *[_gap_cell(e) for e in entries],
                     *[_delta(difference(first, run, task, ["direct", "cascaded"], clusters))
                       for run in runs[1:]]])
        for skill in skill_steps():
            if any(e and skill in e.skill_stats for e in entries):
                rows.append([task, f"{skill} skill",
                             *[_cell(e.skill_stats.get(skill) if e else None) for e in entries],
                             *[_delta(difference(first, run, task, [skill], clusters))
                               for run in runs[1:]]])
        rows.append([task, "majority baseline",
                     *["–" if e is None or e.majority_baseline is None else f"{e.majority_baseline:.3f}"
                       for e in entries], *["" for _ in runs[1:]]])
    deltas = [f"Δ {label} − {labels[0]} [95% CI]" for label in labels[1:]]
    return Table(["task", "metric", *labels, *deltas], rows)


def config_blocks(runs: Sequence[LoadedRun], labels: Sequence[str]) -> list[Block]:
    differing = differing_settings(runs)
    if not differing:
        return [Para("The runs share their config and model (their samples or code may differ).")]
    return [Para("What differs between the runs (config and backend from each `run.json`):"),
            Table(["setting", *labels], [[key, *values] for key, values in differing.items()])]


def _prepare_out(out: Path, folders: Sequence[Path], *, overwrite: bool) -> None:
    """Refuse to write over an existing report that is not one of the runs' own folders."""
    own = {folder.resolve() for folder in folders}
    if out.exists() and out.resolve() not in own and any(out.iterdir()):
        if not overwrite:
            raise ValueError(f"{out} exists and is not empty: pass --overwrite to replace its report, "
                             "or --out NEW_FOLDER")
        for name in REPORT_FILES:
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / PLOTS, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)


def write_comparison(folders: Sequence[Path], out: Path, *, overwrite: bool = False) -> dict[str, Path]:
    """Report one or several run folders into ``out``: ``report.md``, a self-contained
    ``report.html`` and the PNGs; several runs get a side-by-side table with differences and a
    grouped bar plot. An ``out`` that already holds something (other than a run being reported) is
    refused unless ``overwrite``."""
    if not folders:
        raise ValueError("no run folder given")
    runs = [load_run(Path(folder)) for folder in folders]
    _prepare_out(out, [Path(folder) for folder in folders], overwrite=overwrite)
    if len(runs) == 1:
        run = runs[0]
        plots = run_plots(out, run.summary)
        blocks = run_blocks(run.summary, plots, source=str(run.folder))
        return write_blocks(out, blocks, f"skillgap report: {model_name(run.model)}")
    from ._plots import compare_plot

    labels = run_labels(runs)
    compare = f"{PLOTS}/compare.png"
    compare_plot([run.summary for run in runs], labels, out / compare)
    title = "skillgap comparison: " + " vs ".join(labels)
    blocks = [
        Heading(1, title),
        Para(EXPLAINER),
        Heading(2, "Runs"),
        Table(["run", "model", "folder", "samples", "errors"],
              [[label, run.model, str(run.folder), str(sum(t.n_samples for t in run.summary.tasks.values())),
                f"{run.summary.errors} ({run.summary.error_rate:.0%})"]
               for label, run in zip(labels, runs, strict=True)]),
        *[Para(f"**Warning:** {label}, {task}: {warning}")
          for label, run in zip(labels, runs, strict=True)
          for task, entry in run.summary.tasks.items() for warning in entry.warnings],
        *config_blocks(runs, labels),
        Heading(2, "Side by side"),
        comparison_table(runs, labels),
        Image("accuracy across runs", compare),
    ]
    for number, (label, run) in enumerate(zip(labels, runs, strict=True), 1):
        plots = run_plots(out, run.summary, prefix=f"run{number}_")
        blocks += run_blocks(run.summary, plots, level=2, title=f"Run {number}: {label}",
                             source=str(run.folder))
    return write_blocks(out, blocks, title)
