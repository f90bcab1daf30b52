"""The chain-of-thought strategy: one call told to apply both skills, ending in an answer line."""

from .._composition import Composition
from .._graph import SkillGraph
from ._registry import register_strategy


# One call like direct, but a longer output: dearer than direct, cheaper than two calls.
@register_strategy("cot", cost_rank=20)
def cot(composition: Composition) -> SkillGraph:
    """One node running the CoT skill derived from the two skills of ``composition``."""
    return SkillGraph("cot").add("cot", composition.cot_skill())
