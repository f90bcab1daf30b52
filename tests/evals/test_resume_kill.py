"""A real ``skillgap eval`` process killed with SIGKILL mid-run, then resumed by rerunning it.

The resumed run must hold exactly the records of an uninterrupted run: the same (task, sample,
strategy) keys, none twice, and the same predictions (greedy decoding on the tiny model; the
batches differ between the two runs, and fp32 on CPU gives the same tokens regardless).
One task keeps the three model runs at about half a minute on 2 cores.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

N = 12
TASK = "counting"
TOTAL = N * 5  # direct, cascaded, cot + the two skills alone


def _command(out: Path) -> list[str]:
    return [sys.executable, "-m", "skillgap.cli", "eval", "--n", str(N), "--tasks", TASK,
            "--out", str(out), "--quiet", "--no-cache"]


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "SKILLGAP_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}


def _lines(out: Path) -> list[str]:
    log = out / "samples.jsonl"
    return log.read_text().splitlines() if log.exists() else []


def _records(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in _lines(out)]


def test_sigkill_then_rerun_gives_the_records_of_an_uninterrupted_run(
    tmp_path: Path, tiny_model_cache: Path
) -> None:
    env = _env(tiny_model_cache)
    killed = tmp_path / "killed"
    process = subprocess.Popen(_command(killed), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while len(_lines(killed)) < 3 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
    written = len(_lines(killed))
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert 3 <= written < TOTAL, written

    resumed = subprocess.run(_command(killed), env=env, capture_output=True, text=True,
                             timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    reference = tmp_path / "reference"
    whole = subprocess.run(_command(reference), env=env, capture_output=True, text=True,
                           timeout=300, check=False)
    assert whole.returncode == 0, whole.stderr[-2000:]

    def by_key(out: Path) -> dict[tuple[object, ...], dict[str, object]]:
        records = _records(out)
        keyed = {(r["task"], r["sample_id"], r["strategy"]): r for r in records}
        assert len(keyed) == len(records) == TOTAL, "duplicate or missing records"
        return keyed

    after_kill, uninterrupted = by_key(killed), by_key(reference)
    assert after_kill.keys() == uninterrupted.keys()
    differing = [key for key in uninterrupted
                 if (after_kill[key]["prediction"], after_kill[key]["raw"])
                 != (uninterrupted[key]["prediction"], uninterrupted[key]["raw"])]
    assert not differing, differing
