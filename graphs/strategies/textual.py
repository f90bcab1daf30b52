"""The textual skill alone, on the gold intermediate: how well it does given a perfect reading."""

from .._composition import Composition
from .._graph import SkillGraph
from ._registry import register_strategy


@register_strategy("textual", cost_rank=10, measures="skill", feeds_intermediate=True)
def textual(composition: Composition) -> SkillGraph:
    """One node running the textual skill; its bound input is fed the gold intermediate."""
    return SkillGraph("textual").add("textual", composition.textual)
