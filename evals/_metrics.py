"""Pure metric functions for the gap report: bootstrap CIs, exact McNemar, baselines, attribution.

Everything here is deterministic: the bootstrap takes an explicit seed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from ._summary_model import Attribution, SkillOutcome

K = TypeVar("K", bound=Hashable)

_CHUNK = 250  # bootstrap replicates drawn at a time, to bound memory on large runs


def bootstrap_ci(
    outcomes: Sequence[bool | int | float],
    clusters: Sequence[Hashable] | None = None,
    *,
    seed: int = 0,
    n_boot: int = 2000,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``outcomes``.

    With ``clusters`` (one key per outcome), whole clusters are resampled with replacement and the
    mean is taken over all outcomes of the drawn clusters: questions that share an image are not
    independent, and resampling them together widens the interval honestly. Without clusters each
    outcome is its own cluster. An empty input gives ``(0.0, 0.0)``.
    """
    values = np.asarray(outcomes, dtype=float)
    if values.size == 0:
        return (0.0, 0.0)
    if clusters is None:
        sums, counts = values, np.ones_like(values)
    else:
        if len(clusters) != len(values):
            raise ValueError(f"{len(clusters)} clusters for {len(values)} outcomes")
        index: dict[Hashable, int] = {}
        keys = np.fromiter((index.setdefault(key, len(index)) for key in clusters), dtype=np.int64,
                           count=len(values))
        sums = np.bincount(keys, weights=values, minlength=len(index))
        counts = np.bincount(keys, minlength=len(index)).astype(float)
    k = len(sums)
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for start in range(0, n_boot, _CHUNK):
        stop = min(start + _CHUNK, n_boot)
        drawn = rng.integers(0, k, size=(stop - start, k))
        means[start:stop] = sums[drawn].sum(axis=1) / counts[drawn].sum(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return (float(low), float(high))


def bootstrap_means(
    columns: Mapping[str, Mapping[K, bool | int | float]],
    clusters: Mapping[K, Hashable],
    *,
    seed: int = 0,
    n_boot: int = 2000,
) -> dict[str, np.ndarray]:
    """Replicate means of several columns from **one** clustered bootstrap.

    ``columns`` maps a name (a strategy) to its outcome per sample key; ``clusters`` gives each key's
    cluster (its image). Every replicate draws the same clusters for all columns, so a difference
    or ratio of columns computed replicate by replicate (the gap, a share of the gap closed) gets
    its CI from the same resamples as the accuracies. A replicate in which a column has no sample
    is NaN for that column.
    """
    index: dict[Hashable, int] = {}
    for key in sorted({key for column in columns.values() for key in column}, key=str):
        index.setdefault(clusters.get(key, key), len(index))
    k = len(index)
    out = {name: np.full(n_boot, np.nan) for name in columns}
    if k == 0:
        return out
    tables = {}
    for name, column in columns.items():
        keys = np.fromiter((index[clusters.get(key, key)] for key in column), dtype=np.int64,
                           count=len(column))
        values = np.fromiter((float(v) for v in column.values()), dtype=float, count=len(column))
        tables[name] = (np.bincount(keys, weights=values, minlength=k),
                        np.bincount(keys, minlength=k).astype(float))
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, _CHUNK):
        stop = min(start + _CHUNK, n_boot)
        drawn = rng.integers(0, k, size=(stop - start, k))
        for name, (sums, counts) in tables.items():
            total = counts[drawn].sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[name][start:stop] = np.where(total > 0, sums[drawn].sum(axis=1) / total, np.nan)
    return out


def percentile_ci(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float] | None:
    """The percentile interval of bootstrap replicates, NaN and infinite ones dropped (None if none
    is left)."""
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return None
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(finite, [alpha, 1.0 - alpha])
    return (float(low), float(high))


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pair counts ``b`` and ``c``.

    Under the null each discordant pair goes either way with probability 1/2, so the p-value is
    twice the binomial tail of the smaller count (capped at 1); no discordant pairs gives 1.0.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be non-negative, got {b} and {c}")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2**n)


def discordant(first: Mapping[K, bool], second: Mapping[K, bool]) -> tuple[int, int, int]:
    """``(n_paired, b, c)`` on the keys both mappings hold: ``b`` = only ``first`` right,
    ``c`` = only ``second`` right."""
    shared = first.keys() & second.keys()
    b = sum(1 for key in shared if first[key] and not second[key])
    c = sum(1 for key in shared if second[key] and not first[key])
    return len(shared), b, c


def majority_baseline(golds: Iterable[str]) -> float:
    """Accuracy of always answering the most common gold answer (0.0 when there are none).

    An empty gold (a sample whose row was unusable) counts in the denominator but is never the
    answer picked: nothing can be right on it.
    """
    counts = Counter(golds)
    total = sum(counts.values())
    answerable = [count for gold, count in counts.items() if gold.strip()]
    return max(answerable) / total if total and answerable else 0.0


def relative_gap(direct: float, cascaded: float) -> float | None:
    """``(cascaded − direct) / cascaded``; None unless the gap is positive (a relative size of a
    gap that is not there means nothing)."""
    gap = cascaded - direct
    return gap / cascaded if gap > 1e-12 else None


def gap_closed(direct: float, cascaded: float, cot: float) -> float | None:
    """CoT's share of the gap closed: ``(cot − direct) / (cascaded − direct)``; None unless the gap
    is positive (a negative gap makes the share's sign meaningless, a zero one undefined)."""
    gap = cascaded - direct
    if gap <= 1e-12:
        return None
    return (cot - direct) / gap


def attribution(
    direct: Mapping[K, bool],
    visual: Mapping[K, bool] | None = None,
    textual: Mapping[K, bool] | None = None,
) -> Attribution:
    """Among the samples direct got wrong, how many had each skill right / wrong / not measured.

    ``both_right`` counts direct failures where both skills were right on that input: pure
    composition failures; ``missing`` counts failures where that skill has no record.
    """
    failed = [key for key, ok in direct.items() if not ok]

    def outcome(skill: Mapping[K, bool]) -> SkillOutcome:
        right = sum(1 for key in failed if skill.get(key) is True)
        wrong = sum(1 for key in failed if skill.get(key) is False)
        return SkillOutcome(right=right, wrong=wrong, missing=len(failed) - right - wrong)

    visual, textual = visual or {}, textual or {}
    return Attribution(
        direct_wrong=len(failed), visual=outcome(visual), textual=outcome(textual),
        both_right=sum(1 for key in failed if visual.get(key) is True and textual.get(key) is True),
    )


def numeric_knobs(difficulties: Iterable[Mapping[str, Any]]) -> list[str]:
    """Difficulty keys whose values are numeric scalars (not bools) and take more than one value."""
    seen: dict[str, set[float]] = {}
    rejected: set[str] = set()
    for difficulty in difficulties:
        for key, value in difficulty.items():
            if _is_number(value):
                seen.setdefault(key, set()).add(float(value))
            elif value is not None:
                rejected.add(key)
    return sorted(key for key, values in seen.items() if key not in rejected and len(values) > 1)


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(float(value)))


def bin_values(values: Sequence[float], *, max_bins: int = 6) -> tuple[list[int], list[str]]:
    """Assign each value a bin: one bin per distinct value when there are at most ``max_bins``,
    otherwise quantile bins. Returns ``(bin index per value, bin labels)``."""
    array = np.asarray(values, dtype=float)
    distinct = np.unique(array)
    if len(distinct) <= max_bins:
        labels = [_fmt_number(v) for v in distinct]
        return [int(i) for i in np.searchsorted(distinct, array)], labels
    edges = np.unique(np.quantile(array, np.linspace(0, 1, max_bins + 1)))
    # Right-closed bins except the first, which also takes the minimum.
    index = np.clip(np.searchsorted(edges, array, side="left") - 1, 0, len(edges) - 2)
    used = sorted(set(index.tolist()))
    remap = {old: new for new, old in enumerate(used)}
    labels = []
    for old in used:  # labelled by the values each bin actually holds, so labels never overlap
        members = array[index == old]
        low, high = _fmt_number(members.min()), _fmt_number(members.max())
        labels.append(low if low == high else f"{low}–{high}")
    return [remap[int(i)] for i in index], labels


def _fmt_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"
