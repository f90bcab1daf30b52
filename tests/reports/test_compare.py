"""Reports that cannot be misread: failures shown as failures, runs labelled by what differs, n and
differences with CIs, no silent overwrite, the share study only when asked, a table of contents,
and plot details (model names, small bins, labels clear of the baseline, no stray router curve).

Run folders are written by hand (records + run.json), so these tests need no model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from skillgap.cli import main
from skillgap.evals import SampleRecord, summarize
from skillgap.reports import load_run, model_name, run_labels, write_comparison
from skillgap.reports._blocks import to_markdown
from skillgap.reports._plots import LABEL_CLEARANCE, LABEL_HEIGHT, label_y
from skillgap.reports._report import run_blocks

CONFIG = {"tasks": ["counting"], "strategies": ["direct", "cascaded"], "skills": False, "n": 12,
          "seed": 1000, "layout": "grid"}


def _records(direct_right: int, n: int = 12, *, error: str | None = None) -> list[SampleRecord]:
    out = []
    for i in range(n):
        for step, right in (("direct", i < direct_right), ("cascaded", i < n - 1)):
            out.append(SampleRecord(
                task="counting", sample_id=f"s{i}", strategy=step, image_id=f"img{i}",
                prediction=None if error else "1", raw=None, correct=right and error is None,
                gold="1", error=error, difficulty={"n_objects": 1 + i % 2}))
    return out


def _run(folder: Path, records: list[SampleRecord], *, model: str = "/models/org/tiny-llava",
         **config: object) -> Path:
    folder.mkdir(parents=True)
    (folder / "samples.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in records))
    (folder / "run.json").write_text(json.dumps({
        "config": {**CONFIG, **config}, "backend": {"backend": "transformers", "model": model}}))
    return folder


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("seeds")
    return (_run(base / "a", _records(3), seed=1000), _run(base / "b", _records(9), seed=2000))


def test_runs_of_one_model_are_labelled_by_what_differs(two_seeds: tuple[Path, Path]) -> None:
    runs = [load_run(folder) for folder in two_seeds]
    # Before: both columns read "/models/org/tiny-llava".
    assert run_labels(runs) == ["tiny-llava (seed=1000)", "tiny-llava (seed=2000)"]
    other = [load_run(two_seeds[0]), runs[1]]
    assert len(set(run_labels(other))) == 2
    assert model_name("/models/org/tiny-llava") == "tiny-llava"
    assert model_name("Qwen/Qwen2.5-VL-3B-Instruct") == "Qwen/Qwen2.5-VL-3B-Instruct"


def test_comparison_shows_n_difference_with_ci_config_and_contents(
        two_seeds: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "compare"
    write_comparison(list(two_seeds), out)
    markdown = (out / "report.md").read_text()
    assert markdown.startswith("# skillgap comparison: tiny-llava (seed=1000) vs tiny-llava (seed=2000)")
    assert "/models/org" not in markdown.splitlines()[0]
    # Each run's n, and the difference with its CI: paired on the shared samples (+0.5 exactly).
    direct = next(line for line in markdown.splitlines() if line.startswith("| counting | direct |"))
    assert "(n=12)" in direct and re.search(r"\| \+0\.500 \[\+0\.\d+, \+0\.\d+\] \|$", direct)
    # The config difference.
    assert "| seed | 1000 | 2000 |" in markdown
    html = (out / "report.html").read_text()
    assert '<nav class="toc">' in html and 'href="#side-by-side"' in html and 'id="side-by-side"' in html
    assert not (out / "direct_share.md").exists()  # not a training-share study, not asked
    # Titles name the model, not its folder.
    assert "skillgap comparison: tiny-llava" in html.split("<title>")[1]


def test_comparison_refuses_to_overwrite(two_seeds: tuple[Path, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    # Before: runs/compare was silently overwritten. (One run into --out is the same path.)
    out = tmp_path / "compare"
    dirs = [str(folder) for folder in two_seeds]
    (out / "plots").mkdir(parents=True)
    (out / "report.md").write_text("an earlier comparison")
    assert main(["report", dirs[0], "--out", str(out)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert (out / "report.md").read_text() == "an earlier comparison"  # untouched
    assert main(["report", dirs[0], "--out", str(out), "--overwrite"]) == 0
    assert (out / "report.md").read_text().startswith("# skillgap report: tiny-llava")
    # --share-study is refused for runs of models without a training record, before writing.
    assert main(["report", *dirs, "--out", str(tmp_path / "share"), "--share-study"]) == 2
    assert "no training record" in capsys.readouterr().err
    assert not (tmp_path / "share").exists()


def test_failed_runs_are_reported_as_failures(tmp_path: Path) -> None:
    folder = _run(tmp_path / "dead", _records(0, 4, error="model error: connection refused"))
    (folder / "dataset_errors.jsonl").write_text('{"row": 3}\n{"row": 5}\n')
    summary = load_run(folder).summary
    assert summary.error_rate == 1.0 and summary.dataset_errors == 2
    text = to_markdown(run_blocks(summary, {}))
    assert "**Warning:** 100% of all calls failed" in text
    assert "2 dataset rows failed validation" in text
    assert "0.000" not in text.split("## counting")[1].split("majority")[0]  # no accuracy of 0
    row = next(line for line in text.splitlines() if line.startswith("| direct |"))
    assert row == "| direct | – | – | 0 | 4 (100%) | 0.0% |"
    # Beside a working run, the failed one is flagged at the top of the comparison.
    good = _run(tmp_path / "good", _records(3))
    write_comparison([good, folder], tmp_path / "compare")
    top = (tmp_path / "compare" / "report.md").read_text().split("## Side by side")[0]
    assert "**Warning:** tiny-llava (dead), counting: 100% of the calls failed" in top
    direct = next(line for line in (tmp_path / "compare" / "report.md").read_text().splitlines()
                  if line.startswith("| counting | direct |"))
    assert direct.endswith("| – (n=0, 4 errors) | – |")  # no difference to a run that scored nothing


def test_no_share_of_a_gap_that_is_not_there_in_the_report() -> None:
    # Direct right on 11 of 12, cascaded on 11: no gap, so no share and no relative gap.
    summary = summarize(_records(11), model="m")
    text = to_markdown(run_blocks(summary, {}))
    assert "relative" not in text
    oracle = next(line for line in text.splitlines() if line.startswith("| oracle |"))
    assert "– (no gap to close" in oracle


def test_difficulty_bins_carry_cis_and_mark_small_n() -> None:
    rows = summarize(_records(3), model="m").tasks["counting"].by_difficulty["n_objects"]
    assert all(row.direct_ci is not None and row.gap_ci is not None for row in rows)
    assert all(row.small for row in rows)  # 6 samples a bin
    text = to_markdown(run_blocks(summarize(_records(3), model="m"), {}))
    assert "| n_objects | 1 | 6 (small) |" in text


@pytest.mark.parametrize("top", [0.0, 0.3, 0.48, 0.5, 0.52, 0.9])
def test_value_labels_clear_the_baseline(top: float) -> None:
    baseline = 0.5
    y = label_y(top, baseline)
    assert y >= top  # never inside the bar
    assert not (y - LABEL_CLEARANCE < baseline < y + LABEL_HEIGHT + LABEL_CLEARANCE)


def test_no_router_plot_without_a_router(tmp_path: Path) -> None:
    # Direct + cascaded only: the oracle is a row of the table, but no accuracy-against-cost plot.
    folder = _run(tmp_path / "plain", _records(3))
    write_comparison([folder], folder)
    summary = load_run(folder).summary
    assert summary.tasks["counting"].pareto is None
    assert "oracle" in summary.tasks["counting"].routers
    assert not (folder / "plots" / "pareto.png").exists()


def test_eval_exits_non_zero_when_calls_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Nothing listens on port 9: every call fails. Before: accuracies 0.000, gap +0.000, exit 0.
    out = tmp_path / "dead"
    args = ["eval", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m",
            "--max-retries", "0", "--n", "2", "--tasks", "counting", "--no-cache", "--quiet",
            "--no-skills"]
    assert main([*args, "--out", str(out)]) == 1
    printed = capsys.readouterr()
    assert "more than --max-error-rate 0.5" in printed.err
    assert "!! 100% of all calls failed" in printed.out and "0.000" not in printed.out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["error_rate"] == 1.0
    assert summary["tasks"]["counting"]["strategies"]["direct"]["accuracy"] is None
    assert main([*args, "--out", str(tmp_path / "again"), "--max-error-rate", "1"]) == 0
