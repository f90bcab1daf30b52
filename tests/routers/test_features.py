"""Image features a router sees before any model call: the blob count tracks how many items there are."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from skillgap.routers import image_stats
from skillgap.routers._features import IMAGE_FEATURES, count_blobs
from skillgap.tasks._generators import generate


def _flood_count(mask: np.ndarray, least: float) -> int:
    """Reference: 4-neighbour flood fill, one pixel at a time."""
    seen = np.zeros_like(mask)
    height, width = mask.shape
    kept = 0
    for y in range(height):
        for x in range(width):
            if not mask[y, x] or seen[y, x]:
                continue
            stack, size = [(y, x)], 0
            seen[y, x] = True
            while stack:
                cy, cx = stack.pop()
                size += 1
                for ny, nx in ((cy + 1, cx), (cy - 1, cx), (cy, cx + 1), (cy, cx - 1)):
                    if 0 <= ny < height and 0 <= nx < width and mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
            kept += size >= least
    return kept


def test_blob_count_matches_a_flood_fill_on_random_masks() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        mask = rng.random((int(rng.integers(1, 30)), int(rng.integers(1, 30)))) < rng.random()
        least = max(1.0, 0.0005 * mask.size)
        assert count_blobs(mask) == _flood_count(mask, least), mask.astype(int)


def test_blob_count_edge_cases() -> None:
    assert count_blobs(np.zeros((5, 7), dtype=bool)) == 0
    assert count_blobs(np.ones((5, 7), dtype=bool)) == 1
    diagonal = np.eye(4, dtype=bool)  # 4-neighbour: diagonal pixels are separate pieces
    assert count_blobs(diagonal) == 4
    ring = np.ones((6, 6), dtype=bool)
    ring[2:4, 2:4] = False
    assert count_blobs(ring) == 1


@pytest.mark.parametrize(("task", "knob"), [("rendered_text", "n_operands"), ("counting", "n_objects"),
                                            ("cards", "n_cards")])
def test_blobs_grow_with_the_number_of_items_in_grid_images(task: str, knob: str) -> None:
    samples = generate(task, 24, seed=random.Random(task).randrange(10**6))
    by_size: dict[int, set[float]] = {}
    for sample in samples:
        stats = image_stats(sample.image)
        assert set(stats) == set(IMAGE_FEATURES)
        by_size.setdefault(int(sample.difficulty[knob]), set()).add(stats["ink_blobs"])
    sizes = sorted(by_size)
    assert len(sizes) >= 2
    # Harder inputs (more operands, objects or cards) always have more blobs than easier ones.
    for easier, harder in itertools.pairwise(sizes):
        assert max(by_size[easier]) < min(by_size[harder]), by_size
