"""Hostile dataset rows (issue 13): a decompression bomb, a truncated or odd image, a question too
long for the model's context — each is its own sample's error and the eval runs to the end."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hostile_images import eps, png, png_claiming, truncated_png
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skillgap.cli import main
from skillgap.evals import read_records
from skillgap.tasks import Sample, SampleError, load_dataset
from skillgap.tasks._generators import generate


def _good_rows(folder: Path, n: int = 2) -> list[dict[str, Any]]:
    rows = []
    for sample in generate("counting", n, seed=11):
        (folder / f"{sample.id}.png").write_bytes(sample.image.read_bytes())
        rows.append({"id": sample.id, "task": "counting", "image": f"{sample.id}.png",
                     "question": sample.question, "answer": sample.answer,
                     "intermediate": sample.intermediate, "inputs": sample.inputs})
    return rows


HOSTILE = {
    "bomb": (png_claiming(100_000, 100_000), "decompression bomb"),
    "warning-bomb": (png_claiming(10_000, 10_000), "decompression bomb"),
    "over-cap": (png_claiming(5_000, 5_000), "at most 16777216"),
    "truncated": (truncated_png(), "truncated"),
    "eps": (eps(), "not a readable image"),
    "float-mode": (png(8, "F"), "unsupported image mode"),
}


def test_a_decompression_bomb_in_a_dataset_is_that_rows_error_and_the_eval_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _good_rows(tmp_path)
    for name, (data, _) in HOSTILE.items():
        (tmp_path / f"{name}.img").write_bytes(data)
        rows.append({**rows[0], "id": name, "image": f"{name}.img"})
    rows.append({**rows[0], "id": "inline-bomb",
                 "image": "data:image/png;base64," + base64.b64encode(HOSTILE["bomb"][0]).decode()})
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))

    items = load_dataset(path)
    errors = {item.id: item.message for item in items if isinstance(item, SampleError)}
    for name, (_, reason) in HOSTILE.items():
        assert reason in errors[name], (name, errors[name])
    assert "decompression bomb" in errors["inline-bomb"]
    assert [item.id for item in items if isinstance(item, Sample)] == [r["id"] for r in rows[:2]]

    out = tmp_path / "run"
    code = main(["eval", "--backend", "mock", "--dataset", str(path), "--tasks", "counting",
                 "--strategies", "direct", "--no-skills", "--no-cache", "--quiet", "--out", str(out),
                 "--max-error-rate", "1"])
    assert code == 0, capsys.readouterr().err
    records = {r.sample_id: r for r in read_records(out)}  # the mock answers "": unparseable
    assert records[rows[0]["id"]].calls == 1 and records[rows[1]["id"]].calls == 1
    assert "decompression bomb" in (records["bomb"].error or "")


ROW_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
ROWS = st.fixed_dictionaries(
    {},
    optional={
        "id": ROW_VALUES, "task": st.sampled_from(["counting", "cards", "nope"]) | ROW_VALUES,
        "image": st.sampled_from(["good.png", "bomb.png", "missing.png", ""]) | ROW_VALUES
        | st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
        "question": ROW_VALUES, "answer": ROW_VALUES, "intermediate": ROW_VALUES, "inputs": ROW_VALUES,
    },
) | ROW_VALUES


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(ROWS | st.text(max_size=30), min_size=1, max_size=4))
def test_any_rows_become_samples_or_row_errors(tmp_path: Path, rows: list[Any]) -> None:
    (tmp_path / "good.png").write_bytes(png(8))
    (tmp_path / "bomb.png").write_bytes(HOSTILE["bomb"][0])
    path = tmp_path / "rows.jsonl"
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    items = load_dataset(path)  # never raises for a row's content
    assert all(isinstance(item, Sample | SampleError) for item in items)
