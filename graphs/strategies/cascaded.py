"""The cascaded strategy: the visual skill, then the textual skill on its typed output."""

from .._composition import Composition
from .._graph import SkillGraph
from ._registry import register_strategy


@register_strategy("cascaded", cost_rank=30)
def cascaded(composition: Composition) -> SkillGraph:
    """Two nodes: ``visual`` (image → intermediate) feeding ``textual`` (text only → answer)."""
    graph = SkillGraph("cascaded", answer="textual", intermediate="visual")
    graph.add("visual", composition.visual)
    return graph.add("textual", composition.textual, **{composition.bind: "visual"})
