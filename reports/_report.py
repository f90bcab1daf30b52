"""Markdown and self-contained HTML reports of one run, or of several runs side by side.

A report is built once as a list of blocks (headings, paragraphs, tables, images) and rendered
to both formats: ``report.md`` links the PNGs next to it, ``report.html`` embeds them as base64
data URIs so the page is a single file with no external assets.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..evals._records import read_records
from ..evals._summary import format_ci, format_p, summarize

PLOTS = "plots"
#: Holds the fingerprint of the records the report was written from.
STAMP = ".report-fingerprint"

EXPLAINER = (
    "Accuracy is the share of samples answered exactly. 95% confidence intervals come from a "
    "seeded percentile bootstrap that resamples whole images (questions sharing an image move "
    "together). The gap is cascaded − direct accuracy; its significance is an exact McNemar test "
    "on the samples both strategies ran. Skills are measured alone: the visual skill against the "
    "gold intermediate, the textual skill on the gold intermediate."
)


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Image:
    alt: str
    path: str  # relative to the report's folder


Block = Heading | Para | Table | Image


# ---------------------------------------------------------------- content


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "–" if value is None else format(value, spec)


def _gap_text(gap: dict[str, Any]) -> str:
    text = (f"Gap (cascaded − direct): **{gap['absolute']:+.3f}** absolute, {gap['relative']:+.3f} "
            f"relative; exact McNemar p = **{format_p(gap['p_value'])}**")
    if "n_paired" in gap:
        text += (f" on {gap['n_paired']} paired samples (only direct right: {gap['direct_only']}, "
                 f"only cascaded right: {gap['cascaded_only']})")
    text += "."
    if gap.get("cot_closed") is not None:
        text += f" CoT closes {gap['cot_closed']:.0%} of the gap."
    elif "cot_closed" in gap:
        text += " CoT's share of the gap is undefined (no gap)."
    return text


def overview_table(summary: dict[str, Any]) -> Table:
    tasks = summary["tasks"]
    strategies: list[str] = []
    for entry in tasks.values():
        strategies += [name for name in entry["strategies"] if name not in strategies]
    headers = ["task", *strategies, "gap", "p", "visual skill", "textual skill", "majority"]
    rows = []
    for task, entry in tasks.items():
        gap = entry.get("gap")
        rows.append([
            task,
            *[_fmt(entry["strategies"][name]["accuracy"]) if name in entry["strategies"] else "–"
              for name in strategies],
            f"{gap['absolute']:+.3f}" if gap else "–",
            format_p(gap["p_value"]) if gap else "–",
            _fmt(entry["skills"].get("visual")),
            _fmt(entry["skills"].get("textual")),
            _fmt(entry.get("majority_baseline")),
        ])
    return Table(headers, rows)


def task_blocks(task: str, entry: dict[str, Any], *, level: int, difficulty_plot: str | None
                ) -> list[Block]:
    blocks: list[Block] = [Heading(level, task)]
    rows = []
    for name, stats in entry["strategies"].items():
        low, high = stats["ci"]
        rows.append([name, f"{stats['accuracy']:.3f}", f"[{low:.3f}, {high:.3f}]", str(stats["n"]),
                     f"{stats.get('format_failure_rate', 0.0):.1%}", str(stats.get("errors", 0))])
    for name, stats in entry.get("skill_stats", {}).items():
        low, high = stats["ci"]
        rows.append([f"{name} skill alone", f"{stats['accuracy']:.3f}", f"[{low:.3f}, {high:.3f}]",
                     str(stats["n"]), f"{stats.get('format_failure_rate', 0.0):.1%}",
                     str(stats.get("errors", 0))])
    if "majority_baseline" in entry:
        rows.append(["majority-class baseline", f"{entry['majority_baseline']:.3f}", "", "", "", ""])
    blocks.append(Table(["strategy", "accuracy", "95% CI", "n", "format failures", "errors"], rows))
    if "gap" in entry:
        blocks.append(Para(_gap_text(entry["gap"])))
    blocks += router_blocks(entry)
    attribution = entry.get("attribution")
    if attribution and attribution["direct_wrong"]:
        blocks.append(Para(f"Direct failures ({attribution['direct_wrong']}) by each skill's outcome "
                           "on the same input:"))
        blocks.append(Table(
            ["skill", "right", "wrong", "not measured"],
            [[name, str(attribution[name]["right"]), str(attribution[name]["wrong"]),
              str(attribution[name]["missing"])] for name in ("visual", "textual")],
        ))
        blocks.append(Para(f"Both skills right on the input, direct still wrong (a composition "
                           f"failure): {attribution['both_right']} of {attribution['direct_wrong']}."))
    knobs = entry.get("by_difficulty") or {}
    if knobs:
        rows = [
            [knob, row["bin"], str(row["n_direct"]), _fmt(row["direct"]), _fmt(row["cascaded"]),
             "–" if row["gap"] is None else f"{row['gap']:+.3f}"]
            for knob, bins in knobs.items() for row in bins
        ]
        blocks.append(Para("Gap by difficulty knob:"))
        blocks.append(Table(["knob", "value", "n", "direct", "cascaded", "gap"], rows))
    if difficulty_plot:
        blocks.append(Image(f"{task}: gap by difficulty", difficulty_plot))
    return blocks


def router_blocks(entry: dict[str, Any]) -> list[Block]:
    """Per router: accuracy with CI, share of the gap closed, cost per sample and vs cascaded."""
    routers = entry.get("routers") or {}
    if not routers:
        return []
    rows = []
    for name, stats in routers.items():
        low, high = stats["ci"]
        closed = stats.get("gap_closed")
        ratio = stats.get("cost_ratio_vs_cascaded")
        tokens = stats.get("token_ratio_vs_cascaded")
        choices = ", ".join(f"{choice} {share:.0%}" for choice, share in stats.get("choices", {}).items())
        rows.append([name, f"{stats['accuracy']:.3f}", f"[{low:.3f}, {high:.3f}]",
                     "–" if closed is None else f"{closed:.0%}", f"{stats['calls']:.2f}",
                     f"{stats['tokens']:.1f}", f"{stats['latency_s'] * 1000:.0f}",
                     "–" if ratio is None else f"{ratio:.2f}", "–" if tokens is None else f"{tokens:.2f}",
                     choices])
    return [
        Para("Routers (the oracle picks, per sample, the cheapest strategy that was right: the "
             "ceiling). Gap closed = (router − direct) / (cascaded − direct); costs are per sample; "
             "the ratios are against always-cascaded."),
        Table(["router", "accuracy", "95% CI", "gap closed", "model calls", "generated tokens",
               "wall ms", "calls vs cascaded", "tokens vs cascaded", "choices"], rows),
    ]


def run_blocks(summary: dict[str, Any], plots: dict[str, str], *, level: int = 1,
               title: str | None = None, source: str | None = None) -> list[Block]:
    """The report of one run; ``plots`` maps ``"accuracy"`` and ``"difficulty:<task>"`` to paths."""
    blocks: list[Block] = [Heading(level, title or f"skillgap report: {summary['model']}")]
    if source:
        blocks.append(Para(f"Run folder: `{source}`"))
    if level == 1:
        blocks.append(Para(EXPLAINER))
    blocks.append(overview_table(summary))
    if "accuracy" in plots:
        blocks.append(Image("accuracy per strategy with 95% CI", plots["accuracy"]))
    if "pareto" in plots:
        blocks.append(Image("accuracy against cost: strategies, routers, thresholds swept",
                            plots["pareto"]))
    for task, entry in summary["tasks"].items():
        blocks += task_blocks(task, entry, level=level + 1,
                              difficulty_plot=plots.get(f"difficulty:{task}"))
    return blocks


def comparison_table(summaries: Sequence[dict[str, Any]], labels: Sequence[str]) -> Table:
    """One row per task × metric, one column per run."""
    tasks: list[str] = []
    for summary in summaries:
        tasks += [task for task in summary["tasks"] if task not in tasks]
    rows: list[list[str]] = []
    for task in tasks:
        entries = [summary["tasks"].get(task) for summary in summaries]
        strategies: list[str] = []
        for entry in entries:
            strategies += [n for n in (entry or {}).get("strategies", {}) if n not in strategies]
        for name in strategies:
            rows.append([task, name, *[
                format_ci(e["strategies"][name]) if e and name in e["strategies"] else "–"
                for e in entries]])
        rows.append([task, "gap (p)", *[
            f"{e['gap']['absolute']:+.3f} (p={format_p(e['gap']['p_value'])})" if e and "gap" in e
            else "–" for e in entries]])
        for skill in ("visual", "textual"):
            if any(e and skill in e.get("skills", {}) for e in entries):
                rows.append([task, f"{skill} skill", *[
                    format_ci(e["skill_stats"][skill]) if e and skill in e.get("skill_stats", {})
                    else _fmt((e or {}).get("skills", {}).get(skill)) for e in entries]])
        rows.append([task, "majority baseline",
                     *[_fmt((e or {}).get("majority_baseline")) for e in entries]])
    return Table(["task", "metric", *labels], rows)


# ---------------------------------------------------------------- rendering


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Para):
            out.append(block.text)
        elif isinstance(block, Table):
            lines = ["| " + " | ".join(_md_cell(h) for h in block.headers) + " |",
                     "|" + "|".join("---" for _ in block.headers) + "|"]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
            out.append("\n".join(lines))
        else:
            out.append(f"![{block.alt}]({block.path})")
    return "\n\n".join(out) + "\n"


def _inline(text: str) -> str:
    """Escape, then the two bits of markdown the paragraphs use: **bold** and `code`."""
    parts = html.escape(text).split("**")
    text = "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))
    parts = text.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1200px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; }
th { background: #f2f2f2; }
tr:nth-child(even) td { background: #fafafa; }
img { max-width: 100%; height: auto; margin: 0.5em 0; }
code { background: #f2f2f2; padding: 0 0.25em; }
h1 { border-bottom: 2px solid #ddd; } h2 { border-bottom: 1px solid #eee; margin-top: 1.6em; }
"""


def to_html(blocks: Sequence[Block], base: Path, *, title: str) -> str:
    """A single self-contained page: images read from ``base`` and embedded as data URIs."""
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{_inline(block.text)}</h{block.level}>")
        elif isinstance(block, Para):
            body.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block.headers)
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                for row in block.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        else:
            data = base64.b64encode((base / block.path).read_bytes()).decode("ascii")
            body.append(f'<img alt="{html.escape(block.alt)}" src="data:image/png;base64,{data}">')
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body) + "\n</body>\n</html>\n"
    )


# ---------------------------------------------------------------- writing


def _run_plots(out: Path, summary: dict[str, Any], prefix: str = "") -> dict[str, str]:
    from ._plots import accuracy_plot, gap_by_difficulty_plot, pareto_plot

    plots = {"accuracy": f"{PLOTS}/{prefix}accuracy.png"}
    accuracy_plot(summary, out / plots["accuracy"])
    if pareto_plot(summary, out / f"{PLOTS}/{prefix}pareto.png") is not None:
        plots["pareto"] = f"{PLOTS}/{prefix}pareto.png"
    for task, entry in summary["tasks"].items():
        rel = f"{PLOTS}/{prefix}gap_by_difficulty_{task}.png"
        if gap_by_difficulty_plot(task, entry, out / rel) is not None:
            plots[f"difficulty:{task}"] = rel
    return plots


def write_run_report(out: Path, summary: dict[str, Any]) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` and ``plots/*.png`` for one run's summary into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    plots = _run_plots(out, summary)
    blocks = run_blocks(summary, plots)
    title = f"skillgap report: {summary['model']}"
    (out / "report.md").write_text(to_markdown(blocks), encoding="utf-8")
    (out / "report.html").write_text(to_html(blocks, out, title=title), encoding="utf-8")
    written = {"markdown": out / "report.md", "html": out / "report.html"}
    written.update({key: out / rel for key, rel in plots.items()})
    (out / STAMP).write_text(str(summary.get("records_fingerprint", "")), encoding="utf-8")
    return written


def ensure_run_report(out: Path, summary: dict[str, Any]) -> bool:
    """Write the run's report unless it was already written from this very summary; True if written.

    A rerun of a finished eval then skips re-plotting (the stamp holds the records' fingerprint).
    """
    fingerprint = str(summary.get("records_fingerprint", ""))
    stamp = out / STAMP
    fresh = (
        bool(fingerprint) and stamp.is_file() and stamp.read_text(encoding="utf-8") == fingerprint
        and (out / "report.md").is_file() and (out / "report.html").is_file()
    )
    if fresh:
        return False
    write_run_report(out, summary)
    return True


@dataclass(frozen=True)
class LoadedRun:
    folder: Path
    model: str
    summary: dict[str, Any]


def load_run(folder: Path) -> LoadedRun:
    """Read a run folder's ``samples.jsonl`` (and ``run.json`` for the model) and recompute its
    summary; a missing folder or log is a ValueError with a clear message."""
    if not folder.is_dir():
        raise ValueError(f"run folder not found: {folder}")
    log = folder / "samples.jsonl"
    if not log.is_file():
        raise ValueError(f"{folder} holds no samples.jsonl: not a run folder (see `skillgap eval --out`)")
    model = folder.name
    run_file = folder / "run.json"
    if run_file.is_file():
        with contextlib.suppress(ValueError, AttributeError):  # an unreadable run.json: folder name
            model = str(json.loads(run_file.read_text()).get("backend", {}).get("model") or model)
    try:
        records = read_records(log)
    except ValueError as exc:
        raise ValueError(f"{log} is not a run log: {exc}") from None
    if not records:
        raise ValueError(f"{log} is empty: the run recorded no samples yet")
    return LoadedRun(folder, model, summarize(records, model=model))


def run_labels(runs: Sequence[LoadedRun]) -> list[str]:
    """The model names, made unique with the folder name (then a number) where they clash."""
    labels = [run.model for run in runs]
    if len(set(labels)) < len(labels):
        labels = [f"{run.model} ({run.folder.name})" if labels.count(run.model) > 1 else run.model
                  for run in runs]
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return unique


def write_comparison(folders: Sequence[Path], out: Path) -> dict[str, Path]:
    """Report one or several run folders into ``out``: ``report.md``, a self-contained
    ``report.html`` and the PNGs; several runs get a side-by-side table and a grouped bar plot."""
    if not folders:
        raise ValueError("no run folder given")
    runs = [load_run(Path(folder)) for folder in folders]
    out.mkdir(parents=True, exist_ok=True)
    if len(runs) == 1:
        run = runs[0]
        plots = _run_plots(out, run.summary)
        blocks = run_blocks(run.summary, plots, source=str(run.folder))
        title = f"skillgap report: {run.model}"
    else:
        from ._plots import compare_plot

        labels = run_labels(runs)
        compare = f"{PLOTS}/compare.png"
        compare_plot([run.summary for run in runs], labels, out / compare)
        title = "skillgap comparison: " + " vs ".join(labels)
        blocks = [
            Heading(1, title),
            Para(EXPLAINER),
            Table(["run", "model", "folder"],
                  [[label, run.model, str(run.folder)] for label, run in zip(labels, runs, strict=True)]),
            comparison_table([run.summary for run in runs], labels),
            Image("accuracy across runs", compare),
        ]
        for number, (label, run) in enumerate(zip(labels, runs, strict=True), 1):
            plots = _run_plots(out, run.summary, prefix=f"run{number}_")
            blocks += run_blocks(run.summary, plots, level=2, title=f"Run {number}: {label}",
                                 source=str(run.folder))
    (out / "report.md").write_text(to_markdown(blocks), encoding="utf-8")
    (out / "report.html").write_text(to_html(blocks, out, title=title), encoding="utf-8")
    return {"markdown": out / "report.md", "html": out / "report.html"}
