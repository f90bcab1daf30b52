"""Markdown and self-contained HTML reports of one run, read from its typed :class:`Summary`.

Failures come first and are never shown as results: accuracies are over scored samples, with
errors and format failures beside them, and a task whose calls mostly failed opens with a warning.
Shares of the gap closed show "–" with the reason when the gap is not positive or not clear.
"""

from __future__ import annotations

from pathlib import Path

from ..backends._names import model_name
from ..evals._summary import format_p, format_share
from ..evals._summary_model import MOSTLY_FAILED, SMALL_BIN, Stats, Summary, TaskSummary
from ._blocks import Block, Heading, Image, Para, Table, to_html, to_markdown
from ._samples import sample_blocks

PLOTS = "plots"
#: Holds the fingerprint of the records the report was written from.
STAMP = ".report-fingerprint"

EXPLAINER = (
    "Accuracy is the share of **scored** samples answered exactly: a sample whose model call "
    "failed (an error: server down, timeout) is counted apart, never as a wrong answer; an answer "
    "that did not parse (a format failure) is scored, as wrong. Dataset rows that failed validation "
    "are not run and not counted. 95% confidence intervals come from a seeded percentile bootstrap "
    "that resamples whole images (questions sharing an image move together). The gap is "
    "cascaded − direct accuracy, its CI from the same bootstrap; its significance is an exact "
    "McNemar test on the samples both strategies scored. Shares of the gap closed (CoT, routers, "
    "the oracle) are shown only when the gap is positive and its CI excludes 0. Skills are "
    "measured alone: the visual skill against the gold intermediate, the textual skill on the "
    "gold intermediate."
)


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "–" if value is None else format(value, spec)


def _ci(ci: tuple[float, float] | None, spec: str = ".3f") -> str:
    return "" if ci is None else f"[{ci[0]:{spec}}, {ci[1]:{spec}}]"


def run_warnings(summary: Summary) -> list[str]:
    """Run-level warnings: most calls failed, dataset rows dropped."""
    out = []
    if summary.error_rate > MOSTLY_FAILED:
        out.append(f"{summary.error_rate:.0%} of all calls failed ({summary.errors} of "
                   f"{summary.attempted}): this run measured failures, not the model.")
    if summary.dataset_errors:
        out.append(f"{summary.dataset_errors} dataset rows failed validation: not run, not counted "
                   "(listed in `dataset_errors.jsonl`).")
    return out


def _gap_text(entry: TaskSummary) -> str:
    gap = entry.gap
    assert gap is not None
    if gap.absolute is None:
        return f"Gap (cascaded − direct): – ({gap.reason})."
    ci = f" {_ci(gap.ci, '+.3f')}" if gap.ci else ""
    text = f"Gap (cascaded − direct): **{gap.absolute:+.3f}**{ci}"
    if gap.relative is not None:
        text += f", {gap.relative:+.3f} relative"
    text += (f"; exact McNemar p = **{format_p(gap.p_value)}** on {gap.n_paired} paired samples "
             f"(only direct right: {gap.direct_only}, only cascaded right: {gap.cascaded_only}).")
    if gap.reason is not None:
        text += f" No share of this gap is computed: {gap.reason}."
    if gap.cot_closed is not None:
        text += f" CoT closes {format_share(gap.cot_closed)} of the gap."
    return text


def overview_table(summary: Summary) -> Table:
    strategies: list[str] = []
    for entry in summary.tasks.values():
        strategies += [name for name in entry.strategies if name not in strategies]
    headers = ["task", "n", *strategies, "gap [95% CI]", "p", "visual skill", "textual skill",
               "majority", "errors"]
    rows = []
    for task, entry in summary.tasks.items():
        gap = entry.gap
        gap_cell = "–"
        if gap is not None and gap.absolute is not None:
            gap_cell = f"{gap.absolute:+.3f} {_ci(gap.ci, '+.3f')}".strip()
        rows.append([
            task + (" (!)" if entry.warnings else ""),
            str(entry.n_samples),
            *[_fmt(entry.strategies[name].accuracy) if name in entry.strategies else "–"
              for name in strategies],
            gap_cell,
            format_p(gap.p_value) if gap else "–",
            _fmt(entry.skills.get("visual")),
            _fmt(entry.skills.get("textual")),
            _fmt(entry.majority_baseline),
            f"{entry.errors} ({entry.error_rate:.0%})",
        ])
    return Table(headers, rows)


def _stats_row(name: str, stats: Stats) -> list[str]:
    return [name, _fmt(stats.accuracy), _ci(stats.ci) or "–", str(stats.n),
            f"{stats.errors} ({stats.error_rate:.0%})", f"{stats.format_failure_rate:.1%}"]


def task_blocks(task: str, entry: TaskSummary, *, level: int, difficulty_plot: str | None
                ) -> list[Block]:
    blocks: list[Block] = [Heading(level, task)]
    blocks += [Para(f"**Warning:** {warning}") for warning in entry.warnings]
    if entry.invalid_rows:
        blocks.append(Para(f"{entry.invalid_rows} rows of this task had bad inputs: not counted."))
    rows = [_stats_row(name, stats) for name, stats in entry.strategies.items()]
    rows += [_stats_row(f"{name} skill alone", stats) for name, stats in entry.skill_stats.items()]
    if entry.majority_baseline is not None:
        rows.append(["majority-class baseline", f"{entry.majority_baseline:.3f}", "", "", "", ""])
    blocks.append(Table(["strategy", "accuracy", "95% CI", "n scored", "errors", "format failures"],
                        rows))
    if entry.gap is not None:
        blocks.append(Para(_gap_text(entry)))
    blocks += router_blocks(entry)
    attribution = entry.attribution
    if attribution is not None and attribution.direct_wrong:
        blocks.append(Para(f"Direct failures ({attribution.direct_wrong}) by each skill's outcome "
                           "on the same input:"))
        blocks.append(Table(
            ["skill", "right", "wrong", "not measured"],
            [[name, str(outcome.right), str(outcome.wrong), str(outcome.missing)]
             for name, outcome in (("visual", attribution.visual), ("textual", attribution.textual))],
        ))
        blocks.append(Para(f"Both skills right on the input, direct still wrong (a composition "
                           f"failure): {attribution.both_right} of {attribution.direct_wrong}."))
    if entry.by_difficulty:
        rows = [
            [knob, row.bin, f"{row.n_direct}" + (" (small)" if row.small else ""),
             f"{_fmt(row.direct)} {_ci(row.direct_ci)}".strip(),
             f"{_fmt(row.cascaded)} {_ci(row.cascaded_ci)}".strip(),
             "–" if row.gap is None else f"{row.gap:+.3f} {_ci(row.gap_ci, '+.3f')}".strip()]
            for knob, bins in entry.by_difficulty.items() for row in bins
        ]
        blocks.append(Para(f"Gap by difficulty knob (95% CIs; bins with fewer than {SMALL_BIN} "
                           "scored samples are marked small):"))
        blocks.append(Table(["knob", "value", "n", "direct", "cascaded", "gap"], rows))
    if difficulty_plot:
        blocks.append(Image(f"{task}: gap by difficulty", difficulty_plot))
    return blocks


def router_blocks(entry: TaskSummary) -> list[Block]:
    """Per router: accuracy with CI, share of the gap closed (or why not), cost per sample."""
    if not entry.routers:
        return []
    rows = []
    for name, stats in entry.routers.items():
        ratio, tokens = stats.cost_ratio_vs_cascaded, stats.token_ratio_vs_cascaded
        choices = ", ".join(f"{choice} {share:.0%}" for choice, share in stats.choices.items())
        rows.append([name, _fmt(stats.accuracy), _ci(stats.ci) or "–", str(stats.n),
                     format_share(stats.gap_closed), f"{stats.calls:.2f}", f"{stats.tokens:.1f}",
                     f"{stats.latency_s * 1000:.0f}", _fmt(ratio, ".2f"), _fmt(tokens, ".2f"), choices])
    return [
        Para("Routers (the oracle picks, per sample, the cheapest strategy that was right: the "
             "ceiling). Gap closed = (router − direct) / (cascaded − direct) with its bootstrap CI, "
             "shown only for a positive gap whose CI excludes 0; costs are per sample; the ratios "
             "are against always-cascaded."),
        Table(["router", "accuracy", "95% CI", "n scored", "gap closed", "model calls",
               "generated tokens", "wall ms", "calls vs cascaded", "tokens vs cascaded", "choices"],
              rows),
    ]


def run_blocks(summary: Summary, plots: dict[str, str], *, level: int = 1,
               title: str | None = None, source: str | None = None) -> list[Block]:
    """The report of one run; ``plots`` maps ``"accuracy"`` and ``"difficulty:<task>"`` to paths."""
    blocks: list[Block] = [Heading(level, title or f"skillgap report: {model_name(summary.model)}")]
    if source:
        blocks.append(Para(f"Run folder: `{source}`; model: `{summary.model}`"))
    blocks += [Para(f"**Warning:** {warning}") for warning in run_warnings(summary)]
    if level == 1:
        blocks.append(Para(EXPLAINER))
    blocks.append(overview_table(summary))
    if "accuracy" in plots:
        blocks.append(Image("accuracy per strategy with 95% CI", plots["accuracy"]))
    if "pareto" in plots:
        blocks.append(Image("accuracy against cost: strategies, routers, thresholds swept",
                            plots["pareto"]))
    for task, entry in summary.tasks.items():
        blocks += task_blocks(task, entry, level=level + 1,
                              difficulty_plot=plots.get(f"difficulty:{task}"))
    return blocks


def run_plots(out: Path, summary: Summary, prefix: str = "") -> dict[str, str]:
    from ._plots import accuracy_plot, gap_by_difficulty_plot, pareto_plot

    plots = {"accuracy": f"{PLOTS}/{prefix}accuracy.png"}
    accuracy_plot(summary, out / plots["accuracy"])
    if pareto_plot(summary, out / f"{PLOTS}/{prefix}pareto.png") is not None:
        plots["pareto"] = f"{PLOTS}/{prefix}pareto.png"
    for task, entry in summary.tasks.items():
        rel = f"{PLOTS}/{prefix}gap_by_difficulty_{task}.png"
        if gap_by_difficulty_plot(task, entry, out / rel) is not None:
            plots[f"difficulty:{task}"] = rel
    return plots


def write_blocks(out: Path, blocks: list[Block], title: str) -> dict[str, Path]:
    (out / "report.md").write_text(to_markdown(blocks), encoding="utf-8")
    (out / "report.html").write_text(to_html(blocks, out, title=title), encoding="utf-8")
    return {"markdown": out / "report.md", "html": out / "report.html"}


def write_run_report(out: Path, summary: Summary, *, source: str | None = None) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` and ``plots/*.png`` for one run's summary into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    plots = run_plots(out, summary)
    blocks = run_blocks(summary, plots, source=source) + sample_blocks(out)
    written = write_blocks(out, blocks, f"skillgap report: {model_name(summary.model)}")
    written.update({key: out / rel for key, rel in plots.items()})
    (out / STAMP).write_text(summary.records_fingerprint or "", encoding="utf-8")
    return written


def ensure_run_report(out: Path, summary: Summary) -> bool:
    """Write the run's report unless it was already written from this very summary; True if written.

    A rerun of a finished eval then skips re-plotting (the stamp holds the records' fingerprint).
    """
    fingerprint = summary.records_fingerprint or ""
    stamp = out / STAMP
    fresh = (
        bool(fingerprint) and stamp.is_file() and stamp.read_text(encoding="utf-8") == fingerprint
        and (out / "report.md").is_file() and (out / "report.html").is_file()
    )
    if fresh:
        return False
    write_run_report(out, summary)
    return True
