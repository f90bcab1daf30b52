"""From run records to the typed :class:`Summary`: per task × strategy accuracy over scored
samples with CIs, error and format-failure rates, skills alone, the composition gap with its CI,
p-value and attribution, shares of the gap closed, routers, and the gap by difficulty knob.

Failed calls are counted apart from wrong answers and bad inputs apart from both (see
:attr:`SampleRecord.status`). The gap, its CI and every share of the gap closed (CoT, routers,
the oracle) come from one clustered bootstrap per task, so their intervals agree; a share is
shown only when the gap is positive and its CI excludes 0, otherwise it carries the reason.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ._metrics import (
    attribution,
    bin_values,
    bootstrap_ci,
    bootstrap_means,
    discordant,
    majority_baseline,
    mcnemar_exact,
    numeric_knobs,
    percentile_ci,
    relative_gap,
)
from ._records import SampleRecord
from ._routing import PREFIX, is_routed
from ._summary_model import (
    MOSTLY_FAILED,
    DifficultyBin,
    Gap,
    GapClosed,
    Stats,
    Summary,
    TaskSummary,
)
from ._summary_routers import (
    MeanCost,
    oracle_picks,
    pareto,
    routed_choices,
    router_stats,
    scored_by_sample,
)


def __getattr__(name: str) -> object:
    # ``SKILL_STEPS`` is read from the strategy registry when asked for (plugins included).
    if name == "SKILL_STEPS":
        return tuple(_skill_steps())
    raise AttributeError(name)


def _skill_steps() -> list[str]:
    from ..graphs.strategies import skill_steps

    return skill_steps()


def _judged_on_intermediate() -> set[str]:
    from ..graphs.strategies import list_strategies

    return {s.name for s in list_strategies(None) if s.judged_on == "intermediate"}


def _base_points() -> set[str]:
    """The strategies that are points of their own on the accuracy-against-cost plot: every
    registered composition strategy."""
    from ..graphs.strategies import strategy_names

    return set(strategy_names())


def strategy_order(names: Iterable[str]) -> list[str]:
    """Registered strategies in the registry's order, then any others alphabetically (skill steps
    excluded)."""
    from ..graphs.strategies import summary_order

    return summary_order(set(names))


def summarize(records: Iterable[SampleRecord], *, model: str, seed: int = 0, n_boot: int = 2000,
              dataset_errors: int = 0) -> Summary:
    """The run summary from run records; deterministic for a seed.

    ``dataset_errors`` is the number of dataset rows that failed validation (listed in
    ``dataset_errors.jsonl``); rows that were also recorded are counted per task as ``invalid_rows``.
    """
    grouped: dict[str, dict[str, list[SampleRecord]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        grouped[record.task][record.strategy].append(record)
    tasks = {task: _task_summary(by_step, seed=seed, n_boot=n_boot)
             for task, by_step in sorted(grouped.items())}
    return Summary(model=model, tasks=tasks, dataset_errors=dataset_errors)


def _scored(items: Iterable[SampleRecord]) -> list[SampleRecord]:
    return [r for r in items if r.status in ("correct", "wrong")]


def _stats(items: Sequence[SampleRecord], *, seed: int, n_boot: int) -> Stats:
    valid = [item for item in items if item.status != "invalid"]
    scored = _scored(valid)
    n, attempted = len(scored), len(valid)
    correct = sum(item.correct for item in scored)
    failures = sum(item.format_failure for item in scored)
    ci = bootstrap_ci([item.correct for item in scored],
                      [item.image_id or item.sample_id for item in scored],
                      seed=seed, n_boot=n_boot) if n else None
    return Stats(accuracy=correct / n if n else None, ci=ci, n=n, correct=correct,
                 attempted=attempted, errors=attempted - n,
                 error_rate=(attempted - n) / attempted if attempted else 0.0,
                 format_failures=failures, format_failure_rate=failures / n if n else 0.0)


@dataclass(frozen=True)
class _GapFrame:
    """Direct and cascaded accuracy and the shared bootstrap replicates that shares are read from."""

    direct: float
    cascaded: float
    replicates: Mapping[str, np.ndarray]
    reason: str | None  # why no share of this gap is shown (None: the gap is positive and clear)

    def closed(self, name: str, accuracy: float | None) -> GapClosed:
        if self.reason is not None:
            return GapClosed(reason=self.reason)
        if accuracy is None:
            return GapClosed(reason=f"{name} has no scored samples")
        reps = self.replicates
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = (reps[name] - reps["direct"]) / (reps["cascaded"] - reps["direct"])
        return GapClosed(value=(accuracy - self.direct) / (self.cascaded - self.direct),
                         ci=percentile_ci(shares))


def _gap_reason(absolute: float, ci: tuple[float, float] | None) -> str | None:
    if absolute <= 1e-12:
        return f"no gap to close (cascaded − direct = {absolute:+.3f})"
    if ci is None or ci[0] <= 0.0:
        span = "" if ci is None else f" [{ci[0]:+.3f}, {ci[1]:+.3f}]"
        return f"the gap's 95% CI{span} spans 0"
    return None


def _task_summary(by_step: Mapping[str, list[SampleRecord]], *, seed: int, n_boot: int
                  ) -> TaskSummary:
    strategies = {name: _stats(by_step[name], seed=seed, n_boot=n_boot)
                  for name in strategy_order(by_step)}
    skill_stats = {name: _stats(by_step[name], seed=seed, n_boot=n_boot)
                   for name in _skill_steps() if name in by_step}
    every = [r for items in by_step.values() for r in items]
    valid = [r for r in every if r.status != "invalid"]
    invalid_ids = {r.sample_id for r in every if r.status == "invalid"} - {r.sample_id for r in valid}
    failed = [r for r in valid if r.status == "error"]
    # Gold answers of the composed question, one per sample (the visual step's gold is the intermediate).
    on_intermediate = _judged_on_intermediate()
    golds = {r.sample_id: r.gold for r in valid if r.strategy not in on_intermediate}
    per_sample = scored_by_sample(by_step)
    outcome = {name: {sid: steps[name].correct for sid, steps in per_sample.items() if name in steps}
               for name in by_step}
    clusters = {r.sample_id: r.image_id or r.sample_id for r in every}

    picks = oracle_picks(per_sample)
    columns = {name: outcome[name] for name in strategies}
    if picks:
        columns["oracle"] = {sid: record.correct for sid, record in picks.items()}
    replicates = bootstrap_means(columns, clusters, seed=seed, n_boot=n_boot)

    gap = frame = None
    direct, cascaded = strategies.get("direct"), strategies.get("cascaded")
    if direct is not None and cascaded is not None:
        gap, frame = _gap(direct, cascaded, outcome, replicates, strategies.get("cot"))

    base_points = _base_points()
    base = {name: (stats.accuracy, MeanCost(by_step[name])) for name, stats in strategies.items()
            if name in base_points and stats.accuracy is not None}
    cascaded_cost = base["cascaded"][1] if "cascaded" in base else None
    routers = {}
    for step in sorted(step for step in strategies if is_routed(step)):
        routers[step[len(PREFIX):]] = router_stats(
            by_step[step], routed_choices(by_step[step]),
            closed=_closed(frame, step, strategies[step].accuracy), cascaded=cascaded_cost,
            seed=seed, n_boot=n_boot)
    if picks:
        picked = list(picks.values())
        oracle_accuracy = sum(r.correct for r in picked) / len(picked)
        routers["oracle"] = router_stats(
            picked, Counter(r.strategy for r in picked),
            closed=_closed(frame, "oracle", oracle_accuracy), cascaded=cascaded_cost,
            seed=seed, n_boot=n_boot)

    task = TaskSummary(
        strategies=strategies,
        skill_stats=skill_stats,
        majority_baseline=majority_baseline(golds.values()) if golds else None,
        n_samples=len({r.sample_id for r in valid}),
        invalid_rows=len(invalid_ids),
        errors=len(failed),
        attempted=len(valid),
        first_error=failed[0].error if failed else None,
        gap=gap,
        by_difficulty=_by_difficulty(by_step, clusters, seed=seed, n_boot=n_boot)
        if gap is not None else {},
        routers=routers,
        # Accuracy against cost is about routers: drawn only when one was asked for.
        pareto=pareto(by_step, base, routers, per_sample) if any(is_routed(s) for s in strategies) else None,
        attribution=attribution(outcome["direct"], outcome.get("visual"), outcome.get("textual"))
        if "direct" in strategies else None,
    )
    return task.model_copy(update={"warnings": _warnings(task)})


def _closed(frame: _GapFrame | None, name: str, accuracy: float | None) -> GapClosed:
    if frame is None:
        return GapClosed(reason="direct and cascaded did not both run")
    return frame.closed(name, accuracy)


def _gap(direct: Stats, cascaded: Stats, outcome: Mapping[str, Mapping[str, bool]],
         replicates: Mapping[str, np.ndarray], cot: Stats | None) -> tuple[Gap, _GapFrame | None]:
    n_paired, b, c = discordant(outcome["direct"], outcome["cascaded"])
    if direct.accuracy is None or cascaded.accuracy is None:
        reason = "no scored direct or cascaded samples (every call failed)"
        return Gap(absolute=None, ci=None, relative=None, p_value=None, n_paired=n_paired,
                   direct_only=b, cascaded_only=c, reason=reason,
                   cot_closed=GapClosed(reason=reason) if cot is not None else None), None
    absolute = cascaded.accuracy - direct.accuracy
    ci = percentile_ci(replicates["cascaded"] - replicates["direct"])
    frame = _GapFrame(direct.accuracy, cascaded.accuracy, replicates, _gap_reason(absolute, ci))
    return Gap(
        absolute=absolute, ci=ci, relative=relative_gap(direct.accuracy, cascaded.accuracy),
        p_value=mcnemar_exact(b, c) if n_paired else None, n_paired=n_paired,
        direct_only=b, cascaded_only=c, reason=frame.reason,
        cot_closed=frame.closed("cot", cot.accuracy) if cot is not None else None,
    ), frame


def _warnings(task: TaskSummary) -> list[str]:
    out = []
    if task.mostly_failed:
        out.append(f"{task.error_rate:.0%} of the calls failed ({task.errors} of {task.attempted}; "
                   f"first: {task.first_error}): the numbers below are not results")
    dead = [name for name, stats in {**task.strategies, **task.skill_stats}.items()
            if stats.attempted and not stats.n]
    if dead and not task.mostly_failed:
        out.append(f"every call failed for {', '.join(dead)}: no accuracy")
    return out


def _by_difficulty(by_step: Mapping[str, list[SampleRecord]], clusters: Mapping[str, str], *,
                   seed: int, n_boot: int) -> dict[str, list[DifficultyBin]]:
    """For each numeric knob with several values: per bin, direct and cascaded accuracy over the
    scored samples, the gap, and their CIs (one bootstrap per bin)."""
    difficulty = {r.sample_id: r.difficulty for items in by_step.values() for r in items
                  if r.status != "invalid"}
    scored = {name: {r.sample_id: r.correct for r in _scored(by_step[name])}
              for name in ("direct", "cascaded")}
    out: dict[str, list[DifficultyBin]] = {}
    for knob in numeric_knobs(difficulty.values()):
        ids = [sid for sid, d in difficulty.items() if knob in d]
        index, labels = bin_values([float(difficulty[sid][knob]) for sid in ids])
        bin_of = dict(zip(ids, index, strict=True))
        rows = []
        for number, label in enumerate(labels):
            cols = {name: {sid: ok for sid, ok in hits.items() if bin_of.get(sid) == number}
                    for name, hits in scored.items()}
            accuracy = {name: sum(col.values()) / len(col) if col else None for name, col in cols.items()}
            reps = bootstrap_means(cols, clusters, seed=seed, n_boot=n_boot)
            d, c = accuracy["direct"], accuracy["cascaded"]
            rows.append(DifficultyBin(
                bin=label, direct=d, cascaded=c,
                n_direct=len(cols["direct"]), n_cascaded=len(cols["cascaded"]),
                direct_ci=percentile_ci(reps["direct"]), cascaded_ci=percentile_ci(reps["cascaded"]),
                gap=c - d if c is not None and d is not None else None,
                gap_ci=percentile_ci(reps["cascaded"] - reps["direct"]),
            ))
        out[knob] = rows
    return out


# ---------------------------------------------------------------- console


def format_ci(stats: Stats) -> str:
    """``0.250 [0.100, 0.400]``, or ``–`` when nothing was scored."""
    if stats.accuracy is None:
        return "–"
    if stats.ci is None:
        return f"{stats.accuracy:.3f}"
    low, high = stats.ci
    return f"{stats.accuracy:.3f} [{low:.3f}, {high:.3f}]"


def format_p(p: float | None) -> str:
    if p is None:
        return "–"
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def format_share(closed: GapClosed) -> str:
    """``40% [10%, 70%]``, or ``– (the reason)``."""
    if closed.value is None:
        return f"– ({closed.reason})"
    ci = "" if closed.ci is None else f" [{closed.ci[0]:.0%}, {closed.ci[1]:.0%}]"
    return f"{closed.value:.0%}{ci}"


def format_gap(gap: Gap) -> str:
    """The gap with its CI, the relative gap (only when positive) and McNemar's p."""
    if gap.absolute is None:
        return f"– ({gap.reason})"
    ci = "" if gap.ci is None else f" [{gap.ci[0]:+.3f}, {gap.ci[1]:+.3f}]"
    relative = "" if gap.relative is None else f"  relative {gap.relative:+.3f}"
    return f"{gap.absolute:+.3f}{ci}{relative}  McNemar p={format_p(gap.p_value)} (n={gap.n_paired} paired)"


def _stats_line(name: str, stats: Stats) -> str:
    text = f"  {name:<10} {format_ci(stats)}  n={stats.n}"
    if stats.errors:
        text += f"  errors {stats.errors} ({stats.error_rate:.0%})"
    if stats.format_failures:
        text += f"  format failures {stats.format_failure_rate:.0%}"
    return text


def format_table(summary: Summary) -> str:
    """A plain-text table for the terminal: per task, each strategy's accuracy over scored samples
    with its 95% CI, errors and format failures apart, the gap with its CI and McNemar p-value,
    shares of the gap closed, routers, and the skills alone. Failures are shown first and loudly."""
    lines = [f"model: {summary.model}"]
    if summary.error_rate > MOSTLY_FAILED:
        lines.append(f"!! {summary.error_rate:.0%} of all calls failed ({summary.errors} of "
                     f"{summary.attempted}): this run measured failures, not the model")
    if summary.dataset_errors:
        lines.append(f"{summary.dataset_errors} dataset rows failed validation: not run, not counted "
                     "(see dataset_errors.jsonl)")
    for task, entry in summary.tasks.items():
        head = f"{task}  (n={entry.n_samples}"
        if entry.majority_baseline is not None:
            head += f", majority baseline {entry.majority_baseline:.3f}"
        if entry.invalid_rows:
            head += f", {entry.invalid_rows} invalid rows not counted"
        lines.append(head + ")")
        lines += [f"  !! {warning}" for warning in entry.warnings]
        for name, stats in entry.strategies.items():
            lines.append(_stats_line(name, stats))
        if entry.gap is not None:
            lines.append(f"  gap        {format_gap(entry.gap)}")
            if entry.gap.cot_closed is not None:
                lines.append(f"  cot closes {format_share(entry.gap.cot_closed)}")
        for name, router in entry.routers.items():
            accuracy = "–" if router.accuracy is None else f"{router.accuracy:.3f}"
            ratio = router.cost_ratio_vs_cascaded
            lines.append(f"  router {name:<14} {accuracy}  n={router.n}  calls {router.calls:.2f}/sample"
                         + ("" if ratio is None else f" ({ratio:.2f}x cascaded)")
                         + f"  gap closed {format_share(router.gap_closed)}")
        if entry.skill_stats:
            parts = [f"{name} {format_ci(stats)}" for name, stats in entry.skill_stats.items()]
            lines.append("  skills     " + "  ".join(parts))
    return "\n".join(lines)
