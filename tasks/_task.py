"""A task: a composition of two skills, where its samples come from, and the one task registry.

A :class:`Task` pairs a :class:`~skillgap.graphs.Composition` (visual skill, textual skill and the
composed question template) with a sample source: a seeded generator or a user dataset. Tasks are
registered by :func:`register_task`, by the :func:`task` decorator, and by third-party packages
through the ``skillgap.tasks`` entry-point group; the reference tasks (``rendered_text``,
``counting``, ``cards``, one file each) are imported on first use. Everything that lists tasks
(CLI defaults, ``EvalConfig`` defaults, the tiny model's training mix) reads :data:`TASKS`.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import import_module, metadata
from pathlib import Path
from typing import Any, ClassVar

from ..graphs._composition import Composition
from ..skills._skill import Skill
from ._generators import Drawn, KnobSpec, TaskGenerator

ENTRY_POINT_GROUP = "skillgap.tasks"

#: Task name -> "module:attribute" of the built-in tasks (imported on first use, so listing the
#: names costs nothing and there is no import cycle).
_BUILTIN: dict[str, str] = {
    "rendered_text": "skillgap.tasks.rendered_text:TASK",
    "counting": "skillgap.tasks.counting:TASK",
    "cards": "skillgap.tasks.cards:TASK",
}


@dataclass(frozen=True)
class Task:
    """A composition plus its sample source.

    Args:
        composition: the visual skill, the textual skill and the composed question template
            (which may name textual inputs, e.g. ``How many {query} objects are in the image?``).
        generator: draws seeded samples (built-in tasks, or :func:`task` around a draw function).
        dataset: a JSONL file or saved Hugging Face dataset of this task's rows (rows need no
            ``task`` field); used when there is no generator, or when asked for.
        source: where the task was declared (a module name); re-declaring a task from the same
            source replaces it, so re-running a notebook cell or reloading a file just works.

    Example:
        >>> counting = get_task("counting")
        >>> counting.question
        'How many {query} objects are in the image?'
    """

    composition: Composition
    generator: TaskGenerator | None = None
    dataset: str | Path | None = None
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.generator is None and self.dataset is None:
            raise ValueError(
                f"task {self.name!r} needs a sample source: a generator or a dataset"
            )

    @property
    def name(self) -> str:
        return self.composition.name

    @property
    def question(self) -> str:
        """The composed question template; a dataset row without its own question gets this."""
        return self.composition.question

    def question_for(self, inputs: Mapping[str, Any]) -> str:
        """The template filled with a sample's textual inputs; raises ``KeyError`` for a missing one."""
        return self.question.format(**{name: inputs[name] for name in self.composition.question_inputs})

    def describe(self) -> dict[str, Any]:
        """A JSON-able record of what the task is, for run logs."""
        return {
            "name": self.name,
            "visual": self.composition.visual.name,
            "textual": self.composition.textual.name,
            "question": self.question,
            "generator": None if self.generator is None else type(self.generator).__name__,
            "dataset": None if self.dataset is None else str(self.dataset),
            "source": self.source,
        }


#: What a user's draw function returns for one sample (see :func:`task`).
DrawFunction = Callable[..., Drawn]


class FunctionGenerator(TaskGenerator):
    """A generator around a plain ``draw(rng)`` (or ``draw(rng, layout)``) function; no knobs."""

    name: ClassVar[str] = ""

    def __init__(self, task_name: str, draw: DrawFunction) -> None:
        self.task_name = task_name
        self.function = draw
        self._takes_layout = "layout" in inspect.signature(draw).parameters

    def knob_specs(self, layout: str) -> dict[str, KnobSpec]:
        return {}

    def draw(self, rng: random.Random, layout: str, knobs: Mapping[str, Any]) -> Drawn:
        drawn = self.function(rng, layout=layout) if self._takes_layout else self.function(rng)
        if not isinstance(drawn, Drawn):
            raise TypeError(
                f"task {self.task_name!r}: {self.function.__name__} must return a skillgap.Drawn, "
                f"got {type(drawn).__name__}"
            )
        return drawn

    def __eq__(self, other: object) -> bool:
        # The same function re-declared (a re-run cell) is the same generator.
        return isinstance(other, FunctionGenerator) and (
            _qualified(self.function) == _qualified(other.function)
        )

    def __hash__(self) -> int:
        return hash(_qualified(self.function))


def _qualified(function: Callable[..., Any]) -> str:
    return f"{function.__module__}.{function.__qualname__}"


class TaskRegistry(Mapping[str, Task]):
    """Task name -> :class:`Task`; built-ins and entry points are imported when first looked up."""

    def __init__(self) -> None:
        self._loaded: dict[str, Task] = {}
        self._lazy: dict[str, str] = dict(_BUILTIN)
        self._entry_points_read = False

    def _read_entry_points(self) -> None:
        if self._entry_points_read:
            return
        self._entry_points_read = True
        for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if entry.name not in self._loaded:
                self._lazy.setdefault(entry.name, entry.value)

    def __getitem__(self, name: str) -> Task:
        if name not in self._loaded:
            if name not in self._lazy:
                self._read_entry_points()
            target = self._lazy[name]  # KeyError for unknown names, as a Mapping should
            module, _, attribute = target.partition(":")
            found = getattr(import_module(module), attribute)
            loaded = found() if callable(found) and not isinstance(found, Task) else found
            if not isinstance(loaded, Task):
                raise TypeError(f"{target} (task {name!r}) is not a skillgap Task")
            if loaded.name != name:
                raise ValueError(f"{target} is task {loaded.name!r}, registered as {name!r}")
            self._lazy.pop(name, None)
            self._loaded[name] = loaded
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        self._read_entry_points()
        return iter(dict.fromkeys([*_BUILTIN, *self._lazy, *self._loaded]))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name: object) -> bool:
        if name in self._loaded or name in self._lazy:
            return True
        self._read_entry_points()
        return name in self._lazy

    def loaded(self) -> list[Task]:
        """The tasks imported so far (listing them imports nothing)."""
        return list(self._loaded.values())

    def register(self, task: Task, *, replace: bool = False) -> Task:
        name = task.name
        if name in self and not replace:
            existing = self[name]
            same_source = bool(task.source) and task.source == existing.source
            if existing != task and not same_source:
                raise ValueError(
                    f"task {name!r} is already registered (from {existing.source or 'elsewhere'}); "
                    "pick another name, or pass replace=True to replace it"
                )
        self._lazy.pop(name, None)
        self._loaded[name] = task
        return task


#: The one task registry.
TASKS = TaskRegistry()


def register_task(task: Task, *, replace: bool = False) -> Task:
    """Add ``task`` to :data:`TASKS` under its composition's name; returns it.

    Registering an equal task again (or the same one re-declared from the same module) is allowed;
    a different task under a taken name is refused unless ``replace=True``.
    """
    return TASKS.register(task, replace=replace)


def task(
    *,
    visual: Skill,
    textual: Skill,
    question: str,
    name: str | None = None,
    bind: str = "",
    register: bool = True,
) -> Callable[[DrawFunction], Task]:
    """Declare a generated task from a draw function; the function's name is the task's name.

    The function gets a seeded ``random.Random`` (and ``layout=`` if it has that parameter) and
    returns a :class:`Drawn`: the image, the gold answer and intermediate, and the textual inputs.

    Example:
        >>> @task(visual=list_objects, textual=count_objects,  # doctest: +SKIP
        ...       question="How many {query} objects are in the image?")
        ... def few_objects(rng: random.Random) -> Drawn: ...
    """
    def build(function: DrawFunction) -> Task:
        task_name = name or function.__name__
        made = Task(
            Composition(task_name, visual, textual, question, bind),
            generator=FunctionGenerator(task_name, function),
            source=function.__module__,
        )
        return register_task(made) if register else made

    return build


def get_task(name: str) -> Task:
    """The registered task ``name``; raises ``ValueError`` naming the known tasks."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    return TASKS[name]


def task_names() -> list[str]:
    """Every registered task name, built-ins first."""
    return list(TASKS)


def builtin_task_names() -> list[str]:
    """The reference tasks shipped with skillgap (the default of ``skillgap eval --tasks``)."""
    return list(_BUILTIN)


def generated_task_names(layout: str = "grid") -> list[str]:
    """Registered tasks whose samples can be generated in ``layout`` (imports each task)."""
    return [
        name
        for name in TASKS
        if (gen := TASKS[name].generator) is not None and layout in gen.layouts
    ]


def get_generator(name: str) -> TaskGenerator:
    """The seeded generator of task ``name``; raises ``ValueError`` for a dataset-only task."""
    generator = get_task(name).generator
    if generator is None:
        raise ValueError(f"task {name!r} has no generator (its samples come from a dataset)")
    return generator


def composition(name: str) -> Composition:
    """The composition of the registered task ``name``."""
    return get_task(name).composition


class _Compositions(Mapping[str, Composition]):
    """Read-only view: task name -> composition (derived from :data:`TASKS`, not a second list)."""

    def __getitem__(self, name: str) -> Composition:
        return TASKS[name].composition

    def __iter__(self) -> Iterator[str]:
        return iter(TASKS)

    def __len__(self) -> int:
        return len(TASKS)


COMPOSITIONS: Mapping[str, Composition] = _Compositions()

