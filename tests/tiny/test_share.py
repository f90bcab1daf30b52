"""The gap-against-direct-share table of runs of trained tiny models (`skillgap report`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_helpers import reader_backend

from skillgap.cli import main
from skillgap.evals import EvalConfig, load_samples, run_eval
from skillgap.tiny._share import share_rows, training_card


def _run(tmp_path: Path, name: str, share: float | None, direct_right: bool) -> Path:
    config = EvalConfig(tasks=["counting"], n=6, seed=3)
    samples = load_samples(config)
    out = tmp_path / name
    run_eval(config, reader_backend(samples, direct_right=direct_right), out, show_progress=False)
    model = tmp_path / f"model-{name}"
    model.mkdir()
    card: dict = {"layout": "grid"}
    if share is not None:
        card["training"] = {"config": {"direct_share": share, "tasks": ["counting"]}}
    (model / "skillgap.json").write_text(json.dumps(card))
    run = json.loads((out / "run.json").read_text())
    run["backend"]["model"] = str(model)  # as if the run had used that model folder
    (out / "run.json").write_text(json.dumps(run))
    return out


def test_share_rows_read_the_model_cards(tmp_path: Path) -> None:
    low = _run(tmp_path, "zero", 0.0, direct_right=False)
    high = _run(tmp_path, "twenty", 0.2, direct_right=True)
    rows = share_rows([high, low])
    assert [row.direct_share for row in rows] == [0.0, 0.2]  # sorted by share
    # The mock answers "0" to direct questions at 0 %: right only where nothing matches the query.
    low_direct, high_direct = (row.direct.accuracy if row.direct else None for row in rows)
    assert low_direct is not None and low_direct < 0.5 and high_direct == 1.0
    assert rows[0].gap is not None and rows[0].gap.absolute == pytest.approx(1.0 - low_direct)
    assert rows[1].gap is not None and rows[1].gap.absolute == pytest.approx(0.0)
    assert rows[1].direct_trained_on_task and not rows[0].direct_trained_on_task


def test_report_writes_the_share_table_only_when_asked(tmp_path: Path, capsys) -> None:
    low = _run(tmp_path, "zero", 0.0, direct_right=False)
    high = _run(tmp_path, "twenty", 0.2, direct_right=True)
    assert main(["report", str(low), str(high), "--out", str(tmp_path / "plain")]) == 0
    assert not (tmp_path / "plain" / "direct_share.md").exists()  # not asked: not written
    assert main(["report", str(low), str(high), "--out", str(tmp_path / "cmp"), "--share-study"]) == 0
    table = (tmp_path / "cmp" / "direct_share.md").read_text()
    assert "| counting | 0% |" in table and "| counting | 20% |" in table
    assert (tmp_path / "cmp" / "plots" / "direct_share.png").stat().st_size > 1000

    untrained = _run(tmp_path, "plain", None, direct_right=False)
    assert training_card(untrained) is None
    assert main(["report", str(low), str(untrained), "--out", str(tmp_path / "cmp2"),
                 "--share-study"]) == 2  # refused before anything is written
    assert not (tmp_path / "cmp2").exists()
    with pytest.raises(ValueError, match="no training record"):
        share_rows([low, untrained])
