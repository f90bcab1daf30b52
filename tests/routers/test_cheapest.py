"""The cheapest-right router: one chance model per cheap strategy, tried cheapest first."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from router_helpers import accuracy_of, gap_backend, row

from skillgap.cli import main
from skillgap.evals import EvalConfig, load_samples, run_eval, simulate, train_router
from skillgap.routers import CheapestRouter, load_router, router_from_record, save_router


def _ladder_rows(task: str = "t", n: int = 60) -> list:
    # A model that composes partially: direct is right on few items, CoT (also one call) on some
    # more, the cascade on all; the image's ink grows with the number of items.
    rows = []
    for i in range(n):
        items = 1 + i % 6
        rows.append(row(f"{task}-{i}", task=task, direct=items <= 2, cot=items <= 4, cascaded=True,
                        ink_blobs=float(items), ink_fraction=0.05 * items))
    return rows


def test_trained_router_sends_each_input_to_the_cheapest_right_strategy() -> None:
    rows = _ladder_rows("counting") + _ladder_rows("cards")
    router = train_router("cheapest", rows, features="pre", max_cost_ratio=0.75)
    assert isinstance(router, CheapestRouter) and router.probe is None
    assert router.choices == ("direct", "cot", "cascaded")  # the registry's cost order
    for sample in rows:
        chosen = router.route(sample.signals_for(router)).choice
        items = int(sample.signals.image_stats()["ink_blobs"])
        assert chosen == ("direct" if items <= 2 else "cot" if items <= 4 else "cascaded"), items
    for result in simulate(router, rows).values():
        assert result["accuracy"] == 1.0 and result["gap_closed"] == 1.0
        assert result["cost_ratio_vs_cascaded"] == pytest.approx((4 * 1 + 2 * 2) / 6 / 2)
    # The two-way learned router can only pick direct or the cascade: same budget, less accurate.
    learned = simulate(train_router("learned", rows, features="pre", max_cost_ratio=0.75), rows)
    assert all(result["accuracy"] < 1.0 for result in learned.values())


def test_the_budget_holds_on_the_training_rows() -> None:
    rows = _ladder_rows()
    tight = train_router("cheapest", rows, features="pre", max_cost_ratio=0.6)
    result = simulate(tight, rows)["t"]
    assert result["cost_ratio_vs_cascaded"] <= 0.6 + 1e-9
    # A budget nothing cheaper fits keeps everything on the cascade.
    none = train_router("cheapest", rows, features="pre", max_cost_ratio=0.4)
    assert none.choices_for("t") == ("cascaded",)
    assert {none.route(r.signals_for(none)).choice for r in rows} == {"cascaded"}


def test_record_round_trip_and_unknown_tasks(tmp_path: Path) -> None:
    rows = _ladder_rows()
    router = train_router("cheapest", rows, features="pre", name="ladder")
    path = save_router(router, tmp_path / "ladder.json")
    again = load_router(path)
    assert isinstance(again, CheapestRouter) and again.to_record() == router.to_record()
    assert router_from_record(router.to_record()).to_record() == router.to_record()
    chosen = [again.route(r.signals_for(again)).choice for r in rows]
    assert accuracy_of(rows, chosen) == 1.0
    # A task it was not trained on: no cheap rung is trusted there.
    other = row("x-1", task="other", direct=True, cot=True, cascaded=True, ink_blobs=1.0)
    assert again.route(other.signals_for(again)).choice == "cascaded"
    assert again.threshold("other", "direct") == math.inf


def test_bad_training_input_is_named() -> None:
    rows = _ladder_rows()
    with pytest.raises(ValueError, match="features 'pre'"):
        train_router("cheapest", rows, features="direct")
    with pytest.raises(ValueError, match="no strategy cheaper than 'direct'"):
        train_router("cheapest", rows, features="pre", escalate_to="direct")
    two_way = [row(f"t-{i}", direct=True, cascaded=True) for i in range(4)]
    with pytest.raises(ValueError, match="no 'cot' records"):
        train_router("cheapest", two_way, features="pre", escalate_to="cot")
    rungs = train_router("cheapest", rows, features="pre").rungs
    with pytest.raises(ValueError, match="must be distinct"):
        CheapestRouter(rungs=[*rungs, *rungs], thresholds={})


def test_cli_trains_it_and_a_routed_eval_runs_it_live(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    # The mock model of the router tests: direct right on four samples in five, CoT always wrong,
    # cascaded always right. Trained on one seed, judged live on another.
    def run(seed: int, strategies: list[str], out: Path, routers: dict[str, str] | None = None) -> None:
        config = EvalConfig(tasks=["counting"], n=10, seed=seed, strategies=strategies, skills=False,
                            routers=routers or {})
        run_eval(config, gap_backend(load_samples(config)), out, show_progress=False)

    run(3, ["direct", "cot", "cascaded"], tmp_path / "train")
    out = tmp_path / "ladder.json"
    assert main(["route", "train", "--run", str(tmp_path / "train"), "--router", "cheapest",
                 "--features", "pre", "--out", str(out)]) == 0
    router = load_router(out)
    assert isinstance(router, CheapestRouter)
    assert [rung.strategy for rung in router.rungs] == ["direct", "cot"]
    capsys.readouterr()
    run(4, ["direct", "cascaded", "routed:ladder"], tmp_path / "heldout", {"ladder": str(out)})
    summary = json.loads((tmp_path / "heldout" / "summary.json").read_text())
    stats = summary["tasks"]["counting"]["routers"]["ladder"]
    # CoT was never right in training, so the router never picks it.
    assert set(stats["choices"]) <= {"direct", "cascaded"} and stats["accuracy"] is not None
