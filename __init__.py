"""skillgap: compose the skills of multimodal LLMs and measure where composition fails.

The names a user needs for a composition graph and an eval are re-exported here; ``import
skillgap`` stays light (no torch, transformers, outlines or LangGraph until they are used).
"""

from typing import TYPE_CHECKING

from .backends import (
    Backend,
    Constraint,
    Generation,
    GenerationRequest,
    ImageRef,
    Message,
    MockBackend,
    load_backend,
)
from .skills import (
    CardHand,
    Expression,
    Image,
    Number,
    ObjectList,
    ParseFailure,
    Skill,
    SkillInputError,
    TextFormat,
    get_skill,
    list_skills,
    skill,
)

if TYPE_CHECKING:  # what the lazy names below are, for type checkers
    from ._evaluate import Evaluation, aevaluate, evaluate
    from .evals import EvalConfig, run_eval
    from .graphs import (
        Composition,
        GraphValidationError,
        Input,
        SkillGraph,
        cascaded,
        cot,
        direct,
        strategy,
    )
    from .tasks import Drawn, Task, register_task, task

__version__ = "0.1.0"

# Loaded on first use, so `import skillgap` stays light (graphs pull in networkx, tasks draw with
# PIL, evals pull in LangGraph): a model worker process imports skillgap but needs none of them.
_LAZY = {
    **{name: "skillgap.graphs" for name in ("Composition", "GraphValidationError", "Input",
                                             "SkillGraph", "cascaded", "cot", "direct", "strategy")},
    "Drawn": "skillgap.tasks",
    "Task": "skillgap.tasks",
    "register_task": "skillgap.tasks",
    "task": "skillgap.tasks",
    "EvalConfig": "skillgap.evals",
    "run_eval": "skillgap.evals",
    "Evaluation": "skillgap._evaluate",
    "aevaluate": "skillgap._evaluate",
    "evaluate": "skillgap._evaluate",
}


def __getattr__(name: str) -> object:
    from importlib import import_module

    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    if name in _SUBPACKAGES:  # `import skillgap; skillgap.graphs.routed(...)` as before
        return import_module(f"skillgap.{name}")
    raise AttributeError(f"module 'skillgap' has no attribute {name!r}")


_SUBPACKAGES = ("backends", "evals", "graphs", "reports", "routers", "skills", "tasks", "telemetry")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "Backend",
    "CardHand",
    "Composition",
    "Constraint",
    "Drawn",
    "EvalConfig",
    "Evaluation",
    "Expression",
    "Generation",
    "GenerationRequest",
    "GraphValidationError",
    "Image",
    "ImageRef",
    "Input",
    "Message",
    "MockBackend",
    "Number",
    "ObjectList",
    "ParseFailure",
    "Skill",
    "SkillGraph",
    "SkillInputError",
    "Task",
    "TextFormat",
    "__version__",
    "aevaluate",
    "cascaded",
    "cot",
    "direct",
    "evaluate",
    "get_skill",
    "list_skills",
    "load_backend",
    "register_task",
    "run_eval",
    "skill",
    "strategy",
    "task",
]
