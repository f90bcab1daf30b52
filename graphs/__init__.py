"""Composition graphs: registered strategies (direct, cascaded, cot, skill-alone) and user DAGs.

Building a graph needs only networkx; ``compile()`` imports LangGraph.
"""

from ._composition import ANSWER_LINE, ChainOfThought, Composition, chain_of_thought_type
from ._graph import GraphValidationError, Input, SkillGraph
from .strategies import (
    Strategy,
    cascaded,
    cost_order,
    cot,
    direct,
    get_strategy,
    list_strategies,
    register_strategy,
    skill_steps,
    strategy_names,
    textual,
    visual,
)


def strategy(name: str, composition: Composition) -> SkillGraph:
    """The graph of a registered strategy by name (``direct``, ``cascaded``, ``cot``, ...)."""
    return get_strategy(name).build(composition)


def __getattr__(name: str) -> object:
    # Compiled-graph types live beside LangGraph; load them only when asked for.
    if name in {"CompiledGraph", "GraphInputError", "GraphResult", "NodeResult", "RunContext"}:
        from . import _compiled

        return getattr(_compiled, name)
    if name == "STRATEGIES":  # the composition strategies' names, read from the registry
        return tuple(strategy_names())
    if name in {"RoutedGraph", "RoutedResult", "routed"}:  # needs the routers package
        from . import _routed

        return getattr(_routed, name)
    raise AttributeError(name)


__all__ = [
    "ANSWER_LINE",
    "STRATEGIES",
    "ChainOfThought",
    "CompiledGraph",
    "Composition",
    "GraphInputError",
    "GraphResult",
    "GraphValidationError",
    "Input",
    "NodeResult",
    "RoutedGraph",
    "RoutedResult",
    "RunContext",
    "SkillGraph",
    "Strategy",
    "cascaded",
    "chain_of_thought_type",
    "cost_order",
    "cot",
    "direct",
    "get_strategy",
    "list_strategies",
    "register_strategy",
    "routed",
    "skill_steps",
    "strategy",
    "strategy_names",
    "textual",
    "visual",
]
