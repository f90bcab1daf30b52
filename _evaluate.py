"""``skillgap.evaluate``: run tasks (built-in, registered, or defined in a notebook or a file) with
every strategy and skill measurement, write the run log, summary and report, and return them.

It does what ``skillgap eval`` does, from Python: in a script, and inside a running event loop
(Jupyter) too; ``aevaluate`` is the awaitable form.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backends import Backend
    from .evals import EvalConfig
    from .evals._summary_model import Summary
    from .tasks import Task
    from .telemetry import TraceConfig


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` ran and produced: the run folder, the config and the typed summary."""

    out: Path
    config: EvalConfig
    summary: Summary

    def table(self) -> str:
        """The console table of ``skillgap eval``."""
        from .evals import format_table

        return format_table(self.summary)

    def __str__(self) -> str:
        return f"{self.table()}\nresults in {self.out}/"


def evaluate(
    tasks: Task | str | Sequence[Task | str] | None = None,
    *,
    backend: Backend | str | None = None,
    model: str | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    report: bool = True,
    trace: str | TraceConfig | None = None,
    show_progress: bool = True,
    **settings: Any,
) -> Evaluation:
    """Evaluate ``tasks`` on ``backend``: every strategy, each skill alone, the gap, the report.

    Args:
        tasks: a :class:`~skillgap.tasks.Task` (declared with ``@skillgap.task`` or built), a
            registered name, ``"my_tasks.py@colour_fruit"``, or a list of these; default: the
            built-in tasks.
        backend: a backend, or a registered backend name (default: the embedded tiny model).
        model: the model of a backend given by name.
        out: the run folder; default a new timestamped one under ``runs/``. An existing folder of
            the same run is resumed; a different run there is refused unless ``overwrite``.
        report: also write ``report.md``, ``report.html`` and plots.
        trace: send spans somewhere, as ``skillgap eval --trace`` (``jsonl:PATH``, ``otlp``...).
        settings: any other :class:`~skillgap.evals.EvalConfig` field (``strategies``, ``n``,
            ``seed``, ``layout`` — default: the backend's native layout — ``skills``, ``dataset``,
            ``routers``...).

    Example:
        >>> import skillgap as sg
        >>> result = sg.evaluate("counting", backend=sg.MockBackend(), n=2,  # doctest: +SKIP
        ...                      out="runs/doc", show_progress=False)
        >>> sorted(result.summary.tasks)  # doctest: +SKIP
        ['counting']
    """
    from .backends import load_backend
    from .evals import EvalConfig, run_eval
    from .evals._config import new_run_dir
    from .reports import ensure_run_report

    specs = _task_specs(tasks)
    if backend is None or isinstance(backend, str):
        backend = load_backend(backend or "transformers", model)
    elif model is not None:
        raise ValueError("model= names the model of a backend given by name; this backend is built")
    settings.setdefault("layout", getattr(backend, "native_layout", "free"))
    if specs is not None:
        settings["tasks"] = specs
    config = EvalConfig.model_validate(settings)
    run_dir = Path(out).expanduser() if out is not None else new_run_dir()
    tracing = None
    if trace is not None:
        from .telemetry import configure_tracing

        tracing = configure_tracing(trace)
    try:
        summary = run_eval(config, backend, run_dir, show_progress=show_progress,
                           overwrite=overwrite)
        if report:
            ensure_run_report(run_dir, summary)
    finally:
        if tracing is not None:
            tracing.shutdown()
    return Evaluation(out=run_dir, config=config, summary=summary)


async def aevaluate(
    tasks: Task | str | Sequence[Task | str] | None = None, **options: Any
) -> Evaluation:
    """:func:`evaluate` as an awaitable (``await sg.aevaluate(...)`` in a notebook or an async app).

    The run goes on a worker thread with its own event loop, so the caller's loop stays free.
    """
    return await asyncio.to_thread(evaluate, tasks, **options)


def _task_specs(tasks: Task | str | Sequence[Task | str] | None) -> list[str] | None:
    """Config task entries; a Task object is registered (again, harmlessly, when re-declared)."""
    from .tasks import Task, register_task

    if tasks is None:
        return None
    given = [tasks] if isinstance(tasks, Task | str) else list(tasks)
    specs = []
    for item in given:
        if isinstance(item, Task):
            specs.append(register_task(item).name)
        elif isinstance(item, str):
            specs.append(item)
        else:
            raise TypeError(f"a task is a skillgap Task or a name, got {type(item).__name__}")
    return specs


__all__ = ["Evaluation", "aevaluate", "evaluate"]
