"""The suite runner on the mock backend: records, scoring, resume, bad samples, config guard."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eval_helpers import reader_backend

from skillgap.backends import MockBackend
from skillgap.cli import main
from skillgap.evals import EvalConfig, load_samples, read_records, run_eval
from skillgap.evals._records import RecordLog
from skillgap.evals._summary_model import Summary
from skillgap.graphs import cascaded
from skillgap.tasks import composition

CONFIG = EvalConfig(n=4, seed=3)


def test_records_scores_and_summary(tmp_path: Path) -> None:
    samples = load_samples(CONFIG)
    summary = run_eval(CONFIG, reader_backend(samples), tmp_path, show_progress=False)
    records = read_records(tmp_path)
    assert len(records) == len(samples) * len(CONFIG.steps())
    assert len({r.key() for r in records}) == len(records)
    for task in CONFIG.tasks:
        entry = summary.tasks[task]
        assert entry.strategies["cascaded"].accuracy == 1.0
        assert entry.strategies["cot"].accuracy == 1.0
        expected_direct = sum(s.answer == "0" for s in samples if s.task == task) / CONFIG.n
        assert entry.strategies["direct"].accuracy == pytest.approx(expected_direct)
        assert entry.skills == {"visual": 1.0, "textual": 1.0}
        assert entry.gap is not None and entry.gap.absolute == pytest.approx(1.0 - expected_direct)
    visual = [r for r in records if r.strategy == "visual"]
    assert all(r.prediction == r.gold_intermediate and r.correct for r in visual)
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["config"] == CONFIG.model_dump() and run["backend"]["backend"] == "mock"
    assert Summary.read(tmp_path) == summary


def test_resume_runs_only_missing_pairs(tmp_path: Path) -> None:
    samples = load_samples(CONFIG)
    run_eval(CONFIG, reader_backend(samples), tmp_path, show_progress=False)
    lines = (tmp_path / "samples.jsonl").read_text().splitlines()
    kept = lines[:10]
    # A kill mid-write leaves a torn last line: it must be dropped and its pair rerun.
    (tmp_path / "samples.jsonl").write_text("\n".join(kept) + "\n" + lines[10][:25])
    backend = reader_backend(samples)
    run_eval(CONFIG, backend, tmp_path, show_progress=False)
    records = read_records(tmp_path)
    assert sorted(r.key() for r in records) == sorted(
        json_key for json_key in {(json.loads(x)["task"], json.loads(x)["sample_id"],
                                   json.loads(x)["strategy"]) for x in lines}
    )
    assert len(records) == len(lines)
    assert 0 < len(backend.requests) < 2 * len(lines)
    again = reader_backend(samples)
    run_eval(CONFIG, again, tmp_path, show_progress=False)
    assert again.requests == []  # nothing left to do


def test_a_different_run_is_refused_naming_what_differs_unless_overwritten(tmp_path: Path) -> None:
    config = EvalConfig(tasks=["counting"], n=2, seed=3, skills=False)
    samples = load_samples(config)
    out = str(tmp_path / "run")  # a str path works as well as a Path
    run_eval(config, reader_backend(samples), out, show_progress=False)
    other = config.model_copy(update={"seed": 4, "strategies": ["direct"]})
    with pytest.raises(ValueError, match=r"differs in strategies: \['direct', 'cascaded', 'cot'\] -> "
                                         r"\['direct'\]; seed: 3 -> 4 \(saved -> now\)\. .*--overwrite"):
        run_eval(other, reader_backend(samples), out, show_progress=False)
    with pytest.raises(ValueError, match=r"differs in backend\.model: 'mock' -> 'other'"):
        run_eval(config, reader_backend(samples, model_id="other"), out, show_progress=False)
    run_eval(other, reader_backend(load_samples(other)), out, show_progress=False, overwrite=True)
    assert {r.strategy for r in read_records(out)} == {"direct"}
    assert json.loads((tmp_path / "run" / "run.json").read_text())["config"]["seed"] == 4
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not a run")
    with pytest.raises(ValueError, match="holds no skillgap run"):
        run_eval(config, reader_backend(samples), tmp_path / "mine", overwrite=True)
    assert (tmp_path / "mine" / "notes.txt").exists()


def test_each_cli_run_gets_a_new_timestamped_folder_and_out_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["eval", "--backend", "mock", "--tasks", "counting", "--strategies", "direct",
            "--no-skills", "--no-cache", "--quiet", "--n", "1"]
    assert main(args) == 0 and main([*args[:-1], "2"]) == 0  # no "different run" refusal
    first, second = sorted((tmp_path / "runs").iterdir())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d(-\d+)?", first.name)
    assert second.name.startswith(first.name[:13])
    assert len(read_records(first)) == 1 and len(read_records(second)) == 2
    capsys.readouterr()
    assert main([*args, "--out", str(first)]) == 0  # resumed: nothing left to run
    assert len(read_records(first)) == 1
    assert main([*args[:-1], "2", "--out", str(first)]) == 2
    assert "differs in n: 1 -> 2" in capsys.readouterr().err
    assert main([*args[:-1], "2", "--out", str(first), "--overwrite"]) == 0
    assert len(read_records(first)) == 2


def test_a_bad_sample_is_recorded_and_the_run_goes_on(tmp_path: Path) -> None:
    config = EvalConfig(tasks=["counting"], n=3, seed=3)
    samples = load_samples(config)
    broken = samples[1].model_copy(update={"inputs": {"query": "purple"}})
    mixed = [samples[0], broken, samples[2]]
    run_eval(config, reader_backend(samples), tmp_path, samples=mixed, show_progress=False)
    records = read_records(tmp_path)
    bad = [r for r in records if r.sample_id == broken.id and r.strategy in ("direct", "cascaded", "cot")]
    assert bad and all(r.error and "query" in r.error and "purple" in r.error for r in bad)
    good = [r for r in records if r.sample_id != broken.id and r.strategy == "cascaded"]
    assert len(good) == 2 and all(r.correct for r in good)
    # The image of the broken sample is fine: its visual skill is still measured.
    visual = [r for r in records if r.sample_id == broken.id and r.strategy == "visual"]
    assert len(visual) == 1 and visual[0].correct
    assert len(records) == 3 * len(config.steps())


def test_unknown_task_and_strategy_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown task 'maths'"):
        run_eval(EvalConfig(tasks=["maths"]), MockBackend(outputs=[]), tmp_path)
    with pytest.raises(ValueError, match="unknown strategy 'fast'"):
        run_eval(EvalConfig(strategies=["fast"]), MockBackend(outputs=[]), tmp_path)


def test_sample_questions_match_the_direct_prompt() -> None:
    for sample in load_samples(EvalConfig(n=20, seed=5)):
        comp = composition(sample.task)
        prompt = comp.direct_skill().prompt({"image": sample.image, **sample.inputs})
        assert prompt[0].text.startswith(sample.question)


def test_record_log_rejects_a_foreign_file(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    path.write_text('{"not": "a record"}\n')
    with pytest.raises(ValueError, match=r"samples\.jsonl:1 is not a sample record"):
        RecordLog(path)


def test_samples_without_a_gold_intermediate_run_only_the_strategies(tmp_path: Path) -> None:
    config = EvalConfig(tasks=["cards"], n=2, seed=3)
    samples = load_samples(config)
    unlabelled = [sample.model_copy(update={"intermediate": None}) for sample in samples]
    run_eval(config, reader_backend(samples), tmp_path, samples=unlabelled, show_progress=False)
    records = read_records(tmp_path)
    assert sorted({r.strategy for r in records}) == ["cascaded", "cot", "direct"]
    assert len(records) == 2 * 3 and all(r.strategy != "cascaded" or r.correct for r in records)


def test_a_dataset_rows_own_question_reaches_the_model(tmp_path: Path) -> None:
    generated = load_samples(EvalConfig(tasks=["counting"], n=2, seed=9))
    rows = []
    for index, sample in enumerate(generated):
        (tmp_path / f"{index}.png").write_bytes(sample.image.read_bytes())
        row = {"id": f"r{index}", "task": "counting", "image": f"{index}.png",
               "answer": sample.answer, "intermediate": sample.intermediate,
               "inputs": {"query": "blue"}}
        rows.append(row | ({"question": "Tally the {blue} items."} if index == 0 else {}))
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    config = EvalConfig(tasks=["counting"], strategies=["direct", "cot"], skills=False,
                        dataset=str(data))
    backend = MockBackend(handler=lambda request: "0")
    run_eval(config, backend, tmp_path / "run", show_progress=False)
    sent = {(r.metadata["sample_id"], r.metadata["skill"]): r.messages[0].text
            for r in backend.requests}
    hint = "Answer with a number."
    # The row's own question, word for word (braces and all); the typed input still goes along.
    assert sent["r0", "counting.direct"] == f"Tally the {{blue}} items. {hint}\nQuery: blue"
    assert sent["r0", "counting.cot"] == (
        "Tally the {blue} items. First list the objects in the image. Then count the blue "
        "objects in the list. On the first line: List each object as colour+shape letters, e.g. "
        "RC BS GT. On the last line: 'Answer:' and the answer.")
    # A row without a question is asked the task's template.
    assert sent["r1", "counting.direct"] == f"How many blue objects are in the image? {hint}"
    assert sent["r1", "counting.cot"].startswith("How many blue objects are in the image? First ")


def test_graph_run_works_inside_a_running_event_loop() -> None:
    sample = load_samples(EvalConfig(tasks=["counting"], n=1, seed=2))[0]
    graph = cascaded(composition("counting")).compile()

    async def notebook_cell() -> str | None:
        backend = MockBackend(outputs=[sample.intermediate or "", sample.answer])
        return graph.run({"image": sample.image, **sample.inputs}, backend).answer_text()

    assert asyncio.run(notebook_cell()) == sample.answer


_SLOW_EVAL = """
import itertools, signal, sys, time
from skillgap.backends import MockBackend, register_backend
from skillgap.cli import main

# Ctrl-C as in a terminal: a suite started as a background job of a shell script inherits an
# ignored SIGINT, and this child would then finish its run instead of stopping.
signal.signal(signal.SIGINT, signal.default_int_handler)

calls = itertools.count()

@register_backend("slow")
def slow(model=None, **options):
    # The first half of the answers come fast, so records appear; later ones take 0.5 s each, so
    # the run is surely still going when the test presses Ctrl-C. One request per batch: with the
    # default 16, a busy machine could queue all 40 into few batches, whose records all land at
    # the end, so the test saw the first records only once the run had finished.
    return MockBackend(handler=lambda request: time.sleep(0.1 if next(calls) < 20 else 0.5) or "0",
                       max_batch_size=1)

sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_ctrl_c_prints_one_line_with_the_resume_command(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["eval", "--backend", "slow", "--tasks", "counting", "--strategies", "direct",
            "--no-skills", "--no-cache", "--quiet", "--n", "40", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_EVAL, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    log = out / "samples.jsonl"
    for _ in range(600):  # at most 60 s for the first records
        if log.is_file() and log.read_text().count("\n") >= 2:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr + stdout
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"skillgap: interrupted; every finished sample "
                                                    f"is saved in {out}/. Resume with: skillgap eval ")
    assert lines[0].endswith(f"--n 40 --out {out}")
    kept = read_records(out)
    assert 2 <= len(kept) < 40
