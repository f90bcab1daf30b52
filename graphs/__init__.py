"""Composition graphs: direct, cascaded and chain-of-thought strategies, and user DAGs of skills.

Building a graph needs only networkx; ``compile()`` imports LangGraph.
"""

from collections.abc import Callable

from ._composition import ANSWER_LINE, ChainOfThought, Composition, chain_of_thought_type
from ._graph import GraphValidationError, Input, SkillGraph
from .strategies.cascaded import cascaded
from .strategies.cot import cot
from .strategies.direct import direct

STRATEGIES: dict[str, Callable[[Composition], SkillGraph]] = {
    "direct": direct,
    "cascaded": cascaded,
    "cot": cot,
}


def strategy(name: str, composition: Composition) -> SkillGraph:
    """The graph of a built-in strategy by name."""
    try:
        return STRATEGIES[name](composition)
    except KeyError:
        raise ValueError(
            f"unknown strategy {name!r}; choose one of: {', '.join(STRATEGIES)}"
        ) from None


def __getattr__(name: str) -> object:
    # Compiled-graph types live beside LangGraph; load them only when asked for.
    if name in {"CompiledGraph", "GraphInputError", "GraphResult", "NodeResult", "RunContext"}:
        from . import _compiled

        return getattr(_compiled, name)
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
    "cascaded",
    "chain_of_thought_type",
    "cot",
    "direct",
    "routed",
    "strategy",
]
