"""The direct strategy: one call with the image and the composed question."""

from .._composition import Composition
from .._graph import SkillGraph
from ._registry import register_strategy


@register_strategy("direct", cost_rank=10)
def direct(composition: Composition) -> SkillGraph:
    """One node running the derived direct skill of ``composition``."""
    return SkillGraph("direct").add("direct", composition.direct_skill())
