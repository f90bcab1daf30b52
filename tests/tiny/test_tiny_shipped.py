"""The shipped tiny model: present, small, loads offline, and still has the skills it was trained on.

The floors sit a little below what the shipped model measured on 300 fresh samples per task (see
the README's table), so a broken model, processor or prompt format fails here, not in a user's eval.
"""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("torch")

from skillgap.backends._transformers import TransformersBackend
from skillgap.evals import EvalConfig, run_samples
from skillgap.evals._records import RecordLog, read_records
from skillgap.tasks._generators import generate
from skillgap.tiny._model import SHIPPED_MODEL_DIR, default_model_path

#: Accuracy floors on 20 fixed-seed samples per task: (visual, textual, cascaded). The shipped
#: model (v2) scored 20, 18, 18 / 20, 16, 16 / 20, 20, 20 of 20 on these samples (1.00, 0.86, 0.86 /
#: 1.00, 0.74, 0.74 / 1.00, 0.95, 0.95 on 300 fresh samples per task, seed 90210).
FLOORS = {
    "rendered_text": (0.9, 0.75, 0.75),
    "counting": (0.9, 0.6, 0.6),
    "cards": (0.9, 0.85, 0.85),
}


def test_the_trained_model_ships_in_the_package() -> None:
    assert (SHIPPED_MODEL_DIR / "config.json").is_file()
    assert default_model_path() == SHIPPED_MODEL_DIR
    card = json.loads((SHIPPED_MODEL_DIR / "skillgap.json").read_text())
    assert card["trained"] is True and card["layout"] == "grid"
    training = card["training"]
    for key in ("config", "steps", "data_mix", "wall_time_s", "hardware"):
        assert key in training, key
    weights = SHIPPED_MODEL_DIR / "model.safetensors"
    assert weights.stat().st_size <= 20 * 1024 * 1024
    config = json.loads((SHIPPED_MODEL_DIR / "config.json").read_text())
    assert config.get("dtype", config.get("torch_dtype")) in ("float16", "bfloat16")


def test_shipped_model_keeps_its_skills(tmp_path) -> None:
    backend = TransformersBackend(SHIPPED_MODEL_DIR, device="cpu", max_batch_size=32)
    assert backend.describe()["local_files_only"] is True
    config = EvalConfig(n=20, seed=424242, strategies=["cascaded"])
    samples = [s for task in config.tasks for s in generate(task, config.n, seed=config.seed)]
    log = RecordLog(tmp_path / "samples.jsonl")
    try:
        asyncio.run(run_samples(samples, backend, log, config))
    finally:
        log.close()
    records = read_records(tmp_path / "samples.jsonl")
    for task, floors in FLOORS.items():
        for step, floor in zip(("visual", "textual", "cascaded"), floors, strict=True):
            mine = [r for r in records if r.task == task and r.strategy == step]
            assert len(mine) == 20, (task, step)
            accuracy = sum(r.correct for r in mine) / len(mine)
            assert accuracy >= floor, f"{task} {step}: {accuracy:.2f} < floor {floor}"
