"""Gap metrics on hand-made cases with known answers, and the summary's shape."""

from __future__ import annotations

import math
from typing import Any

import pytest

from skillgap.evals import (
    SampleRecord,
    attribution,
    bootstrap_ci,
    format_table,
    gap_closed,
    majority_baseline,
    mcnemar_exact,
    summarize,
)
from skillgap.evals._metrics import bin_values, discordant, numeric_knobs, relative_gap

# ---------------------------------------------------------------- McNemar


def test_mcnemar_exact_by_hand() -> None:
    # n = 7 discordant pairs, smaller count 1: p = 2 * (C(7,0) + C(7,1)) / 2^7 = 2 * 8 / 128.
    assert mcnemar_exact(1, 6) == pytest.approx(0.125)
    assert mcnemar_exact(6, 1) == pytest.approx(0.125)  # symmetric
    # b = 0, c = 5: p = 2 / 32.
    assert mcnemar_exact(0, 5) == pytest.approx(0.0625)
    # Balanced discordance can't be significant: the doubled tail is capped at 1.
    assert mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(0, 0) == 1.0  # no discordant pairs


def test_mcnemar_exact_large_counts_stay_finite() -> None:
    p = mcnemar_exact(0, 2000)
    assert 0.0 <= p < 1e-300
    assert not math.isnan(mcnemar_exact(700, 1300))
    assert mcnemar_exact(1000, 1000) == 1.0


def test_mcnemar_rejects_negative_counts() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        mcnemar_exact(-1, 2)


def test_discordant_counts_only_shared_samples() -> None:
    direct = {"a": True, "b": False, "c": False, "d": True, "only-direct": False}
    cascaded = {"a": True, "b": True, "c": True, "d": False, "only-cascaded": True}
    assert discordant(direct, cascaded) == (4, 1, 2)


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_all_correct_and_all_wrong_are_degenerate() -> None:
    assert bootstrap_ci([True] * 20, seed=1) == (1.0, 1.0)
    assert bootstrap_ci([False] * 20, seed=1) == (0.0, 0.0)
    assert bootstrap_ci([], seed=1) == (0.0, 0.0)


def test_bootstrap_is_seeded_and_brackets_the_mean() -> None:
    outcomes = [True, False, True, True, False, True, False, True, True, True] * 3
    first = bootstrap_ci(outcomes, seed=7)
    assert first == bootstrap_ci(outcomes, seed=7)
    other = bootstrap_ci(outcomes, seed=8)  # another seed: about the same interval
    assert other[0] == pytest.approx(first[0], abs=0.07) and other[1] == pytest.approx(first[1], abs=0.07)
    low, high = first
    assert 0.0 < low < sum(outcomes) / len(outcomes) < high < 1.0


def test_clustering_widens_the_interval() -> None:
    # 10 images, 5 questions each, all questions on an image share the outcome: really only
    # 10 independent draws, so the clustered CI must be clearly wider than the row-wise one.
    outcomes = [image % 2 == 0 for image in range(10) for _ in range(5)]
    clusters = [f"img{image}" for image in range(10) for _ in range(5)]
    lo_rows, hi_rows = bootstrap_ci(outcomes, seed=0)
    lo_clu, hi_clu = bootstrap_ci(outcomes, clusters, seed=0)
    assert hi_clu - lo_clu > 1.5 * (hi_rows - lo_rows)
    # One-row clusters are exactly the row-wise bootstrap.
    assert bootstrap_ci(outcomes, [str(i) for i in range(50)], seed=0) == (lo_rows, hi_rows)


def test_bootstrap_rejects_mismatched_clusters() -> None:
    with pytest.raises(ValueError, match="2 clusters for 3 outcomes"):
        bootstrap_ci([True, False, True], ["a", "b"], seed=0)


# ---------------------------------------------------------------- baselines and ratios


def test_majority_baseline() -> None:
    assert majority_baseline(["3", "3", "5", "7"]) == 0.5
    assert majority_baseline(["1"]) == 1.0
    assert majority_baseline([]) == 0.0
    assert majority_baseline(["", "", "", "4"]) == 0.25  # a missing gold is never the answer


def test_gap_closed_and_relative_gap() -> None:
    assert gap_closed(0.2, 0.6, 0.4) == pytest.approx(0.5)
    assert gap_closed(0.2, 0.6, 0.1) == pytest.approx(-0.25)  # cot worse than direct
    assert gap_closed(0.5, 0.5, 0.9) is None  # no gap to close
    assert relative_gap(0.2, 0.8) == pytest.approx(0.75)
    assert relative_gap(0.3, 0.0) == 0.0


def test_attribution_counts() -> None:
    direct = {"a": False, "b": False, "c": False, "d": True, "e": False}
    visual = {"a": True, "b": False, "c": True, "d": False}  # e not measured
    textual = {"a": True, "b": True, "c": False, "d": True, "e": True}
    out = attribution(direct, visual, textual)
    assert out == {
        "direct_wrong": 4,
        "visual": {"right": 2, "wrong": 1, "missing": 1},
        "textual": {"right": 3, "wrong": 1, "missing": 0},
        "both_right": 1,  # only "a": both skills right, direct wrong
    }
    assert attribution({"a": False})["visual"] == {"right": 0, "wrong": 0, "missing": 1}


def test_numeric_knobs_and_bins() -> None:
    difficulties = [
        {"n": 1, "noise": 0.0, "soft": True, "layout": "grid", "knobs": {"n": [1, 3]}},
        {"n": 3, "noise": 0.0, "soft": False, "layout": "grid", "knobs": {"n": [1, 3]}},
    ]
    assert numeric_knobs(difficulties) == ["n"]  # bools, strings, dicts and constants skipped
    assert bin_values([3, 1, 3, 2]) == ([2, 0, 2, 1], ["1", "2", "3"])
    index, labels = bin_values(list(range(1, 13)), max_bins=3)
    assert labels == ["1–4", "5–8", "9–12"]
    assert index == [0] * 4 + [1] * 4 + [2] * 4


# ---------------------------------------------------------------- summary


def _record(task: str, sid: str, strategy: str, correct: bool, **extra: Any) -> SampleRecord:
    fields: dict[str, Any] = {"task": task, "sample_id": sid, "strategy": strategy,
                              "prediction": "x", "raw": "x", "correct": correct, "gold": "7"}
    fields.update(extra)
    return SampleRecord(**fields)


def _hand_built() -> list[SampleRecord]:
    # 8 samples: direct right on 0,1; cascaded right on 0..6 (so b=0, c=5); cot right on 0..3.
    records = []
    for i in range(8):
        sid = f"s{i}"
        knob = {"n_objects": 1 if i < 4 else 5, "soft": bool(i % 2)}
        records += [
            _record("counting", sid, "cot", i < 4, difficulty=knob),
            _record("counting", sid, "cascaded", i < 7, difficulty=knob),
            _record("counting", sid, "direct", i < 2, difficulty=knob, format_failure=i == 7),
            _record("counting", sid, "visual", i != 3, gold="R C", difficulty=knob),
            _record("counting", sid, "textual", True, gold="5" if i < 3 else "7", difficulty=knob),
        ]
    return records


def test_summary_shape_and_values() -> None:
    summary = summarize(_hand_built(), model="hand")
    assert summary["model"] == "hand"
    entry = summary["tasks"]["counting"]
    assert list(entry["strategies"]) == ["direct", "cascaded", "cot"]  # canonical order
    for stats in entry["strategies"].values():
        assert set(stats) >= {"accuracy", "ci", "n"}
        low, high = stats["ci"]
        assert 0.0 <= low <= stats["accuracy"] <= high <= 1.0
        assert stats["n"] == 8
    assert entry["strategies"]["direct"]["accuracy"] == 0.25
    assert entry["strategies"]["cascaded"]["accuracy"] == 0.875
    assert entry["strategies"]["direct"]["format_failure_rate"] == 0.125
    assert entry["skills"] == {"visual": 0.875, "textual": 1.0}
    gap = entry["gap"]
    assert gap["absolute"] == pytest.approx(0.625)
    assert gap["relative"] == pytest.approx(0.625 / 0.875)
    assert gap["p_value"] == pytest.approx(2 / 32)  # b=0, c=5
    assert gap["cot_closed"] == pytest.approx((0.5 - 0.25) / 0.625)
    # Golds of the composed question: "5" ×3 (textual) vs "7" — visual's gold is ignored.
    assert entry["majority_baseline"] == pytest.approx(5 / 8)
    assert entry["attribution"] == {
        "direct_wrong": 6,
        "visual": {"right": 5, "wrong": 1, "missing": 0},
        "textual": {"right": 6, "wrong": 0, "missing": 0},
        "both_right": 5,
    }
    rows = entry["by_difficulty"]["n_objects"]
    assert [row["bin"] for row in rows] == ["1", "5"]
    assert rows[0]["direct"] == 0.5 and rows[0]["cascaded"] == 1.0 and rows[0]["gap"] == 0.5
    assert rows[1]["gap"] == pytest.approx(0.75) and rows[1]["n_direct"] == 4
    assert "soft" not in entry["by_difficulty"]
    assert summary == summarize(_hand_built(), model="hand")  # deterministic


def test_summary_clusters_by_image_id() -> None:
    def records(image_ids: bool) -> list[SampleRecord]:
        return [
            _record("t", f"s{i}", "direct", (i // 5) % 2 == 0,
                    image_id=f"img{i // 5}" if image_ids else None)
            for i in range(50)
        ]

    rows = summarize(records(False), model="m")["tasks"]["t"]["strategies"]["direct"]["ci"]
    images = summarize(records(True), model="m")["tasks"]["t"]["strategies"]["direct"]["ci"]
    assert images[1] - images[0] > rows[1] - rows[0]


def test_summary_without_cascaded_has_no_gap_and_other_strategies_follow() -> None:
    records = [_record("t", "a", "routed", True), _record("t", "a", "direct", False),
               _record("t", "a", "zeta", True)]
    entry = summarize(records, model="m")["tasks"]["t"]
    assert list(entry["strategies"]) == ["direct", "routed", "zeta"]
    assert "gap" not in entry and entry["skills"] == {}


def test_format_table_lists_cis_gap_and_skills() -> None:
    text = format_table(summarize(_hand_built(), model="hand"))
    assert "model: hand" in text
    assert "direct     0.250 [" in text
    assert "gap        +0.625" in text and "McNemar p=0.062" in text
    assert "skills     visual 0.875 [" in text
