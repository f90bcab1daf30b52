"""Reports on the mock backend: run_eval writes report.md/HTML/PNGs; ``skillgap report`` compares
run folders in one self-contained page; bad folders are clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from eval_helpers import reader_backend

from skillgap.cli import main
from skillgap.evals import EvalConfig, load_samples, read_records, run_eval
from skillgap.reports import ensure_run_report

CONFIG = EvalConfig(n=6, seed=11)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    samples = load_samples(CONFIG)
    first = tmp_path_factory.mktemp("runs") / "weak"
    second = first.parent / "strong"
    for out, strong in ((first, False), (second, True)):
        name = "strong-reader" if strong else "weak-reader"
        summary = run_eval(CONFIG, reader_backend(samples, model_id=name, direct_right=strong), out,
                           show_progress=False)
        ensure_run_report(out, summary)
    return first, second


def test_run_eval_writes_report_and_plots(runs: tuple[Path, Path]) -> None:
    out = runs[0]
    report = (out / "report.md").read_text()
    assert report.startswith("# skillgap report: weak-reader")
    for task in CONFIG.tasks:
        assert f"## {task}" in report
    assert "![accuracy per strategy with 95% CI](plots/accuracy.png)" in report
    assert "exact McNemar p" in report and "Direct failures" in report
    plots = sorted(p.name for p in (out / "plots").iterdir())
    assert "accuracy.png" in plots
    assert any(name.startswith("gap_by_difficulty_") for name in plots)
    for name in plots:
        assert (out / "plots" / name).read_bytes().startswith(PNG)
        assert f"plots/{name}" in report  # every plot is linked from the markdown
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(plots)
    assert not re.search(r'src="(?!data:)', html)  # no external assets


def test_summary_json_has_the_stable_shape(runs: tuple[Path, Path]) -> None:
    summary = json.loads((runs[0] / "summary.json").read_text())
    assert summary["model"] == "weak-reader"
    for entry in summary["tasks"].values():
        assert list(entry["strategies"]) == ["direct", "cascaded", "cot"]
        for stats in entry["strategies"].values():
            assert isinstance(stats["accuracy"], float) and isinstance(stats["n"], int)
            assert len(stats["ci"]) == 2
        assert set(entry["skills"]) == {"visual", "textual"}
        assert set(entry["gap"]) >= {"absolute", "relative", "p_value"}


def test_records_carry_the_image_id(runs: tuple[Path, Path]) -> None:
    samples = {(s.task, s.id): s for s in load_samples(CONFIG)}
    records = read_records(runs[0])
    assert records and all(r.image_id == samples[(r.task, r.sample_id)].image_id for r in records)


def test_report_command_compares_two_runs(runs: tuple[Path, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "compare"
    assert main(["report", str(runs[0]), str(runs[1]), "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    html = (out / "report.html").read_text()
    assert "weak-reader" in html and "strong-reader" in html
    assert "data:image/png;base64," in html
    assert not re.search(r'src="(?!data:)', html)
    markdown = (out / "report.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| task | metric"))
    # A column per run, labelled by what differs (the model), then the difference with its CI.
    assert header == ("| task | metric | weak-reader | strong-reader "
                      "| Δ strong-reader − weak-reader [95% CI] |")
    assert (out / "plots" / "compare.png").read_bytes().startswith(PNG)
    # direct is perfect in the second run: its row reads 1.000 there, 0.000-ish in the first.
    direct_row = next(line for line in markdown.splitlines() if "| cards | direct |" in line)
    assert direct_row.endswith("1.000 [1.000, 1.000] (n=6) | +1.000 [+1.000, +1.000] |")


def test_report_command_on_one_run_defaults_to_its_folder(runs: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(runs[1], copy, ignore=shutil.ignore_patterns("report.*", "plots"))
    assert main(["report", str(copy)]) == 0
    assert (copy / "report.md").read_text().startswith("# skillgap report: strong-reader")
    assert "data:image/png;base64," in (copy / "report.html").read_text()


def test_report_command_errors(runs: tuple[Path, Path], tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    assert main(["report", str(runs[0]), str(missing), "--out", str(tmp_path / "o")]) == 2
    assert f"skillgap: error: run folder not found: {missing}" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert "holds no samples.jsonl" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing written on a bad folder
