"""Tasks named on the command line: a registered name, ``FILE.py@NAME`` or ``FILE.py``.

``FILE.py@NAME`` is inspect_ai's convention: a user's Python file and a task in it. The file is
imported once per process (under a private module name), which registers the skills and tasks it
declares; module-level :class:`Task` objects it did not register are registered too, so a run,
its report and a router fitted later all find the task by name.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import ModuleType

from ._task import TASKS, Task, get_task, register_task

_MODULE_PREFIX = "skillgap_user_tasks"


def is_file_spec(spec: str) -> bool:
    """Whether ``spec`` names a Python file (``FILE.py`` or ``FILE.py@NAME``)."""
    return spec.partition("@")[0].endswith(".py")


def normalize_spec(spec: str) -> str:
    """``FILE.py@NAME`` with FILE made absolute, so a saved config reloads from any folder."""
    if not is_file_spec(spec):
        return spec
    file, at, name = spec.partition("@")
    return f"{Path(file).expanduser().resolve()}{at}{name}"


def resolve_task(spec: str) -> Task:
    """The one task ``spec`` names; raises ``ValueError`` saying what was wrong.

    Example:
        >>> resolve_task("counting").name
        'counting'
    """
    found = resolve_tasks([spec])
    if len(found) != 1:
        names = ", ".join(task.name for task in found)
        raise ValueError(f"{spec} holds {len(found)} tasks ({names}); name one as {spec}@NAME")
    return found[0]


def resolve_tasks(specs: Sequence[str]) -> list[Task]:
    """The tasks ``specs`` name, in order (a bare ``FILE.py`` gives every task in the file)."""
    tasks: list[Task] = []
    for spec in specs:
        if not is_file_spec(spec):
            tasks.append(get_task(spec))
            continue
        file, _, name = spec.partition("@")
        in_file = _file_tasks(_load(Path(file)))
        if not name:
            if not in_file:
                raise ValueError(f"{file} declares no task (use @task or skillgap.Task)")
            tasks.extend(in_file.values())
        elif name in in_file:
            tasks.append(in_file[name])
        else:
            known = ", ".join(in_file) or "none"
            raise ValueError(f"{file} has no task {name!r}; tasks in the file: {known}")
    return tasks


def _load(file: Path) -> ModuleType:
    path = file.expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"task file not found: {file}")
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    module_name = f"{_MODULE_PREFIX}.{path.stem}_{digest}"
    if module_name in sys.modules:  # imported once: its skills and tasks are registered already
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot import {file} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    # Like `python FILE`: modules beside the file can be imported from it.
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    finally:
        sys.path.remove(str(path.parent))
    return module


def _file_tasks(module: ModuleType) -> dict[str, Task]:
    """Tasks declared in ``module``: registered from it, or module-level ``Task`` objects."""
    found = {task.name: task for task in TASKS.loaded() if task.source == module.__name__}
    for value in vars(module).values():
        # A Task built in the file has no source yet; one imported from elsewhere keeps its own.
        if isinstance(value, Task) and not value.source and value.name not in found:
            found[value.name] = register_task(replace(value, source=module.__name__))
    return found
