"""Strategies, one file each — direct, cascaded, cot and the skill-alone ``visual``/``textual`` —
and the registry that lists them (``@register_strategy``, ``skillgap.strategies`` entry points)."""

from ._registry import (
    ENTRY_POINT_GROUP,
    Strategy,
    cost_order,
    get_strategy,
    list_strategies,
    register_strategy,
    skill_steps,
    strategy_names,
    summary_order,
    unregister_strategy,
)
from .cascaded import cascaded
from .cot import cot
from .direct import direct
from .textual import textual
from .visual import visual

__all__ = [
    "ENTRY_POINT_GROUP",
    "Strategy",
    "cascaded",
    "cost_order",
    "cot",
    "direct",
    "get_strategy",
    "list_strategies",
    "register_strategy",
    "skill_steps",
    "strategy_names",
    "summary_order",
    "textual",
    "unregister_strategy",
    "visual",
]
