"""Tasks: a composition of skills plus where its samples come from (a seeded generator or a dataset).

One registry (:data:`TASKS`) holds every task: the reference tasks (one file each:
``rendered_text``, ``counting``, ``cards`` — composition, generator and difficulty knobs), tasks
declared with :func:`task` or :func:`register_task`, tasks of installed packages (entry-point group
``skillgap.tasks``), and tasks in a user's Python file (``my_tasks.py@colour_fruit``, see
:func:`resolve_task`). The drawing and knob machinery is in ``_generators``; user datasets are
read by ``_datasets``.
"""

from ._datasets import SampleError, load_dataset, select
from ._files import resolve_task, resolve_tasks
from ._generators import LAYOUTS, Drawn, KnobSpec, TaskGenerator, generate, knob_defaults, sample_rng
from ._sample import Sample
from ._task import (
    COMPOSITIONS,
    TASKS,
    Task,
    builtin_task_names,
    composition,
    generated_task_names,
    get_generator,
    get_task,
    register_task,
    task,
    task_names,
)

__all__ = [
    "COMPOSITIONS",
    "LAYOUTS",
    "TASKS",
    "Drawn",
    "KnobSpec",
    "Sample",
    "SampleError",
    "Task",
    "TaskGenerator",
    "builtin_task_names",
    "composition",
    "generate",
    "generated_task_names",
    "get_generator",
    "get_task",
    "knob_defaults",
    "load_dataset",
    "register_task",
    "resolve_task",
    "resolve_tasks",
    "sample_rng",
    "select",
    "task",
    "task_names",
]
