"""A user's task in one file runs exactly like a built-in one: CLI FILE@NAME and skillgap.evaluate."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

import skillgap as sg
from skillgap.backends import GenerationRequest, MockBackend
from skillgap.cli import main
from skillgap.evals import read_records
from skillgap.evals._summary_model import Summary
from skillgap.tasks import TASKS, resolve_task
from skillgap.telemetry._summary import read_spans

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "extending" / "my_task.py"
SPEC = f"{EXAMPLE}@colour_fruit"


def _eval(spec: str, out: Path, trace: Path) -> int:
    return main(["eval", "--backend", "mock", "--n", "3", "--tasks", spec, "--no-cache", "--quiet",
                 "--out", str(out), "--trace", f"jsonl:{trace}", "--trace-redact-images"])


def _span_kinds(trace: Path, task: str) -> set[str]:
    """Span names with the task's own names taken out (what kind of step each span is)."""
    spans = read_spans(trace)
    return {span.name.split(" ")[0] + ("" if task not in span.name else " <task>") for span in spans}


def test_the_example_task_runs_through_the_cli_like_a_built_in_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs: dict[str, tuple[Path, Path]] = {}
    for task, spec in (("colour_fruit", SPEC), ("counting", "counting")):
        runs[task] = (tmp_path / task, tmp_path / f"{task}.jsonl")
        assert _eval(spec, *runs[task]) == 0
        assert f"{task}  (n=3" in capsys.readouterr().out
    user, built_in = (runs[name][0] for name in ("colour_fruit", "counting"))
    # The same files: log, config, summary, report, plots (but a gap-by-difficulty plot: the
    # example's task declares no difficulty knobs), trace note.
    files = {name: sorted(p.name for p in folder.rglob("*") if "by_difficulty" not in p.name)
             for name, folder in (("user", user), ("built_in", built_in))}
    assert files["user"] == files["built_in"] and "trace.json" in files["user"]
    run = json.loads((user / "run.json").read_text())
    assert run["config"]["tasks"] == [SPEC]  # an absolute FILE@NAME: a resume reloads the file
    # The same summary shape: every strategy and skill measured, the gap, the oracle.
    summaries = {name: Summary.read(folder / "summary.json")
                 for name, folder in (("colour_fruit", user), ("counting", built_in))}
    shapes = {name: _shape(summary.tasks[name].model_dump()) for name, summary in summaries.items()}
    assert shapes["colour_fruit"] == shapes["counting"]
    steps = {r.strategy for r in read_records(user)}
    assert steps == {r.strategy for r in read_records(built_in)} == {
        "direct", "cascaded", "cot", "visual", "textual"}
    # The same traces: one span of each kind, and every record joins its sample span.
    assert _span_kinds(runs["colour_fruit"][1], "colour_fruit") == _span_kinds(
        runs["counting"][1], "counting")
    span_ids = {span.span_id for span in read_spans(runs["colour_fruit"][1])}
    assert all(r.span_id in span_ids for r in read_records(user) if r.strategy != "visual")


def _shape(value: Any) -> Any:
    """Keys of nested dicts (a list's shape is its first item's): what a reader of it relies on."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()
                if key not in {"by_difficulty"}}  # knobs differ by task, not by where it is from
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return "value"


def _colour_reader() -> MockBackend:
    """Sees the colour in the image and knows the fruits; direct always answers 'apple'."""
    module = sys.modules[resolve_task(SPEC).source]
    names = {rgb: colour for colour, rgb in module.RGB.items()}

    def handler(request: GenerationRequest) -> str:
        skill = request.metadata["skill"]
        images = [part.image for part in request.messages[0].content if hasattr(part, "image")]
        colour = names[images[0].load().convert("RGB").getpixel((0, 0))] if images else ""
        if skill == "read_colour":
            return colour
        if skill == "fruit_of":  # from the cascade's intermediate in the prompt, not the image
            return module.FRUIT[request.messages[0].text.splitlines()[-1].split(": ")[1]]
        return f"{colour}\nAnswer: {module.FRUIT[colour]}" if skill.endswith(".cot") else "apple"

    return MockBackend(handler=handler)


def test_evaluate_runs_a_task_object_and_writes_the_report(tmp_path: Path) -> None:
    colour_fruit = resolve_task(SPEC)
    result = sg.evaluate(colour_fruit, backend=_colour_reader(), out=str(tmp_path / "run"), n=6,
                         show_progress=False)
    assert result.out == tmp_path / "run" and (result.out / "report.html").is_file()
    entry = result.summary.tasks["colour_fruit"]
    accuracy = {name: stats.accuracy for name, stats in entry.strategies.items()}
    assert accuracy == {"direct": 0.0, "cascaded": 1.0, "cot": 1.0}
    assert entry.gap.absolute == pytest.approx(1.0)
    assert "colour_fruit" in str(result) and TASKS["colour_fruit"] is colour_fruit


def test_aevaluate_inside_a_running_event_loop(tmp_path: Path) -> None:
    async def notebook_cell() -> sg.Evaluation:
        return await sg.aevaluate(SPEC, backend=_colour_reader(), out=tmp_path / "a", n=2,
                                  show_progress=False, report=False)

    result = asyncio.run(notebook_cell())
    assert result.summary.tasks["colour_fruit"].strategies["cascaded"].accuracy == 1.0
    # The synchronous form works from inside a running loop too (Jupyter runs one).
    async def sync_in_loop() -> sg.Evaluation:
        return sg.evaluate(SPEC, backend=_colour_reader(), out=tmp_path / "s", n=2,
                           show_progress=False, report=False)

    assert asyncio.run(sync_in_loop()).summary.tasks["colour_fruit"].strategies["cot"].accuracy == 1.0
