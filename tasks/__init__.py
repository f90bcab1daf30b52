"""Tasks: a composition of skills plus where its samples come from (a seeded generator or a dataset).

The reference tasks live one per file (``rendered_text``, ``counting``, ``cards``); the drawing and
knob machinery they share is in ``_generators``; user datasets are read by ``_datasets``.
"""

from ._compositions import COMPOSITIONS, composition
from ._datasets import SampleError, load_dataset, select
from ._generators import (
    LAYOUTS,
    TASKS,
    KnobSpec,
    TaskGenerator,
    generate,
    get_task,
    knob_defaults,
    register_task,
    sample_rng,
)
from ._sample import Sample

__all__ = [
    "COMPOSITIONS",
    "LAYOUTS",
    "TASKS",
    "KnobSpec",
    "Sample",
    "SampleError",
    "TaskGenerator",
    "composition",
    "generate",
    "get_task",
    "knob_defaults",
    "load_dataset",
    "register_task",
    "sample_rng",
    "select",
]
