"""The ``skillgap`` command, run as a user would: a real subprocess on the embedded tiny model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from skillgap.cli import main


def _skillgap(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SKILLGAP_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "skillgap.cli", *args], capture_output=True,
                          text=True, timeout=300, env=env, check=False)


@pytest.mark.slow
def test_eval_on_the_embedded_model_writes_a_run_and_resumes(tmp_path: Path,
                                                             tiny_model_cache: Path) -> None:
    out = tmp_path / "run"
    args = ["eval", "--n", "2", "--out", str(out), "--quiet"]
    first = _skillgap(*args, cache=tiny_model_cache)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "rendered_text" in first.stdout and "cascaded" in first.stdout
    records = (out / "samples.jsonl").read_text().splitlines()
    assert len(records) == 3 * 2 * 5  # tasks × samples × (3 strategies + 2 skills)
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["layout"] == "grid"  # the tiny model's native layout
    assert run["backend"]["backend"] == "transformers"
    summary = json.loads((out / "summary.json").read_text())
    for entry in summary["tasks"].values():
        assert set(entry["strategies"]) == {"direct", "cascaded", "cot"}
        assert all(stats["n"] == 2 for stats in entry["strategies"].values())
    # The first run loaded the model in a worker process (the default); resuming it with the model
    # in this process is the same run: nothing is rerun.
    again = _skillgap(*args, "--in-process", cache=tiny_model_cache)
    assert again.returncode == 0, again.stderr[-2000:]
    assert (out / "samples.jsonl").read_text().splitlines() == records  # nothing rerun


def test_bad_arguments_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["eval", "--backend", "mock", "--tasks", "maths", "--out", str(tmp_path)])
    assert code == 2
    assert "unknown task 'maths'" in capsys.readouterr().err
    code = main(["eval", "--backend", "mock", "--strategies", "direct,quick", "--out", str(tmp_path)])
    assert code == 2
    assert "unknown strategy 'quick'" in capsys.readouterr().err
    code = main(["eval", "--model", str(tmp_path / "nowhere"), "--out", str(tmp_path)])
    assert code == 2
    assert "model folder not found" in capsys.readouterr().err


def test_skills_and_draw(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["skills"]) == 0
    listed = capsys.readouterr().out
    assert "vision  read_cards(image: ImageRef) -> CardHand" in listed
    assert "text  score_blackjack(hand: CardHand) -> Number" in listed
    assert main(["draw", "cascaded", "--task", "cards"]) == 0
    drawn = capsys.readouterr().out
    assert drawn.startswith("flowchart TD") and "read_cards" in drawn and "|hand|" in drawn
