"""What decides a run's records (``EvalConfig``, saved in ``run.json``) and where a run is written.

Task and strategy defaults come from their registries. A task may be a registered name or a
user's file, ``my_tasks.py@colour_fruit``; file paths are made absolute so a saved config reloads
(for a resumed run, or a router fitted on the run's log) from any folder.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator

from ..graphs import skill_steps, strategy_names
from ..tasks import Task, builtin_task_names, resolve_tasks
from ..tasks._files import normalize_spec
from ._routing import check_routed, is_routed

#: Where ``skillgap eval`` and ``skillgap.evaluate`` put a new run when no folder is given.
RUNS_ROOT = Path("runs")


class EvalConfig(BaseModel):
    """Everything that decides a run's records; saved as ``run.json``.

    Example:
        >>> EvalConfig(tasks=["counting"], n=5).steps()[:3]
        ['direct', 'cascaded', 'cot']
    """

    #: Registered task names, or ``FILE.py@NAME`` for a task in a user's file.
    tasks: list[str] = Field(default_factory=builtin_task_names)
    strategies: list[str] = Field(default_factory=lambda: strategy_names())
    skills: bool = True
    n: int = Field(default=50, ge=1)
    seed: int = 1000
    layout: str = "grid"
    constrained: bool = True
    concurrency: int = Field(default=64, ge=1)
    #: A user dataset (JSONL file or saved Hugging Face dataset) instead of generated samples;
    #: ``n`` then caps the rows per task, and ``seed``/``layout`` are not used for loading.
    dataset: str | None = None
    #: Router files of ``routed:NAME`` strategies, by NAME (a ``routed:PATH`` needs no entry).
    routers: dict[str, str] = Field(default_factory=dict)

    @field_validator("tasks")
    @classmethod
    def _absolute_task_files(cls, value: list[str]) -> list[str]:
        return [normalize_spec(spec) for spec in value]

    def steps(self) -> list[str]:
        return [*self.strategies, *(skill_steps() if self.skills else ())]

    def resolved_tasks(self) -> list[Task]:
        """The tasks named, loading user files (which registers their tasks)."""
        return resolve_tasks(self.tasks)


def check_config(config: EvalConfig) -> list[Task]:
    """Every task and strategy must exist (and routers load); returns the tasks."""
    tasks = config.resolved_tasks()
    known = strategy_names()
    unknown = [name for name in config.strategies if name not in known and not is_routed(name)]
    if unknown:
        raise ValueError(
            f"unknown strategy {unknown[0]!r}; choose from: {', '.join(known)}, routed:ROUTER_FILE"
        )
    check_routed(config)
    return tasks


def new_run_dir(root: str | Path = RUNS_ROOT) -> Path:
    """A fresh run folder named by the UTC time, e.g. ``runs/2026-11-30T05-20-00`` (``-2``... when
    two runs start in the same second)."""
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime())
    base = Path(root).expanduser() / stamp
    out, count = base, 1
    while out.exists():
        count += 1
        out = base.with_name(f"{stamp}-{count}")
    return out


def config_differences(saved: Any, now: Any, prefix: str = "") -> list[str]:
    """``field: saved -> now`` for every field that differs (nested dicts by dotted name)."""
    if isinstance(saved, dict) and isinstance(now, dict):
        found: list[str] = []
        for key in dict.fromkeys([*saved, *now]):
            found += config_differences(saved.get(key), now.get(key), f"{prefix}{key}.")
        return found
    if saved == now:
        return []
    return [f"{prefix.rstrip('.')}: {saved!r} -> {now!r}"]
