"""The visual skill alone, judged against the gold intermediate (the cascade's first step)."""

from .._composition import Composition
from .._graph import SkillGraph
from ._registry import register_strategy


@register_strategy("visual", cost_rank=10, judged_on="intermediate", measures="skill",
                   reused_from=("cascaded", "visual"))
def visual(composition: Composition) -> SkillGraph:
    """One node running the visual skill; its output is the intermediate."""
    return SkillGraph("visual").add("visual", composition.visual)
