"""skillgap: compose the skills of multimodal LLMs and measure where composition fails.

The names a user needs for a composition graph and an eval are re-exported here; ``import
skillgap`` stays light (no torch, transformers, outlines or LangGraph until they are used).
"""

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

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "CardHand",
    "Composition",
    "Constraint",
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
    "TextFormat",
    "__version__",
    "cascaded",
    "cot",
    "direct",
    "get_skill",
    "list_skills",
    "load_backend",
    "skill",
    "strategy",
]
