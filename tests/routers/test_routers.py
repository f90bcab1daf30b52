"""Each router on hand-built run rows with known best choices; calibration; router files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from router_helpers import accuracy_of, row

from skillgap.evals import simulate, train_router
from skillgap.routers import (
    Cost,
    FallbackRouter,
    FixedRouter,
    Item,
    LearnedRouter,
    OracleRouter,
    Probe,
    RouterOverlapError,
    RuleRouter,
    Signals,
    TrainedOn,
    check_no_overlap,
    fit_logistic,
    load_router,
    pick_threshold,
    read_router_file,
    router_from_record,
    save_router,
    sweep,
)


def _direct(ok: bool = True, logprob: float | None = -0.5, task: str = "counting") -> Signals:
    return Signals(task=task, probes={"direct": Probe(ok=ok, logprob=logprob)})


def test_fixed_and_rule_routers_pick_by_task() -> None:
    assert FixedRouter("cascaded").route(Signals(task="counting")).choice == "cascaded"
    assert FixedRouter("cascaded").choices_for("counting") == ("cascaded",)
    rule = RuleRouter({"rendered_text": "tesseract", "cards": "direct"}, default="cot")
    picks = {task: rule.route(Signals(task=task)).choice
             for task in ("rendered_text", "cards", "counting")}
    assert picks == {"rendered_text": "tesseract", "cards": "direct", "counting": "cot"}
    assert rule.choices_for("counting") == ("cot",)
    assert set(rule.choices) == {"tesseract", "direct", "cot"}
    with pytest.raises(ValueError, match="not a branch name"):
        FixedRouter("no such branch")


def test_fallback_router_escalates_unsure_failed_and_unjudgeable_answers() -> None:
    router = FallbackRouter(threshold=1.0, thresholds={"cards": 0.1})
    decision = router.route(_direct())
    assert (decision.choice, decision.score) == ("direct", 0.5)
    assert router.route(_direct(task="cards")).choice == "cascaded"  # a stricter per-task threshold
    assert router.route(_direct(logprob=-2.0)).choice == "cascaded"
    assert router.route(_direct(ok=False, logprob=-0.1)).choice == "cascaded"
    assert router.route(_direct(logprob=None)).choice == "cascaded"
    never = router.with_thresholds({"counting": math.inf})
    assert never.route(_direct(logprob=-40.0)).choice == "direct"
    assert router.thresholds == {"cards": 0.1}  # the original is left as it was


def test_oracle_takes_the_cheapest_right_strategy() -> None:
    oracle = OracleRouter.from_outcomes([
        ("t", "a", {"direct": True, "cascaded": True, "cot": True}),
        ("t", "b", {"direct": False, "cascaded": True, "cot": True}),
        ("t", "c", {"direct": False, "cascaded": True, "cot": False}),
        ("t", "d", {"direct": False, "cascaded": False, "cot": False}),
    ], cost_order=["direct", "cot", "cascaded"])
    picks = [oracle.route(Signals(task="t", sample_id=s)).choice for s in "abcd"]
    assert picks == ["direct", "cot", "cascaded", "direct"]
    with pytest.raises(ValueError, match="only the samples of the run"):
        oracle.route(Signals(task="t", sample_id="unseen"))


def test_sweep_and_calibration_on_known_items() -> None:
    # Escalating helps exactly on the two unsure items (scores 3.0); the sure ones are right.
    items = [Item(score=s, direct_ok=ok, escalate_ok=True, direct_cost=Cost(1, 1, 0),
                  escalate_cost=Cost(2, 4, 0), probed=True)
             for s, ok in [(0.1, True), (0.2, True), (0.1, True), (3.0, False), (0.3, True),
                           (0.2, True), (0.1, True), (3.0, False), (0.2, True), (0.1, True)]]
    points = sweep(items)
    assert points[0].escalated == 0 and points[0].accuracy == 0.8 and points[0].cost.calls == 1
    assert points[-1].escalated == 1 and points[-1].accuracy == 1.0 and points[-1].cost.calls == 3
    best = pick_threshold(items, Cost(2, 4, 0), max_cost_ratio=0.75)
    assert best.accuracy == 1.0 and best.escalated == 0.2 and best.cost.calls == pytest.approx(1.4)
    assert 0.3 < best.threshold < 3.0
    # A budget no threshold fits: the cheapest one (never escalate).
    assert pick_threshold(items, Cost(2, 4, 0), max_cost_ratio=0.1).escalated == 0
    # Budgeting tokens instead: escalating the two costs (1 + 0.2 * 4) / 4 = 0.45 of cascaded.
    assert pick_threshold(items, Cost(2, 4, 0), max_cost_ratio=0.5, metric="tokens").accuracy == 1.0


def _gap_rows(n: int = 40, task: str = "t", *, ink_signal: bool = True) -> list:
    # Direct is wrong (and unsure) on every fourth sample, where the cascade is right.
    return [row(f"{task}-{i}", task=task, direct=i % 4 != 0, cascaded=True,
                logprob=-4.0 if i % 4 == 0 else -0.1 - 0.01 * (i % 7),
                ink_tiles=(0.6 if i % 4 == 0 else 0.2) if ink_signal else 0.3, cot=i % 2 == 0)
            for i in range(n)]


def test_trained_fallback_closes_the_gap_within_budget() -> None:
    rows = _gap_rows()
    router = train_router("fallback", rows)
    assert isinstance(router, FallbackRouter)
    result = simulate(router, rows)["t"]
    assert result["gap_closed"] == 1.0 and result["accuracy"] == 1.0
    assert result["cost_ratio_vs_cascaded"] == pytest.approx((1 + 2 * 0.25) / 2)
    assert result["choices"] == {"cascaded": 0.25, "direct": 0.75}


def test_learned_router_finds_the_signal_before_any_call() -> None:
    rows = _gap_rows(task="counting") + _gap_rows(task="cards")
    router = train_router("learned", rows, features="pre")
    assert isinstance(router, LearnedRouter) and router.probe is None
    for result in simulate(router, rows).values():
        assert result["gap_closed"] == 1.0
        # No probe: a quarter of the samples cost 2 calls, the rest 1.
        assert result["cost_ratio_vs_cascaded"] == pytest.approx((0.75 + 2 * 0.25) / 2)
    chosen = [router.route(r.signals_for(router)).choice for r in rows]
    assert accuracy_of(rows, chosen) == 1.0


def test_learned_router_with_the_direct_log_probability() -> None:
    # Image statistics carry no signal here; only the direct call's confidence does.
    rows = _gap_rows(ink_signal=False)
    router = train_router("learned", rows, features="direct")
    assert router.probe == "direct" and "direct_logprob" in router.features
    assert simulate(router, rows)["t"]["gap_closed"] == 1.0


def test_rule_and_oracle_training() -> None:
    rows = [row(f"a{i}", task="a", direct=i < 9, cascaded=i < 5) for i in range(10)]
    rows += [row(f"b{i}", task="b", direct=i < 2, cascaded=i < 8) for i in range(10)]
    rule = train_router("rule", rows)
    assert isinstance(rule, RuleRouter) and rule.rules == {"a": "direct", "b": "cascaded"}
    oracle = train_router("oracle", rows)
    results = simulate(oracle, rows)
    assert results["a"]["accuracy"] == 0.9 and results["b"]["accuracy"] == 0.8
    assert results["b"]["gap_closed"] == 1.0


def test_logistic_regression_with_one_class_stays_finite() -> None:
    x = np.arange(10.0)[:, None]
    weights, bias = fit_logistic(x, np.zeros(10))
    assert np.isfinite(weights).all() and math.isfinite(bias) and bias < -3
    weights, bias = fit_logistic(x - 4.5, (x[:, 0] > 4.5).astype(float), l2=0.01)
    assert weights[0] > 1


def test_router_files_round_trip(tmp_path: Path) -> None:
    rows = _gap_rows()
    for router in (train_router("learned", rows), train_router("fallback", rows),
                   train_router("rule", rows), train_router("oracle", rows),
                   FixedRouter("cot"), FallbackRouter(threshold=math.inf)):
        path = save_router(router, tmp_path / f"{router.name}.json")
        record = json.loads(path.read_text())["router"]  # plain JSON: no Infinity, no NaN
        assert "Infinity" not in path.read_text()
        again = load_router(path)
        assert again.to_record() == router.to_record() == router_from_record(record).to_record()
        assert [again.route(r.signals_for(again)) for r in rows] == [
            router.route(r.signals_for(router)) for r in rows]
    with pytest.raises(ValueError, match="router file not found"):
        load_router(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a router file"):
        load_router(tmp_path / "bad.json")


def test_evaluating_on_training_samples_is_refused(tmp_path: Path) -> None:
    rows = _gap_rows()
    router = train_router("fallback", rows)
    provenance = TrainedOn(run="runs/train", config={"seed": 1}, samples=[r.key for r in rows])
    file = read_router_file(save_router(router, tmp_path / "r.json", trained_on=provenance))
    check_no_overlap(file, ["t/other-1", "t/other-2"], where="held-out run")
    with pytest.raises(RouterOverlapError, match=r"trained on 2 of the samples .*seed 1"):
        check_no_overlap(file, ["t/t-0", "t/t-3", "t/new"], where="this eval")
