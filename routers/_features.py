"""Cheap per-sample features for routers: question, image statistics and the cheap path's outcome.

All of them are known before the expensive path runs: image statistics take a few milliseconds of
numpy on the pixels, the direct answer's log-probability comes with the direct call a probing router
makes anyway.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..backends._types import ImageRef

if TYPE_CHECKING:
    from ._signals import Signals

IMAGE_FEATURES = ("ink_fraction", "colour_fraction", "ink_columns", "ink_rows", "ink_tiles", "ink_blobs")
#: Features known before any model call.
PRE_FEATURES = ("question_words", *IMAGE_FEATURES)
#: Features known once the direct (cheap) path has run.
DIRECT_FEATURES = ("direct_logprob", "direct_logprob_missing", "direct_failed")
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "pre": PRE_FEATURES,
    "direct": (*PRE_FEATURES, *DIRECT_FEATURES),
}
#: Log-probabilities below this are clipped, so one wild value does not dominate a fit.
LOGPROB_FLOOR = -50.0


def image_stats(image: ImageRef, *, tiles: int = 5) -> dict[str, float]:
    """Shares of the image that carry ink, colour, and how spread the ink is.

    The background is the median colour; a pixel is ink when it differs from it by more than a
    quarter of the range, coloured when its channels differ by more than 0.3. ``ink_tiles`` is the
    share of a ``tiles`` × ``tiles`` partition holding ink; ``ink_blobs`` counts the connected
    pieces of ink (glyphs, shapes, cards' symbols): both are proxies for how many items there are,
    which is what makes an input hard for a model that composes only partially.
    """
    pixels = np.asarray(image.load(), dtype=np.float32) / 255.0
    background = np.median(pixels.reshape(-1, 3), axis=0)
    ink = np.abs(pixels - background).max(axis=2) > 0.25
    colour = (pixels.max(axis=2) - pixels.min(axis=2)) > 0.3
    height, width = ink.shape
    rows = np.array_split(np.arange(height), tiles)
    cols = np.array_split(np.arange(width), tiles)
    filled = sum(
        bool(ink[np.ix_(r, c)].mean() > 0.02) for r in rows for c in cols if len(r) and len(c)
    )
    return {
        "ink_fraction": float(ink.mean()),
        "colour_fraction": float(colour.mean()),
        "ink_columns": float(ink.any(axis=0).mean()),
        "ink_rows": float(ink.any(axis=1).mean()),
        "ink_tiles": filled / (tiles * tiles),
        "ink_blobs": float(count_blobs(ink)),
    }


#: Pieces smaller than this share of the image are specks of noise, not items.
BLOB_MIN_SHARE = 0.0005


def count_blobs(ink: np.ndarray) -> int:
    """Connected (4-neighbour) regions of ``True`` in a 2-D mask, ignoring specks.

    Works on runs of ink within each row (numpy finds them) joined by a small union-find where
    runs of neighbouring rows overlap: the Python loop is over runs, a few hundred even for a
    2048-px free-layout image, so the count costs milliseconds and needs no scipy.
    """
    height, width = ink.shape
    edges = np.diff(np.pad(ink.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    starts_r, starts_c = np.nonzero(edges == 1)
    _, ends_c = np.nonzero(edges == -1)  # row-major order: the k-th end closes the k-th start
    parent = list(range(len(starts_r)))
    sizes = (ends_c - starts_c).tolist()

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    row_first = np.searchsorted(starts_r, np.arange(height + 1)).tolist()
    for row in range(1, height):
        above = range(row_first[row - 1], row_first[row])
        here = range(row_first[row], row_first[row + 1])
        a_iter = iter(above)
        a = next(a_iter, None)
        for h in here:  # both lists are sorted by column: one merge-like sweep
            while a is not None and ends_c[a] <= starts_c[h]:
                a = next(a_iter, None)
            probe = a
            while probe is not None and probe < row_first[row] and starts_c[probe] < ends_c[h]:
                parent[root(probe)] = root(h)
                probe += 1
                if probe >= row_first[row]:
                    break
    totals: dict[int, int] = {}
    for i, run in enumerate(sizes):
        r = root(i)
        totals[r] = totals.get(r, 0) + run
    least = max(1.0, BLOB_MIN_SHARE * height * width)
    return sum(1 for total in totals.values() if total >= least)


def signal_features(signals: Signals) -> dict[str, float]:
    """Every feature the signals allow (image statistics are 0 when there is no image)."""
    features: dict[str, float] = {f"task={signals.task}": 1.0,
                                  "question_words": float(len(signals.question.split()))}
    features.update(signals.image_stats())
    direct = signals.direct
    if direct is not None:
        usable = direct.logprob is not None and math.isfinite(float(direct.logprob))
        features["direct_logprob"] = max(LOGPROB_FLOOR, float(direct.logprob or 0.0)) if usable else 0.0
        features["direct_logprob_missing"] = 0.0 if usable else 1.0
        features["direct_failed"] = 0.0 if direct.ok else 1.0
    return features
