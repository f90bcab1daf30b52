"""Gap metrics on hand-made cases with known answers, and the summary's shape."""

from __future__ import annotations

import json
import math
from pathlib import Path
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
from skillgap.evals._metrics import (
    bin_values,
    bootstrap_means,
    discordant,
    numeric_knobs,
    percentile_ci,
    relative_gap,
)
from skillgap.evals._summary_model import Summary

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
    # No positive gap, no ratio: not "relative +0.000" (cascaded 0) nor a sign-flipped share.
    assert relative_gap(0.3, 0.0) is None
    assert relative_gap(0.5, 0.5) is None
    assert gap_closed(0.6, 0.2, 0.4) is None  # negative gap: "closes −50 %" would mean nothing


def test_attribution_counts() -> None:
    direct = {"a": False, "b": False, "c": False, "d": True, "e": False}
    visual = {"a": True, "b": False, "c": True, "d": False}  # e not measured
    textual = {"a": True, "b": True, "c": False, "d": True, "e": True}
    out = attribution(direct, visual, textual).model_dump()
    assert out == {
        "direct_wrong": 4,
        "visual": {"right": 2, "wrong": 1, "missing": 1},
        "textual": {"right": 3, "wrong": 1, "missing": 0},
        "both_right": 1,  # only "a": both skills right, direct wrong
    }
    assert attribution({"a": False}).visual.model_dump() == {"right": 0, "wrong": 0, "missing": 1}


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
    assert summary.model == "hand" and summary.schema_version == 2
    entry = summary.tasks["counting"]
    assert list(entry.strategies) == ["direct", "cascaded", "cot"]  # registry order
    for stats in entry.strategies.values():
        assert stats.accuracy is not None and stats.ci is not None
        low, high = stats.ci
        assert 0.0 <= low <= stats.accuracy <= high <= 1.0
        assert stats.n == 8 and stats.errors == 0
    assert entry.strategies["direct"].accuracy == 0.25
    assert entry.strategies["cascaded"].accuracy == 0.875
    assert entry.strategies["direct"].format_failure_rate == 0.125
    assert entry.skills == {"visual": 0.875, "textual": 1.0}
    gap = entry.gap
    assert gap is not None and gap.absolute == pytest.approx(0.625)
    assert gap.relative == pytest.approx(0.625 / 0.875)
    assert gap.p_value == pytest.approx(2 / 32)  # b=0, c=5
    assert gap.ci is not None and 0.0 < gap.ci[0] <= 0.625 <= gap.ci[1]
    assert gap.cot_closed is not None
    assert gap.cot_closed.value == pytest.approx((0.5 - 0.25) / 0.625)
    # Golds of the composed question: "5" ×3 (textual) vs "7" — visual's gold is ignored.
    assert entry.majority_baseline == pytest.approx(5 / 8)
    assert entry.attribution is not None and entry.attribution.model_dump() == {
        "direct_wrong": 6,
        "visual": {"right": 5, "wrong": 1, "missing": 0},
        "textual": {"right": 6, "wrong": 0, "missing": 0},
        "both_right": 5,
    }
    rows = entry.by_difficulty["n_objects"]
    assert [row.bin for row in rows] == ["1", "5"]
    assert rows[0].direct == 0.5 and rows[0].cascaded == 1.0 and rows[0].gap == 0.5
    assert rows[1].gap == pytest.approx(0.75) and rows[1].n_direct == 4
    assert rows[0].gap_ci is not None and rows[0].small  # 4 samples a bin: small, with a CI
    assert "soft" not in entry.by_difficulty
    assert summary == summarize(_hand_built(), model="hand")  # deterministic


def test_summary_round_trips_through_json_and_refuses_other_versions(tmp_path: Path) -> None:
    summary = summarize(_hand_built(), model="hand")
    summary.write(tmp_path / "summary.json")
    assert Summary.read(tmp_path) == summary
    old = json.loads((tmp_path / "summary.json").read_text())
    del old["schema_version"]  # a version-1 summary (the untyped dict) had none
    (tmp_path / "summary.json").write_text(json.dumps(old))
    with pytest.raises(ValueError, match="schema version 1"):
        Summary.read(tmp_path)


def test_summary_clusters_by_image_id() -> None:
    def records(image_ids: bool) -> list[SampleRecord]:
        return [
            _record("t", f"s{i}", "direct", (i // 5) % 2 == 0,
                    image_id=f"img{i // 5}" if image_ids else None)
            for i in range(50)
        ]

    rows = summarize(records(False), model="m").tasks["t"].strategies["direct"].ci
    images = summarize(records(True), model="m").tasks["t"].strategies["direct"].ci
    assert rows is not None and images is not None
    assert images[1] - images[0] > rows[1] - rows[0]


def test_summary_without_cascaded_has_no_gap_and_other_strategies_follow() -> None:
    records = [_record("t", "a", "routed", True), _record("t", "a", "direct", False),
               _record("t", "a", "zeta", True)]
    entry = summarize(records, model="m").tasks["t"]
    assert list(entry.strategies) == ["direct", "routed", "zeta"]
    assert entry.gap is None and entry.skills == {}


def test_format_table_lists_cis_gap_and_skills() -> None:
    text = format_table(summarize(_hand_built(), model="hand"))
    assert "model: hand" in text
    assert "direct     0.250 [" in text
    assert "gap        +0.625 [" in text and "McNemar p=0.062" in text
    assert "cot closes 40% [" in text
    assert "skills     visual 0.875 [" in text


# ---------------------------------------------------------------- failures are not results


def _failing(i: int, strategy: str, correct: bool = False) -> SampleRecord:
    return _record("t", f"s{i}", strategy, correct, prediction=None, raw=None,
                   error="backend error: ConnectError: connection refused")


def test_failed_calls_are_errors_not_wrong_answers() -> None:
    # 10 samples: direct's call failed on 6 and was right on 3 of the other 4; cascaded all scored.
    records = [_failing(i, "direct") if i < 6 else _record("t", f"s{i}", "direct", i < 9)
               for i in range(10)]
    records += [_record("t", f"s{i}", "cascaded", True) for i in range(10)]
    # A format failure is scored (as wrong), and a bad dataset row is counted nowhere.
    records.append(_record("t", "s10", "cascaded", False, error="unparseable output: x",
                           format_failure=True))
    records.append(_record("t", "bad", "direct", False, gold="",
                           error="bad dataset row 3: image not found"))
    entry = summarize(records, model="m", dataset_errors=1).tasks["t"]
    direct = entry.strategies["direct"]
    assert (direct.n, direct.errors, direct.attempted) == (4, 6, 10)
    assert direct.accuracy == pytest.approx(3 / 4)  # over the scored samples, not 3 / 10
    assert direct.error_rate == pytest.approx(0.6)
    cascaded = entry.strategies["cascaded"]
    assert (cascaded.n, cascaded.errors, cascaded.format_failures) == (11, 0, 1)
    assert entry.invalid_rows == 1 and entry.n_samples == 11
    assert entry.errors == 6 and entry.attempted == 21
    assert entry.gap is not None and entry.gap.n_paired == 4  # McNemar on samples both scored


def test_a_task_whose_calls_mostly_failed_says_so() -> None:
    records = [_failing(i, step) for i in range(3) for step in ("direct", "cascaded", "cot")]
    summary = summarize(records, model="m")
    entry = summary.tasks["t"]
    assert all(stats.accuracy is None and stats.n == 0 for stats in entry.strategies.values())
    assert entry.mostly_failed and summary.error_rate == 1.0
    assert entry.gap is not None and entry.gap.absolute is None and entry.gap.p_value is None
    assert "100% of the calls failed" in entry.warnings[0]
    text = format_table(summary)
    assert "0.000" not in text  # no accuracy of 0 where nothing was scored
    assert "!! 100% of all calls failed" in text and "ConnectError" in text
    assert "direct     –  n=0  errors 3 (100%)" in text


# ---------------------------------------------------------------- ratios that mean nothing


def _gap_records(direct: list[bool], cascaded: list[bool], cot: list[bool]) -> list[SampleRecord]:
    return [_record("t", f"s{i}", name, ok, image_id=f"img{i}")
            for name, column in (("direct", direct), ("cascaded", cascaded), ("cot", cot))
            for i, ok in enumerate(column)]


def test_no_share_of_a_negative_gap() -> None:
    # Direct beats cascaded: "cot closes −200 %" and "relative +0.000" meant nothing.
    records = _gap_records([True] * 6 + [False] * 2, [True] * 3 + [False] * 5, [False] * 8)
    gap = summarize(records, model="m").tasks["t"].gap
    assert gap is not None and gap.absolute == pytest.approx(-3 / 8)
    assert gap.relative is None
    assert gap.cot_closed is not None and gap.cot_closed.value is None
    assert gap.cot_closed.reason is not None and "no gap to close" in gap.cot_closed.reason
    oracle = summarize(records, model="m").tasks["t"].routers["oracle"]
    assert oracle.gap_closed.value is None  # not "gap closed 533 %"
    text = format_table(summarize(records, model="m"))
    assert "relative" not in text and "cot closes – (no gap to close" in text


def test_no_share_of_a_gap_whose_ci_spans_zero() -> None:
    # A small positive gap on few samples: its CI spans 0, so no share is a finding.
    records = _gap_records([True, False, True, False, True, False],
                           [True, True, True, False, True, False], [True] * 6)
    gap = summarize(records, model="m").tasks["t"].gap
    assert gap is not None and gap.absolute is not None and gap.absolute > 0
    assert gap.ci is not None and gap.ci[0] <= 0.0
    assert gap.cot_closed is not None and gap.cot_closed.value is None
    assert gap.cot_closed.reason is not None and "spans 0" in gap.cot_closed.reason


def test_gap_closed_cis_come_from_the_same_bootstrap() -> None:
    # A clear gap; cot halfway. The share's CI is read replicate by replicate from the draws that
    # gave the gap its CI, so the share's CI brackets the share and stays in a sane range.
    n = 40
    records = _gap_records([i < 10 for i in range(n)], [i < 30 for i in range(n)],
                           [i < 20 for i in range(n)])
    gap = summarize(records, model="m").tasks["t"].gap
    assert gap is not None and gap.ci is not None and gap.ci[0] > 0
    closed = gap.cot_closed
    assert closed is not None and closed.value == pytest.approx(0.5) and closed.ci is not None
    assert 0.0 < closed.ci[0] < 0.5 < closed.ci[1] < 1.0
    columns = {"direct": {f"s{i}": i < 10 for i in range(n)}, "cascaded": {f"s{i}": i < 30 for i in range(n)}}
    reps = bootstrap_means(columns, {f"s{i}": f"img{i}" for i in range(n)}, seed=0, n_boot=2000)
    assert gap.ci == percentile_ci(reps["cascaded"] - reps["direct"])
