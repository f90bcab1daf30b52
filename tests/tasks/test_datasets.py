"""User datasets: JSONL with images beside it and saved Hugging Face datasets; bad rows recorded."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from eval_helpers import reader_backend

from skillgap.cli import main
from skillgap.evals import EvalConfig, read_records, run_eval
from skillgap.tasks import Sample, SampleError, load_dataset
from skillgap.tasks._generators import generate


def _rows(tmp_path: Path, task: str = "counting", n: int = 3) -> list[dict[str, Any]]:
    """Generated samples written out as a user would: PNG files and JSON rows."""
    rows = []
    for sample in generate(task, n, seed=11):
        name = f"{sample.id}.png"
        (tmp_path / name).write_bytes(sample.image.read_bytes())
        rows.append({"id": sample.id, "task": task, "image": name, "question": sample.question,
                     "answer": sample.answer, "intermediate": sample.intermediate,
                     "inputs": sample.inputs})
    return rows


def _write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n"
                            for row in rows))
    return path


def test_good_rows_in_every_image_form_become_samples(tmp_path: Path) -> None:
    rows = _rows(tmp_path)
    png = (tmp_path / rows[1]["image"]).read_bytes()
    rows[0]["image"] = str((tmp_path / rows[0]["image"]).resolve())
    rows[1]["image"] = base64.b64encode(png).decode()
    rows[2]["image"] = "data:image/png;base64," + base64.b64encode(png).decode()
    del rows[2]["id"]
    items = load_dataset(_write(tmp_path / "data.jsonl", rows))
    assert all(isinstance(item, Sample) for item in items)
    samples = [item for item in items if isinstance(item, Sample)]
    assert [s.id for s in samples] == [rows[0]["id"], rows[1]["id"], "row-000003"]
    assert samples[1].image.read_bytes() == png and samples[1].image_id == samples[2].image_id
    assert samples[0].inputs == rows[0]["inputs"] and samples[0].answer == rows[0]["answer"]


def test_a_corrupt_image_is_a_row_error_naming_the_row(tmp_path: Path) -> None:
    rows = _rows(tmp_path, n=2)
    broken = tmp_path / "broken.png"
    broken.write_bytes((tmp_path / rows[0]["image"]).read_bytes()[:60])  # a truncated PNG
    rows[1]["image"] = "broken.png"
    items = load_dataset(_write(tmp_path / "data.jsonl", rows))
    assert isinstance(items[0], Sample)
    error = items[1]
    assert isinstance(error, SampleError)
    assert error.row == 2 and ("cannot decode image" in error.message or "broken" in error.message)
    assert (error.task, error.id) == ("counting", rows[1]["id"])
    assert str(error).startswith(f"{tmp_path / 'data.jsonl'}: row 2: ")


BAD_ROWS: list[tuple[Any, str]] = [
    ({"image": None, "question": None, "task": None}, "missing fields 'image', 'task'"),
    ({"task": "juggling"}, "unknown task 'juggling'"),
    ({"answer": ["3"]}, "field 'answer' must be a string or an integer, got list"),
    ({"image": "missing.png"}, "image file not found"),
    ({"image": "data:image/png;base64,@@@"}, "not valid base64"),
    ({"inputs": ["red"]}, "field 'inputs' must be an object"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    # Checked against the task's types at load, not discovered mid-run as "bad input".
    ({"inputs": {"query": "purple"}}, "input 'query' 'purple' does not fit type"),
    ({"inputs": {"colour": "red"}}, "missing input(s) 'query'; unknown input(s) 'colour' for task "
                                    "'counting' (it takes: query)"),
    ({"intermediate": "RC XX"}, "field 'intermediate' 'RC XX' is not a list_objects output"),
    ({"answer": "many"}, "field 'answer' 'many' is not a count_objects output"),
]


def test_bad_rows_are_errors_and_a_mixed_dataset_runs_to_the_end(tmp_path: Path) -> None:
    good = _rows(tmp_path, n=3)
    lines: list[Any] = [good[0]]
    for number, (change, _) in enumerate(BAD_ROWS, 2):
        lines.append(change if isinstance(change, str) else {**good[1], "id": f"bad{number}", **change})
    lines += [good[1], good[2], {**good[2], "answer": 9}]  # the last: a duplicate id
    path = _write(tmp_path / "data.jsonl", lines)
    items = load_dataset(path)
    errors = [item for item in items if isinstance(item, SampleError)]
    assert [e.row for e in errors] == [*range(2, 2 + len(BAD_ROWS)), len(lines)]
    for error, (_, expected) in zip(errors, BAD_ROWS, strict=False):
        assert expected in error.message, (expected, error.message)
    assert "duplicate id" in errors[-1].message
    samples = [item for item in items if isinstance(item, Sample)]
    assert [s.id for s in samples] == [row["id"] for row in good]

    config = EvalConfig(tasks=["counting"], n=50, dataset=str(path))
    backend = reader_backend(items, direct_right=True)
    summary = run_eval(config, backend, tmp_path / "run", show_progress=False)
    records = read_records(tmp_path / "run")
    scored = [r for r in records if r.error is None]
    assert {r.sample_id for r in scored} == {row["id"] for row in good}
    assert all(r.correct for r in scored) and len(scored) == 3 * len(config.steps())
    # Rows naming a known task count as failed samples of it; the duplicate is only listed.
    failed = [r for r in records if r.error is not None]
    assert {r.sample_id for r in failed} == {f"bad{e.row}" for e in errors if e.task}
    assert len(failed) == sum(e.task is not None for e in errors) * len(config.steps()) == 40
    assert all(not r.correct and (r.error or "").startswith("bad dataset row ") for r in failed)
    assert len(records) == len({r.key() for r in records})
    listed = (tmp_path / "run" / "dataset_errors.jsonl").read_text().splitlines()
    assert [json.loads(line)["row"] for line in listed] == [e.row for e in errors]
    assert summary.tasks["counting"] and summary.dataset_errors == len(errors)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["config"]["dataset"] == str(path)
    # Resuming writes nothing twice.
    run_eval(config, reader_backend(items, direct_right=True), tmp_path / "run", show_progress=False)
    assert len(read_records(tmp_path / "run")) == len(records)


def test_cli_dataset_filters_tasks_and_caps_rows(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    rows = _rows(tmp_path, "counting", 3) + _rows(tmp_path, "cards", 2)
    path = _write(tmp_path / "data.jsonl", [*rows, {"task": "cards"}])
    out = tmp_path / "run"
    code = main(["eval", "--backend", "mock", "--dataset", str(path), "--tasks", "counting,cards",
                 "--n", "2", "--strategies", "direct", "--no-skills", "--no-cache", "--quiet",
                 "--out", str(out)])
    assert code == 0
    records = read_records(out)
    assert sorted(r.sample_id for r in records) == sorted(
        [rows[0]["id"], rows[1]["id"], rows[3]["id"], rows[4]["id"]]
    )
    assert "dataset row" not in capsys.readouterr().out  # the bad row was capped away
    code = main(["eval", "--backend", "mock", "--dataset", str(path), "--tasks", "cards",
                 "--strategies", "direct", "--no-skills", "--no-cache", "--quiet",
                 "--out", str(tmp_path / "all")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "1 dataset rows failed validation" in printed  # counted in the table
    assert f"first unusable dataset row: {path}: row 6: missing fields 'image', 'answer'" in printed
    run = json.loads((tmp_path / "all" / "run.json").read_text())
    assert run["config"]["n"] == 3 and run["config"]["tasks"] == ["cards"]


def test_saved_hugging_face_dataset(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    rows = _rows(tmp_path, "counting", 2) + _rows(tmp_path, "rendered_text", 2)
    for row in rows:
        row["image"] = {"bytes": (tmp_path / row["image"]).read_bytes(), "path": None}
    rows[-1]["image"] = {"bytes": b"not an image", "path": None}
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    features = datasets.Features({
        "id": datasets.Value("string"), "task": datasets.Value("string"),
        "image": datasets.Image(), "question": datasets.Value("string"),
        "answer": datasets.Value("string"), "intermediate": datasets.Value("string"),
        "inputs": {"query": datasets.Value("string")},
    })
    folder = tmp_path / "saved"
    datasets.Dataset.from_dict(columns, features=features).save_to_disk(str(folder))
    for png in tmp_path.glob("*.png"):
        png.unlink()  # the saved dataset holds the image bytes itself
    items = load_dataset(folder)
    assert [type(item).__name__ for item in items] == ["Sample"] * 3 + ["SampleError"]
    first, text = items[0], items[2]
    assert isinstance(first, Sample) and first.inputs == rows[0]["inputs"]
    assert isinstance(text, Sample) and text.inputs == {}  # the unified struct's None dropped
    assert isinstance(items[3], SampleError) and items[3].row == 4
    assert "not a readable image" in items[3].message or "cannot decode image" in items[3].message

    splits = tmp_path / "splits"
    datasets.DatasetDict({"test": datasets.Dataset.from_dict({"a": [1]})}).save_to_disk(str(splits))
    with pytest.raises(ValueError, match="several splits"):
        load_dataset(splits)


def test_a_folder_without_datasets_installed_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(ValueError, match="pip install datasets"):
        load_dataset(tmp_path)
    with pytest.raises(ValueError, match="dataset not found"):
        load_dataset(tmp_path / "nothing.jsonl")
