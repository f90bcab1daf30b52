"""The one task registry: built-ins, @task, register_task, entry points, FILE.py@NAME, dataset tasks."""

from __future__ import annotations

import json
import random
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
from PIL import Image

import skillgap as sg
from skillgap.skills import count_objects, list_objects
from skillgap.tasks import (
    TASKS,
    Drawn,
    Sample,
    Task,
    composition,
    generate,
    get_task,
    load_dataset,
    register_task,
    resolve_task,
    resolve_tasks,
    task,
)
from skillgap.tasks._task import TaskRegistry


def _few_red(rng: random.Random) -> Drawn:
    count = rng.randint(1, 3)
    return Drawn(image=Image.new("RGB", (8, 8)), answer=str(count),
                 intermediate=" ".join(["RC"] * count), inputs={"query": "red"})


def test_built_in_tasks_hold_their_composition_and_generator() -> None:
    counting = get_task("counting")
    assert counting.composition is composition("counting")
    assert (counting.composition.visual, counting.composition.textual) == (list_objects, count_objects)
    assert counting.generator is not None
    assert counting.question == "How many {query} objects are in the image?"
    assert counting.describe()["source"] == "skillgap.tasks.counting"


def test_the_task_decorator_registers_a_generated_task_and_redeclaring_it_is_harmless() -> None:
    declare = task(visual=list_objects, textual=count_objects,
                   question="How many {query} things are there?", name="few_red")
    made = declare(_few_red)
    assert TASKS["few_red"] is made and made.source == __name__
    again = declare(_few_red)  # a re-run notebook cell: the same function, the same module
    assert TASKS["few_red"] is again
    samples = generate("few_red", 3, seed=5)
    assert [s.question for s in samples] == ["How many red things are there?"] * 3
    assert samples == generate("few_red", 3, seed=5)  # seeded like the built-ins
    assert all(s.answer == str(s.intermediate.count("RC")) for s in samples if s.intermediate)


def test_a_different_task_under_a_taken_name_is_refused_with_a_hint() -> None:
    other = Task(sg.Composition("counting", list_objects, count_objects, "Count {query}."),
                 generator=get_task("counting").generator)
    with pytest.raises(ValueError, match=r"task 'counting' is already registered .*replace=True"):
        register_task(other)
    assert get_task("counting").question != "Count {query}."


def test_unknown_task_names_the_known_ones() -> None:
    with pytest.raises(ValueError,
                       match=r"unknown task 'juggling'; known tasks: rendered_text, counting, cards"):
        get_task("juggling")


def test_entry_points_add_tasks_lazily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ep_tasks_pkg.py").write_text(textwrap.dedent("""
        from skillgap.graphs import Composition
        from skillgap.skills import count_objects, list_objects
        from skillgap.tasks import Task

        def make():
            return Task(Composition("ep_counting", list_objects, count_objects, "Count {query}."),
                        dataset="unused.jsonl")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    point = metadata.EntryPoint(name="ep_counting", value="ep_tasks_pkg:make", group="skillgap.tasks")
    monkeypatch.setattr(metadata, "entry_points",
                        lambda group=None: [point] if group == "skillgap.tasks" else [])
    registry = TaskRegistry()
    assert "ep_tasks_pkg" not in sys.modules  # listing names imports nothing
    assert list(registry) == ["rendered_text", "counting", "cards", "ep_counting"]
    assert "ep_tasks_pkg" not in sys.modules
    assert registry["ep_counting"].question == "Count {query}."


def _write_task_file(path: Path) -> Path:
    path.write_text(textwrap.dedent("""
        import random
        from PIL import Image
        import skillgap as sg
        from skillgap.skills import count_objects, list_objects

        @sg.task(visual=list_objects, textual=count_objects, question="How many {query} ones?")
        def file_generated(rng: random.Random) -> sg.Drawn:
            return sg.Drawn(image=Image.new("RGB", (8, 8)), answer="1", intermediate="RC",
                            inputs={"query": "red"})

        # Not registered by its author: found in the file all the same.
        file_dataset = sg.Task(sg.Composition("file_dataset", list_objects, count_objects,
                                              "How many {query} objects?"), dataset="rows.jsonl")
    """))
    return path


def test_file_at_name_loads_a_users_file_once(tmp_path: Path) -> None:
    file = _write_task_file(tmp_path / "user_tasks.py")
    found = resolve_task(f"{file}@file_generated")
    assert found.name == "file_generated" and TASKS["file_generated"] is found
    assert resolve_task(f"{file}@file_generated") is found  # imported once, not re-declared
    assert [t.name for t in resolve_tasks([str(file)])] == ["file_generated", "file_dataset"]
    assert TASKS["file_dataset"].dataset == "rows.jsonl"
    with pytest.raises(ValueError,
                       match=r"has no task 'nope'; tasks in the file: file_generated, file_dataset"):
        resolve_task(f"{file}@nope")
    with pytest.raises(ValueError, match="holds 2 tasks"):
        resolve_task(str(file))
    with pytest.raises(ValueError, match="task file not found"):
        resolve_task(f"{tmp_path / 'absent.py'}@x")


def test_a_dataset_task_reads_rows_without_a_task_field(tmp_path: Path) -> None:
    sample = generate("counting", 1, seed=2)[0]
    (tmp_path / "a.png").write_bytes(sample.image.read_bytes())
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"image": "a.png", "answer": sample.answer,
                                "inputs": sample.inputs}) + "\n")
    own = register_task(Task(sg.Composition("counting_rows", list_objects, count_objects,
                                            "How many {query} objects?"), dataset=str(rows)))
    items = load_dataset(rows, task=own.name)
    assert isinstance(items[0], Sample) and items[0].task == "counting_rows"
    assert items[0].question == f"How many {sample.inputs['query']} objects?"  # the template


def test_a_task_imported_into_a_file_is_not_one_of_its_tasks(tmp_path: Path) -> None:
    file = tmp_path / "reuses.py"
    file.write_text("from skillgap.tasks.counting import TASK\n")
    with pytest.raises(ValueError, match="declares no task"):
        resolve_tasks([str(file)])
    assert get_task("counting").source == "skillgap.tasks.counting"
